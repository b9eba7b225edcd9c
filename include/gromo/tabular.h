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

/* ---- For the readers: columns and rows (src/ingest/columns.c) --------- */

/* The field a header name stands for: case, surrounding white space and
 * '_' ' ' '-' do not matter ("Sale Date" = "sale_date"). -1 if unknown. */
int tab_field_for_name(const char *name, size_t n);

/* One table being read: the header mapping, then one row at a time. The
 * reader calls tab_row_begin, tab_row_cell for each cell (in any column
 * order, skipping empty cells if it likes), then tab_row_end, which takes
 * the first non-blank row as the header and hands each later non-blank row
 * to the callback. Fields are read-only for the readers. */
struct tab_rows {
  const struct sale_rules *rules; /* borrowed */
  struct tab_limits lim;
  tab_row_fn fn;
  void *ctx;
  int have_header;
  size_t ncols;      /* length of map */
  signed char *map;  /* per column: enum sale_field, or -1 (ignored) */
  size_t col_of[SF__COUNT]; /* 1 + the column of each field; 0: none */
  char found[160];   /* the header's names, for messages */
  char dup[160];     /* a field named twice: the message, "" if none */
  size_t rows;       /* data rows handed to the callback */
  /* the current row */
  size_t row;
  int nonblank;      /* some cell has more than white space */
  int row_too_long;
  size_t row_bytes;  /* cells + one separator each */
  struct sale rec;
  struct sale_problems pr;
};

/* rules is borrowed; lim NULL means the defaults. */
void tab_rows_init(struct tab_rows *t, const struct sale_rules *rules,
                   const struct tab_limits *lim, tab_row_fn fn, void *ctx);
void tab_rows_release(struct tab_rows *t);
/* Starts spreadsheet row number row. */
void tab_row_begin(struct tab_rows *t, size_t row);
/* The text of the cell in column col (0-based) of the current row; s need
 * not be NUL-terminated. Checks the cell and row limits (the header row has
 * the row limit too) and UTF-8, then the field's rule. */
void tab_row_cell(struct tab_rows *t, size_t col, const char *s, size_t n);
/* The cell in column col had n bytes, more than the reader kept (its text
 * dropped); n counts toward the row limit. When the reader does not know
 * the whole length, n is at least what it kept plus one. */
void tab_row_cell_too_long(struct tab_rows *t, size_t col, size_t n);
/* The row already has more than lim.max_row bytes (its rest dropped). */
void tab_row_too_long(struct tab_rows *t);
/* Ends the row. 0; -1 on a header without the required columns or with a
 * field named twice, or more than lim.max_rows data rows (*err,
 * GERR_INVALID_INPUT); -2 when the callback asked to stop. */
int tab_row_end(struct tab_rows *t, struct gerr *err);
/* After the last row: -1 when no header row was found ("what" names the
 * thing that was empty: "file", "sheet"). */
int tab_rows_finish(struct tab_rows *t, const char *what, struct gerr *err);
/* The most bytes of one cell a reader needs to keep: max_cell, or
 * TAB_NAME_MAX when larger (header names). tab_row_cell judges the rest. */
static inline size_t tab_cell_keep(const struct tab_limits *l) {
  return l->max_cell > TAB_NAME_MAX ? l->max_cell : TAB_NAME_MAX;
}
/* The field of column col, or -1 (not mapped, or no header yet). */
static inline int tab_rows_field(const struct tab_rows *t, size_t col) {
  return t->have_header && col < t->ncols ? t->map[col] : -1;
}

/* A spreadsheet serial date (days since 1899-12-30, or since 1904-01-01
 * when date1904; the fraction is the time of day) as "YYYY-MM-DD HH:MM:SS"
 * with ".fff" when there are milliseconds. The 1900 system's phantom
 * 1900-02-29 (serial 60) is written as such, so the date rule rejects it.
 * Returns the length, or -1 for a negative serial or one after 9999-12-31. */
int tab_excel_date(double serial, int date1904, char out[24]);
/* A number as a spreadsheet shows it: integers without a fraction, others
 * to 15 significant digits, never in exponent form below 1e30. Returns the
 * length. */
size_t tab_number_text(double v, char out[48]);

#endif
