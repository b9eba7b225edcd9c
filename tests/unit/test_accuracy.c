/* Accuracy of a served version (src/ml/accuracy.c) on a constructed store
 * and a constructed suite (the last-period baseline answers, with Poisson
 * intervals): every figure is checked against the version's own answers
 * for each cell (suite_predict) and the sales stored for each period. */
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

#include "gromo/accuracy.h"
#include "gromo/app.h"
#include "gromo/buf.h"
#include "gromo/metrics.h"
#include "gromo/evaluate.h"
#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

static struct gaz *gaz;
static char dir[TEST_TMPDIR_CAP];
static struct store *db;
static struct suite *suite; /* version 7, as of 2025-03-31; owned by holder */
static struct model_holder *holder;

#define PIN_A 110001
#define PIN_B 400001
#define PIN_COLD 560001 /* no sales in training */
#define VERSION 7

static int64_t T; /* 2025-03-31, days */

static struct sale rec(int64_t day, int32_t pin, const char *product, const char *channel) {
  struct sale s;
  memset(&s, 0, sizeof s);
  s.ts_ms = day * DAY_MS + 10 * 3600000LL;
  s.pincode = pin;
  s.customer_age = 30;
  s.customer_income = 50000;
  snprintf(s.product, sizeof s.product, "%s", product);
  snprintf(s.channel, sizeof s.channel, "%s", channel);
  return s;
}

/* n sales of one cell on `day`. */
static void add(int64_t day, int32_t pin, const char *product, int n) {
  struct sale *b = calloc((size_t)n, sizeof *b);
  for (int i = 0; i < n; i++)
    b[i] = rec(day, pin, product, "online");
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(db, b, (size_t)n, NULL, &st, NULL), 0);
  free(b);
}

/* The training data: in the 30 days up to T, A sold 2 card and 4 loan,
 * B 1 loan. */
static const struct {
  int32_t pin;
  const char *product;
  int n;
} TRAIN[] = {{PIN_A, "card", 2}, {PIN_A, "loan", 4}, {PIN_B, "loan", 1}};

/* The backtest's range per horizon: bias [-0.05, 0.05], coverage
 * [0.75, 0.85], deviance [0.5, 1.0] (two months each). */
static json_t *backtest_report(void) {
  json_t *months = json_array();
  for (int h = 1; h <= 3; h++)
    for (int m = 0; m < 2; m++)
      json_array_append_new(
          months, json_pack("{s:i,s:{s:f,s:f,s:f}}", "horizon", h, "all", "bias",
                            m ? 0.05 : -0.05, "interval_coverage_expected_1_or_more",
                            m ? 0.85 : 0.75, "poisson_deviance", m ? 1.0 : 0.5));
  return json_pack("{s:{s:o}}", "backtest", "by_month", months);
}

static int setup(void **state) {
  struct gerr err;
  if (gaz_load_default(&gaz, &err) < 0 || test_tmpdir("accuracy", dir) < 0)
    return -1;
  char path[128];
  snprintf(path, sizeof path, "%s/acc.db", dir);
  if (store_open(path, &db, &err) < 0)
    return -1;
  T = days_from_civil(2025, 3, 31);
  struct dataset_builder *b = NULL;
  if (dataset_builder_new(30, &b, &err) < 0)
    return -1;
  for (size_t i = 0; i < sizeof TRAIN / sizeof *TRAIN; i++)
    for (int k = 0; k < TRAIN[i].n; k++) {
      struct sale s = rec(T - k, TRAIN[i].pin, TRAIN[i].product, "online");
      struct ml_sale_src src = {s.ts_ms, s.pincode, s.product, s.channel, s.customer_age,
                                s.customer_income};
      struct store_insert_stats st;
      if (dataset_builder_add(b, &src) < 0 || store_sales_insert(db, &s, 1, NULL, &st, &err) < 0)
        return -1;
    }
  suite = calloc(1, sizeof *suite);
  if (!suite || dataset_builder_finish(b, gaz, ML_HIST, 0, &suite->d, NULL, NULL, &err) < 0)
    return -1;
  suite->gaz = gaz;
  suite->version = VERSION;
  snprintf(suite->trained_at, sizeof suite->trained_at, "2025-04-01T00:00:00.000Z");
  for (int k = 0; k < PREDICT__COUNT; k++)
    suite->use_baseline[k] = 1; /* demand: the last period */
  suite->level = 0.8;
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++)
      suite->dcal[h][k] = (struct demand_calib){.alpha = 0, .nominal = 0.8};
  suite->report = backtest_report();
  if (suite->d->asof_day != T || suite_index(suite, &err) < 0 || model_holder_new(&holder) < 0)
    return -1;
  model_holder_swap(holder, suite);
  return 0;
}

static int teardown(void **state) {
  model_holder_free(holder);
  store_close(db);
  gaz_free(gaz);
  test_tmpdir_remove(dir);
  return 0;
}

static double jnum(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_number(v))
    fail_msg("%s is not a number", key);
  return json_number_value(v);
}

static json_t *period(json_t *rep, size_t i) {
  return json_array_get(json_object_get(rep, "periods"), i);
}

static void test_accuracy__parse_day(void **state) {
  int64_t d = -1;
  assert_int_equal(accuracy_parse_day("2025-03-31", &d), 0);
  assert_int_equal(d, days_from_civil(2025, 3, 31));
  static const char *const bad[] = {"2025-02-30", "2025-3-31",  "2025-13-01", "1999-12-31",
                                    "2025-03-31T00:00", "",    "yesterday",  "2025/03/31",
                                    "+025-03-31", NULL};
  for (int i = 0; bad[i]; i++)
    assert_int_equal(accuracy_parse_day(bad[i], &d), -1);
  assert_int_equal(accuracy_parse_day(NULL, &d), -1);
}

/* Before any period after the as-of date is over, the answer has no
 * periods, three pending, and no alarm: not an error. */
static void test_accuracy__no_complete_period(void **state) {
  json_t *rep = NULL;
  struct gerr err;
  /* period 1 is 2025-04-01..2025-04-30: complete from 2025-05-01 */
  assert_int_equal(accuracy_report(suite, db, T + 30, &rep, &err), 0);
  assert_int_equal(json_array_size(json_object_get(rep, "periods")), 0);
  assert_int_equal(json_array_size(json_object_get(rep, "pending")), 3);
  assert_string_equal(json_string_value(json_object_get(rep, "model_as_of")), "2025-03-31");
  assert_string_equal(json_string_value(json_object_get(rep, "as_of")), "2025-04-30");
  json_t *first = json_array_get(json_object_get(rep, "pending"), 0);
  assert_string_equal(json_string_value(json_object_get(first, "period_from")), "2025-04-01");
  assert_string_equal(json_string_value(json_object_get(first, "period_to")), "2025-04-30");
  assert_int_equal(accuracy_drift(rep), 0);
  json_decref(rep);
  /* and as of a day before the version's own date */
  assert_int_equal(accuracy_report(suite, db, T - 10, &rep, &err), 0);
  assert_int_equal(json_array_size(json_object_get(rep, "periods")), 0);
  json_decref(rep);
}

/* The outcomes: period 1 (2025-04-01..04-30): A 1 card and 8 loan, the
 * pincode without training sales 2 loan, and 3 sales of a product the
 * version never saw; period 2 (05-01..05-30): A 40 loan; period 3
 * (05-31..06-29): A 5 card, pending as of 2025-05-31. A sale of B dated T,
 * stored after training, belongs to no period. */
static void add_outcomes(void) {
  add(T, PIN_B, "loan", 1);
  add(T + 5, PIN_A, "card", 1);
  add(T + 1, PIN_A, "loan", 4);
  add(T + 30, PIN_A, "loan", 4);
  add(T + 12, PIN_COLD, "loan", 2);
  add(T + 3, PIN_A, "insurance", 3);
  add(T + 31, PIN_A, "loan", 40);
  add(T + 61, PIN_A, "card", 5);
}

/* The mean deviance of cells (y, mu) as src/ml/evaluate.c computes it. */
static double deviance(const double *y, const double *mu, size_t n) {
  struct reg_metrics m;
  eval_regression(y, mu, n, &m);
  return m.poisson_deviance;
}

/* What the version answers for a cell h periods ahead (POST
 * /predict/demand without a customer): its forecast and 80% interval. */
struct served {
  double mu, lo, hi;
};
static struct served served(int32_t pin, const char *product, int hz) {
  struct predict_query q = {.pincode = pin, .horizon = hz};
  snprintf(q.product, sizeof q.product, "%s", product);
  snprintf(q.channel, sizeof q.channel, "online");
  struct predict_answer a;
  suite_predict(suite, PREDICT_DEMAND, &q, 0, &a);
  return (struct served){a.predicted_demand, a.low, a.high};
}

/* The figures of cells (y, answer) as the report must give them. */
struct expect {
  double predicted, realized, mae, dev, cover;
  int cells, expected1;
};
static struct expect expect(const double *y, const struct served *a, size_t n) {
  struct expect e = {.cells = (int)n};
  double mu[16] = {0};
  assert_true(n <= 16);
  int in = 0;
  for (size_t i = 0; i < n; i++) {
    mu[i] = a[i].mu;
    e.predicted += a[i].mu;
    e.realized += y[i];
    e.mae += fabs(y[i] - a[i].mu) / (double)n;
    if (a[i].mu >= 1) {
      e.expected1++;
      in += y[i] >= a[i].lo && y[i] <= a[i].hi;
    }
  }
  e.dev = deviance(y, mu, n);
  e.cover = e.expected1 ? (double)in / e.expected1 : NAN;
  return e;
}
static void check(json_t *f, const struct expect *e) {
  assert_int_equal(jnum(f, "cells"), e->cells);
  assert_int_equal(jnum(f, "cells_expected_1_or_more"), e->expected1);
  assert_true(fabs(jnum(f, "predicted") - e->predicted) < 1e-6 * (1 + e->predicted));
  assert_true(fabs(jnum(f, "realized") - e->realized) < 1e-9);
  assert_true(fabs(jnum(f, "bias") - (e->predicted / e->realized - 1)) < 1e-6);
  assert_true(fabs(jnum(f, "mae") - e->mae) < 1e-6);
  assert_true(fabs(jnum(f, "poisson_deviance") - e->dev) < 1e-6 * (1 + e->dev));
  if (e->expected1)
    assert_true(fabs(jnum(f, "interval_coverage_expected_1_or_more") - e->cover) < 1e-9);
}

/* Every figure against the version's own answers for each cell and what
 * the store holds for each period: the report judges what was served. */
static void test_accuracy__figures_of_the_served_answers(void **state) {
  add_outcomes();
  json_t *rep = NULL;
  struct gerr err;
  assert_int_equal(accuracy_report(suite, db, T + 61, &rep, &err), 0);
  assert_int_equal(json_integer_value(json_object_get(rep, "version")), VERSION);
  assert_int_equal(json_array_size(json_object_get(rep, "periods")), 2);
  assert_int_equal(json_array_size(json_object_get(rep, "pending")), 1);

  /* period 1, realized: A card 1, A loan 8, B card 0, B loan 0; the new
   * pincode (answered from its nearest pincodes with sales) card 0, loan 2 */
  json_t *p1 = period(rep, 0), *all = json_object_get(p1, "all");
  assert_int_equal(json_integer_value(json_object_get(p1, "horizon")), 1);
  assert_string_equal(json_string_value(json_object_get(p1, "period_from")), "2025-04-01");
  assert_string_equal(json_string_value(json_object_get(p1, "period_to")), "2025-04-30");
  const struct served a1[] = {served(PIN_A, "card", 1),    served(PIN_A, "loan", 1),
                              served(PIN_B, "card", 1),    served(PIN_B, "loan", 1),
                              served(PIN_COLD, "card", 1), served(PIN_COLD, "loan", 1)};
  static const double y1[] = {1, 8, 0, 0, 0, 2};
  struct expect e1 = expect(y1, a1, 6);
  check(all, &e1);
  /* per product: card (A, B, new) and loan */
  json_t *prods = json_object_get(p1, "products");
  const struct served card[] = {a1[0], a1[2], a1[4]}, loan[] = {a1[1], a1[3], a1[5]};
  static const double ycard[] = {1, 0, 0}, yloan[] = {8, 0, 2};
  struct expect ec = expect(ycard, card, 3), el = expect(yloan, loan, 3);
  check(json_object_get(prods, "card"), &ec);
  check(json_object_get(prods, "loan"), &el);
  /* the new pincode apart */
  struct expect ecold = expect(y1 + 4, a1 + 4, 2);
  check(json_object_get(p1, "cold_pincodes"), &ecold);
  assert_int_equal(jnum(p1, "sales_of_unknown_products_or_channels"), 3);
  /* no regions in this version: every cell in the one without an id */
  json_t *regs = json_object_get(p1, "regions");
  assert_int_equal(json_array_size(regs), 1);
  assert_true(json_is_null(json_object_get(json_array_get(regs, 0), "region_id")));
  check(json_array_get(regs, 0), &e1);
  /* 11 sales: too few to judge */
  json_t *d1 = json_object_get(p1, "drift");
  assert_false(json_is_true(json_object_get(d1, "judged")));
  assert_false(json_is_true(json_object_get(d1, "alarm")));

  /* period 2: A card 0, A loan 40, B card 0, B loan 0 */
  json_t *p2 = period(rep, 1), *all2 = json_object_get(p2, "all");
  const struct served a2[] = {served(PIN_A, "card", 2), served(PIN_A, "loan", 2),
                              served(PIN_B, "card", 2), served(PIN_B, "loan", 2)};
  static const double y2[] = {0, 40, 0, 0};
  struct expect e2 = expect(y2, a2, 4);
  check(all2, &e2);
  assert_int_equal(jnum(json_object_get(p2, "cold_pincodes"), "cells"), 0);
  /* 40 sales against a forecast of a few: the bias is far below the
   * backtest's [-0.05, 0.05] - 0.10, the deviance above 1.0 * 1.25; the
   * coverage is not judged over so few cells */
  assert_true(e2.predicted / e2.realized - 1 < -0.15);
  assert_true(e2.dev > 1.25);
  json_t *d2 = json_object_get(p2, "drift");
  assert_true(json_is_true(json_object_get(d2, "judged")));
  assert_true(json_is_true(json_object_get(d2, "alarm")));
  assert_int_equal(json_array_size(json_object_get(d2, "reasons")), 2);
  char want[40];
  snprintf(want, sizeof want, "realized bias %+.3f", e2.predicted / e2.realized - 1);
  assert_non_null(strstr(json_string_value(json_array_get(json_object_get(d2, "reasons"), 0)),
                         want));
  assert_int_equal(json_array_size(json_object_get(d2, "notes")), 1);
  assert_int_equal(accuracy_drift(rep), 1);
  assert_int_equal(json_array_size(json_object_get(json_object_get(rep, "drift"), "reasons")),
                   2);
  json_decref(rep);

  /* one day later period 3 is complete too: A card 5 */
  assert_int_equal(accuracy_report(suite, db, T + 91, &rep, &err), 0);
  assert_int_equal(json_array_size(json_object_get(rep, "periods")), 3);
  assert_int_equal(jnum(json_object_get(period(rep, 2), "all"), "realized"), 5);
  json_decref(rep);
}

static void test_accuracy__cache(void **state) {
  struct accuracy_cache *c = NULL;
  struct gerr err;
  assert_int_equal(accuracy_cache_new(&c), 0);
  json_t *a = NULL, *b = NULL;
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, VERSION, T + 61, 0, &a, &err), 0);
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, VERSION, T + 61, 0, &b, &err), 0);
  assert_ptr_equal(a, b); /* the same report, not computed again */
  json_decref(b);
  /* no serving version in the registry; no version 99 */
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, 0, T + 61, 0, &b, &err), 1);
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, 99, T + 61, 0, &b, &err), 1);
  /* a new sale (outside every period): computed again, unless a recent
   * report may be reused */
  add(T + 200, PIN_A, "loan", 1);
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, VERSION, T + 61, 3600, &b, &err), 0);
  assert_ptr_equal(a, b);
  json_decref(b);
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, VERSION, T + 61, 0, &b, &err), 0);
  assert_ptr_not_equal(a, b);
  assert_true(json_equal(json_object_get(a, "periods"), json_object_get(b, "periods")));
  json_decref(b);
  /* another day: another report */
  assert_int_equal(accuracy_cache_get(c, db, gaz, holder, VERSION, T + 31, 0, &b, &err), 0);
  assert_int_equal(json_array_size(json_object_get(b, "periods")), 1);
  json_decref(b);
  json_decref(a);
  accuracy_cache_free(c);
}

/* gromo serve --retrain-every, GROMO_RETRAIN_EVERY. */
static void test_accuracy__retrain_durations(void **state) {
  static const struct {
    const char *text;
    int ok;
    int64_t secs;
  } cases[] = {
      {"0", 1, 0},           {"off", 1, 0},         {"90s", 1, 90},
      {"30m", 1, 1800},      {"24h", 1, 86400},     {"7d", 1, 7 * 86400},
      {"365d", 1, APP_DURATION_MAX_S},               {"366d", 0, 0},
      {"8761h", 0, 0},       {"7", 0, 0},           {"d", 0, 0},
      {"-1d", 0, 0},         {"1.5h", 0, 0},        {"7 d", 0, 0},
      {"7D", 0, 0},          {"", 0, 0},            {"99999999999999d", 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int64_t v = -7;
    int rc = app_duration_parse(cases[i].text, &v);
    if (rc != (cases[i].ok ? 0 : -1))
      fail_msg("'%s': %d", cases[i].text, rc);
    assert_true(cases[i].ok ? v == cases[i].secs : v == -7);
  }
  int64_t v = 0;
  assert_int_equal(app_duration_parse(NULL, &v), -1);
}

/* The gauges of /metrics from a report's figures. */
static void test_accuracy__gauges(void **state) {
  struct metrics *m = metrics_new(0);
  assert_non_null(m);
  struct metrics_gauges g = {.started_unix = 1, .build = "b"};
  struct buf out;
  buf_init(&out, 1 << 20);
  assert_int_equal(metrics_render(m, NULL, &g, &out), 0);
  assert_null(strstr(out.data, "gromo_model_drift"));
  buf_release(&out);
  g.accuracy = (struct metrics_accuracy){
      .present = 1, .version = 4, .drift = 1, .nperiods = 2,
      .period = {{1, -0.25, 0.5, 0.75, 0.8, 10, 40}, {2, 0.125, 0.25, 1.5, NAN, 9, 7}}};
  buf_init(&out, 1 << 20);
  assert_int_equal(metrics_render(m, NULL, &g, &out), 0);
  const char *t = out.data;
  assert_non_null(strstr(t, "gromo_model_accuracy_version 4\n"));
  assert_non_null(strstr(t, "gromo_model_drift 1\n"));
  assert_non_null(strstr(t, "gromo_model_realized_bias{horizon=\"1\"} -0.25\n"));
  assert_non_null(strstr(t, "gromo_model_realized_bias{horizon=\"2\"} 0.125\n"));
  assert_non_null(strstr(t, "gromo_model_poisson_deviance{horizon=\"2\"} 0.25\n"));
  assert_non_null(strstr(t, "gromo_model_mae{horizon=\"2\"} 1.5\n"));
  assert_non_null(strstr(t, "gromo_model_interval_coverage{horizon=\"1\"} 0.8\n"));
  assert_null(strstr(t, "gromo_model_interval_coverage{horizon=\"2\"}")); /* undefined */
  assert_non_null(strstr(t, "gromo_model_realized_sales{horizon=\"1\"} 40\n"));
  buf_release(&out);
  metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accuracy__parse_day),
      cmocka_unit_test(test_accuracy__no_complete_period),
      cmocka_unit_test(test_accuracy__figures_of_the_served_answers),
      cmocka_unit_test(test_accuracy__cache),
      cmocka_unit_test(test_accuracy__retrain_durations),
      cmocka_unit_test(test_accuracy__gauges),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
