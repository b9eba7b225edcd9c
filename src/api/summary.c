/* GET /sales/summary: aggregates of the stored sales -- by month, product
 * or channel -- for a pincode, a region (its pincodes under the serving
 * model version) or every sale, optionally for one product, channel and
 * date range. The store does the counting (store_sales_summary). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/models.h"
#include "gromo/salesquery.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

static const char *const by_names[] = {"month", "product", "channel"};

/* Months from the first sale's to the last's (at most this many). */
#define SUMMARY_MONTHS_MAX 1200

struct summary {
  enum sales_group_by by;
  const struct sales_totals *tot; /* complete when the groups come */
  /* by month: one slot a month from month0 */
  int64_t month0; /* year * 12 + month - 1 */
  size_t nmonths;
  struct month {
    int64_t sales, age_sum;
    double income_sum;
    int64_t first_ms, last_ms;
  } *months;
  /* by product or channel, as they come (by name) */
  size_t nnamed;
  struct named {
    char key[SALE_IDENT_MAX + 1];
    struct sales_group g;
  } named[64];
  int too_long; /* more months than SUMMARY_MONTHS_MAX */
  int failed;   /* out of memory */
};

static int64_t month_of_day(int64_t day) {
  int y;
  unsigned m, d;
  civil_from_days(day, &y, &m, &d);
  return (int64_t)y * 12 + (int64_t)m - 1;
}

static void date_of(int64_t ms, char out[24]) {
  ist_format(ms, out);
  out[10] = '\0'; /* YYYY-MM-DD */
}

static int put_group(struct buf *b, size_t i, const char *key, int64_t sales, int64_t total,
                     int64_t age_sum, double income_sum, int64_t first_ms, int64_t last_ms) {
  if ((i && buf_puts(b, ",") < 0) || buf_puts(b, "{\"key\":\"") < 0 ||
      buf_json_escape(b, key, strlen(key)) < 0)
    return -1;
  if (buf_printf(b, "\",\"sales\":%lld,\"share\":%.4f", (long long)sales,
                 total ? (double)sales / (double)total : 0.0) < 0)
    return -1;
  if (!sales)
    return buf_puts(b, ",\"avg_customer_age\":null,\"avg_customer_income\":null,"
                       "\"first_date\":null,\"last_date\":null}");
  char first[24], last[24];
  date_of(first_ms, first);
  date_of(last_ms, last);
  return buf_printf(b,
                    ",\"avg_customer_age\":%.2f,\"avg_customer_income\":%.2f,"
                    "\"first_date\":\"%s\",\"last_date\":\"%s\"}",
                    (double)age_sum / (double)sales, income_sum / (double)sales, first, last);
}

/* Each group, once the store has read every row (so sm->tot is complete). */
static int on_group(void *ctx, const struct sales_group *g) {
  struct summary *sm = ctx;
  if (sm->by != SALES_BY_DAY) {
    if (sm->nnamed < 64) {
      struct named *n = &sm->named[sm->nnamed++];
      snprintf(n->key, sizeof n->key, "%s", g->key ? g->key : "");
      n->g = *g;
    }
    return 0;
  }
  if (!sm->months) {
    sm->month0 = month_of_day(sm->tot->first_ms / DAY_MS);
    int64_t span = month_of_day(sm->tot->last_ms / DAY_MS) - sm->month0 + 1;
    if (span < 1 || span > SUMMARY_MONTHS_MAX) {
      sm->too_long = 1;
      return 1;
    }
    sm->nmonths = (size_t)span;
    sm->months = calloc(sm->nmonths, sizeof *sm->months);
    if (!sm->months) {
      sm->failed = 1;
      return 1;
    }
  }
  int64_t at = month_of_day(g->day) - sm->month0;
  if (at < 0 || (size_t)at >= sm->nmonths)
    return 0; /* cannot be: the range comes from the same rows */
  struct month *m = &sm->months[at];
  if (!m->sales || g->first_ms < m->first_ms)
    m->first_ms = g->first_ms;
  if (!m->sales || g->last_ms > m->last_ms)
    m->last_ms = g->last_ms;
  m->sales += g->sales;
  m->age_sum += g->age_sum;
  m->income_sum += g->income_sum;
  return 0;
}

/* Answers are kept, the least recently used replaced, with the store's
 * sales mark (store_sales_mark) they were counted at: a summary of every
 * sale scans the table (about half a second for 1,000,000 sales) and the
 * dashboard asks for one on every load, while the sales change far less
 * often. A new sale changes the mark, so nothing stale is ever answered. */
#define SUMMARY_CACHE 16
#define SUMMARY_CACHE_TEXT_MAX ((size_t)256 << 10)

static struct cached {
  char key[320];
  int64_t mark;
  char *text;
  size_t len;
  char message[256];
  uint64_t used;
} cache[SUMMARY_CACHE];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cache_clock;

static int cache_get(const char *key, int64_t mark, struct resp *rs) {
  int hit = 0;
  pthread_mutex_lock(&cache_mu);
  for (size_t i = 0; i < SUMMARY_CACHE && !hit; i++) {
    struct cached *c = &cache[i];
    if (c->text && c->mark == mark && !strcmp(c->key, key)) {
      c->used = ++cache_clock;
      hit = buf_append(&rs->data_raw, c->text, c->len) == 0;
      if (hit)
        resp_ok_raw(rs, "%s", c->message);
    }
  }
  pthread_mutex_unlock(&cache_mu);
  return hit;
}

static void cache_put(const char *key, int64_t mark, const struct resp *rs) {
  if (rs->data_raw.len > SUMMARY_CACHE_TEXT_MAX)
    return;
  char *copy = malloc(rs->data_raw.len ? rs->data_raw.len : 1);
  if (!copy)
    return;
  memcpy(copy, rs->data_raw.data, rs->data_raw.len);
  pthread_mutex_lock(&cache_mu);
  struct cached *victim = &cache[0];
  for (size_t i = 0; i < SUMMARY_CACHE; i++) {
    if (cache[i].text && !strcmp(cache[i].key, key)) {
      victim = &cache[i];
      break;
    }
    if (cache[i].used < victim->used)
      victim = &cache[i];
  }
  free(victim->text);
  snprintf(victim->key, sizeof victim->key, "%s", key);
  snprintf(victim->message, sizeof victim->message, "%s", rs->message);
  victim->mark = mark;
  victim->text = copy;
  victim->len = rs->data_raw.len;
  victim->used = ++cache_clock;
  pthread_mutex_unlock(&cache_mu);
}

int api_sales_summary(struct req *rq, struct resp *rs) {
  const char *pin = req_query(rq, "pincode"), *region = req_query(rq, "region");
  const char *by = req_query(rq, "by");
  struct sales_query_text t = {.pincode = pin, .product = req_query(rq, "product"),
                               .channel = req_query(rq, "channel"),
                               .from = req_query(rq, "from"), .to = req_query(rq, "to")};
  struct sales_filter f;
  char why[200];
  if (sales_filter_parse(&t, SALES_PAGE_MAX, &f, why, sizeof why) < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "%s", why);
  if (pin && region)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "give pincode or region, not both");
  struct sales_summary_query q;
  sales_summary_query_init(&q);
  q.by = SALES_BY_DAY;
  if (by) {
    size_t k = 0;
    while (k < 3 && strcmp(by, by_names[k]))
      k++;
    if (k == 3)
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "by must be month, product or channel, not '%.40s'", by);
    q.by = (enum sales_group_by)k; /* SALES_BY_DAY is summed into months */
  }
  memcpy(q.product, f.product, sizeof q.product);
  memcpy(q.channel, f.channel, sizeof q.channel);
  q.from_ms = f.from_ms;
  q.to_ms = f.to_ms;
  int32_t one = f.pincode;
  int32_t *members = NULL;
  long long region_id = 0;
  int64_t version = 0;
  if (pin) {
    q.pincodes = &one;
    q.npincodes = 1;
  } else if (region) {
    if (param_int(region, 1, INT32_MAX, &region_id) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL, "region must be a region id (1 or more)");
    struct model_holder *h = rq->app ? rq->app->models : NULL;
    const struct suite *s = h ? model_holder_get(h) : NULL;
    if (!s)
      return resp_error(rs, GERR_UNAVAILABLE, NULL,
                        "no model is trained yet: regions are made by training");
    version = suite_version(s);
    size_t n = suite_region_pincodes(s, (int32_t)region_id, NULL, 0);
    members = n ? malloc(n * sizeof *members) : NULL;
    if (members)
      suite_region_pincodes(s, (int32_t)region_id, members, n);
    model_holder_put(h, s);
    if (!n)
      return resp_error(rs, GERR_NOT_FOUND, NULL, "no region %lld in model version %lld",
                        region_id, (long long)version);
    if (!members)
      return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    q.pincodes = members;
    q.npincodes = n;
  }
  struct gerr err;
  struct store *db = req_store(rq, &err);
  int64_t mark = 0;
  if (!db || store_sales_mark(db, &mark, &err) < 0) {
    free(members);
    return resp_error_from(rs, &err);
  }
  /* everything the answer depends on (the store: one per server, but tests
   * run several in a process) */
  char key[320];
  snprintf(key, sizeof key, "%.120s|%d|%lld|%lld|%d|%s|%s|%lld|%lld",
           rq->app && rq->app->cfg && rq->app->cfg->db ? rq->app->cfg->db : "", pin ? (int)one : 0,
           region_id, (long long)version, (int)q.by, q.product, q.channel, (long long)q.from_ms,
           (long long)q.to_ms);
  if (cache_get(key, mark, rs)) {
    free(members);
    return 0;
  }
  struct sales_totals tot;
  struct summary sm = {.by = q.by, .tot = &tot};
  int src = store_sales_summary(db, &q, on_group, &sm, &tot, &err);
  if (src < 0 || sm.too_long) {
    free(members);
    free(sm.months);
    if (src < 0)
      return resp_error_from(rs, &err);
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "the sales span more than %d months: narrow them with from and to",
                      SUMMARY_MONTHS_MAX);
  }
  struct buf *b = &rs->data_raw;
  char first[24] = "", last[24] = "";
  if (tot.sales) {
    date_of(tot.first_ms, first);
    date_of(tot.last_ms, last);
  }
  int rc = buf_puts(b, "{\"scope\":{\"pincode\":");
  if (!rc && pin)
    rc = buf_printf(b, "\"%06d\"", (int)one);
  else if (!rc)
    rc = buf_puts(b, "null");
  if (!rc && region)
    rc = buf_printf(b, ",\"region_id\":%lld,\"model_version\":%lld,\"pincodes\":%zu",
                    region_id, (long long)version, q.npincodes);
  else if (!rc)
    rc = buf_puts(b, ",\"region_id\":null");
  if (!rc)
    rc = buf_printf(b, ",\"product\":%s%s%s,\"channel\":%s%s%s}", f.product[0] ? "\"" : "",
                    f.product[0] ? f.product : "null", f.product[0] ? "\"" : "",
                    f.channel[0] ? "\"" : "", f.channel[0] ? f.channel : "null",
                    f.channel[0] ? "\"" : "");
  if (!rc)
    rc = buf_printf(b, ",\"by\":\"%s\",\"total_sales\":%lld,\"pincodes_with_sales\":%lld,"
                       "\"first_date\":%s%s%s,\"last_date\":%s%s%s,\"groups\":[",
                    by_names[q.by], (long long)tot.sales, (long long)tot.pincodes,
                    tot.sales ? "\"" : "", tot.sales ? first : "null", tot.sales ? "\"" : "",
                    tot.sales ? "\"" : "", tot.sales ? last : "null", tot.sales ? "\"" : "");
  for (size_t i = 0; !rc && i < sm.nnamed; i++) {
    const struct sales_group *g = &sm.named[i].g;
    rc = put_group(b, i, sm.named[i].key, g->sales, tot.sales, g->age_sum, g->income_sum,
                   g->first_ms, g->last_ms);
  }
  free(members);
  for (size_t i = 0; !rc && i < sm.nmonths; i++) {
    char month[16];
    int64_t ym = sm.month0 + (int64_t)i;
    snprintf(month, sizeof month, "%04d-%02d", (int)(ym / 12), (int)(ym % 12) + 1);
    const struct month *m = &sm.months[i];
    rc = put_group(b, i, month, m->sales, tot.sales, m->age_sum, m->income_sum, m->first_ms,
                   m->last_ms);
  }
  free(sm.months);
  if (!rc && !sm.failed)
    rc = buf_puts(b, "]}");
  if (rc || sm.failed)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  resp_ok_raw(rs, "%lld sales by %s", (long long)tot.sales, by_names[q.by]);
  cache_put(key, mark, rs);
  return 0;
}
