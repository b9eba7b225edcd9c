/* What the readers of tabular files (csvrec.c, xlsxrec.c, xlsrec.c) share,
 * from src/ingest/columns.c: the header mapping, one row at a time, and how
 * spreadsheet cells become text. Private to src/ingest/ (and its unit
 * tests); callers of the readers see include/gromo/tabular.h alone. */
#ifndef GROMO_INGEST_TABULAR_INT_H
#define GROMO_INGEST_TABULAR_INT_H

#include "gromo/tabular.h"


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
