/* A whole trained suite against XGBoost. Every booster the training
 * pipeline trains (the backtest's window models, the early-stopped fits and
 * the refits of demand, rise and top product) is loaded back into XGBoost
 * from its own JSON model, and XGBoost's predictions of its training rows
 * must be the native forest's. Then the served models are held to XGBoost
 * on the rows serving reads (every cell at every horizon, customers of every
 * band), before and after the suite's round trip through the registry. */
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
#include <xgboost/c_api.h>

#include "gromo/forest.h"
#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"
#include "testutil.h"

#define XGB_OK(call)                                                         \
  do {                                                                       \
    if ((call) != 0)                                                         \
      fail_msg("%s: %s", #call, XGBGetLastError());                          \
  } while (0)

/* Rows of each booster held to XGBoost at training time. */
#define TAP_ROWS 300
/* Most cells of the data set read for the served models. */
#define SERVE_CELLS 1500
/* Boosters remembered, a copy of each JSON model. */
#define MAX_TAPPED 64

static struct gaz *gaz;

struct tapped {
  char objective[32];
  char *json;
  size_t len;
  const struct forest *forest;
};

static struct {
  struct tapped t[MAX_TAPPED];
  size_t n;
  size_t by_kind[3]; /* poisson, logistic, softprob */
  size_t rows_checked;
} taps;

static int kind_of(const char *objective) {
  return strcmp(objective, "count:poisson") == 0     ? 0
         : strcmp(objective, "binary:logistic") == 0 ? 1
                                                     : 2;
}

static BoosterHandle booster_of(const char *json, size_t len) {
  BoosterHandle b;
  XGB_OK(XGBoosterCreate(NULL, 0, &b));
  XGB_OK(XGBoosterLoadModelFromBuffer(b, json, (bst_ulong)len));
  return b;
}

/* XGBoost's predicted values of rows X[n x nf] with offsets margin (or
 * NULL), n x G of them into out. */
static void xgb_values(BoosterHandle b, const float *X, const float *margin, size_t n,
                       size_t nf, size_t G, double *out) {
  DMatrixHandle m;
  XGB_OK(XGDMatrixCreateFromMat(X, (bst_ulong)n, (bst_ulong)nf, NAN, &m));
  if (margin)
    XGB_OK(XGDMatrixSetFloatInfo(m, "base_margin", margin, (bst_ulong)n));
  const char *config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                       "\"iteration_end\": 0, \"strict_shape\": false}";
  const bst_ulong *shape;
  bst_ulong dim;
  const float *res;
  XGB_OK(XGBoosterPredictFromDMatrix(b, m, config, &shape, &dim, &res));
  size_t total = 1;
  for (bst_ulong i = 0; i < dim; i++)
    total *= shape[i];
  assert_int_equal(total, n * G);
  for (size_t i = 0; i < total; i++)
    out[i] = res[i];
  XGB_OK(XGDMatrixFree(m));
}

static int close_to(double a, double b) {
  return fabs(a - b) <= 1e-4 * fmax(1.0, fabs(b)) + 1e-9;
}

/* Each booster as it is trained: XGBoost and the forest agree on its first
 * TAP_ROWS training rows (with their offsets). */
static void on_booster(void *ctx, const struct xgb_tapped *t) {
  (void)ctx;
  assert_true(taps.n < MAX_TAPPED);
  struct tapped *k = &taps.t[taps.n++];
  snprintf(k->objective, sizeof k->objective, "%s", t->objective);
  k->json = malloc(t->len);
  assert_non_null(k->json);
  memcpy(k->json, t->json, t->len);
  k->len = t->len;
  k->forest = t->forest;
  taps.by_kind[kind_of(t->objective)]++;

  size_t n = t->n < TAP_ROWS ? t->n : TAP_ROWS;
  size_t G = forest_num_groups(t->forest);
  double *want = malloc(n * G * sizeof *want), got[16];
  assert_non_null(want);
  assert_true(G <= 16);
  BoosterHandle b = booster_of(t->json, t->len);
  xgb_values(b, t->X, t->margin, n, t->nf, G, want);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    forest_predict(t->forest, t->X + i * t->nf, got);
    double scale = t->margin ? exp(t->margin[i]) : 1; /* count:poisson's offset */
    for (size_t g = 0; g < G; g++)
      bad += !close_to(got[g] * scale, want[i * G + g]);
  }
  if (bad)
    fail_msg("%s booster %zu: %zu of %zu training-row predictions differ from XGBoost's",
             t->objective, taps.n, bad, n * G);
  taps.rows_checked += n;
  XGB_OK(XGBoosterFree(b));
  free(want);
}

/* The last booster tapped whose forest is f (a forest freed during training
 * may share its address with a later one: the last is the living one). */
static const struct tapped *tapped_of(const struct forest *f) {
  for (size_t i = taps.n; i-- > 0;)
    if (taps.t[i].forest == f)
      return &taps.t[i];
  return NULL;
}

/* Serving's rows of a suite: cells (totals and segments) at each horizon. */
struct rows {
  float *X;
  float *margin;
  size_t n, nf;
};

static void cell_rows(const struct dataset *d, struct rows *r) {
  size_t cells = d->ncell < SERVE_CELLS ? d->ncell : SERVE_CELLS;
  r->nf = CF__COUNT;
  r->n = 0;
  r->X = malloc(cells * ML_HORIZONS * CF__COUNT * sizeof *r->X);
  r->margin = malloc(cells * ML_HORIZONS * sizeof *r->margin);
  assert_true(r->X && r->margin);
  size_t step = d->ncell / cells;
  for (size_t c = 0; c < cells; c++) {
    uint64_t key = d->cell_key[c * step];
    for (int h = 1; h <= ML_HORIZONS; h++) {
      float *x = r->X + r->n * CF__COUNT;
      ml_cell_features(d, (long)(key >> 24), (int)((key >> 16) & 0xff), (int)((key >> 8) & 0xff),
                       (int)(key & 0xff), 0, h, x);
      r->margin[r->n++] = logf(x[CF_SEASON_BASE]);
    }
  }
}

static void customer_rows(const struct dataset *d, struct rows *r) {
  static const int32_t ages[] = {22, 35, 58};
  static const double incomes[] = {18000, 60000, 250000};
  size_t nf = ml_cust_nfeatures(d), pins = d->npin < 100 ? d->npin : 100;
  r->nf = nf;
  r->n = 0;
  r->margin = NULL;
  r->X = malloc(pins * d->nchan * 9 * nf * sizeof *r->X);
  assert_non_null(r->X);
  for (size_t i = 0; i < pins; i++)
    for (size_t c = 0; c < d->nchan; c++)
      for (size_t a = 0; a < 3; a++)
        for (size_t m = 0; m < 3; m++)
          ml_cust_features(d, (long)(i * (d->npin / pins)), (int)c, ages[a], incomes[m], 0,
                           r->X + r->n++ * nf);
}

/* Served model f of suite s (kind: 0 demand, 1 rise, 2 top) against
 * XGBoost's model of the same training: its booster's predictions of rows r.
 * Demand through ml_demand_forest_mu, as serving asks it. */
static void check_served(const struct forest *f, const struct tapped *t, const struct rows *r,
                         int kind, const char *which) {
  size_t G = forest_num_groups(f);
  double *want = malloc(r->n * G * sizeof *want), got[16];
  assert_non_null(want);
  BoosterHandle b = booster_of(t->json, t->len);
  xgb_values(b, r->X, kind == 0 ? r->margin : NULL, r->n, r->nf, G, want);
  size_t bad = 0;
  for (size_t i = 0; i < r->n; i++) {
    const float *x = r->X + i * r->nf;
    if (kind == 0)
      got[0] = ml_demand_forest_mu(f, x);
    else
      forest_predict(f, x, got);
    for (size_t g = 0; g < G; g++)
      bad += !close_to(got[g], want[i * G + g]);
  }
  if (bad)
    fail_msg("%s: %zu of %zu served predictions differ from XGBoost's", which, bad, r->n * G);
  XGB_OK(XGBoosterFree(b));
  free(want);
}

static void check_suite(const struct suite *s, const struct tapped *const t[3],
                        const struct rows *cells, const struct rows *cust, const char *which) {
  char what[64];
  snprintf(what, sizeof what, "%s demand", which);
  check_served(s->demand, t[0], cells, 0, what);
  snprintf(what, sizeof what, "%s rise", which);
  check_served(s->rise, t[1], cells, 1, what);
  snprintf(what, sizeof what, "%s top product", which);
  check_served(s->top, t[2], cust, 2, what);
}

static void test_suite_xgb__every_model_matches_xgboost(void **state) {
  (void)state;
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("suitexgb", dir), 0);
  char path[TEST_TMPDIR_CAP + 16];
  snprintf(path, sizeof path, "%s/s.db", dir);
  struct gerr err;
  struct store *db = NULL;
  assert_int_equal(store_open(path, &db, &err), 0);
  /* 14 months of sales: a year of history behind the backtest's origins */
  struct gen_config gc = {.seed = 11, .end_ist_ms = days_from_civil(2026, 6, 30) * DAY_MS,
                          .days = 430, .count = 8000};
  struct gen *g = NULL;
  assert_int_equal(gen_new(gaz, &gc, &g, &err), 0);
  struct sale *recs = calloc(gc.count, sizeof *recs);
  assert_non_null(recs);
  for (size_t i = 0; i < gc.count; i++)
    gen_next(g, &recs[i]);
  gen_free(g);
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(db, recs, gc.count, NULL, &st, &err), 0);
  free(recs);

  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 20;
  struct suite *s = NULL;
  xgb_set_tap(on_booster, NULL);
  int rc = suite_train(db, gaz, &cfg, NULL, NULL, &s, &err);
  xgb_set_tap(NULL, NULL);
  if (rc < 0)
    fail_msg("training: %s", err.msg);
  /* the backtest's windows and the refit, the rise and top fits and refits */
  assert_true(taps.by_kind[0] >= 2);
  assert_true(taps.by_kind[1] >= 2);
  assert_true(taps.by_kind[2] >= 2);
  assert_true(taps.rows_checked > 0);

  assert_non_null(s->demand);
  assert_non_null(s->rise);
  assert_non_null(s->top);
  const struct tapped *t[3] = {tapped_of(s->demand), tapped_of(s->rise), tapped_of(s->top)};
  assert_true(t[0] && t[1] && t[2]);
  assert_string_equal(t[0]->objective, "count:poisson");
  assert_string_equal(t[1]->objective, "binary:logistic");
  assert_string_equal(t[2]->objective, "multi:softprob");

  struct rows cells, cust;
  cell_rows(s->d, &cells);
  customer_rows(s->d, &cust);
  assert_true(cells.n > 0 && cust.n > 0);
  check_suite(s, t, &cells, &cust, "trained");

  /* the same models after the registry's round trip */
  assert_int_equal(suite_save(db, s, 5, &err), 0);
  struct suite *l = NULL;
  if (suite_load(db, gaz, 0, &l, &err) < 0)
    fail_msg("loading: %s", err.msg);
  check_suite(l, t, &cells, &cust, "loaded");

  free(cells.X);
  free(cells.margin);
  free(cust.X);
  suite_free(l);
  suite_free(s);
  for (size_t i = 0; i < taps.n; i++)
    free(taps.t[i].json);
  store_close(db);
  test_tmpdir_remove(dir);
}

static int setup(void **state) {
  (void)state;
  struct gerr err;
  return gaz_load_default(&gaz, &err);
}

static int teardown(void **state) {
  (void)state;
  gaz_free(gaz);
  return 0;
}

int main(int argc, char **argv) {
  /* XGBoost's idle OpenMP workers spin unless told to sleep; libgomp reads
   * the setting as it loads, so set it and start again */
  if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
    execv("/proc/self/exe", argv);
  (void)argc;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_suite_xgb__every_model_matches_xgboost),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
