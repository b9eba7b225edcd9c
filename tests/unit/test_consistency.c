/* One answer to each question (docs/rules.md §3), on a small trained suite:
 * the rise probability is on the side of 1/2 that the demand answer's own
 * law puts P(Y > last) on, for every cell, horizon and customer segment and
 * for fallbacks; the segments of a cell add up to the cell; a region flags
 * a rise by the probability of its total, as the insights rank it; and the
 * report holds what the holdout judged (the rise beside the classifier
 * alone, the demand figures by place). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

static struct gaz *gaz;
static char dir[TEST_TMPDIR_CAP];
static struct store *db;
static struct suite *suite;

#define SALES 12000
/* the sales are gathered on this many pincodes: cells of a few sales a
 * period, where the demand law says a rise more often than not */
#define PINS 40

/* An age and an income of each band (docs/rules.md §3 segments). */
static const int32_t ages[ML_AGE_BANDS] = {22, 30, 40, 52, 66};
static const double incomes[ML_INCOME_BANDS] = {15000, 37500, 75000, 150000, 300000};

static int setup(void **state) {
  (void)state;
  struct gerr err;
  char path[TEST_TMPDIR_CAP + 32];
  if (gaz_load_default(&gaz, &err) < 0 || test_tmpdir("consistency", dir) < 0)
    return -1;
  snprintf(path, sizeof path, "%s/c.db", dir);
  if (store_open(path, &db, &err) < 0)
    return -1;
  struct gen_config gc = {.seed = 23, .end_ist_ms = days_from_civil(2026, 3, 1) * DAY_MS,
                          .days = 300, .count = SALES};
  struct gen *g = NULL;
  if (gen_new(gaz, &gc, &g, &err) < 0)
    return -1;
  struct sale *recs = calloc(SALES, sizeof *recs);
  if (!recs)
    return -1;
  int32_t pins[PINS];
  size_t npins = 0;
  for (int i = 0; i < SALES; i++) {
    gen_next(g, &recs[i]);
    size_t k = 0;
    while (k < npins && pins[k] != recs[i].pincode)
      k++;
    if (k == npins && npins < PINS)
      pins[npins++] = recs[i].pincode;
    recs[i].pincode = pins[(uint32_t)recs[i].pincode % npins];
    recs[i].city[0] = '\0'; /* filled from the gazetteer */
  }
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
  return suite_train(db, gaz, &cfg, NULL, NULL, &suite, &err);
}

static int teardown(void **state) {
  (void)state;
  suite_free(suite);
  store_close(db);
  gaz_free(gaz);
  test_tmpdir_remove(dir);
  return 0;
}

static void ask(enum predict_kind kind, int32_t pin, const char *prod, const char *chan, int h,
                int seg, struct predict_answer *a) {
  struct predict_query q = {.pincode = pin, .horizon = h};
  snprintf(q.product, sizeof q.product, "%s", prod);
  snprintf(q.channel, sizeof q.channel, "%s", chan);
  if (seg >= 0) {
    q.has_customer = 1;
    q.customer_age = ages[seg / ML_INCOME_BANDS];
    q.customer_income = incomes[seg % ML_INCOME_BANDS];
  }
  suite_predict(suite, kind, &q, 0, a);
}

/* The demand answer's law says a rise (P(Y > last) > 1/2) exactly when the
 * rise answer does. Returns the law's probability. */
static double check_agree(int32_t pin, const char *prod, const char *chan, int h, int seg) {
  struct predict_answer d, r;
  ask(PREDICT_DEMAND, pin, prod, chan, h, seg, &d);
  ask(PREDICT_RISE, pin, prod, chan, h, seg, &r);
  assert_true(fabs(d.last_period_demand - r.last_period_demand) < 1e-12);
  double a = suite->dcal[h - 1][seg >= 0 ? ML_SEGMENT : ML_TOTAL].alpha;
  long at = ml_pin_index(suite->d, pin);
  if (at < 0 ? suite->has_cold[h - 1] : suite_pin_cold(suite, (size_t)at, h)) /* cold pincodes' */
    a = suite->dcal_cold[h - 1].alpha;
  double mu = d.predicted_demand;
  double law = eval_count_above(mu, mu * (1 + a * mu), d.last_period_demand);
  assert_true(law >= 0 && law <= 1);
  assert_true(r.probability >= 0 && r.probability <= 1);
  if ((r.probability > 0.5) != (law > 0.5))
    fail_msg("pincode %06d %s %s h%d seg %d: rise %.4f, the demand law %.4f (mu %.3f, last %.0f)",
             (int)pin, prod, chan, h, seg, r.probability, law, mu, d.last_period_demand);
  assert_int_equal(r.demand_rise, r.probability > 0.5);
  /* the interval is the same law's */
  assert_true(d.low <= d.high);
  return law;
}

static void test_consistency__rise_agrees_with_the_demand_law(void **state) {
  (void)state;
  const struct dataset *d = suite->d;
  size_t cells = 0, law_rises = 0;
  for (size_t i = 0; i < d->npin; i++)
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t c = 0; c < d->nchan; c++)
        for (int h = 1; h <= ML_HORIZONS; h++) {
          int seg = (int)((i + k + c + (size_t)h) % (ML_SEGMENTS + 1)) - 1; /* -1: none */
          law_rises += check_agree(d->pins[i], d->prod[k], d->chan[c], h, seg) > 0.5;
          cells++;
        }
  /* fallbacks: an unseen pincode, product and channel average cells */
  check_agree(110001, d->prod[0], d->chan[0], 1, -1);
  check_agree(d->pins[0], "nosuchproduct", d->chan[0], 2, -1);
  check_agree(d->pins[0], d->prod[0], "nosuchchannel", 3, 4);
  print_message("rise against the demand law: %zu cells, %zu rises by the law\n", cells,
                law_rises);
  assert_true(cells > 500);
  assert_true(law_rises > 20); /* both sides of 1/2 are checked */
}

static void test_consistency__segments_add_up_to_their_cell(void **state) {
  (void)state;
  const struct dataset *d = suite->d;
  /* the ages and incomes above name every segment once */
  int seen[ML_SEGMENTS] = {0};
  for (int g = 0; g < ML_SEGMENTS; g++)
    seen[ml_segment(ages[g / ML_INCOME_BANDS], incomes[g % ML_INCOME_BANDS])]++;
  for (int g = 0; g < ML_SEGMENTS; g++)
    assert_int_equal(seen[g], 1);
  size_t checked = 0;
  for (size_t i = 0; i < d->npin; i += d->npin / 25 + 1)
    for (size_t k = 0; k < d->nprod; k += 2)
      for (size_t c = 0; c < d->nchan; c++)
        for (int h = 1; h <= ML_HORIZONS; h++) {
          struct predict_answer tot, a;
          ask(PREDICT_DEMAND, d->pins[i], d->prod[k], d->chan[c], h, -1, &tot);
          double sum = 0;
          for (int g = 0; g < ML_SEGMENTS; g++) {
            ask(PREDICT_DEMAND, d->pins[i], d->prod[k], d->chan[c], h, g, &a);
            assert_true(a.predicted_demand >= 0);
            sum += a.predicted_demand;
          }
          if (fabs(sum - tot.predicted_demand) > 1e-9 * (1 + tot.predicted_demand))
            fail_msg("pincode %06d %s %s h%d: segments %.9f, cell %.9f", (int)d->pins[i],
                     d->prod[k], d->chan[c], h, sum, tot.predicted_demand);
          checked++;
        }
  assert_true(checked > 50);
}

static void test_consistency__regions_flag_the_rise_of_their_total(void **state) {
  (void)state;
  struct gerr err;
  struct insight_row *rows;
  size_t m;
  struct insight_query q = {.sort = INSIGHT_BY_RISE};
  assert_int_equal(suite_rank_regions(suite, &q, &rows, &m, &err), 0);
  assert_true(m >= 2);
  for (size_t r = 0; r < m; r++) {
    json_t *reg = json_loads(suite_region_json(suite, rows[r].id), 0, NULL);
    assert_non_null(reg);
    json_t *p = json_object_get(reg, "demand_rise_probability");
    assert_true(json_is_number(p));
    double said = json_number_value(p);
    assert_true(fabs(said - rows[r].rise) < 1e-4);
    if (fabs(rows[r].rise - 0.5) > 1e-4)
      assert_int_equal(json_is_true(json_object_get(reg, "demand_rise_flag")),
                       rows[r].rise > 0.5);
    /* the probability of the sum of the region's cells' laws */
    struct region_pin sum = {0, 0, 0, 0};
    for (size_t i = 0; i < suite->d->npin; i++) {
      if (suite_region_of(suite, suite->d->pins[i]) != rows[r].id)
        continue;
      struct region_pin one;
      assert_int_equal(suite_insights_pin(suite, i, &one), 0);
      sum.pred += one.pred;
      sum.last += one.last;
      sum.rise_mean += one.rise_mean;
      sum.rise_var += one.rise_var;
    }
    assert_true(fabs(sum.last - rows[r].last) < 1e-6);
    assert_true(fabs(ml_rise_of_sum(&sum) - rows[r].rise) < 1e-6);
    json_decref(reg);
  }
  free(rows);
}

static void test_consistency__the_report_says_what_was_judged(void **state) {
  (void)state;
  json_t *rep = suite_report(suite);
  json_t *rise = json_object_get(json_object_get(rep, "models"), "demand_rise");
  json_t *hold = json_object_get(rise, "holdout");
  double served = json_number_value(json_object_get(hold, "roc_auc"));
  double alone =
      json_number_value(json_object_get(json_object_get(hold, "classifier_alone"), "roc_auc"));
  double law =
      json_number_value(json_object_get(json_object_get(hold, "demand_law_alone"), "roc_auc"));
  print_message("rise ROC AUC on the holdout: served %.6f, classifier alone %.6f, demand law "
                "alone %.6f\n",
                served, alone, law);
  assert_true(served > 0.5 && alone > 0.5 && law > 0.5);
  /* keeping the law's side of 1/2 moves few cells: the ranking stays */
  assert_true(served >= alone - 0.01);
  assert_non_null(json_object_get(json_object_get(rise, "baselines"), "poisson_moving_average_6"));
  /* the demand figures: WAPE beside the deviance, and sums by place */
  json_t *h1 = json_object_get(json_object_get(json_object_get(rep, "backtest"), "horizons"), "1");
  assert_true(json_is_number(json_object_get(h1, "wape")));
  const char *levels[] = {"pincode", "region", "state"};
  double units[3];
  for (int l = 0; l < 3; l++) {
    json_t *lv = json_object_get(json_object_get(h1, "levels"), levels[l]);
    assert_non_null(lv);
    units[l] = json_number_value(json_object_get(lv, "units"));
    assert_true(units[l] > 0);
    assert_true(json_is_number(json_object_get(lv, "wape")));
    assert_true(json_is_number(json_object_get(lv, "bias")));
    json_t *b = json_object_get(json_object_get(lv, "baselines"), "moving_average_6");
    assert_true(json_is_number(json_object_get(b, "wape")));
  }
  assert_true(units[0] > units[1] && units[0] > units[2]);
  json_t *dh = json_object_get(json_object_get(json_object_get(rep, "models"), "demand"),
                               "holdout");
  assert_true(json_is_number(json_object_get(dh, "wape")));
  assert_non_null(json_object_get(json_object_get(dh, "levels"), "state"));
  /* every baseline keeps its floor: the deviance stays finite and modest */
  json_t *bases = json_object_get(h1, "baselines");
  const char *k;
  json_t *v;
  json_object_foreach(bases, k, v) {
    double dev = json_number_value(json_object_get(v, "poisson_deviance"));
    assert_true(isfinite(dev) && dev < 5);
  }
  json_decref(rep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_consistency__rise_agrees_with_the_demand_law),
      cmocka_unit_test(test_consistency__segments_add_up_to_their_cell),
      cmocka_unit_test(test_consistency__regions_flag_the_rise_of_their_total),
      cmocka_unit_test(test_consistency__the_report_says_what_was_judged),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
