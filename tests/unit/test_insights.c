/* Insights (src/ml/insights.c, src/api/insights.c) and the sales summary
 * (store_sales_summary, src/api/summary.c) on a small trained suite: the
 * rankings agree with what /predict answers cell by cell and with the
 * regions, in the asked order; the summary agrees with the stored rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/models.h"
#include "gromo/routes.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

static struct gaz *gaz;
static char dir[TEST_TMPDIR_CAP];
static char path[128];
static struct store *db;
static struct suite *suite;
static struct model_holder *holder;
static struct store_pool *pool;
static int suite_held; /* the holder owns the suite */

#define SALES 12000

static int setup(void **state) {
  struct gerr err;
  if (gaz_load_default(&gaz, &err) < 0 || test_tmpdir("insights", dir) < 0)
    return -1;
  snprintf(path, sizeof path, "%s/ins.db", dir);
  if (store_open(path, &db, &err) < 0)
    return -1;
  struct gen_config gc = {.seed = 11, .end_ist_ms = days_from_civil(2026, 3, 1) * DAY_MS,
                          .days = 240, .count = SALES};
  struct gen *g = NULL;
  if (gen_new(gaz, &gc, &g, &err) < 0)
    return -1;
  struct sale *recs = calloc(SALES, sizeof *recs);
  for (int i = 0; i < SALES; i++)
    gen_next(g, &recs[i]);
  gen_free(g);
  struct store_insert_stats st;
  int rc = store_sales_insert(db, recs, SALES, NULL, &st, &err);
  free(recs);
  if (rc < 0)
    return -1;
  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 10;
  cfg.regions = 5;
  if (suite_train(db, gaz, &cfg, NULL, NULL, &suite, &err) < 0)
    return -1;
  if (model_holder_new(&holder) < 0)
    return -1;
  return store_pool_new(path, 2, &pool, &err);
}

static int teardown(void **state) {
  model_holder_free(holder); /* frees the suite once it was handed over */
  if (!suite_held)
    suite_free(suite);
  store_close(db);
  store_pool_free(pool);
  gaz_free(gaz);
  test_tmpdir_remove(dir);
  return 0;
}

static void predict(enum predict_kind kind, int32_t pin, const char *prod, const char *chan,
                    struct predict_answer *a) {
  struct predict_query q = {.pincode = pin};
  snprintf(q.product, sizeof q.product, "%s", prod);
  snprintf(q.channel, sizeof q.channel, "%s", chan);
  suite_predict(suite, kind, &q, 0, a);
}

static void test_insights__one_cell_is_what_predict_answers(void **state) {
  const char *prod = suite_product(suite, 0), *chan = suite_channel(suite, 1);
  assert_non_null(prod);
  assert_non_null(chan);
  struct insight_query q = {.product = prod, .channel = chan, .sort = INSIGHT_BY_DEMAND};
  struct insight_row *rows;
  size_t n;
  struct gerr err;
  assert_int_equal(suite_rank_pincodes(suite, &q, &rows, &n, &err), 0);
  assert_int_equal(n, suite->d->npin);
  for (size_t i = 0; i < n; i += n / 25 + 1) {
    struct predict_answer d, r;
    predict(PREDICT_DEMAND, rows[i].id, prod, chan, &d);
    predict(PREDICT_RISE, rows[i].id, prod, chan, &r);
    assert_false(d.fallback);
    assert_true(fabs(rows[i].next - d.predicted_demand) < 1e-4 * (1 + d.predicted_demand));
    assert_true(fabs(rows[i].last - d.last_period_demand) < 1e-6);
    assert_true(fabs(rows[i].rise - r.probability) < 1e-5);
    assert_true(fabs(rows[i].growth - (rows[i].next - rows[i].last)) < 1e-9);
    assert_int_equal(rows[i].region_id, suite_region_of(suite, rows[i].id));
    if (i)
      assert_true(rows[i - 1].next >= rows[i].next);
  }
  free(rows);
}

/* Every horizon: a cell's row is what /predict/demand and
 * /predict/demand-rise answer that many periods ahead; a region's figures
 * are the sums of its pincodes' at the same horizon. */
static void test_insights__horizons_are_what_predict_answers(void **state) {
  const char *prod = suite_product(suite, 1), *chan = suite_channel(suite, 0);
  struct gerr err;
  for (int hz = 1; hz <= 3; hz++) {
    struct insight_query q = {.product = prod, .channel = chan, .horizon = hz};
    struct insight_row *rows;
    size_t n;
    assert_int_equal(suite_rank_pincodes(suite, &q, &rows, &n, &err), 0);
    for (size_t i = 0; i < n; i += n / 20 + 1) {
      struct predict_answer d, r;
      struct predict_query pq = {.pincode = rows[i].id, .horizon = hz};
      snprintf(pq.product, sizeof pq.product, "%s", prod);
      snprintf(pq.channel, sizeof pq.channel, "%s", chan);
      suite_predict(suite, PREDICT_DEMAND, &pq, 0, &d);
      suite_predict(suite, PREDICT_RISE, &pq, 0, &r);
      assert_int_equal(d.horizon, hz);
      assert_true(fabs(rows[i].next - d.predicted_demand) < 1e-4 * (1 + d.predicted_demand));
      assert_true(fabs(rows[i].last - d.last_period_demand) < 1e-6);
      assert_true(fabs(rows[i].rise - r.probability) < 1e-5);
      char from[11], to[11];
      suite_period(suite, hz, from, to);
      assert_string_equal(from, d.period_from);
      assert_string_equal(to, d.period_to);
    }
    /* regions at this horizon: the sums of their pincodes' rows */
    struct insight_query all = {.horizon = hz};
    struct insight_row *pins, *regs;
    size_t np, nr;
    assert_int_equal(suite_rank_pincodes(suite, &all, &pins, &np, &err), 0);
    assert_int_equal(suite_rank_regions(suite, &all, &regs, &nr, &err), 0);
    assert_true(nr > 0);
    double sum = 0;
    for (size_t i = 0; i < np; i++)
      if (pins[i].region_id == regs[0].id)
        sum += pins[i].next;
    assert_true(fabs(sum - regs[0].next) < 1e-3 * (1 + sum));
    free(rows);
    free(pins);
    free(regs);
  }
  struct insight_query bad = {.horizon = 4};
  struct insight_row *rows;
  size_t n;
  assert_int_equal(suite_rank_pincodes(suite, &bad, &rows, &n, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
}

static int by_id(const void *a, const void *b) {
  const struct insight_row *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

static void test_insights__sums_orders_and_regions(void **state) {
  struct gerr err;
  struct insight_row *all, *rows;
  size_t n, m;
  struct insight_query q = {.sort = INSIGHT_BY_DEMAND};
  assert_int_equal(suite_rank_pincodes(suite, &q, &all, &n, &err), 0);
  /* every product and channel added up, as the regions' summaries add them */
  size_t K = suite->d->nprod, C = suite->d->nchan;
  for (size_t i = 0; i < n; i += n / 10 + 1) {
    double sum = 0;
    for (size_t k = 0; k < K; k++)
      for (size_t c = 0; c < C; c++) {
        struct predict_answer a;
        predict(PREDICT_DEMAND, all[i].id, suite_product(suite, k), suite_channel(suite, c), &a);
        sum += a.predicted_demand;
      }
    assert_true(fabs(all[i].next - sum) < 1e-3 * (1 + sum));
    assert_true(all[i].rise >= 0 && all[i].rise <= 1);
  }
  /* the other orders rank the same pincodes */
  for (int sort = INSIGHT_BY_GROWTH; sort <= INSIGHT_BY_RISE; sort++) {
    q.sort = (enum insight_sort)sort;
    assert_int_equal(suite_rank_pincodes(suite, &q, &rows, &m, &err), 0);
    assert_int_equal(m, n);
    for (size_t i = 1; i < m; i++) {
      double a = sort == INSIGHT_BY_GROWTH ? rows[i - 1].growth : rows[i - 1].rise;
      double b = sort == INSIGHT_BY_GROWTH ? rows[i].growth : rows[i].rise;
      assert_true(a >= b);
    }
    free(rows);
  }
  /* regions: the sums of their pincodes, and what /regions says */
  q.sort = INSIGHT_BY_DEMAND;
  assert_int_equal(suite_rank_regions(suite, &q, &rows, &m, &err), 0);
  assert_int_equal(m, suite_region_count(suite));
  qsort(all, n, sizeof *all, by_id);
  size_t members = 0;
  for (size_t r = 0; r < m; r++) {
    double next = 0, last = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
      if (all[i].region_id == rows[r].id) {
        next += all[i].next;
        last += all[i].last;
        cnt++;
      }
    assert_int_equal(cnt, rows[r].pincodes);
    members += cnt;
    assert_true(fabs(rows[r].next - next) < 1e-6 * (1 + next));
    assert_true(fabs(rows[r].last - last) < 1e-9);
    json_t *reg = json_loads(suite_region_json(suite, rows[r].id), 0, NULL);
    double said = json_number_value(json_object_get(reg, "predicted_demand"));
    assert_true(fabs(said - rows[r].next) < 0.01 + 1e-4 * said);
    assert_int_equal(json_integer_value(json_object_get(reg, "total_demand")),
                     (json_int_t)llround(rows[r].last));
    json_decref(reg);
    /* a region of more than one pincode: rises with its expected total */
    if (rows[r].next > rows[r].last + 3 * sqrt(rows[r].next) + 1)
      assert_true(rows[r].rise > 0.9);
    if (r)
      assert_true(rows[r - 1].next >= rows[r].next);
    /* one region's pincodes only */
    struct insight_query one = {.sort = INSIGHT_BY_DEMAND, .region = rows[r].id};
    struct insight_row *mine;
    size_t k;
    assert_int_equal(suite_rank_pincodes(suite, &one, &mine, &k, &err), 0);
    assert_int_equal(k, rows[r].pincodes);
    for (size_t i = 0; i < k; i++)
      assert_int_equal(mine[i].region_id, rows[r].id);
    int32_t pins[4];
    assert_int_equal(suite_region_pincodes(suite, rows[r].id, pins, 4), k);
    free(mine);
  }
  assert_true(members <= n);
  free(rows);
  free(all);
  /* unknown names are refused, saying which */
  q.product = "boat";
  assert_int_equal(suite_rank_pincodes(suite, &q, &rows, &n, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  assert_non_null(strstr(err.msg, "boat"));
  q.product = NULL;
  q.channel = "pigeon";
  assert_int_equal(suite_rank_regions(suite, &q, &rows, &n, &err), -1);
  assert_non_null(strstr(err.msg, "pigeon"));
}

/* ---- the summary against the rows ---- */

struct tally {
  int64_t sales, pins_seen;
  int64_t by_prod[8];
  char prod[8][SALE_IDENT_MAX + 1];
  size_t nprod;
  int64_t first, last;
  const int32_t *only;
  size_t nonly;
  unsigned char seen[900000];
};

static int count_row(void *ctx, const struct sale *r, int64_t seq) {
  struct tally *t = ctx;
  if (t->only) {
    size_t i = 0;
    while (i < t->nonly && t->only[i] != r->pincode)
      i++;
    if (i == t->nonly)
      return 0;
  }
  t->sales++;
  if (!t->seen[r->pincode - 100000]++)
    t->pins_seen++;
  size_t k = 0;
  while (k < t->nprod && strcmp(t->prod[k], r->product))
    k++;
  if (k == t->nprod && t->nprod < 8)
    snprintf(t->prod[t->nprod++], sizeof t->prod[0], "%s", r->product);
  if (k < 8)
    t->by_prod[k]++;
  if (!t->first || r->ts_ms < t->first)
    t->first = r->ts_ms;
  if (r->ts_ms > t->last)
    t->last = r->ts_ms;
  return 0;
}

struct groups {
  int64_t sales;
  size_t n;
  int64_t prev_day;
  int ordered;
  const struct tally *t;
  int matched;
};

static int check_group(void *ctx, const struct sales_group *g) {
  struct groups *gs = ctx;
  gs->sales += g->sales;
  gs->n++;
  if (!g->key) {
    if (g->day <= gs->prev_day)
      gs->ordered = 0;
    gs->prev_day = g->day;
    if (g->first_ms / DAY_MS != g->day || g->last_ms / DAY_MS != g->day)
      gs->ordered = 0;
  } else {
    for (size_t k = 0; k < gs->t->nprod; k++)
      if (!strcmp(gs->t->prod[k], g->key) && gs->t->by_prod[k] == g->sales)
        gs->matched++;
  }
  assert_true(g->age_sum >= 18 * g->sales && g->age_sum <= 100 * g->sales);
  return 0;
}

static void test_insights__summary_matches_the_rows(void **state) {
  struct gerr err;
  struct tally *t = calloc(1, sizeof *t);
  struct sales_filter f;
  sales_filter_init(&f);
  assert_int_equal(store_sales_query(db, &f, count_row, t, &err), 0);
  assert_int_equal(t->sales, SALES);
  struct sales_summary_query q;
  sales_summary_query_init(&q);
  struct sales_totals tot;
  struct groups gs = {.ordered = 1, .t = t};
  assert_int_equal(store_sales_summary(db, &q, check_group, &gs, &tot, &err), 0);
  assert_int_equal(tot.sales, SALES);
  assert_int_equal(tot.pincodes, t->pins_seen);
  assert_int_equal(tot.first_ms, t->first);
  assert_int_equal(tot.last_ms, t->last);
  assert_int_equal(gs.sales, SALES);
  assert_true(gs.ordered);
  assert_true(gs.n > 200); /* one group a day */
  q.by = SALES_BY_PRODUCT;
  gs = (struct groups){.ordered = 1, .t = t};
  assert_int_equal(store_sales_summary(db, &q, check_group, &gs, &tot, &err), 0);
  assert_int_equal(gs.n, t->nprod);
  assert_int_equal(gs.matched, (int)t->nprod);
  /* a few pincodes (one of them without sales), a product, a date range */
  int32_t some[3] = {suite->d->pins[0], suite->d->pins[suite->d->npin / 2], 999999};
  struct tally *u = calloc(1, sizeof *u);
  u->only = some;
  u->nonly = 3;
  assert_int_equal(store_sales_query(db, &f, count_row, u, &err), 0);
  q.pincodes = some;
  q.npincodes = 3;
  q.by = SALES_BY_CHANNEL;
  gs = (struct groups){.ordered = 1, .t = u};
  assert_int_equal(store_sales_summary(db, &q, check_group, &gs, &tot, &err), 0);
  assert_int_equal(tot.sales, u->sales);
  assert_int_equal(gs.sales, u->sales);
  assert_int_equal(tot.pincodes, u->pins_seen);
  snprintf(q.product, sizeof q.product, "%s", u->prod[0]);
  assert_int_equal(store_sales_summary(db, &q, NULL, NULL, &tot, &err), 0);
  assert_int_equal(tot.sales, u->by_prod[0]);
  q.from_ms = q.to_ms = u->first; /* empty range */
  assert_int_equal(store_sales_summary(db, &q, check_group, &gs, &tot, &err), 0);
  assert_int_equal(tot.sales, 0);
  q.npincodes = 0; /* an empty list is an empty scope, not all */
  assert_int_equal(store_sales_summary(db, &q, NULL, NULL, &tot, &err), 0);
  assert_int_equal(tot.sales, 0);
  free(t);
  free(u);
}

/* ---- the handlers, through the router ---- */

static struct app_config cfg;
static struct app app;

struct q {
  const char *names[6], *values[6];
};
static const char *query(void *ctx, const char *name) {
  const struct q *q = ctx;
  for (size_t i = 0; i < 6 && q->names[i]; i++)
    if (!strcmp(q->names[i], name))
      return q->values[i];
  return NULL;
}

static int get(const char *url, const struct q *q, struct resp *rs, json_t **data) {
  struct req rq = {0};
  rq.app = &app;
  rq.method = "GET";
  rq.path = url;
  rq.query_fn = query;
  rq.query_ctx = (void *)q;
  rq.role = ROLE_VIEWER;
  rq.admitted = 1; /* the key check is the router's, tested elsewhere */
  resp_init(rs);
  int st = router_dispatch(gromo_routes, &rq, rs);
  *data = NULL;
  if (st == 200 && !rs->content_type) {
    char *body;
    size_t len;
    const char *ct;
    http_render(rs, "t", &body, &len, &ct);
    json_t *j = json_loadb(body, len, 0, NULL);
    free(body);
    *data = json_incref(json_object_get(j, "data"));
    json_decref(j);
  }
  return st;
}

static void test_insights__handlers(void **state) {
  app_config_defaults(&cfg);
  app.cfg = &cfg;
  app.routes = gromo_routes;
  app.models = holder;
  app.pool = pool;
  struct resp rs;
  json_t *d;
  struct q none = {{NULL}, {NULL}};
  /* no model yet */
  assert_int_equal(get("/insights/pincodes", &none, &rs, &d), 503);
  resp_release(&rs);
  model_holder_swap(holder, suite);
  suite_held = 1;
  struct q top = {{"limit", "sort"}, {"5", "growth"}};
  assert_int_equal(get("/insights/pincodes", &top, &rs, &d), 200);
  assert_int_equal(json_integer_value(json_object_get(d, "count")), 5);
  assert_int_equal(json_integer_value(json_object_get(d, "total")), (json_int_t)suite->d->npin);
  json_t *first = json_array_get(json_object_get(d, "pincodes"), 0);
  assert_int_equal(json_integer_value(json_object_get(first, "rank")), 1);
  assert_int_equal(strlen(json_string_value(json_object_get(first, "pincode"))), 6);
  json_decref(d);
  resp_release(&rs);
  /* one pincode, one region */
  char pin[8], reg[16];
  snprintf(pin, sizeof pin, "%06d", (int)suite->d->pins[3]);
  snprintf(reg, sizeof reg, "%d", (int)suite_region_of(suite, suite->d->pins[3]));
  assert_int_equal(get("/insights/pincodes", &(struct q){{"pincode"}, {pin}}, &rs, &d), 200);
  assert_int_equal(json_integer_value(json_object_get(d, "total")), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(d, "pincodes"), 0), "pincode")),
                      pin);
  json_decref(d);
  resp_release(&rs);
  assert_int_equal(get("/insights/pincodes", &(struct q){{"pincode"}, {"999999"}}, &rs, &d),
                   200);
  assert_int_equal(json_integer_value(json_object_get(d, "total")), 0);
  json_decref(d);
  resp_release(&rs);
  assert_int_equal(get("/insights/regions", &(struct q){{"region"}, {reg}}, &rs, &d), 200);
  assert_int_equal(json_integer_value(json_object_get(d, "total")), 1);
  json_decref(d);
  resp_release(&rs);
  struct q csv = {{"format", "product", "channel"}, {"csv", "LOAN", "online"}};
  assert_int_equal(get("/insights/regions", &csv, &rs, &d), 200);
  assert_string_equal(rs.content_type, "text/csv; charset=utf-8");
  assert_int_equal(strncmp(rs.body.data, "rank,region_id,pincode_count,", 29), 0);
  size_t lines = 0;
  for (size_t i = 0; i < rs.body.len; i++)
    lines += rs.body.data[i] == '\n';
  assert_int_equal(lines, suite_region_count(suite) + 1);
  resp_release(&rs);
  /* two periods ahead: the answer names the period */
  assert_int_equal(get("/insights/regions", &(struct q){{"horizon"}, {"2"}}, &rs, &d), 200);
  assert_int_equal(json_integer_value(json_object_get(d, "horizon")), 2);
  char from[11], to[11];
  suite_period(suite, 2, from, to);
  assert_string_equal(json_string_value(json_object_get(json_object_get(d, "period"), "from")),
                      from);
  assert_string_equal(json_string_value(json_object_get(json_object_get(d, "period"), "to")), to);
  json_decref(d);
  resp_release(&rs);
  static const struct q bad[] = {
      {{"horizon"}, {"0"}},  {{"horizon"}, {"4"}},        {{"horizon"}, {"two"}},
      {{"sort"}, {"size"}},  {{"limit"}, {"0"}},          {{"limit"}, {"100001"}},
      {{"format"}, {"xml"}}, {{"product"}, {"no such"}},  {{"product"}, {"boat"}},
      {{"region"}, {"0"}},   {{"pincode"}, {"12"}},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int st = get("/insights/pincodes", &bad[i], &rs, &d);
    if (st != 400)
      fail_msg("%s=%s answered %d", bad[i].names[0], bad[i].values[0], st);
    resp_release(&rs);
  }
  assert_int_equal(get("/insights/regions", &(struct q){{"pincode"}, {"400001"}}, &rs, &d), 400);
  resp_release(&rs);
  /* the summary */
  assert_int_equal(get("/sales/summary", &none, &rs, &d), 200);
  assert_int_equal(json_integer_value(json_object_get(d, "total_sales")), SALES);
  json_t *groups = json_object_get(d, "groups");
  json_int_t sum = 0;
  for (size_t i = 0; i < json_array_size(groups); i++)
    sum += json_integer_value(json_object_get(json_array_get(groups, i), "sales"));
  assert_int_equal(sum, SALES);
  /* months in a row, with no gap */
  assert_true(json_array_size(groups) >= 8 && json_array_size(groups) <= 10);
  json_decref(d);
  resp_release(&rs);
  /* a new sale is counted at once: a kept answer is never stale */
  struct sale one = {.ts_ms = days_from_civil(2026, 2, 27) * DAY_MS, .pincode = suite->d->pins[0],
                     .customer_age = 30, .customer_income = 1000};
  snprintf(one.product, sizeof one.product, "%s", suite_product(suite, 0));
  snprintf(one.channel, sizeof one.channel, "%s", suite_channel(suite, 0));
  struct store_insert_stats ist;
  struct gerr err;
  assert_int_equal(store_sales_insert(db, &one, 1, NULL, &ist, &err), 0);
  assert_int_equal(get("/sales/summary", &none, &rs, &d), 200);
  assert_int_equal(json_integer_value(json_object_get(d, "total_sales")), SALES + 1);
  json_decref(d);
  resp_release(&rs);
  char region[16];
  snprintf(region, sizeof region, "%d", suite_region_of(suite, suite->d->pins[0]));
  assert_int_equal(get("/sales/summary", &(struct q){{"region", "by"}, {region, "product"}},
                       &rs, &d),
                   200);
  assert_true(json_integer_value(json_object_get(d, "total_sales")) > 0);
  json_decref(d);
  resp_release(&rs);
  static const struct q sbad[] = {
      {{"by"}, {"week"}},
      {{"pincode", "region"}, {"400001", "1"}},
      {{"pincode"}, {"12"}},
      {{"region"}, {"x"}},
      {{"from"}, {"yesterday"}},
  };
  for (size_t i = 0; i < sizeof sbad / sizeof *sbad; i++) {
    int st = get("/sales/summary", &sbad[i], &rs, &d);
    if (st != 400)
      fail_msg("summary %s=%s answered %d", sbad[i].names[0], sbad[i].values[0], st);
    resp_release(&rs);
  }
  assert_int_equal(get("/sales/summary", &(struct q){{"region"}, {"4000"}}, &rs, &d), 404);
  resp_release(&rs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_insights__one_cell_is_what_predict_answers),
      cmocka_unit_test(test_insights__horizons_are_what_predict_answers),
      cmocka_unit_test(test_insights__sums_orders_and_regions),
      cmocka_unit_test(test_insights__summary_matches_the_rows),
      cmocka_unit_test(test_insights__handlers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
