/* GET /insights/pincodes and /insights/regions with every pincode of the
 * gazetteer selling: a store where each of the ~18,700 pincodes has sales
 * (SALES_PER_PIN over 14 months, random products and channels, more where
 * the pincode is urban), a suite trained on it (few rounds: the model's
 * quality is not what is timed), then
 *   - the time to predict every cell when the suite is loaded,
 *   - each request through the router (no socket), median and worst of
 *     RUNS: all ~18,700 pincodes in one answer, JSON and CSV, by each order,
 *     with and without a product and channel; the regions.
 *   bench_insights [DIR] [RUNS] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "core/rng.h"
#include "gromo/app.h"
#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/routes.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

#define SALES_PER_PIN 24
#define MONTHS 14

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static uint64_t rng = RNG_GOLDEN;
static uint64_t next64(void) { return splitmix64(&rng); }

struct q {
  const char *names[5], *values[5];
};
static const char *query(void *ctx, const char *name) {
  const struct q *q = ctx;
  for (size_t i = 0; i < 5 && q->names[i]; i++)
    if (!strcmp(q->names[i], name))
      return q->values[i];
  return NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static struct app app;

static void time_request(const char *label, const char *path, const struct q *q, int runs) {
  double *t = malloc((size_t)runs * sizeof *t);
  size_t bytes = 0;
  int status = 0;
  for (int r = 0; r < runs; r++) {
    struct req rq = {0};
    rq.app = &app;
    rq.method = "GET";
    rq.path = path;
    rq.query_fn = query;
    rq.query_ctx = (void *)q;
    rq.role = ROLE_VIEWER;
    rq.admitted = 1;
    struct resp rs;
    resp_init(&rs);
    double t0 = now_ms();
    status = router_dispatch(gromo_routes, &rq, &rs);
    char *body;
    size_t len;
    const char *ct;
    if (!rs.content_type) { /* the envelope is part of the cost */
      http_render(&rs, "b", &body, &len, &ct);
      free(body);
    } else {
      len = rs.body.len;
    }
    t[r] = now_ms() - t0;
    bytes = len;
    resp_release(&rs);
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_d);
  printf("  %-52s %3d  %8.2f ms median  %8.2f ms worst  %6.2f MB\n", label, status,
         t[runs / 2], t[runs - 1], (double)bytes / 1e6);
  free(t);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  int runs = argc > 2 ? atoi(argv[2]) : 21;
  char path[512];
  snprintf(path, sizeof path, "%s/bench-insights.db", dir);
  remove(path);
  struct gerr err;
  struct gaz *gaz;
  struct store *db;
  if (gaz_load_default(&gaz, &err) < 0 || store_open(path, &db, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  size_t npin = gaz_count(gaz);
  static const char *const prods[3] = {"loan", "credit_card", "insurance"};
  static const char *const chans[2] = {"online", "offline"};
  int64_t end = days_from_civil(2026, 6, 30) * DAY_MS;
  size_t batch = 50000, n = 0, total = 0;
  struct sale *recs = calloc(batch, sizeof *recs);
  double t0 = now_ms();
  for (size_t i = 0; i < npin; i++) {
    const struct gaz_entry *e = gaz_at(gaz, i);
    int per = SALES_PER_PIN / 2 + (int)(next64() % SALES_PER_PIN) + (e->tier ? 0 : 8);
    for (int k = 0; k < per; k++) {
      struct sale *s = &recs[n++];
      memset(s, 0, sizeof *s);
      s->ts_ms = end - (int64_t)(next64() % ((uint64_t)MONTHS * 30 * DAY_MS));
      s->pincode = e->pincode;
      snprintf(s->product, sizeof s->product, "%s", prods[next64() % 3]);
      snprintf(s->channel, sizeof s->channel, "%s", chans[next64() % 2]);
      s->customer_age = 18 + (int32_t)(next64() % 60);
      s->customer_income = 10000 + (double)(next64() % 200000);
      if (n == batch) {
        struct store_insert_stats st;
        if (store_sales_insert(db, recs, n, NULL, &st, &err) < 0) {
          fprintf(stderr, "%s\n", err.msg);
          return 1;
        }
        total += n;
        n = 0;
      }
    }
  }
  struct store_insert_stats st;
  if (n && store_sales_insert(db, recs, n, NULL, &st, &err) < 0)
    return 1;
  total += n;
  free(recs);
  printf("insights: %zu sales over %zu pincodes stored in %.1f s\n", total, npin,
         (now_ms() - t0) / 1e3);

  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 20;
  cfg.origins = 2;
  struct suite *s = NULL;
  t0 = now_ms();
  if (suite_train(db, gaz, &cfg, NULL, NULL, &s, &err) < 0) {
    fprintf(stderr, "training: %s\n", err.msg);
    return 1;
  }
  printf("insights: trained (%d rounds) in %.1f s: %zu pincodes with sales, %zu products, "
         "%zu channels, %zu regions\n",
         cfg.rounds, (now_ms() - t0) / 1e3, s->d->npin, s->d->nprod, s->d->nchan,
         suite_region_count(s));
  for (int r = 0; r < 3; r++) {
    t0 = now_ms();
    if (suite_insights_build(s, &err) < 0)
      return 1;
    printf("insights: every cell predicted (%zu cells, demand and rise) in %.0f ms\n",
           s->d->npin * s->d->nprod * s->d->nchan, now_ms() - t0);
  }

  struct app_config ac;
  app_config_defaults(&ac);
  app.cfg = &ac;
  if (model_holder_new(&app.models) < 0)
    return 1;
  model_holder_swap(app.models, s);
  printf("insights: one request, %d runs (through the router, rendering included):\n", runs);
  static const struct q all_demand = {{"limit"}, {"100000"}};
  static const struct q all_growth = {{"limit", "sort"}, {"100000", "growth"}};
  static const struct q all_rise = {{"limit", "sort"}, {"100000", "rise"}};
  static const struct q cell_rise = {{"limit", "sort", "product", "channel"},
                                     {"100000", "rise", "loan", "online"}};
  static const struct q top100 = {{"sort"}, {"growth"}};
  static const struct q csv = {{"limit", "format"}, {"100000", "csv"}};
  static const struct q regions = {{"sort"}, {"rise"}};
  time_request("/insights/pincodes?limit=100000 (all, JSON)", "/insights/pincodes",
               &all_demand, runs);
  time_request("  ... &sort=growth", "/insights/pincodes", &all_growth, runs);
  time_request("  ... &sort=rise", "/insights/pincodes", &all_rise, runs);
  time_request("  ... &sort=rise&product=loan&channel=online", "/insights/pincodes",
               &cell_rise, runs);
  time_request("  ... &format=csv", "/insights/pincodes", &csv, runs);
  time_request("/insights/pincodes?sort=growth (top 100)", "/insights/pincodes", &top100,
               runs);
  time_request("/insights/regions?sort=rise", "/insights/regions", &regions, runs);
  /* horizons 2 and 3: the first request predicts every cell for its
   * horizon (timed alone), the later ones only add up */
  static const struct q h2 = {{"limit", "horizon"}, {"100000", "2"}};
  static const struct q h3 = {{"limit", "horizon"}, {"100000", "3"}};
  time_request("/insights/pincodes?limit=100000&horizon=2, first", "/insights/pincodes", &h2,
               1);
  time_request("  ... then", "/insights/pincodes", &h2, runs);
  time_request("/insights/pincodes?limit=100000&horizon=3, first", "/insights/pincodes", &h3,
               1);
  model_holder_free(app.models);
  store_close(db);
  gaz_free(gaz);
  remove(path);
  snprintf(path, sizeof path, "%s/bench-insights.db-wal", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/bench-insights.db-shm", dir);
  remove(path);
  return 0;
}
