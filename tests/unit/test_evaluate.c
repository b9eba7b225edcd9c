/* src/ml/evaluate.c and src/ml/calibrate.c: metrics against values worked
 * out by hand, edge cases, and calibrators on data from known processes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "core/rng.h"
#include "gromo/evaluate.h"


/* ---- A deterministic generator (splitmix64, core/rng.h) --------------- */

static double rng_uniform(uint64_t *s) { return rng_unit_open(s); } /* (0, 1) */

static double rng_normal(uint64_t *s) {
  double u = rng_uniform(s), v = rng_uniform(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double logit(double p) { return log(p / (1.0 - p)); }
static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* ---- Regression --------------------------------------------------------- */

static void test_evaluate__regression_by_hand(void **state) {
  /* residuals y - mu = -0.5, 0, -1, 2
   * MAE  = (0.5 + 0 + 1 + 2)/4 = 0.875
   * RMSE = sqrt((0.25 + 0 + 1 + 4)/4) = sqrt(1.3125) = 1.145643924
   * ybar = 1.75, SS_tot = 3.0625 + 0.5625 + 0.0625 + 5.0625 = 8.75,
   * SS_res = 5.25, R2 = 1 - 5.25/8.75 = 0.4
   * deviance terms: y=0: 0 - (0 - 0.5) = 0.5; y=1,mu=1: 0;
   *   y=2,mu=3: 2 ln(2/3) + 1 = 0.189069784; y=4,mu=2: 4 ln 2 - 2 = 0.772588722
   *   2 * (1.461658506 / 4) = 0.730829253 */
  const double y[] = {0, 1, 2, 4}, mu[] = {0.5, 1, 3, 2};
  struct reg_metrics m;
  eval_regression(y, mu, 4, &m);
  assert_int_equal(m.n, 4);
  assert_near(m.mae, 0.875, 1e-12);
  assert_near(m.rmse, 1.145643923738960, 1e-12);
  assert_near(m.r2, 0.4, 1e-12);
  assert_near(m.poisson_deviance, 0.730829253011726, 1e-12);
  /* bias = mean mu / mean y - 1 = 6.5 / 7 - 1; WAPE = 3.5 / 7 */
  assert_near(m.bias, 6.5 / 7.0 - 1.0, 1e-12);
  assert_near(m.wape, 0.5, 1e-12);
  /* the deviance is the mean of the terms */
  double sum = 0;
  for (int i = 0; i < 4; i++)
    sum += eval_poisson_term(y[i], mu[i]);
  assert_near(sum / 4, m.poisson_deviance, 1e-12);
}

static void test_evaluate__bias_and_wape_without_sales(void **state) {
  const double y[] = {0, 0}, mu[] = {0.5, 1};
  struct reg_metrics m;
  eval_regression(y, mu, 2, &m);
  assert_true(isnan(m.bias) && isnan(m.wape)); /* no sale: undefined */
  assert_near(m.mae, 0.75, 1e-12);
}

/* ---- Demand baselines -------------------------------------------------- */

static void test_evaluate__baselines_by_hand(void **state) {
  /* last 2, ma3 1, ma6 0.5, ma12 0.25, seasonal 3, parent 0.6:
   * prior = (12 * 0.25 + 2 * 0.6) / 14 = 0.3
   * last (1 * 2 + 0.3) / 2 = 1.15; ma3 (3 + 0.3) / 4 = 0.825;
   * ma6 (3 + 0.3) / 7; seasonal (3 + 0.3) / 2 = 1.65 */
  struct eval_history c = {2, 1, 0.5, 0.25, 3, 0.6};
  assert_near(eval_baseline_prior(&c), 0.3, 1e-12);
  assert_near(eval_baseline(&c, EVAL_BASE_LAST), 1.15, 1e-12);
  assert_near(eval_baseline(&c, EVAL_BASE_MA3), 0.825, 1e-12);
  assert_near(eval_baseline(&c, EVAL_BASE_MA6), 3.3 / 7, 1e-12);
  assert_near(eval_baseline(&c, EVAL_BASE_SEASONAL), 1.65, 1e-12);
  /* no seasonal forecast: the 3-period average's */
  c.seasonal = NAN;
  assert_near(eval_baseline(&c, EVAL_BASE_SEASONAL), 0.825, 1e-12);
  /* no parent: the 12-period mean alone */
  c.parent = NAN;
  assert_near(eval_baseline_prior(&c), 0.25, 1e-12);
  assert_true(isnan(eval_baseline(&c, EVAL_BASELINES)));
  assert_true(isnan(eval_baseline(NULL, EVAL_BASE_LAST)));
  assert_string_equal(eval_baseline_names[EVAL_BASE_SEASONAL], "seasonal_naive");
}

static void test_evaluate__baselines_never_say_zero(void **state) {
  /* a cell that never sold, nor its parent: the floor, never 0 */
  struct eval_history c = {0, 0, 0, 0, 0, 0};
  for (int b = 0; b < EVAL_BASELINES; b++)
    assert_near(eval_baseline(&c, b), EVAL_BASE_FLOOR, 1e-15);
  struct eval_history u = {NAN, NAN, NAN, NAN, NAN, NAN};
  for (int b = 0; b < EVAL_BASELINES; b++)
    assert_near(eval_baseline(&u, b), EVAL_BASE_FLOOR, 1e-15);
  /* so one sale in such a cell costs a bounded deviance */
  double dev = eval_poisson_term(1, eval_baseline(&c, EVAL_BASE_LAST));
  assert_near(dev, 2 * (log(1 / EVAL_BASE_FLOOR) - 1 + EVAL_BASE_FLOOR), 1e-12);
  assert_true(dev < 7);
  /* a cell quiet in the last period but not before: pulled toward its mean */
  struct eval_history q = {0, 0, 0.5, 1, NAN, NAN};
  assert_near(eval_baseline(&q, EVAL_BASE_LAST), 0.5, 1e-12);
  /* the model side's guard only */
  assert_near(eval_poisson_term(0, 0), 2e-9, 1e-15);
}

static void test_evaluate__history_of_counts(void **state) {
  /* periods 0..14 back; horizon 1: the target a year earlier is c[11] */
  double c[15] = {3, 0, 3, 1, 1, 1, 0, 0, 0, 0, 0, 4, 1, 1, 0};
  struct eval_history h;
  eval_history_of_counts(c, 15, 1, 0.7, &h);
  assert_near(h.last, 3, 1e-12);
  assert_near(h.ma3, 2, 1e-12);
  assert_near(h.ma6, 9.0 / 6, 1e-12);
  assert_near(h.ma12, 13.0 / 12, 1e-12);
  assert_near(h.parent, 0.7, 1e-12);
  /* c[11] * (6 + 1) / (2 + 1) */
  assert_near(h.seasonal, 4.0 * 7 / 3, 1e-12);
  /* horizon 3: c[9] = 0 */
  eval_history_of_counts(c, 15, 3, NAN, &h);
  assert_near(h.seasonal, 0, 1e-12);
  /* less than a year: no seasonal forecast; unknown periods do not count */
  double s[4] = {2, NAN, 4, NAN};
  eval_history_of_counts(s, 4, 1, NAN, &h);
  assert_true(isnan(h.seasonal));
  assert_near(h.ma3, 3, 1e-12);
  assert_near(h.ma12, 3, 1e-12);
  assert_near(eval_parent_rate(10, 0.5, 0.2), 1, 1e-12);
  assert_true(isnan(eval_parent_rate(10, NAN, 0.2)));
}

static void test_evaluate__count_above(void **state) {
  /* Poisson(2): P(Y > 1) = 1 - 3 e^-2; P(Y > 1.7) the same */
  assert_near(eval_poisson_above(2, 1), 1 - 3 * exp(-2), 1e-12);
  assert_near(eval_poisson_above(2, 1.7), 1 - 3 * exp(-2), 1e-12);
  assert_near(eval_poisson_above(2, -1), 1, 0);
  assert_near(eval_poisson_above(0, 0), 0, 0);
  assert_true(isnan(eval_poisson_above(NAN, 1)));
  /* negative binomial, mean 2, variance 6 (alpha 1, r = 1: geometric with
   * P(0) = 1/3, P(1) = 2/9): P(Y > 1) = 4/9 */
  assert_near(eval_count_above(2, 6, 1), 4.0 / 9, 1e-12);
  /* a variance below the mean is taken as Poisson */
  assert_near(eval_count_above(2, 1, 1), eval_poisson_above(2, 1), 1e-15);
  /* above the normal switch: continuity-corrected normal */
  assert_near(eval_count_above(400, 400, 400), 0.5 * erfc(0.5 / 20 / M_SQRT2), 1e-12);
  assert_true(eval_count_above(400, 400, 440) < 0.03);
}

static void test_evaluate__regression_r2_perfect_and_constant(void **state) {
  const double y[] = {1, 3, 5, 7};
  struct reg_metrics m;
  eval_regression(y, y, 4, &m); /* perfect: R2 = 1, no error */
  assert_near(m.r2, 1.0, 0.0);
  assert_near(m.mae, 0.0, 0.0);
  assert_near(m.rmse, 0.0, 0.0);

  const double at_mean[] = {4, 4, 4, 4}; /* predicting ybar: SS_res = SS_tot */
  eval_regression(y, at_mean, 4, &m);
  assert_near(m.r2, 0.0, 1e-12);

  /* constant 2: SS_res = 1 + 1 + 9 + 25 = 36, SS_tot = 9+1+1+9 = 20,
   * R2 = 1 - 36/20 = -0.8 (worse than the mean) */
  const double low[] = {2, 2, 2, 2};
  eval_regression(y, low, 4, &m);
  assert_near(m.r2, -0.8, 1e-12);

  /* constant y: scikit-learn gives 1 for a perfect fit, else 0 */
  const double flat[] = {3, 3, 3}, off[] = {3, 3, 4};
  eval_regression(flat, flat, 3, &m);
  assert_near(m.r2, 1.0, 0.0);
  eval_regression(flat, off, 3, &m);
  assert_near(m.r2, 0.0, 0.0);
}

static void test_evaluate__poisson_deviance_with_zeros(void **state) {
  /* y=0, mu=0.5: 0 - (0 - 0.5)            = 0.5
   * y=0, mu=0 -> 1e-9: 0 - (0 - 1e-9)     = 1e-9
   * y=1, mu=0 -> 1e-9: ln(1e9) - (1 - 1e-9) = 19.723265839
   * y=0, mu=-3 -> 1e-9 (negative mu clamped too) = 1e-9
   * deviance = 2 * 20.223265840 / 4 = 10.111632920 */
  const double y[] = {0, 0, 1, 0}, mu[] = {0.5, 0, 0, -3};
  struct reg_metrics m;
  eval_regression(y, mu, 4, &m);
  double want = 2.0 * (0.5 + 1e-9 + (log(1e9) - 1.0 + 1e-9) + 1e-9) / 4.0;
  assert_near(m.poisson_deviance, want, 1e-12);
  assert_near(want, 10.1116329205, 1e-9);

  /* all-zero counts predicted exactly zero: deviance ~ 2 * 1e-9 */
  const double z[] = {0, 0, 0};
  eval_regression(z, z, 3, &m);
  assert_near(m.poisson_deviance, 2e-9, 1e-15);
  assert_near(m.r2, 1.0, 0.0);
}

static void test_evaluate__regression_bad_input(void **state) {
  const double y[] = {1, 2}, mu[] = {1, NAN}, neg[] = {-1, 2};
  struct reg_metrics m;
  eval_regression(y, y, 0, &m);
  assert_int_equal(m.n, 0);
  assert_true(isnan(m.r2) && isnan(m.mae) && isnan(m.rmse) &&
              isnan(m.poisson_deviance));
  eval_regression(y, mu, 2, &m);
  assert_true(isnan(m.r2) && isnan(m.mae) && isnan(m.rmse));
  eval_regression(NULL, mu, 2, &m);
  assert_true(isnan(m.mae));
  eval_regression(y, y, 2, NULL); /* nothing to write: no crash */
  /* a negative y is no count: deviance NaN, the rest computed */
  eval_regression(neg, y, 2, &m);
  assert_true(isnan(m.poisson_deviance));
  assert_near(m.mae, 1.0, 1e-12);
}

static void test_evaluate__coverage(void **state) {
  /* in, on the low edge, on the high edge, out, within an infinite bound */
  const double y[] = {5, 1, 9, 10, 1e9};
  const double lo[] = {4, 1, 0, 0, 0};
  const double hi[] = {6, 2, 9, 9.5, INFINITY};
  assert_near(eval_coverage(y, lo, hi, 5), 4.0 / 5.0, 1e-15);
  assert_true(isnan(eval_coverage(y, lo, hi, 0)));
  assert_true(isnan(eval_coverage(NULL, lo, hi, 5)));
  const double ynan[] = {5, NAN};
  assert_true(isnan(eval_coverage(ynan, lo, hi, 2)));
}

/* ---- Binary ------------------------------------------------------------- */

static void test_evaluate__roc_auc_by_hand(void **state) {
  /* positives 0.35, 0.8 against negatives 0.1, 0.4:
   * 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4 */
  const unsigned char y[] = {0, 0, 1, 1};
  const double p[] = {0.1, 0.4, 0.35, 0.8};
  struct binary_metrics m;
  assert_int_equal(eval_binary(y, p, 4, &m), 0);
  assert_near(m.roc_auc, 0.75, 1e-15);
  /* a perfect ranking and a reversed one */
  const double good[] = {0.1, 0.2, 0.3, 0.4}, bad[] = {0.4, 0.3, 0.2, 0.1};
  assert_int_equal(eval_binary(y, good, 4, &m), 0);
  assert_near(m.roc_auc, 1.0, 0.0);
  assert_int_equal(eval_binary(y, bad, 4, &m), 0);
  assert_near(m.roc_auc, 0.0, 0.0);
}

static void test_evaluate__roc_auc_with_ties(void **state) {
  /* positives 0.5, 0.9; negatives 0.5, 0.2:
   * 0.5 vs 0.5 tie (1/2), 0.5>0.2, 0.9>0.5, 0.9>0.2 -> 3.5/4 = 0.875 */
  const unsigned char y[] = {0, 1, 0, 1};
  const double p[] = {0.5, 0.5, 0.2, 0.9};
  struct binary_metrics m;
  assert_int_equal(eval_binary(y, p, 4, &m), 0);
  assert_near(m.roc_auc, 0.875, 1e-15);
  /* all ties: every pair counts 1/2 */
  const unsigned char y6[] = {1, 0, 0, 1, 0, 1};
  const double same[] = {0.3, 0.3, 0.3, 0.3, 0.3, 0.3};
  assert_int_equal(eval_binary(y6, same, 6, &m), 0);
  assert_near(m.roc_auc, 0.5, 0.0);
  /* all ties at 0.3 predict 0: accuracy = 3/6 */
  assert_near(m.accuracy, 0.5, 0.0);
}

static void test_evaluate__binary_log_loss_and_brier(void **state) {
  /* log loss = -(ln 0.8 + ln 0.7)/2 = 0.289909248
   * Brier    = (0.2^2 + 0.3^2)/2 = 0.065 */
  const unsigned char y[] = {1, 0};
  const double p[] = {0.8, 0.3};
  struct binary_metrics m;
  assert_int_equal(eval_binary(y, p, 2, &m), 0);
  assert_int_equal(m.n, 2);
  assert_near(m.log_loss, 0.289909247626471, 1e-12);
  assert_near(m.brier, 0.065, 1e-15);
  assert_near(m.accuracy, 1.0, 0.0);

  /* certain and wrong: p clipped to 1e-15, loss -ln(1e-15) = 34.538776395;
   * certain and right costs ~1e-15; Brier (1 + 0)/2 */
  const unsigned char y2[] = {1, 1};
  const double p2[] = {0.0, 1.0};
  assert_int_equal(eval_binary(y2, p2, 2, &m), 0);
  assert_near(m.log_loss, 34.538776394910684 / 2.0, 1e-9);
  assert_near(m.brier, 0.5, 0.0);
}

static void test_evaluate__binary_class_reports(void **state) {
  /* predicted (p > 0.5):     1 1 0 1 0 0 1 1 ; the 0.5 counts as 0
   * y:                       1 1 1 0 0 0 0 1
   * class 1: tp 3, fp 2, fn 1: P = 3/5, R = 3/4, F1 = 6/9
   * class 0: tp 2, fp 1, fn 2: P = 2/3, R = 2/4, F1 = 4/7
   * accuracy 5/8 */
  const unsigned char y[] = {1, 1, 1, 0, 0, 0, 0, 1};
  const double p[] = {0.9, 0.6, 0.5, 0.7, 0.2, 0.1, 0.55, 0.8};
  struct binary_metrics m;
  assert_int_equal(eval_binary(y, p, 8, &m), 0);
  assert_near(m.accuracy, 5.0 / 8.0, 1e-15);
  assert_int_equal(m.cls[1].support, 4);
  assert_near(m.cls[1].precision, 3.0 / 5.0, 1e-15);
  assert_near(m.cls[1].recall, 3.0 / 4.0, 1e-15);
  assert_near(m.cls[1].f1, 6.0 / 9.0, 1e-15);
  assert_int_equal(m.cls[0].support, 4);
  assert_near(m.cls[0].precision, 2.0 / 3.0, 1e-15);
  assert_near(m.cls[0].recall, 2.0 / 4.0, 1e-15);
  assert_near(m.cls[0].f1, 4.0 / 7.0, 1e-15);
}

static void test_evaluate__binary_one_class_absent(void **state) {
  /* no positives: AUC undefined; class 1 has support 0, one false positive:
   * P = 0/1 = 0, R = 0 (0/0), F1 = 0/(0+1+0) = 0 */
  const unsigned char y[] = {0, 0, 0};
  const double p[] = {0.2, 0.7, 0.4};
  struct binary_metrics m;
  assert_int_equal(eval_binary(y, p, 3, &m), 0);
  assert_true(isnan(m.roc_auc));
  assert_near(m.accuracy, 2.0 / 3.0, 1e-15);
  assert_int_equal(m.cls[1].support, 0);
  assert_near(m.cls[1].precision, 0.0, 0.0);
  assert_near(m.cls[1].recall, 0.0, 0.0);
  assert_near(m.cls[1].f1, 0.0, 0.0);
  assert_near(m.cls[0].precision, 1.0, 0.0);
  assert_near(m.cls[0].recall, 2.0 / 3.0, 1e-15);
  /* none predicted positive and none positive: every ratio 0 */
  const double low[] = {0.1, 0.1, 0.1};
  assert_int_equal(eval_binary(y, low, 3, &m), 0);
  assert_near(m.cls[1].precision + m.cls[1].recall + m.cls[1].f1, 0.0, 0.0);
  assert_near(m.cls[0].f1, 1.0, 0.0);
}

static void test_evaluate__binary_bad_input(void **state) {
  const unsigned char y[] = {0, 1}, y2[] = {0, 2};
  const double p[] = {0.2, 0.7}, pnan[] = {0.2, NAN}, pbig[] = {0.2, 1.5};
  struct binary_metrics m;
  assert_int_equal(eval_binary(y, p, 0, &m), -1);
  assert_int_equal(eval_binary(y, pnan, 2, &m), -1);
  assert_int_equal(eval_binary(y, pbig, 2, &m), -1);
  assert_int_equal(eval_binary(y2, p, 2, &m), -1);
  assert_int_equal(eval_binary(NULL, p, 2, &m), -1);
  assert_int_equal(eval_binary(y, p, 2, NULL), -1);
  assert_int_equal(eval_check_binary(y, p, 2), 0);
}

/* ---- Multiclass --------------------------------------------------------- */

static void test_evaluate__multiclass_by_hand(void **state) {
  /* row          y  argmax  top two
   * .7 .2 .1     0  0       0,1   hit, top2 hit
   * .5 .3 .2     1  0       0,1   miss, top2 hit
   * .4 .4 .2     2  0 (tie) 0,1   miss, top2 miss
   * .1 .3 .6     2  2       2,1   hit, top2 hit
   * accuracy 2/4, top2 3/4
   * log loss -(ln .7 + ln .3 + ln .2 + ln .6)/4 = 0.920227821
   * class 0: support 1, predicted 3, tp 1: P 1/3, R 1, F1 2/(2+2+0) = 1/2
   * class 1: support 1, predicted 0, tp 0: P 0, R 0, F1 0
   * class 2: support 2, predicted 1, tp 1: P 1, R 1/2, F1 2/(2+0+1) = 2/3
   * macro F1 = (1/2 + 0 + 2/3)/3 = 0.388888889 */
  const int y[] = {0, 1, 2, 2};
  const double p[] = {.7, .2, .1, .5, .3, .2, .4, .4, .2, .1, .3, .6};
  struct multi_metrics m;
  struct class_report cls[3];
  assert_int_equal(eval_multiclass(y, p, 4, 3, &m, cls), 0);
  assert_int_equal(m.n, 4);
  assert_int_equal(m.k, 3);
  assert_near(m.accuracy, 0.5, 0.0);
  assert_near(m.top2_accuracy, 0.75, 0.0);
  assert_near(m.log_loss, 0.920227821116190, 1e-12);
  assert_near(m.macro_f1, (0.5 + 2.0 / 3.0) / 3.0, 1e-15);
  static const struct {
    size_t support;
    double precision, recall, f1;
  } want[] = {{1, 1.0 / 3.0, 1.0, 0.5}, {1, 0, 0, 0}, {2, 1.0, 0.5, 2.0 / 3.0}};
  for (size_t c = 0; c < N_OF(want); c++) {
    assert_int_equal(cls[c].support, want[c].support);
    assert_near(cls[c].precision, want[c].precision, 1e-15);
    assert_near(cls[c].recall, want[c].recall, 1e-15);
    assert_near(cls[c].f1, want[c].f1, 1e-15);
  }
  assert_int_equal(eval_multiclass(y, p, 4, 3, &m, NULL), 0); /* cls optional */
}

static void test_evaluate__multiclass_macro_f1_labels(void **state) {
  /* class 3 never occurs nor is predicted: left out of the macro mean, as
   * scikit-learn does without explicit labels.
   * preds 0, 1, 1; y 0, 1, 0:
   * class 0: tp 1, fp 0, fn 1 -> F1 2/3; class 1: tp 1, fp 1, fn 0 -> 2/3 */
  const int y[] = {0, 1, 0};
  const double p[] = {.6, .2, .1, .1, .1, .7, .1, .1, .3, .5, .1, .1};
  struct multi_metrics m;
  struct class_report cls[4];
  assert_int_equal(eval_multiclass(y, p, 3, 4, &m, cls), 0);
  assert_near(m.macro_f1, 2.0 / 3.0, 1e-15);
  assert_int_equal(cls[3].support, 0);
  assert_near(cls[3].f1, 0.0, 0.0);
  /* y = 0 is second of the third row (.5 > .3): top2 3/3 */
  assert_near(m.top2_accuracy, 1.0, 0.0);
  /* one class only: top2 is accuracy, zero loss */
  const int y1[] = {0, 0};
  const double p1[] = {1.0, 1.0};
  assert_int_equal(eval_multiclass(y1, p1, 2, 1, &m, NULL), 0);
  assert_near(m.accuracy, 1.0, 0.0);
  assert_near(m.top2_accuracy, 1.0, 0.0);
  assert_near(m.log_loss, 0.0, 1e-14);
}

static void test_evaluate__multiclass_bad_input(void **state) {
  const int y[] = {0, 1}, ybig[] = {0, 2}, yneg[] = {-1, 0};
  const double p[] = {.6, .4, .3, .7}, psum[] = {.6, .6, .3, .7},
               pnan[] = {.6, .4, NAN, .7}, pneg[] = {1.2, -.2, .3, .7};
  struct multi_metrics m;
  assert_int_equal(eval_multiclass(y, p, 0, 2, &m, NULL), -1);
  assert_int_equal(eval_multiclass(y, p, 2, 0, &m, NULL), -1);
  assert_int_equal(eval_multiclass(ybig, p, 2, 2, &m, NULL), -1);
  assert_int_equal(eval_multiclass(yneg, p, 2, 2, &m, NULL), -1);
  assert_int_equal(eval_multiclass(y, psum, 2, 2, &m, NULL), -1);
  assert_int_equal(eval_multiclass(y, pnan, 2, 2, &m, NULL), -1);
  assert_int_equal(eval_multiclass(y, pneg, 2, 2, &m, NULL), -1);
  assert_int_equal(eval_multiclass(y, p, SIZE_MAX / 2, 4, &m, NULL), -1);
  assert_int_equal(eval_multiclass(y, p, 2, 2, NULL, NULL), -1);
  assert_int_equal(eval_multiclass(y, p, 2, 2, &m, NULL), 0);
}

/* ---- Reliability bins --------------------------------------------------- */

static void test_evaluate__calibration_bins_by_hand(void **state) {
  /* sorted: .1(0) .2(0) | .3(1) .4(1)
   * bin 0: mean .15, observed 0, gap .15; bin 1: mean .35, observed 1, gap .65
   * ECE = .5*.15 + .5*.65 = .4, max gap .65 */
  const double p[] = {0.4, 0.1, 0.3, 0.2};
  const unsigned char y[] = {1, 0, 1, 0};
  struct calib_report r;
  assert_int_equal(eval_calibration(p, y, 4, 2, &r), 0);
  assert_int_equal(r.nbins, 2);
  assert_int_equal(r.bin[0].n, 2);
  assert_near(r.bin[0].mean_p, 0.15, 1e-15);
  assert_near(r.bin[0].observed, 0.0, 0.0);
  assert_near(r.bin[1].mean_p, 0.35, 1e-15);
  assert_near(r.bin[1].observed, 1.0, 0.0);
  assert_near(r.ece, 0.4, 1e-15);
  assert_near(r.max_gap, 0.65, 1e-15);
}

static void test_evaluate__calibration_uneven_and_ties(void **state) {
  /* n = 5, 2 bins: positions [0, 2) and [2, 5).
   * sorted .1(1) .2(0) | .6(1) .7(0) .8(1)
   * bin 0: mean .15, obs .5, gap .35; bin 1: mean .7, obs 2/3, gap 1/30
   * ECE = 2/5*.35 + 3/5*(1/30) = .14 + .02 = .16 */
  const double p[] = {0.8, 0.2, 0.7, 0.1, 0.6};
  const unsigned char y[] = {1, 0, 0, 1, 1};
  struct calib_report r;
  assert_int_equal(eval_calibration(p, y, 5, 2, &r), 0);
  assert_int_equal(r.bin[0].n, 2);
  assert_int_equal(r.bin[1].n, 3);
  assert_near(r.bin[1].observed, 2.0 / 3.0, 1e-15);
  assert_near(r.ece, 0.16, 1e-15);
  assert_near(r.max_gap, 0.35, 1e-15);

  /* all ties: split in input order, y = 1 1 0 0 -> observed 1 then 0 */
  const double same[] = {0.5, 0.5, 0.5, 0.5};
  const unsigned char y4[] = {1, 1, 0, 0};
  assert_int_equal(eval_calibration(same, y4, 4, 2, &r), 0);
  assert_near(r.bin[0].observed, 1.0, 0.0);
  assert_near(r.bin[1].observed, 0.0, 0.0);
  assert_near(r.ece, 0.5, 0.0);

  /* deciles of 0, 0.01, ..., 0.99 with y = 1 iff p >= 0.5: the first five
   * bins observe 0, the last five 1; each bin holds ten. */
  double pd[100];
  unsigned char yd[100];
  for (int i = 0; i < 100; i++) {
    pd[i] = i / 100.0;
    yd[i] = i >= 50;
  }
  assert_int_equal(eval_calibration(pd, yd, 100, 10, &r), 0);
  for (int b = 0; b < 10; b++) {
    assert_int_equal(r.bin[b].n, 10);
    assert_near(r.bin[b].mean_p, (10 * b + 4.5) / 100.0, 1e-12);
    assert_near(r.bin[b].observed, b >= 5 ? 1.0 : 0.0, 0.0);
  }
}

static void test_evaluate__calibration_bad_input(void **state) {
  const double p[] = {0.1, 0.2, 0.3}, pnan[] = {0.1, NAN, 0.3};
  const unsigned char y[] = {0, 1, 0};
  struct calib_report r;
  assert_int_equal(eval_calibration(p, y, 0, 1, &r), -1);
  assert_int_equal(eval_calibration(p, y, 3, 0, &r), -1);
  assert_int_equal(eval_calibration(p, y, 3, 4, &r), -1); /* n < nbins */
  assert_int_equal(eval_calibration(p, y, 3, EVAL_MAX_BINS + 1, &r), -1);
  assert_int_equal(eval_calibration(pnan, y, 3, 1, &r), -1);
  assert_int_equal(eval_calibration(p, y, 3, 1, NULL), -1);
  assert_int_equal(eval_calibration(p, y, 3, 3, &r), 0);
}

/* ---- Platt -------------------------------------------------------------- */

static void test_evaluate__platt_by_hand(void **state) {
  /* All p = 0.5 (logit 0): only b matters; the optimum matches the mean
   * smoothed target. N1 = 1: t1 = 2/3; N0 = 3: t0 = 1/5;
   * mean = (2/3 + 3/5)/4 = 19/60, so p' = 19/60 and a stays 1. */
  const double p[] = {0.5, 0.5, 0.5, 0.5};
  const unsigned char y[] = {1, 0, 0, 0};
  struct platt c;
  assert_int_equal(platt_fit(p, y, 4, &c), 0);
  assert_near(c.a, 1.0, 1e-12);
  assert_near(platt_apply(&c, 0.5), 19.0 / 60.0, 1e-9);

  struct platt id = {1.0, 0.0}; /* the identity */
  assert_near(platt_apply(&id, 0.3), 0.3, 1e-15);
  assert_near(platt_apply(&id, 0.0), 1e-15, 1e-20); /* clipped */
  assert_true(isnan(platt_apply(&id, NAN)));
  assert_true(isnan(platt_apply(&id, 1.5)));
  assert_true(isnan(platt_apply(NULL, 0.3)));

  /* one class only still fits (the smoothed targets keep it finite) */
  const unsigned char ones[] = {1, 1, 1, 1};
  const double pv[] = {0.2, 0.4, 0.6, 0.8};
  assert_int_equal(platt_fit(pv, ones, 4, &c), 0);
  assert_true(isfinite(c.a) && isfinite(c.b));
  for (int i = 0; i < 4; i++)
    assert_true(platt_apply(&c, pv[i]) > 0.5);

  assert_int_equal(platt_fit(p, y, 0, &c), -1);
  const double pnan[] = {0.5, NAN};
  assert_int_equal(platt_fit(pnan, y, 2, &c), -1);
  assert_int_equal(platt_fit(p, y, 4, NULL), -1);
}

/* ---- Isotonic ----------------------------------------------------------- */

static void test_evaluate__isotonic_by_hand(void **state) {
  /* y = 0 5 1 3 10 10 over x = 1..6 (given out of order):
   * PAV: [0] [5 1 3] -> 3 [10 10] -> 10
   * knots: (1,0) (2,3) (4,3) (5,10) (6,10): x = 3 is inside a block, dropped */
  const double x[] = {4, 1, 6, 2, 5, 3}, y[] = {3, 0, 10, 5, 10, 1};
  struct isotonic c;
  assert_int_equal(isotonic_fit(x, y, NULL, 6, &c), 0);
  static const double kx[] = {1, 2, 4, 5, 6}, ky[] = {0, 3, 3, 10, 10};
  assert_int_equal(c.n, N_OF(kx));
  for (size_t i = 0; i < N_OF(kx); i++) {
    assert_near(c.x[i], kx[i], 0.0);
    assert_near(c.y[i], ky[i], 1e-15);
  }
  static const struct {
    double x, want;
  } rows[] = {
      {-5, 0}, {1, 0}, {1.5, 1.5}, {3, 3}, {4.5, 6.5}, {5.5, 10}, {99, 10},
  };
  for (size_t i = 0; i < N_OF(rows); i++)
    assert_near(isotonic_apply(&c, rows[i].x), rows[i].want, 1e-12);
  assert_true(isnan(isotonic_apply(&c, NAN)));
  isotonic_release(&c);
  assert_null(c.x);
  assert_int_equal(c.n, 0);
  assert_true(isnan(isotonic_apply(&c, 1.0)));
  isotonic_release(&c); /* twice is fine */
  isotonic_release(NULL);
}

static void test_evaluate__isotonic_weights_and_ties(void **state) {
  /* weights: (2*3 + 0*1)/4 = 1.5, one block over [1, 2] */
  const double x[] = {1, 2}, y[] = {2, 0}, w[] = {3, 1};
  struct isotonic c;
  assert_int_equal(isotonic_fit(x, y, w, 2, &c), 0);
  assert_int_equal(c.n, 2);
  assert_near(c.y[0], 1.5, 1e-15);
  assert_near(c.y[1], 1.5, 1e-15);
  isotonic_release(&c);

  /* equal x pooled first: x=1 -> mean(0, 1) = .5 weight 2; then x=2 (.2)
   * violates: (2*.5 + .2)/3 = .4 */
  const double xt[] = {1, 2, 1}, yt[] = {0, 0.2, 1};
  assert_int_equal(isotonic_fit(xt, yt, NULL, 3, &c), 0);
  assert_int_equal(c.n, 2);
  assert_near(c.y[0], 0.4, 1e-15);
  assert_near(isotonic_apply(&c, 1.7), 0.4, 1e-15);
  isotonic_release(&c);

  /* one point, and all x equal: a single knot, constant */
  const double one[] = {7}, xs[] = {3, 3, 3}, ys[] = {1, 2, 6};
  assert_int_equal(isotonic_fit(one, one, NULL, 1, &c), 0);
  assert_int_equal(c.n, 1);
  assert_near(isotonic_apply(&c, -1), 7, 0.0);
  isotonic_release(&c);
  assert_int_equal(isotonic_fit(xs, ys, NULL, 3, &c), 0);
  assert_int_equal(c.n, 1);
  assert_near(isotonic_apply(&c, 100), 3, 1e-15);
  isotonic_release(&c);

  /* already increasing: every point is a knot */
  const double xi[] = {1, 2, 3}, yi[] = {1, 4, 9};
  assert_int_equal(isotonic_fit(xi, yi, NULL, 3, &c), 0);
  assert_int_equal(c.n, 3);
  assert_near(isotonic_apply(&c, 2.5), 6.5, 1e-15);
  isotonic_release(&c);
}

static void test_evaluate__isotonic_bad_input(void **state) {
  const double x[] = {1, 2}, y[] = {1, 2}, ynan[] = {1, NAN},
               wzero[] = {1, 0}, wneg[] = {1, -1};
  struct isotonic c;
  assert_int_equal(isotonic_fit(x, y, NULL, 0, &c), -1);
  assert_null(c.x);
  assert_int_equal(isotonic_fit(x, ynan, NULL, 2, &c), -1);
  assert_int_equal(isotonic_fit(x, y, wzero, 2, &c), -1);
  assert_int_equal(isotonic_fit(x, y, wneg, 2, &c), -1);
  assert_int_equal(isotonic_fit(NULL, y, NULL, 2, &c), -1);
  assert_int_equal(isotonic_fit(x, y, NULL, 2, NULL), -1);
  assert_true(isnan(isotonic_apply(NULL, 1.0)));
}

/* ---- Temperature -------------------------------------------------------- */

static void test_evaluate__temperature_by_hand(void **state) {
  /* T = 2: sqrt(.8) : sqrt(.2) = 2 : 1 -> {2/3, 1/3}
   * T = 1/2: .64 : .04 -> {.64/.68, .04/.68} = {0.941176471, 0.058823529} */
  double p[] = {0.8, 0.2};
  temperature_apply(p, 2, 2.0);
  assert_near(p[0], 2.0 / 3.0, 1e-15);
  assert_near(p[1], 1.0 / 3.0, 1e-15);
  double q[] = {0.8, 0.2};
  temperature_apply(q, 2, 0.5);
  assert_near(q[0], 0.64 / 0.68, 1e-15);
  assert_near(q[1], 0.04 / 0.68, 1e-15);
  /* zeros stay zero; tiny values at T = 0.05 underflow to 0, no NaN */
  double z[] = {0.0, 1e-300, 1.0 - 1e-300};
  temperature_apply(z, 3, 0.05);
  assert_near(z[0], 0.0, 0.0);
  assert_near(z[2], 1.0, 0.0);
  /* left unchanged */
  double u[] = {0.8, 0.2};
  temperature_apply(u, 2, 0.0);
  temperature_apply(u, 2, NAN);
  temperature_apply(u, 2, -1.0);
  temperature_apply(NULL, 2, 2.0);
  assert_near(u[0], 0.8, 0.0);
  double bad[] = {NAN, 0.2};
  temperature_apply(bad, 2, 2.0);
  assert_near(bad[1], 0.2, 0.0);

  /* rows with no spread: every T is as good, T = 1 is kept */
  const int y[] = {0, 1};
  const double flat[] = {0.5, 0.5, 0.5, 0.5};
  double T = 0;
  assert_int_equal(temperature_fit(flat, y, 2, 2, &T), 0);
  assert_near(T, 1.0, 0.0);
  /* p with a zero at the true class: finite loss, a valid T */
  const double hard[] = {1.0, 0.0, 0.3, 0.7};
  assert_int_equal(temperature_fit(hard, y, 2, 2, &T), 0);
  assert_true(T >= TEMPERATURE_MIN && T <= TEMPERATURE_MAX);

  assert_int_equal(temperature_fit(flat, y, 0, 2, &T), -1);
  assert_int_equal(temperature_fit(flat, y, 2, 2, NULL), -1);
  const double nan_row[] = {0.5, NAN, 0.5, 0.5};
  assert_int_equal(temperature_fit(nan_row, y, 2, 2, &T), -1);
  const int ybad[] = {0, 2};
  assert_int_equal(temperature_fit(flat, ybad, 2, 2, &T), -1);
}

/* ---- Conformal ---------------------------------------------------------- */

static void test_evaluate__conformal_by_hand(void **state) {
  /* n = 5: level .5 -> rank ceil(3) = 3 -> 3; .8 -> ceil(4.8) = 5 -> 5;
   * .9 -> ceil(5.4) = 6 > 5 -> +inf */
  double s[] = {5, 1, 4, 2, 3};
  assert_near(conformal_quantile(s, 5, 0.5), 3, 0.0);
  for (int i = 0; i < 5; i++) /* sorted in place */
    assert_near(s[i], i + 1, 0.0);
  assert_near(conformal_quantile(s, 5, 0.8), 5, 0.0);
  assert_true(isinf(conformal_quantile(s, 5, 0.9)));
  /* (99+1) * .07 = 7.000000000000001 in floating point: still rank 7 */
  double r[99];
  for (int i = 0; i < 99; i++)
    r[i] = 99 - i;
  assert_near(conformal_quantile(r, 99, 0.07), 7, 0.0);
  /* no calibration data: unbounded */
  assert_true(isinf(conformal_quantile(NULL, 0, 0.8)));
  assert_true(isnan(conformal_quantile(s, 5, 0.0)));
  assert_true(isnan(conformal_quantile(s, 5, 1.0)));
  assert_true(isnan(conformal_quantile(s, 5, NAN)));
  assert_true(isnan(conformal_quantile(NULL, 5, 0.5)));
  double sn[] = {2, NAN, 1};
  assert_true(isnan(conformal_quantile(sn, 3, 0.5)));
  assert_near(sn[0], 2, 0.0); /* untouched */
}

/* ---- Calibrators on data from known processes --------------------------- */

#define KNOWN_N 200000 /* half to fit, half to check */

struct known {
  double q[KNOWN_N], p[KNOWN_N], fixed[KNOWN_N];
  unsigned char y[KNOWN_N];
};

/* Draws q ~ U(0, 1), y ~ Bernoulli(q) and presents p = distort(q). */
static struct known *known_draw(uint64_t seed, double (*distort)(double)) {
  struct known *k = malloc(sizeof *k);
  assert_non_null(k);
  for (size_t i = 0; i < KNOWN_N; i++) {
    k->q[i] = rng_uniform(&seed);
    k->y[i] = rng_uniform(&seed) < k->q[i];
    k->p[i] = distort(k->q[i]);
  }
  return k;
}

static double squared(double q) { return q * q; }
static double sharpened(double q) { return sigmoid(2.0 * logit(q) + 0.5); }

static void assert_deciles_calibrated(const double *p, const unsigned char *y,
                                      size_t n) {
  struct calib_report r;
  assert_int_equal(eval_calibration(p, y, n, 10, &r), 0);
  for (size_t b = 0; b < 10; b++)
    if (!(fabs(r.bin[b].observed - r.bin[b].mean_p) <= 0.05))
      fail_msg("decile %zu: observed %.4f, mean %.4f", b, r.bin[b].observed,
               r.bin[b].mean_p);
  assert_true(r.ece <= 0.02);
}

static void test_evaluate__platt_recalibrates_known_process(void **state) {
  /* p = sigmoid(2 logit q + 0.5): the exact inverse is a = 0.5, b = -0.25 */
  struct known *k = known_draw(42, sharpened);
  const size_t half = KNOWN_N / 2;
  struct calib_report before;
  assert_int_equal(eval_calibration(k->p + half, k->y + half, half, 10, &before), 0);
  assert_true(before.max_gap > 0.1); /* visibly off before */
  struct platt c;
  assert_int_equal(platt_fit(k->p, k->y, half, &c), 0);
  assert_near(c.a, 0.5, 0.02);
  assert_near(c.b, -0.25, 0.03);
  for (size_t i = half; i < KNOWN_N; i++)
    k->fixed[i] = platt_apply(&c, k->p[i]);
  assert_deciles_calibrated(k->fixed + half, k->y + half, half);

  struct binary_metrics raw, fixed;
  assert_int_equal(eval_binary(k->y + half, k->p + half, half, &raw), 0);
  assert_int_equal(eval_binary(k->y + half, k->fixed + half, half, &fixed), 0);
  assert_true(fixed.log_loss < raw.log_loss);
  assert_near(fixed.roc_auc, raw.roc_auc, 1e-12); /* monotone: same ranking */

  /* already calibrated (p = q): the fit stays near the identity */
  assert_int_equal(platt_fit(k->q, k->y, half, &c), 0);
  assert_near(c.a, 1.0, 0.03);
  assert_near(c.b, 0.0, 0.03);
  free(k);
}

static void test_evaluate__isotonic_recalibrates_known_process(void **state) {
  /* p = q^2 is over-cautious everywhere below 1 */
  struct known *k = known_draw(7, squared);
  const size_t half = KNOWN_N / 2;
  struct calib_report before;
  assert_int_equal(eval_calibration(k->p + half, k->y + half, half, 10, &before), 0);
  assert_true(before.ece > 0.1);
  double *yd = malloc(half * sizeof *yd);
  assert_non_null(yd);
  for (size_t i = 0; i < half; i++)
    yd[i] = k->y[i];
  struct isotonic c;
  assert_int_equal(isotonic_fit(k->p, yd, NULL, half, &c), 0);
  assert_true(c.n < half / 10); /* compact */
  for (size_t i = 1; i < c.n; i++)
    assert_true(c.x[i] > c.x[i - 1] && c.y[i] >= c.y[i - 1]);
  for (size_t i = half; i < KNOWN_N; i++)
    k->fixed[i] = isotonic_apply(&c, k->p[i]);
  assert_deciles_calibrated(k->fixed + half, k->y + half, half);
  /* the fit approximates sqrt, the true map from p back to q */
  assert_near(isotonic_apply(&c, 0.25), 0.5, 0.05);
  assert_near(isotonic_apply(&c, 0.64), 0.8, 0.05);
  isotonic_release(&c);
  free(yd);

  /* Platt on the same data: logit(sqrt p) is not linear in logit(p), still
   * it must come close */
  struct platt pc;
  assert_int_equal(platt_fit(k->p, k->y, half, &pc), 0);
  for (size_t i = half; i < KNOWN_N; i++)
    k->fixed[i] = platt_apply(&pc, k->p[i]);
  assert_deciles_calibrated(k->fixed + half, k->y + half, half);
  free(k);
}

static void test_evaluate__temperature_recovers_power_two(void **state) {
  /* True class probabilities q = softmax(z), z_j ~ N(0, 1.5^2), y ~ q;
   * presented p ∝ q^2, over-confident; p^(1/2) ∝ q, so T = 2. */
  enum { N = 20000, K = 5 };
  static double p[N * K];
  static int y[N];
  uint64_t seed = 2024;
  for (size_t i = 0; i < N; i++) {
    double *row = p + i * K, q[K], sum = 0.0, sq = 0.0;
    for (size_t j = 0; j < K; j++) {
      q[j] = exp(1.5 * rng_normal(&seed));
      sum += q[j];
    }
    double u = rng_uniform(&seed) * sum, acc = 0.0;
    y[i] = K - 1; /* the first j with u below the cumulative sum */
    for (size_t j = 0; j < K; j++) {
      acc += q[j];
      if (u < acc) {
        y[i] = (int)j;
        break;
      }
    }
    for (size_t j = 0; j < K; j++) {
      row[j] = q[j] * q[j];
      sq += row[j];
    }
    for (size_t j = 0; j < K; j++)
      row[j] /= sq;
  }
  double T = 0;
  assert_int_equal(temperature_fit(p, y, N, K, &T), 0);
  assert_near(T, 2.0, 0.2);

  struct multi_metrics before, after;
  assert_int_equal(eval_multiclass(y, p, N, K, &before, NULL), 0);
  for (size_t i = 0; i < N; i++)
    temperature_apply(p + i * K, K, T);
  assert_int_equal(eval_multiclass(y, p, N, K, &after, NULL), 0);
  assert_true(after.log_loss < before.log_loss);
  assert_near(after.accuracy, before.accuracy, 0.0); /* argmax unchanged */
}

static void test_evaluate__conformal_coverage_on_fresh_draws(void **state) {
  /* y = mu + e, e ~ N(0, 2^2); score |y - mu|. Calibrate on 20,000 draws,
   * check the interval mu ± q on 100,000 fresh ones. */
  enum { NCAL = 20000, NTEST = 100000 };
  static double s[NCAL], y[NTEST], lo[NTEST], hi[NTEST];
  static const double levels[] = {0.5, 0.8, 0.9, 0.95};
  uint64_t seed = 99;
  for (size_t l = 0; l < N_OF(levels); l++) {
    for (size_t i = 0; i < NCAL; i++)
      s[i] = fabs(2.0 * rng_normal(&seed));
    double q = conformal_quantile(s, NCAL, levels[l]);
    assert_true(isfinite(q));
    for (size_t i = 0; i < NTEST; i++) {
      double mu = 10.0 * rng_uniform(&seed);
      y[i] = mu + 2.0 * rng_normal(&seed);
      lo[i] = mu - q;
      hi[i] = mu + q;
    }
    double cov = eval_coverage(y, lo, hi, NTEST);
    if (!(fabs(cov - levels[l]) <= 0.01))
      fail_msg("level %.2f: coverage %.4f (q = %.4f)", levels[l], cov, q);
    /* and against the exact distribution: P(|e| <= q) = erf(q / (2 sqrt 2)) */
    assert_near(erf(q / (2.0 * sqrt(2.0))), levels[l], 0.01);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_evaluate__regression_by_hand),
      cmocka_unit_test(test_evaluate__bias_and_wape_without_sales),
      cmocka_unit_test(test_evaluate__baselines_by_hand),
      cmocka_unit_test(test_evaluate__baselines_never_say_zero),
      cmocka_unit_test(test_evaluate__history_of_counts),
      cmocka_unit_test(test_evaluate__count_above),
      cmocka_unit_test(test_evaluate__regression_r2_perfect_and_constant),
      cmocka_unit_test(test_evaluate__poisson_deviance_with_zeros),
      cmocka_unit_test(test_evaluate__regression_bad_input),
      cmocka_unit_test(test_evaluate__coverage),
      cmocka_unit_test(test_evaluate__roc_auc_by_hand),
      cmocka_unit_test(test_evaluate__roc_auc_with_ties),
      cmocka_unit_test(test_evaluate__binary_log_loss_and_brier),
      cmocka_unit_test(test_evaluate__binary_class_reports),
      cmocka_unit_test(test_evaluate__binary_one_class_absent),
      cmocka_unit_test(test_evaluate__binary_bad_input),
      cmocka_unit_test(test_evaluate__multiclass_by_hand),
      cmocka_unit_test(test_evaluate__multiclass_macro_f1_labels),
      cmocka_unit_test(test_evaluate__multiclass_bad_input),
      cmocka_unit_test(test_evaluate__calibration_bins_by_hand),
      cmocka_unit_test(test_evaluate__calibration_uneven_and_ties),
      cmocka_unit_test(test_evaluate__calibration_bad_input),
      cmocka_unit_test(test_evaluate__platt_by_hand),
      cmocka_unit_test(test_evaluate__isotonic_by_hand),
      cmocka_unit_test(test_evaluate__isotonic_weights_and_ties),
      cmocka_unit_test(test_evaluate__isotonic_bad_input),
      cmocka_unit_test(test_evaluate__temperature_by_hand),
      cmocka_unit_test(test_evaluate__conformal_by_hand),
      cmocka_unit_test(test_evaluate__platt_recalibrates_known_process),
      cmocka_unit_test(test_evaluate__isotonic_recalibrates_known_process),
      cmocka_unit_test(test_evaluate__temperature_recovers_power_two),
      cmocka_unit_test(test_evaluate__conformal_coverage_on_fresh_draws),
  };
  return cmocka_run_group_tests_name("evaluate", tests, NULL, NULL);
}
