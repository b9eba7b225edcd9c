#include "gromo/parse.h"
#include "gromo/salesquery.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include "gromo/record.h"
#include "gromo/timeutil.h"

static int ident(const char *name, const char *v, enum sale_field f,
                 char *dst, size_t dcap, char *why, size_t cap) {
  struct sale tmp;
  struct sale_problems pr;
  struct sale_rules rules = {.now_ist_ms = 0};
  sale_text_begin(&tmp, &pr);
  if (!*v) {
    snprintf(why, cap, "%s must not be empty", name);
    return -1;
  }
  if (sale_text_set(&tmp, f, v, strlen(v), &rules, &pr) < 0) {
    snprintf(why, cap, "%s %s", name, pr.count ? pr.p[0].problem : "is invalid");
    return -1;
  }
  snprintf(dst, dcap, "%s", f == SF_PRODUCT ? tmp.product : tmp.channel);
  return 0;
}

/* "TS_SEQ", as sales_cursor_format writes it. */
static int cursor_parse(const char *s, int64_t *ts, int64_t *seq) {
  char a[48];
  const char *us = strchr(s, '_');
  long long x, y;
  if (!us || (size_t)(us - s) >= sizeof a || strlen(s) > 47)
    return -1;
  memcpy(a, s, (size_t)(us - s));
  a[us - s] = '\0';
  if (parse_int_range(a, LLONG_MIN, LLONG_MAX, &x) < 0 || us[1] == '-' ||
      parse_int_range(us + 1, 0, LLONG_MAX, &y) < 0)
    return -1;
  *ts = x;
  *seq = y;
  return 0;
}

void sales_cursor_format(int64_t ts_ms, int64_t seq, char out[48]) {
  snprintf(out, 48, "%" PRId64 "_%" PRId64, ts_ms, seq);
}

int sales_filter_parse(const struct sales_query_text *t, size_t max_limit,
                       struct sales_filter *f, char *why, size_t cap) {
  char reason[120];
  sales_filter_init(f);
  f->limit = SALES_PAGE_DEFAULT < max_limit ? SALES_PAGE_DEFAULT : max_limit;
  if (t->pincode && sale_parse_pincode(t->pincode, strlen(t->pincode), &f->pincode) < 0) {
    snprintf(why, cap, "pincode must be 6 digits, the first 1-9");
    return -1;
  }
  if (t->product && ident("product", t->product, SF_PRODUCT, f->product,
                          sizeof f->product, why, cap) < 0)
    return -1;
  if (t->channel && ident("channel", t->channel, SF_CHANNEL, f->channel,
                          sizeof f->channel, why, cap) < 0)
    return -1;
  if (t->from && sale_parse_date(t->from, strlen(t->from), &f->from_ms, reason) < 0) {
    snprintf(why, cap, "from: %s", reason);
    return -1;
  }
  if (t->to) {
    int64_t to;
    if (sale_parse_date(t->to, strlen(t->to), &to, reason) < 0) {
      snprintf(why, cap, "to: %s", reason);
      return -1;
    }
    f->to_ms = strlen(t->to) == 10 ? to + DAY_MS : to + 1;
  }
  if (t->limit) {
    long long n;
    if (parse_int_range(t->limit, 1, max_limit > LLONG_MAX ? LLONG_MAX : (long long)max_limit,
                        &n) < 0) {
      snprintf(why, cap, "limit must be an integer from 1 to %zu", max_limit);
      return -1;
    }
    f->limit = (size_t)n;
  }
  if (t->cursor) {
    if (cursor_parse(t->cursor, &f->after_ts_ms, &f->after_seq) < 0) {
      snprintf(why, cap, "cursor is not one this service issued");
      return -1;
    }
    f->has_cursor = 1;
  }
  return 0;
}
