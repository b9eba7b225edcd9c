/* Readers of tabular sales files: CSV (src/ingest/csvrec.c), XLSX
 * (src/ingest/xlsxrec.c) and legacy XLS (src/ingest/xlsrec.c). The first
 * non-blank row is the header: it names the columns (any order, common
 * aliases, see docs/files.md); every later non-blank row is one record, its
 * cells judged by the text rules of record.h. Memory stays bounded whatever
 * the file size: one row is held at a time and every cell, row and zip entry
 * has a limit (struct tab_limits).
 *
 * Row numbers are those a spreadsheet shows: the header is usually row 1 and
 * the first data row 2; blank rows are skipped but still counted. */
#ifndef GROMO_TABULAR_H
#define GROMO_TABULAR_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/buf.h"
#include "gromo/error.h"
#include "gromo/record.h"

/* Each data record, valid or not (problems in *pr when not). A non-zero
 * return stops the reading: the reader then returns -2. */
typedef int (*tab_row_fn)(void *ctx, size_t row, const struct sale *rec,
                          int valid, const struct sale_problems *pr);

struct tab_limits {
  size_t max_cell;           /* bytes in one cell; longer: row rejected */
  size_t max_row;            /* bytes in one row (cells + separators);
                                longer: row rejected */
  size_t max_rows;           /* data rows in one file; more: error */
  uint64_t max_uncompressed; /* XLSX: bytes one zip entry may inflate to;
                                XLS: bytes of the file */
  double max_ratio;          /* XLSX: inflated / compressed size of one
                                entry of at least TAB_RATIO_MIN_SIZE */
};

#define TAB_DEFAULT_MAX_CELL (64u * 1024)
#define TAB_DEFAULT_MAX_ROW (1024u * 1024)
#define TAB_DEFAULT_MAX_ROWS 10000000u
#define TAB_DEFAULT_MAX_UNCOMPRESSED (512ull * 1024 * 1024)
#define TAB_DEFAULT_MAX_RATIO 100.0
/* Smaller entries are not judged by their ratio: a few kilobytes of
 * repetitive XML can compress very well and harm nobody. */
#define TAB_RATIO_MIN_SIZE (1024u * 1024)
/* Columns after this many are ignored (XLSX's own limit, column XFD). */
#define TAB_MAX_COLUMNS 16384
/* Header names are read whole up to this many bytes, even when max_cell is
 * smaller. */
#define TAB_NAME_MAX 256

/* cell 64 KiB, row 1 MiB, 10,000,000 rows, 512 MiB per entry, ratio 100. */
void tab_limits_default(struct tab_limits *l);

/* ---- CSV, fed in chunks of any size ----------------------------------
 * UTF-8 (a BOM is skipped), LF or CRLF line ends, quoted cells with
 * doubled quotes and line breaks inside. The delimiter is chosen from the
 * header row among ',' ';' tab '|': the one that splits it into the most
 * known column names. Rows with more cells than the header: the extra cells
 * are ignored; with fewer: the missing cells are absent values. */
struct csvrec; /* opaque */

/* rules and lim are copied or borrowed: rules must outlive the reader; lim
 * may be NULL for the defaults. 0, or -1 when out of memory (*err). */
int csvrec_new(const struct sale_rules *rules, const struct tab_limits *lim,
               tab_row_fn fn, void *ctx, struct csvrec **out,
               struct gerr *err) GROMO_WUR;
/* 0; -1 when the input cannot be read further (not a CSV file, a header
 * without the required columns, too many rows; *err, GERR_INVALID_INPUT);
 * -2 when the callback stopped the reading. After a non-zero return every
 * later call returns the same. */
int csvrec_feed(struct csvrec *c, const char *p, size_t n, struct gerr *err);
/* Call after the last chunk: -1 for an empty file or one that ends inside a
 * quoted cell (truncated); a header without data rows is fine (0). */
int csvrec_finish(struct csvrec *c, struct gerr *err);
/* Data rows handed to the callback so far. */
size_t csvrec_rows(const struct csvrec *c);
void csvrec_free(struct csvrec *c);

/* ---- Spreadsheets, from a file on disk (a spooled upload or a path) ----
 * The first worksheet is read. Numbers are shown as a spreadsheet would
 * (15 significant digits); cells with a date number format, and numeric
 * cells in the date column, are spreadsheet serial dates turned into
 * "YYYY-MM-DD HH:MM:SS". Formula cells give their last computed value.
 * Each returns 0 with *rows the data rows read; -1 with *err when the file
 * cannot be read (not that format, corrupt, truncated, over a limit,
 * missing columns; GERR_INVALID_INPUT, or GERR_INTERNAL when out of memory
 * or the file cannot be opened); -2 when the callback stopped the reading.
 * rows may be NULL; lim NULL means the defaults. */
int xlsxrec_read(const char *path, const struct sale_rules *rules,
                 const struct tab_limits *lim, tab_row_fn fn, void *ctx,
                 size_t *rows, struct gerr *err);
int xlsrec_read(const char *path, const struct sale_rules *rules,
                const struct tab_limits *lim, tab_row_fn fn, void *ctx,
                size_t *rows, struct gerr *err);

#endif
