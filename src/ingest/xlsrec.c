/* Reader of sales records in legacy XLS (BIFF) workbooks, through freexl.
 * freexl reads the whole first worksheet into memory when it opens the
 * file, so the file size is limited (max_uncompressed) and so is the number
 * of cells the sheet declares (checked on a metadata-only open first). The
 * cells then go one row at a time into tab_rows (columns.c). */
#include <freexl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gromo/tabular.h"

/* A BIFF8 sheet holds at most 65,536 x 256 cells; freexl keeps each one in
 * memory, so a sheet may declare at most this many. */
#define XLS_MAX_CELLS (4u * 1024 * 1024)

static const char *freexl_problem(int code) {
  switch (code) {
  case FREEXL_FILE_NOT_FOUND:
    return "cannot be read";
  case FREEXL_INSUFFICIENT_MEMORY:
    return "out of memory";
  case FREEXL_INVALID_CFBF_HEADER:
  case FREEXL_CFBF_INVALID_SIGNATURE:
  case FREEXL_BIFF_INVALID_BOF:
  case FREEXL_BIFF_WORKBOOK_NOT_FOUND:
    return "not an XLS workbook";
  case FREEXL_CRAFTED_FILE:
    return "the XLS file is damaged or crafted to harm";
  default:
    return "the XLS file is corrupt or truncated";
  }
}

static int open_failed(const char *path, int code, struct gerr *err) {
  if (code == FREEXL_FILE_NOT_FOUND || code == FREEXL_INSUFFICIENT_MEMORY)
    return gerr_set(err, GERR_INTERNAL, "reading the XLS file: %s",
                    freexl_problem(code));
  unsigned char head[4] = {0};
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f)
    fclose(f);
  if (n == 4 && memcmp(head, "PK\x03\x04", 4) == 0)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "not an XLS workbook: it looks like an XLSX file");
  return gerr_set(err, GERR_INVALID_INPUT, "%s (freexl error %d)",
                  freexl_problem(code), code);
}

/* Checks what can be checked before freexl loads every cell. */
static int precheck(const char *path, const struct tab_limits *lim,
                    struct gerr *err) {
  struct stat st;
  if (stat(path, &st) < 0)
    return gerr_set(err, GERR_INTERNAL, "cannot read the uploaded file");
  if (st.st_size == 0)
    return gerr_set(err, GERR_INVALID_INPUT, "the file is empty");
  if ((uint64_t)st.st_size > lim->max_uncompressed)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "refused: the XLS file has %llu bytes, more than the limit "
                    "of %llu bytes",
                    (unsigned long long)st.st_size,
                    (unsigned long long)lim->max_uncompressed);
  const void *h = NULL;
  int rc = freexl_open_info(path, &h);
  if (rc != FREEXL_OK) {
    freexl_close(h);
    return open_failed(path, rc, err);
  }
  unsigned int info = 0, rows = 0;
  unsigned short cols = 0;
  int bad = 0;
  if (freexl_get_info(h, FREEXL_BIFF_PASSWORD, &info) == FREEXL_OK &&
      info == FREEXL_BIFF_OBFUSCATED)
    bad = gerr_set(err, GERR_INVALID_INPUT, "the XLS file is password-protected");
  else if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &info) != FREEXL_OK ||
           info == 0)
    bad = gerr_set(err, GERR_INVALID_INPUT, "the XLS file has no worksheet");
  else if (freexl_select_active_worksheet(h, 0) == FREEXL_OK &&
           freexl_worksheet_dimensions(h, &rows, &cols) == FREEXL_OK &&
           (uint64_t)rows * cols > XLS_MAX_CELLS)
    bad = gerr_set(err, GERR_INVALID_INPUT,
                   "refused: the first sheet declares %u rows x %u columns, "
                   "more than the limit of %u cells",
                   rows, (unsigned)cols, XLS_MAX_CELLS);
  freexl_close(h);
  return bad;
}

/* Hands one cell to tab_rows as text. */
static void cell(struct tab_rows *t, size_t col, const FreeXL_CellValue *v,
                 int date1904) {
  char text[48];
  double d;
  switch (v->type) {
  case FREEXL_CELL_INT:
    d = v->value.int_value;
    break;
  case FREEXL_CELL_DOUBLE:
    d = v->value.double_value;
    break;
  case FREEXL_CELL_TEXT:
  case FREEXL_CELL_SST_TEXT:
  case FREEXL_CELL_DATE:
  case FREEXL_CELL_DATETIME:
  case FREEXL_CELL_TIME:
    if (v->value.text_value)
      tab_row_cell(t, col, v->value.text_value, strlen(v->value.text_value));
    return;
  default:
    return;
  }
  int len = -1;
  if (tab_rows_field(t, col) == SF_DATE)
    len = tab_excel_date(d, date1904, text);
  if (len < 0)
    len = (int)tab_number_text(d, text);
  tab_row_cell(t, col, text, (size_t)len);
}

int xlsrec_read(const char *path, const struct sale_rules *rules,
                const struct tab_limits *lim, tab_row_fn fn, void *ctx,
                size_t *rows, struct gerr *err) {
  struct tab_rows t;
  tab_rows_init(&t, rules, lim, fn, ctx);
  const void *h = NULL;
  unsigned int nrows = 0, mode = 0;
  unsigned short ncols = 0;
  int rc = precheck(path, &t.lim, err);
  if (rc)
    goto out;
  int code = freexl_open(path, &h);
  if (code != FREEXL_OK) {
    rc = open_failed(path, code, err);
    goto out;
  }
  if (freexl_select_active_worksheet(h, 0) != FREEXL_OK ||
      freexl_worksheet_dimensions(h, &nrows, &ncols) != FREEXL_OK) {
    rc = gerr_set(err, GERR_INVALID_INPUT, "the XLS file has no readable worksheet");
    goto out;
  }
  int date1904 = freexl_get_info(h, FREEXL_BIFF_DATEMODE, &mode) == FREEXL_OK &&
                 mode == FREEXL_BIFF_DATEMODE_1904;
  for (unsigned int r = 0; r < nrows && rc == 0; r++) {
    tab_row_begin(&t, (size_t)r + 1);
    for (unsigned short c = 0; c < ncols; c++) {
      FreeXL_CellValue v;
      if (freexl_get_cell_value(h, r, c, &v) == FREEXL_OK)
        cell(&t, c, &v, date1904);
    }
    rc = tab_row_end(&t, err);
  }
  if (rc == 0)
    rc = tab_rows_finish(&t, "sheet", err);
out:
  if (rows)
    *rows = t.rows;
  if (h)
    freexl_close(h);
  tab_rows_release(&t);
  return rc;
}
