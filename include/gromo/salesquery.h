/* Turning user-given filter texts (query string or command-line flags) into
 * a sales_filter, with the same rules for the API and the CLI. */
#ifndef GROMO_SALESQUERY_H
#define GROMO_SALESQUERY_H

#include <stddef.h>

#include "gromo/store.h"

#define SALES_PAGE_DEFAULT 100
#define SALES_PAGE_MAX 10000

/* Texts of the filter; NULL means not given. `to` is inclusive: a bare date
 * means through the end of that day. */
struct sales_query_text {
  const char *pincode, *product, *channel, *from, *to, *limit, *cursor;
};

/* 0, or -1 with a reason in why[cap] naming the parameter. */
int sales_filter_parse(const struct sales_query_text *t, size_t max_limit,
                       struct sales_filter *f, char *why, size_t cap);

/* The cursor that continues after the row (ts_ms, seq); out needs 48 bytes. */
void sales_cursor_format(int64_t ts_ms, int64_t seq, char out[48]);

#endif
