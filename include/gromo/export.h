/* Exports of stored sales as CSV, NDJSON, a JSON array or XLSX, page by
 * page, so memory stays bounded whatever the number of rows. Shared by
 * GET /sales?format=... (streamed) and `gromo export`. An export read back
 * with the importers gives the same records. */
#ifndef GROMO_EXPORT_H
#define GROMO_EXPORT_H

#include <stddef.h>

#include "gromo/buf.h"
#include "gromo/error.h"
#include "gromo/gazetteer.h"
#include "gromo/store.h"

enum export_format { EXPORT_CSV, EXPORT_NDJSON, EXPORT_JSON, EXPORT_XLSX };

/* "csv", "ndjson", "json", "xlsx": 0 or -1. */
int export_format_parse(const char *s, enum export_format *out);
const char *export_content_type(enum export_format f);
const char *export_extension(enum export_format f);

/* A text export in progress. */
struct export_cursor {
  enum export_format fmt;
  struct sales_filter filter; /* its cursor advances page by page */
  size_t remaining;           /* rows still wanted (SIZE_MAX: all) */
  size_t rows;                /* rows written so far */
  int started, done;
  const struct gaz *gaz;      /* city of records stored without one; may be NULL */
};

/* f is copied; its limit (0: all) bounds the whole export. */
void export_cursor_init(struct export_cursor *c, enum export_format fmt,
                        const struct sales_filter *f, const struct gaz *gaz);
/* Appends the next page (up to page_rows rows, with the header or opening
 * bracket first and the closing one last) to out; c->done once all is out. */
int export_next_page(struct export_cursor *c, struct store *db, size_t page_rows,
                     struct buf *out, struct gerr *err) GROMO_WUR;
/* Writes every matching row as an XLSX workbook at path (libxlsxwriter in
 * constant-memory mode); *rows receives the count. */
int export_xlsx(struct store *db, const struct sales_filter *f, const struct gaz *gaz,
                const char *path, size_t *rows, struct gerr *err) GROMO_WUR;

#endif
