/* The demand models: segments, count laws, features that never read past
 * their origin, and the whole pipeline on sales drawn from a known process
 * (accuracy on large cells, interval coverage, calibration of every
 * probability), the registry round trip and the holder's swaps. */
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

#include "core/rng.h"
#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"
#include "ml/train_int.h"
#include "testutil.h"

static struct gaz *gaz;

static size_t check_interval_report(const struct suite *s);

static uint64_t rng_state;
static uint64_t next64(void) { return splitmix64(&rng_state); }
static double unif(void) { return rng_unit(&rng_state); }
static int poisson(double lambda) {
  double l = exp(-lambda), p = 1;
  int k = 0;
  do {
    k++;
    p *= unif();
  } while (p > l);
  return k - 1;
}

static void test_ml__segments(void **state) {
  (void)state;
  static const struct {
    int age, band;
  } ages[] = {{18, 0}, {25, 0}, {26, 1}, {35, 1}, {36, 2}, {45, 2}, {46, 3}, {60, 3}, {61, 4}, {100, 4}};
  for (size_t i = 0; i < sizeof ages / sizeof *ages; i++)
    assert_int_equal(ml_age_band(ages[i].age), ages[i].band);
  static const struct {
    double income;
    int band;
  } incomes[] = {{0, 0}, {24999.99, 0}, {25000, 1}, {49999, 1}, {50000, 2}, {99999, 2},
                 {100000, 3}, {199999.5, 3}, {200000, 4}, {1e8, 4}};
  for (size_t i = 0; i < sizeof incomes / sizeof *incomes; i++)
    assert_int_equal(ml_income_band(incomes[i].income), incomes[i].band);
  assert_int_equal(ml_segment(30, 60000), 1 * ML_INCOME_BANDS + 2);
}

/* Cells of expected demand drawn from `from` .. `to` (uniform) and counts
 * from a negative binomial of dispersion alpha, into y and mu at *n. */
static void draw_cells(double *y, double *mu, size_t *n, size_t count, double from, double to,
                       double alpha) {
  for (size_t i = 0; i < count; i++, (*n)++) {
    mu[*n] = from + (to - from) * unif();
    y[*n] = (double)ml_nb_quantile(mu[*n], alpha, rng_unit_open(&rng_state));
  }
}

/* Coverage of calibration c on the cells of y, mu whose mean is in
 * [from, to). */
static double band_cover(const struct demand_calib *c, const double *y, const double *mu,
                         size_t n, double from, double to) {
  double in = 0, all = 0;
  for (size_t i = 0; i < n; i++)
    if (mu[i] >= from && mu[i] < to) {
      double lo, hi;
      ml_demand_interval(c, mu[i], &lo, &hi);
      in += y[i] >= lo && y[i] <= hi;
      all++;
    }
  return in / all;
}

/* The intervals' level per band of expected demand: a count is discrete,
 * so one level covers cells of different means differently, and cells
 * of larger means can be more dispersed than those near 1. Each band's
 * level covers its own cells at the level asked, so a served mix of means
 * unlike the backtest's is covered at it too; a band with too few cells
 * shares the level of the band below it; cells expecting less than a
 * sale keep the pooled level. */
static void test_ml__interval_levels_per_band(void **state) {
  (void)state;
  static const struct {
    double mu;
    int band;
  } edges[] = {{0, -1},   {0.7, -1}, {0.9999, -1}, {1, 0}, {1.2499, 0}, {1.25, 1}, {1.5, 2},
               {1.99, 2}, {2, 3},    {3.99, 3},    {4, 4}, {8, 5},      {1e9, 5}};
  for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
    assert_int_equal(ml_demand_band(edges[i].mu), edges[i].band);

  enum { N = 20000 };
  double *y = malloc(2 * N * sizeof *y), *mu = malloc(2 * N * sizeof *mu);
  size_t *idx = malloc(N * sizeof *idx), n = 0;
  assert_non_null(y);
  assert_non_null(mu);
  assert_non_null(idx);
  rng_state = 41;
  /* the backtest's mix: mostly means near 1, Poisson; above 2 dispersed;
   * 30 cells of 8 or more (below BAND_MIN) */
  draw_cells(y, mu, &n, 6000, 0.05, 1, 0);
  draw_cells(y, mu, &n, 3000, 1, 1.5, 0);
  draw_cells(y, mu, &n, 600, 1.5, 2, 0);
  draw_cells(y, mu, &n, 800, 2, 4, 0.5);
  draw_cells(y, mu, &n, 300, 4, 8, 0.5);
  draw_cells(y, mu, &n, 30, 8, 16, 0.5);
  for (size_t i = 0; i < n; i++)
    idx[i] = i;
  struct demand_calib c;
  memset(&c, 0, sizeof c);
  assert_int_equal(demand_calib_fit(y, mu, NULL, idx, n, 0.8, &c), 0);
  for (int b = 0; b < ML_DEMAND_BANDS; b++)
    assert_true(c.band[b] > 0 && c.band[b] < 1);
  assert_true(c.band[5] == c.band[4]);
  assert_true(c.band[3] > c.band[0]);
  /* each band covers its cells at 0.8 or just above (a count's steps) */
  static const double from[] = {1, 1.25, 1.5, 2, 4}, to[] = {1.25, 1.5, 2, 4, 16};
  for (int b = 0; b < 5; b++) {
    double cov = band_cover(&c, y, mu, n, from[b], to[b]);
    if (cov < 0.8 || cov > 0.86)
      fail_msg("band %d: coverage %.3f", b, cov);
  }
  /* cells expecting less than a sale: the pooled level */
  for (double m = 0.05; m < 1; m += 0.05) {
    double lo, hi;
    ml_demand_interval(&c, m, &lo, &hi);
    assert_true(lo == (double)ml_nb_quantile(m, c.alpha, (1 - c.nominal) / 2));
    assert_true(hi == (double)ml_nb_quantile(m, c.alpha, (1 + c.nominal) / 2));
  }
  /* the level of all cells alone leaves the dispersed ones short */
  struct demand_calib pooled = c;
  memset(pooled.band, 0, sizeof pooled.band);
  assert_true(band_cover(&pooled, y, mu, n, 2, 16) < 0.76);

  /* served cells: another mix of means from the same laws, covered at
   * 0.8 +- 0.03 */
  size_t m = n;
  draw_cells(y, mu, &m, 1000, 1, 1.5, 0);
  draw_cells(y, mu, &m, 3000, 1.5, 2, 0);
  draw_cells(y, mu, &m, 3000, 2, 4, 0.5);
  double cov = band_cover(&c, y + n, mu + n, m - n, 1, 16);
  if (fabs(cov - 0.8) > 0.03)
    fail_msg("another mix: coverage %.3f", cov);
  isotonic_release(&c.conf);
  free(y);
  free(mu);
  free(idx);
}

/* A calibration's rows count with their weights: a row of weight 2 as two
 * copies of it, to the last bit. And a stratified sample weighted by the
 * inverse of each cell's chance to be drawn is calibrated for all cells:
 * the cells that sold before (the stratum, drawn at rate + q) sell more
 * than forecast and are more dispersed than the others (drawn at rate), so
 * the same sample unweighted fits the stratum's levels and covers all
 * cells well above the level. */
static void test_ml__calib_weights(void **state) {
  (void)state;
  enum { N = 40000 };
  double *y = malloc(2 * N * sizeof *y), *mu = malloc(2 * N * sizeof *mu);
  double *w = malloc(2 * N * sizeof *w);
  size_t *idx = malloc(2 * N * sizeof *idx), n = 0;
  assert_non_null(y);
  assert_non_null(mu);
  assert_non_null(w);
  assert_non_null(idx);
  draw_cells(y, mu, &n, 3000, 0.05, 1, 0);
  draw_cells(y, mu, &n, 2000, 1, 4, 0.3);
  for (size_t i = 0; i < n; i++) { /* sums of sixty-fourths are exact in any order */
    mu[i] = fmax(1.0 / 64, round(mu[i] * 64) / 64);
    w[i] = i % 3 == 0 ? 2 : 1;
    idx[i] = i;
  }
  size_t m = n;
  for (size_t i = 0; i < n; i += 3, m++) { /* the copies */
    y[m] = y[i];
    mu[m] = mu[i];
    idx[m] = m;
  }
  struct demand_calib cw, cc;
  memset(&cw, 0, sizeof cw);
  memset(&cc, 0, sizeof cc);
  assert_int_equal(demand_calib_fit(y, mu, w, idx, n, 0.8, &cw), 0);
  assert_int_equal(demand_calib_fit(y, mu, NULL, idx, m, 0.8, &cc), 0);
  assert_true(cw.alpha == cc.alpha && cw.nominal == cc.nominal);
  for (int b = 0; b < ML_DEMAND_BANDS; b++)
    assert_true(cw.band[b] == cc.band[b]);
  for (double x = 0.05; x < 30; x *= 1.3)
    assert_true(isotonic_apply(&cw.conf, ml_demand_confidence_raw(cw.alpha, x)) ==
                isotonic_apply(&cc.conf, ml_demand_confidence_raw(cc.alpha, x)));
  isotonic_release(&cw.conf);
  isotonic_release(&cc.conf);

  /* all cells, means 1-4: half Poisson, half (the stratum) selling half
   * as much again as forecast, dispersed */
  n = 0;
  draw_cells(y, mu, &n, N, 1, 4, 0);
  draw_cells(y, mu, &n, N, 1, 4, 0);
  for (size_t i = N; i < 2 * N; i++)
    y[i] = (double)ml_nb_quantile(1.5 * mu[i], 0.5, rng_unit_open(&rng_state));
  const double rate = 0.05, q = 0.5, in = rate / (rate + q);
  size_t k = 0;
  for (size_t i = 0; i < 2 * N; i++) {
    int stratum = i >= N;
    double u = unif();
    if (u < rate || (stratum && u < rate + q)) { /* one draw or the other */
      idx[k++] = i;
      w[i] = stratum ? in : 1;
    }
  }
  struct demand_calib cs, cu;
  memset(&cs, 0, sizeof cs);
  memset(&cu, 0, sizeof cu);
  assert_int_equal(demand_calib_fit(y, mu, w, idx, k, 0.8, &cs), 0);
  assert_int_equal(demand_calib_fit(y, mu, NULL, idx, k, 0.8, &cu), 0);
  double cov_w = band_cover(&cs, y, mu, 2 * N, 1, 4), cov_u = band_cover(&cu, y, mu, 2 * N, 1, 4);
  if (fabs(cov_w - 0.8) > 0.015 || cov_u < 0.82)
    fail_msg("all cells: weighted %.3f, unweighted %.3f", cov_w, cov_u);
  isotonic_release(&cs.conf);
  isotonic_release(&cu.conf);
  free(y);
  free(mu);
  free(w);
  free(idx);
}

static void test_ml__count_laws(void **state) {
  (void)state;
  /* Poisson(2): P(X <= 2) = 5 e^-2 */
  assert_true(fabs(ml_nb_cdf(2, 0, 2) - 5 * exp(-2)) < 1e-12);
  assert_int_equal(ml_nb_quantile(2, 0, 0.5), 2);
  assert_int_equal(ml_nb_quantile(0.1, 0, 0.9), 0);
  /* negative binomial: variance mu (1 + alpha mu) from the pmf */
  double mu = 6, alpha = 0.5, m1 = 0, m2 = 0, prev = 0;
  for (long k = 0; k < 400; k++) {
    double c = ml_nb_cdf(mu, alpha, k), pk = c - prev;
    prev = c;
    m1 += (double)k * pk;
    m2 += (double)k * (double)k * pk;
  }
  assert_true(fabs(m1 - mu) < 1e-6);
  assert_true(fabs(m2 - m1 * m1 - mu * (1 + alpha * mu)) < 1e-4);
  /* the normal branch joins the exact one smoothly */
  assert_true(fabs(ml_nb_cdf(200.1, 0, 210) - ml_nb_cdf(199.9, 0, 210)) < 0.02);
  /* confidence of a huge mean is the probability of +-25%: about 1 */
  assert_true(ml_demand_confidence_raw(0, 5000) > 0.999);
}

/* Sales of the generator ending on `end_day`, into a builder. */
static void add_generated(struct dataset_builder *b, size_t n, uint64_t seed, int64_t end_ms) {
  struct gen_config cfg = {.seed = seed, .end_ist_ms = end_ms, .days = 400, .count = n};
  struct gen *g = NULL;
  struct gerr err;
  assert_int_equal(gen_new(gaz, &cfg, &g, &err), 0);
  for (size_t i = 0; i < n; i++) {
    struct sale s;
    gen_next(g, &s);
    struct ml_sale_src src = {s.ts_ms, s.pincode, s.product, s.channel, s.customer_age,
                              s.customer_income};
    assert_int_equal(dataset_builder_add(b, &src), 0);
  }
  gen_free(g);
}

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

/* The last instant of the generated data sets: 2026-06-30 12:00 UTC. */
static int64_t generated_end(void) {
  return days_from_civil(2026, 6, 30) * DAY_MS + 12 * 3600000LL;
}

/* A builder of 30-day periods holding 20,000 generated sales of the given
 * seed up to generated_end(). */
static struct dataset_builder *generated_builder(uint64_t seed) {
  struct dataset_builder *b = NULL;
  struct gerr err;
  assert_int_equal(dataset_builder_new(30, &b, &err), 0);
  add_generated(b, 20000, seed, generated_end());
  return b;
}

/* The data set of generated_builder(seed), 19 periods. */
static struct dataset *generated_dataset(uint64_t seed) {
  struct dataset *d = NULL;
  struct gerr err;
  assert_int_equal(
      dataset_builder_finish(generated_builder(seed), gaz, 19, 0, &d, NULL, NULL, &err), 0);
  return d;
}

/* Features at origin j read nothing after it: adding sales after the
 * origin (at known and at new pincodes) changes no feature of any cell or
 * customer at that origin. */
static void test_ml__no_feature_reads_the_future(void **state) {
  (void)state;
  int64_t end = generated_end();
  struct dataset_builder *b2 = generated_builder(7);
  struct dataset *d1 = generated_dataset(7), *d2 = NULL;
  struct gerr err;
  /* later sales: within the last period (after origin 1), same as-of day */
  static const int32_t pins[] = {400001, 110001, 560001, 700001, 600001, 799999, 190001};
  for (int i = 0; i < 3000; i++) {
    struct ml_sale_src s = {end - (int64_t)(next64() % 29) * DAY_MS, pins[i % 7],
                            i % 3 ? "loan" : "insurance", i % 2 ? "online" : "offline",
                            18 + i % 60, 1000.0 * (i % 300)};
    assert_int_equal(dataset_builder_add(b2, &s), 0);
  }
  assert_int_equal(dataset_builder_finish(b2, gaz, 19, 0, &d2, NULL, NULL, &err), 0);
  assert_int_equal(d1->asof_day, d2->asof_day);
  assert_int_equal(d1->nprod, d2->nprod);
  float x1[CF__COUNT], x2[CF__COUNT];
  size_t nf = ml_cust_nfeatures(d1), checked = 0;
  float *u1 = malloc(nf * sizeof *u1), *u2 = malloc(nf * sizeof *u2);
  for (int j = 1; j <= 4; j++) {
    for (size_t c = 0; c < d1->ncell; c += 3) {
      uint64_t key = d1->cell_key[c];
      long p1 = (long)(key >> 24), p2 = ml_pin_index(d2, d1->pins[p1]);
      assert_true(p2 >= 0);
      int prod = (int)((key >> 16) & 0xff), chan = (int)((key >> 8) & 0xff), seg = (int)(key & 0xff);
      for (int h = 1; h <= ML_HORIZONS; h++) {
        ml_cell_features(d1, p1, prod, chan, seg, j, h, x1);
        ml_cell_features(d2, p2, prod, chan, seg, j, h, x2);
        for (int f = 0; f < CF__COUNT; f++)
          if (!same_float(x1[f], x2[f]))
            fail_msg("feature '%s' of a cell at origin %d, horizon %d, changed with later "
                     "sales: %g vs %g",
                     ml_cell_feature_names[f], j, h, x1[f], x2[f]);
      }
      ml_cust_features(d1, p1, chan, 30 + (int)(c % 40), 20000.0 + (double)(c % 9) * 30000, j, u1);
      ml_cust_features(d2, p2, chan, 30 + (int)(c % 40), 20000.0 + (double)(c % 9) * 30000, j, u2);
      for (size_t f = 0; f < nf; f++)
        if (!same_float(u1[f], u2[f]))
          fail_msg("customer feature %zu at origin %d changed with later sales", f, j);
      checked++;
    }
  }
  assert_true(checked > 1000);
  /* and the later sales do show at origin 0 */
  long p = ml_pin_index(d2, 400001);
  ml_cell_features(d2, p, ml_prod_index(d2, "loan"), ml_chan_index(d2, "online"), ML_SEG_TOTAL, 0, 1, x2);
  long q = ml_pin_index(d1, 400001);
  if (q >= 0) {
    ml_cell_features(d1, q, ml_prod_index(d1, "loan"), ml_chan_index(d1, "online"), ML_SEG_TOTAL, 0, 1, x1);
    assert_true(x2[CF_LAG1] > x1[CF_LAG1]);
  }
  free(u1);
  free(u2);
  dataset_free(d1);
  dataset_free(d2);
}

/* ml_cell_features_segments gives every segment's features and the
 * cell's, bit for bit as ml_cell_features gives them one by one: at cells
 * that sold and at new ones, every origin and horizon. */
static void test_ml__segment_features_match_one_by_one(void **state) {
  (void)state;
  struct dataset *d = generated_dataset(11);
  enum { NX = (ML_SEG_TOTAL + 1) * CF__COUNT };
  float *all = malloc(NX * sizeof *all), one[CF__COUNT];
  assert_non_null(all);
  size_t checked = 0;
  for (size_t p = 0; p < d->npin; p += 7)
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t ch = 0; ch < d->nchan; ch++)
        for (int j = 0; j <= 14; j += 2)
          for (int h = 1; h <= ML_HORIZONS; h++) {
            ml_cell_features_segments(d, (long)p, (int)k, (int)ch, j, h, all);
            for (int seg = 0; seg <= ML_SEG_TOTAL; seg++) {
              ml_cell_features(d, (long)p, (int)k, (int)ch, seg, j, h, one);
              if (memcmp(one, all + (size_t)seg * CF__COUNT, sizeof one) != 0)
                fail_msg("segment %d of a cell at origin %d, horizon %d: its features differ "
                         "from ml_cell_features'", seg, j, h);
            }
            checked++;
          }
  assert_true(checked > 1000);
  free(all);
  dataset_free(d);
}

/* A pincode of the gazetteer outside the data set has the features of the
 * same pincode inside a data set whose sales of it all come after the
 * origin: its own series read 0, its neighbours and state are the same. */
static void test_ml__outside_pincode_reads_as_one_without_sales_yet(void **state) {
  (void)state;
  int64_t end = generated_end();
  struct dataset_builder *b2 = generated_builder(9);
  struct dataset *d1 = generated_dataset(9), *d2 = NULL;
  struct gerr err;
  /* gazetteer pincodes without sales in d1, each selling in the last period in d2 */
  int32_t outside[6];
  size_t nout = 0;
  for (size_t g = 17; g < gaz_count(gaz) && nout < 6; g += 2999)
    if (ml_pin_index(d1, gaz_at(gaz, g)->pincode) < 0)
      outside[nout++] = gaz_at(gaz, g)->pincode;
  assert_true(nout >= 3);
  for (size_t i = 0; i < nout; i++)
    for (int k = 0; k < 4; k++) {
      struct ml_sale_src src = {end - (int64_t)(2 + k) * DAY_MS, outside[i],
                                k % 2 ? "loan" : "insurance", "online", 35, 40000};
      assert_int_equal(dataset_builder_add(b2, &src), 0);
    }
  assert_int_equal(dataset_builder_finish(b2, gaz, 19, 0, &d2, NULL, NULL, &err), 0);
  assert_int_equal(d1->asof_day, d2->asof_day);
  assert_int_equal(d1->nprod, d2->nprod);
  assert_int_equal(d1->nchan, d2->nchan);
  for (size_t k = 0; k < d1->nprod; k++)
    assert_string_equal(d1->prod[k], d2->prod[k]);
  for (size_t c = 0; c < d1->nchan; c++)
    assert_string_equal(d1->chan[c], d2->chan[c]);
  float *units = (float *)dataset_gaz_units(gaz);
  assert_non_null(units);
  size_t checked = 0;
  for (size_t i = 0; i < nout; i++) {
    struct ml_pin v;
    int32_t near[ML_NEAR];
    assert_int_equal(ml_pin_outside(d1, gaz, (const float(*)[3])units, outside[i], near, &v), 0);
    long p2 = ml_pin_index(d2, outside[i]);
    assert_true(p2 >= 0);
    assert_int_equal(v.state, d2->state[p2]);
    for (int n = 0; n < ML_NEAR; n++) {
      int32_t q1 = near[n], q2 = d2->near[(size_t)p2 * ML_NEAR + (size_t)n];
      assert_int_equal(q1 < 0 ? -1 : d1->pins[q1], q2 < 0 ? -1 : d2->pins[q2]);
    }
    /* a data set's own pincode: not outside it */
    assert_int_equal(ml_pin_outside(d2, gaz, (const float(*)[3])units, outside[i], near, &v),
                     -1);
    assert_int_equal(ml_pin_outside(d1, gaz, NULL, outside[i], near, &v), 0);
    for (int j = 1; j <= 6; j++)
      for (int h = 1; h <= ML_HORIZONS; h++)
        for (size_t k = 0; k < d1->nprod; k++)
          for (size_t c = 0; c < d1->nchan; c++) {
            float x1[CF__COUNT], x2[CF__COUNT];
            ml_pin_cell_features(d1, &v, (int)k, (int)c, ML_SEG_TOTAL, j, h, x1);
            ml_cell_features(d2, p2, (int)k, (int)c, ML_SEG_TOTAL, j, h, x2);
            for (int f = 0; f < CF__COUNT; f++)
              if (!same_float(x1[f], x2[f]))
                fail_msg("pincode %06d, origin %d, horizon %d: feature '%s' %g outside the "
                         "data set, %g inside it",
                         (int)outside[i], j, h, ml_cell_feature_names[f], x1[f], x2[f]);
            checked++;
          }
  }
  assert_true(checked > 100);
  free(units);
  dataset_free(d1);
  dataset_free(d2);
}

/* What answers cold pincodes is the source of lower cross-fitted Poisson
 * deviance, each scaled by the other half's ratio of outcomes to forecasts:
 * a source that is off by a constant factor is scaled right and can win
 * over one that ranks the cells worse. */
static void test_ml__cold_answer_is_the_lower_cross_fitted_deviance(void **state) {
  (void)state;
  enum { N = 2000 };
  struct cold_row *r = calloc(N, sizeof *r);
  assert_non_null(r);
  rng_state = 99;
  for (int i = 0; i < N; i++) {
    double lambda = 0.2 + 4.0 * unif();
    r[i].y = poisson(lambda);
    r[i].mu[COLD_MODEL] = 0.5 * lambda;   /* the right ranking, half as large */
    r[i].mu[COLD_NEAREST] = 2.0;          /* one figure for every cell */
    r[i].base = 2.0;
    r[i].half = i & 1;
  }
  struct cold_choice ch;
  cold_choose(r, N, &ch);
  assert_true(ch.fitted);
  printf("cross-fitted deviance: model %.4f, nearest average %.4f; scales %.3f, %.3f\n",
         ch.xdev[COLD_MODEL], ch.xdev[COLD_NEAREST], ch.scale[COLD_MODEL],
         ch.scale[COLD_NEAREST]);
  assert_int_equal(ch.serves, COLD_MODEL);
  assert_true(ch.xdev[COLD_MODEL] < ch.xdev[COLD_NEAREST]);
  assert_true(fabs(ch.scale[COLD_MODEL] - 2.0) < 0.2); /* the model's factor undone */
  /* swapped: the average ranks the cells, the model does not */
  for (int i = 0; i < N; i++) {
    double m = r[i].mu[COLD_MODEL];
    r[i].mu[COLD_MODEL] = r[i].mu[COLD_NEAREST];
    r[i].mu[COLD_NEAREST] = m;
  }
  cold_choose(r, N, &ch);
  assert_int_equal(ch.serves, COLD_NEAREST);
  assert_true(ch.xdev[COLD_NEAREST] < ch.xdev[COLD_MODEL]);
  /* a tie: the nearest average, as before the model could answer */
  for (int i = 0; i < N; i++)
    r[i].mu[COLD_MODEL] = r[i].mu[COLD_NEAREST];
  cold_choose(r, N, &ch);
  assert_int_equal(ch.serves, COLD_NEAREST);
  /* too few cold cells: nothing chosen */
  cold_choose(r, COLD_MIN_CELLS - 1, &ch);
  assert_false(ch.fitted);
  assert_int_equal(ch.serves, COLD_NEAREST);
  assert_true(ch.scale[COLD_MODEL] == 1 && ch.scale[COLD_NEAREST] == 1);
  free(r);
}

/* rows_build computes its rows' features over threads: the same rows, bit
 * for bit, whatever their count. */
static void test_ml__rows_same_with_any_threads(void **state) {
  (void)state;
  struct dataset *d = generated_dataset(13);
  struct rows r1, r3;
  memset(&r1, 0, sizeof r1);
  memset(&r3, 0, sizeof r3);
  assert_int_equal(rows_build(d, 12, 20000, 5, 1, &r1), 0);
  assert_int_equal(rows_build(d, 12, 20000, 5, 3, &r3), 0);
  assert_true(r1.n > 1000);
  assert_int_equal(r1.n, r3.n);
  assert_memory_equal(r1.X, r3.X, r1.n * r1.nf * sizeof *r1.X);
  assert_memory_equal(r1.key, r3.key, r1.n * sizeof *r1.key);
  /* and each row's features are its cell's at its origin and horizon */
  float x[CF__COUNT];
  for (size_t i = 0; i < r1.n; i += 97) {
    uint64_t key = r1.key[i];
    ml_cell_features(d, (long)(key >> 24), (int)((key >> 16) & 0xff), (int)((key >> 8) & 0xff),
                     (int)(key & 0xff), r1.origin[i], r1.h[i], x);
    assert_memory_equal(x, r1.X + i * r1.nf, sizeof x);
  }
  rows_release(&r1);
  rows_release(&r3);
  dataset_free(d);
}

/* The levels of a product's cells that sold in the 12 periods up to an
 * origin add up to the sum of their 6-period averages: the floors share
 * the sales out, they add none. Unscaled they add more than 1%. */
static void test_ml__levels_add_up_to_recent_sales(void **state) {
  (void)state;
  struct dataset *d = generated_dataset(23);
  size_t P = (size_t)d->nper;
  for (int j = 0; j < 6; j++) {
    double lv[ML_MAX_PRODUCTS] = {0}, raw[ML_MAX_PRODUCTS] = {0}, ma6[ML_MAX_PRODUCTS] = {0};
    for (size_t c = 0; c < d->ncell; c++) {
      uint64_t key = d->cell_key[c];
      if ((key & 0xff) != ML_SEG_TOTAL)
        continue;
      const uint32_t *s = d->counts + c * P;
      double sum12 = 0, sum6 = 0;
      int k6 = 0;
      for (int a = j; a < j + 12 && a < d->nper; a++)
        sum12 += s[a];
      for (int a = j; a < j + 6 && a < d->known; a++, k6++)
        sum6 += s[a];
      if (sum12 == 0)
        continue;
      int prod = (int)(key >> 16 & 0xff);
      lv[prod] += ml_season_level(d, s, prod, ML_SEG_TOTAL, j);
      d->level_scaled = 0;
      raw[prod] += ml_season_level(d, s, prod, ML_SEG_TOTAL, j);
      d->level_scaled = 1;
      ma6[prod] += sum6 / k6;
    }
    for (size_t k = 0; k < d->nprod; k++) {
      assert_true(ma6[k] > 10);
      assert_true(fabs(lv[k] / ma6[k] - 1) < 1e-4);
      assert_true(raw[k] / ma6[k] > 1.01);
    }
  }
  dataset_free(d);
}

/* A sample of rows keeps each group's ratio of sales to seasonal baseline:
 * over the sampled rows of a group (cells without segment of pincodes with
 * sales, of cold pincodes, segments; product; origin; horizon), the sales
 * over the offsets' baselines equal the sales over the baselines of every
 * candidate row of the group, as rows_build gives them unsampled. */
static void test_ml__sampled_rows_keep_each_group_s_ratio(void **state) {
  (void)state;
  struct dataset *d = generated_dataset(19);
  struct rows all, part;
  memset(&all, 0, sizeof all);
  memset(&part, 0, sizeof part);
  assert_int_equal(rows_build(d, 12, 50000000, 5, 2, &all), 0);
  assert_int_equal(rows_build(d, 12, 6000, 5, 2, &part), 0);
  assert_true(part.n < all.n / 4);
  assert_int_equal(all.ngroup, part.ngroup);
  double *ay = calloc(all.ngroup, sizeof *ay), *ab = calloc(all.ngroup, sizeof *ab);
  double *py = calloc(all.ngroup, sizeof *py), *pb = calloc(all.ngroup, sizeof *pb);
  double *raw = calloc(all.ngroup, sizeof *raw);
  for (size_t i = 0; i < all.n; i++) {
    size_t g = rows_group(&all, i);
    ay[g] += all.y[i];
    ab[g] += all.X[i * all.nf + CF_SEASON_BASE];
    /* unsampled, the offset is the baseline's log */
    assert_true(fabs(rows_offset(&all, i) - logf(all.X[i * all.nf + CF_SEASON_BASE])) < 1e-5);
  }
  for (size_t i = 0; i < part.n; i++) {
    size_t g = rows_group(&part, i);
    py[g] += part.y[i];
    pb[g] += exp(rows_offset(&part, i));
    raw[g] += part.X[i * part.nf + CF_SEASON_BASE];
  }
  size_t checked = 0, moved = 0;
  for (size_t g = 0; g < all.ngroup; g++) {
    if (!(py[g] > 0 && ay[g] > 0))
      continue;
    double want = ay[g] / ab[g], got = py[g] / pb[g], before = py[g] / raw[g];
    if (before / want < 0.25 || before / want > 4) /* outside the factor's bounds */
      continue;
    assert_true(fabs(got / want - 1) < 1e-4);
    checked++;
    moved += fabs(before / want - 1) > 0.02; /* the sample alone was off */
  }
  printf("%zu groups checked, %zu of them more than 2%% off before\n", checked, moved);
  assert_true(checked > 50);
  assert_true(moved > 10);
  free(ay);
  free(ab);
  free(py);
  free(pb);
  free(raw);
  rows_release(&all);
  rows_release(&part);
  dataset_free(d);
}

/* ml_parallel calls each item once, whatever the thread count. */
static void add_one(void *ctx, size_t from, size_t to) {
  int *seen = ctx;
  for (size_t i = from; i < to; i++)
    seen[i]++;
}

static void test_ml__parallel_covers_each_item_once(void **state) {
  (void)state;
  static const size_t ns[] = {0, 1, 2, 3, 1000};
  static const int threads[] = {0, 1, 2, 3, 16, 40};
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
      int seen[1000] = {0};
      ml_parallel(ns[a], threads[t], add_one, seen);
      for (size_t i = 0; i < 1000; i++)
        assert_int_equal(seen[i], i < ns[a] ? 1 : 0);
    }
}

/* A known process: each (pincode, product, channel) cell sells Poisson
 * lambda a period, constant in time; each customer's product depends on
 * the age band only, with known probabilities. */
#define KP_PINS 400
#define KP_PERIODS 10
static const char *const kp_prod[3] = {"credit_card", "insurance", "loan"};
static const char *const kp_chan[2] = {"offline", "online"};
static const double kp_ages[5] = {21, 30, 40, 52, 70};
/* P(product | age band): rows sum to 1 */
static const double kp_choice[5][3] = {{0.6, 0.1, 0.3}, {0.4, 0.2, 0.4}, {0.2, 0.3, 0.5},
                                       {0.15, 0.55, 0.3}, {0.1, 0.8, 0.1}};

struct kp {
  int32_t pin[KP_PINS];
  double lambda[KP_PINS][2]; /* per pincode and channel: all products */
};

static void kp_make(struct kp *k, struct store *db, int64_t end_day) {
  for (int i = 0; i < KP_PINS; i++) {
    k->pin[i] = gaz_at(gaz, (size_t)i * (gaz_count(gaz) / KP_PINS))->pincode;
    for (int c = 0; c < 2; c++)
      k->lambda[i][c] = 8 + 30 * unif() * unif();
  }
  struct sale *batch = calloc(10000, sizeof *batch);
  size_t n = 0;
  struct store_insert_stats st;
  struct gerr err;
  for (int a = KP_PERIODS - 1; a >= 0; a--)
    for (int i = 0; i < KP_PINS; i++)
      for (int c = 0; c < 2; c++) {
        int cnt = poisson(k->lambda[i][c]);
        for (int s = 0; s < cnt; s++) {
          struct sale *r = &batch[n++];
          memset(r, 0, sizeof *r);
          int64_t day = end_day - (int64_t)a * 30 - (int64_t)(next64() % 30);
          r->ts_ms = day * DAY_MS + 10 * 3600000LL;
          r->pincode = k->pin[i];
          int band = (int)(next64() % 5);
          r->customer_age = (int32_t)kp_ages[band];
          r->customer_income = 20000 + 100000 * unif();
          double u = unif(), acc = 0;
          int p = 0;
          for (; p < 2; p++)
            if (u < (acc += kp_choice[band][p]))
              break;
          snprintf(r->product, sizeof r->product, "%s", kp_prod[p]);
          snprintf(r->channel, sizeof r->channel, "%s", kp_chan[c]);
          if (n == 10000) {
            assert_int_equal(store_sales_insert(db, batch, n, NULL, &st, &err), 0);
            n = 0;
          }
        }
      }
  /* the as-of day holds a sale, so periods align with the generated ones */
  struct sale *r = &batch[n++];
  memset(r, 0, sizeof *r);
  r->ts_ms = end_day * DAY_MS + 11 * 3600000LL;
  r->pincode = k->pin[0];
  r->customer_age = 30;
  r->customer_income = 50000;
  snprintf(r->product, sizeof r->product, "loan");
  snprintf(r->channel, sizeof r->channel, "online");
  assert_int_equal(store_sales_insert(db, batch, n, NULL, &st, &err), 0);
  free(batch);
}

static double jget(json_t *o, const char *path) {
  char buf[200];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *t = strtok(buf, "."); t && o; t = strtok(NULL, "."))
    o = json_object_get(o, t);
  if (!json_is_number(o))
    fail_msg("no number at %s", path);
  return json_number_value(o);
}

static void test_ml__known_process(void **state) {
  (void)state;
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("ml", dir), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/kp.db", dir);
  struct store *db = NULL;
  struct gerr err;
  assert_int_equal(store_open(path, &db, &err), 0);
  rng_state = 42;
  struct kp k;
  int64_t end_day = days_from_civil(2026, 10, 31);
  kp_make(&k, db, end_day);

  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 60;
  struct suite *s = NULL;
  if (suite_train(db, gaz, &cfg, NULL, NULL, &s, &err) < 0)
    fail_msg("training: %s", err.msg);
  check_interval_report(s);
  json_t *r = suite_report(s);
  /* intervals and confidence, judged on the holdout (cross-fitted) */
  double cov = jget(r, "models.demand.holdout.by_cell_kind.pincode_product_channel.interval_coverage");
  printf("coverage %.3f, confidence ECE %.3f / max gap %.3f\n", cov,
         jget(r, "models.demand.holdout.by_cell_kind.pincode_product_channel.confidence_calibration_error"),
         jget(r, "models.demand.holdout.by_cell_kind.pincode_product_channel.confidence_max_decile_gap"));
  assert_true(fabs(cov - 0.8) <= 0.05);
  assert_true(jget(r, "models.demand.holdout.by_cell_kind.pincode_product_channel."
                      "confidence_max_decile_gap") <= 0.1);
  /* rise and top-product probabilities calibrated */
  printf("rise ECE %.3f, top ECE %.3f\n", jget(r, "models.demand_rise.holdout.calibration_error"),
         jget(r, "models.top_product.holdout.top_probability_calibration_error"));
  assert_true(jget(r, "models.demand_rise.holdout.calibration_error") <= 0.05);
  assert_true(jget(r, "models.top_product.holdout.top_probability_calibration_error") <= 0.05);
  assert_true(jget(r, "evaluation.dataset_size") > 100000);
  json_decref(r);

  /* predicted demand within 10% of the true rate on large cells; the
   * product the process favours for each age */
  double rel = 0;
  int cells = 0;
  for (int i = 0; i < KP_PINS; i++)
    for (int c = 0; c < 2; c++) {
      if (k.lambda[i][c] < 15)
        continue;
      struct predict_query q = {.pincode = k.pin[i]};
      snprintf(q.channel, sizeof q.channel, "%s", kp_chan[c]);
      double sum = 0;
      struct predict_answer a;
      for (int p = 0; p < 3; p++) {
        snprintf(q.product, sizeof q.product, "%s", kp_prod[p]);
        suite_predict(s, PREDICT_DEMAND, &q, 0, &a);
        assert_false(a.fallback);
        assert_true(a.low <= a.predicted_demand + 1 && a.high >= a.predicted_demand - 1);
        sum += a.predicted_demand;
      }
      rel += fabs(sum - k.lambda[i][c]) / k.lambda[i][c];
      cells++;
    }
  assert_true(cells > 20);
  printf("mean relative error on %d large cells: %.3f\n", cells, rel / cells);
  assert_true(rel / cells <= 0.10);
  for (int band = 0; band < 5; band++) {
    struct predict_query q = {.pincode = k.pin[3], .has_customer = 1,
                              .customer_age = (int32_t)kp_ages[band], .customer_income = 60000};
    snprintf(q.channel, sizeof q.channel, "online");
    struct predict_answer a;
    suite_predict(s, PREDICT_TOP_PRODUCT, &q, 1, &a);
    int best = 0;
    for (int p = 1; p < 3; p++)
      if (kp_choice[band][p] > kp_choice[band][best])
        best = p;
    assert_string_equal(a.products[a.top], kp_prod[best]);
    double sum = 0;
    for (size_t p = 0; p < a.nproducts; p++)
      sum += a.product_prob[p];
    assert_true(fabs(sum - 1) < 1e-6);
    assert_true(a.ndrivers > 0);
  }

  /* unseen pincode, product and channel fall back, with reasons */
  struct predict_query q = {.pincode = 999999};
  snprintf(q.product, sizeof q.product, "gold_loan");
  snprintf(q.channel, sizeof q.channel, "kiosk");
  struct predict_answer a;
  suite_predict(s, PREDICT_DEMAND, &q, 1, &a);
  assert_true(a.fallback);
  assert_non_null(strstr(a.fallback_reason, "999999"));
  assert_non_null(strstr(a.fallback_reason, "gold_loan"));
  assert_non_null(strstr(a.fallback_reason, "kiosk"));
  assert_true(a.predicted_demand >= 0);
  suite_predict(s, PREDICT_RISE, &q, 0, &a);
  assert_true(a.fallback && a.probability >= 0 && a.probability <= 1);

  /* registry round trip: the loaded suite answers the same */
  assert_int_equal(suite_save(db, s, 5, &err), 0);
  assert_int_equal(suite_version(s), 1);
  struct suite *l = NULL;
  if (suite_load(db, gaz, 0, &l, &err) != 0)
    fail_msg("load: %s", err.msg);
  assert_int_equal(suite_version(l), 1);
  for (int i = 0; i < KP_PINS; i += 7) {
    struct predict_query pq = {.pincode = k.pin[i], .has_customer = i % 2,
                               .customer_age = 40, .customer_income = 30000};
    snprintf(pq.product, sizeof pq.product, "loan");
    snprintf(pq.channel, sizeof pq.channel, "offline");
    for (int kind = 0; kind < PREDICT__COUNT; kind++) {
      struct predict_answer x, y;
      suite_predict(s, (enum predict_kind)kind, &pq, 1, &x);
      suite_predict(l, (enum predict_kind)kind, &pq, 1, &y);
      assert_true(x.predicted_demand == y.predicted_demand && x.probability == y.probability &&
                  x.confidence == y.confidence && x.ndrivers == y.ndrivers);
    }
  }
  /* the holder: a reader keeps its suite across a swap */
  struct model_holder *h = NULL;
  assert_int_equal(model_holder_new(&h), 0);
  assert_null(model_holder_get(h));
  model_holder_swap(h, l);
  const struct suite *held = model_holder_get(h);
  assert_ptr_equal(held, l);
  struct suite *l2 = NULL;
  assert_int_equal(suite_load(db, gaz, 1, &l2, &err), 0);
  model_holder_swap(h, l2);
  struct predict_answer after;
  suite_predict(held, PREDICT_DEMAND, &q, 0, &after); /* still valid */
  model_holder_put(h, held);
  const struct suite *now = model_holder_get(h);
  assert_ptr_equal(now, l2);
  model_holder_put(h, now);
  model_holder_free(h);

  suite_free(s);
  store_close(db);
  test_tmpdir_remove(dir);
}

/* A new store at path with n sample sales (seed) over 200 days to
 * 2026-03-01. */
static struct store *generated_store(const char *path, uint64_t seed, int n) {
  struct store *db = NULL;
  struct gerr err;
  assert_int_equal(store_open(path, &db, &err), 0);
  struct gen_config gc = {.seed = seed, .end_ist_ms = days_from_civil(2026, 3, 1) * DAY_MS,
                          .days = 200, .count = (size_t)n};
  struct gen *g = NULL;
  assert_int_equal(gen_new(gaz, &gc, &g, &err), 0);
  struct sale *recs = calloc((size_t)n, sizeof *recs);
  assert_non_null(recs);
  for (int i = 0; i < n; i++)
    gen_next(g, &recs[i]);
  gen_free(g);
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(db, recs, (size_t)n, NULL, &st, &err), 0);
  free(recs);
  return db;
}

/* A damaged registry blob is refused, never trusted. */

static void check_horizons(struct suite *s);

/* A store of generated sales ending on end_day (IST); with `extra`, every
 * sale of the last 60 days is stored three times more (new sales, the same
 * cells): the two stores agree on everything before those days. */
static struct store *backtest_store(const char *path, int extra) {
  struct store *db = NULL;
  struct gerr err;
  unlink(path);
  assert_int_equal(store_open(path, &db, &err), 0);
  int64_t end_day = days_from_civil(2026, 6, 30);
  struct gen_config cfg = {.seed = 11, .end_ist_ms = end_day * DAY_MS + 20 * 3600000LL,
                           .days = 730, .count = 25000};
  struct gen *g = NULL;
  assert_int_equal(gen_new(gaz, &cfg, &g, &err), 0);
  struct sale *batch = calloc(25000 * 4, sizeof *batch);
  size_t n = 0;
  for (size_t i = 0; i < 25000; i++) {
    gen_next(g, &batch[n]);
    struct sale *r = &batch[n++];
    for (int k = 0; extra && k < 3 && r->ts_ms / DAY_MS > end_day - 60; k++) {
      batch[n] = *r;
      batch[n].ts_ms -= k + 1; /* another sale: another instant */
      n++;
    }
  }
  gen_free(g);
  struct store_insert_stats st;
  for (size_t i = 0; i < n; i += 10000)
    assert_int_equal(store_sales_insert(db, batch + i, n - i < 10000 ? n - i : 10000, NULL, &st,
                                        &err),
                     0);
  free(batch);
  return db;
}

/* docs/models.md "Product totals": per product and horizon, the served
 * forecasts of the cells without segment that sold in the last 12 periods
 * add up to the product's ratio of sales to baseline in the report times
 * their seasonal baselines; the other cells' are the forest's. */
static void check_product_totals(const struct suite *s) {
  const struct dataset *d = s->d;
  json_t *r = suite_report(s);
  json_t *pt = json_object_get(json_object_get(json_object_get(r, "models"), "demand"),
                               "product_totals");
  assert_int_equal(json_array_size(pt), d->nprod * ML_HORIZONS);
  size_t i, moved = 0;
  json_t *e;
  json_array_foreach(pt, i, e) {
    const char *name = json_string_value(json_object_get(e, "product"));
    int k = -1, h = (int)json_integer_value(json_object_get(e, "horizon"));
    for (size_t q = 0; q < d->nprod; q++)
      if (!strcmp(d->prod[q], name))
        k = (int)q;
    assert_true(k >= 0 && h >= 1 && h <= ML_HORIZONS);
    double ratio = json_number_value(json_object_get(e, "ratio"));
    double factor = json_number_value(json_object_get(e, "factor"));
    assert_true(ratio > 0); /* null without the season in the model's baselines */
    assert_true(factor == s->total[k][h - 1]);
    double base = 0, mu = 0;
    float x[CF__COUNT];
    for (size_t p = 0; p < d->npin; p++)
      for (size_t ch = 0; rows_pin_active(d, p, 0) && ch < d->nchan; ch++) {
        ml_cell_features(d, (long)p, k, (int)ch, ML_SEG_TOTAL, 0, h, x);
        int scaled = x[CF_MA12] > 0; /* sold in the last 12 periods */
        double m = ml_demand_forest_mu(s->demand, x) * (scaled ? factor : 1);
        if (!s->use_baseline[PREDICT_DEMAND])
          assert_true(fabs(ml_cell_mu(s, x) - m) <= 1e-12 * (1 + m));
        if (scaled) {
          base += x[CF_SEASON_BASE];
          mu += m;
        }
      }
    printf("%s h%d: ratio %.4f, factor %.4f\n", name, h, ratio, factor);
    assert_true(fabs(mu / (ratio * base) - 1) < 1e-6);
    moved += fabs(factor - 1) > 1e-3;
  }
  assert_true(moved > 0);
  json_decref(r);
}

/* models.demand.intervals: per horizon and kind of cell, the dispersion
 * and levels the suite serves with, each band's level that of its
 * answers' intervals. */
/* Checks the report's intervals against the served ones; the extra cells
 * the calibrations of the cells without segment were fitted on. */
static size_t check_interval_report(const struct suite *s) {
  json_t *r = suite_report(s);
  size_t extra = 0;
  json_t *iv = json_object_get(json_object_get(json_object_get(r, "models"), "demand"),
                               "intervals");
  size_t i, n = 0;
  json_t *e;
  json_array_foreach(iv, i, e) {
    int h = (int)json_integer_value(json_object_get(e, "horizon"));
    const char *cells = json_string_value(json_object_get(e, "cells"));
    assert_true(h >= 1 && h <= ML_HORIZONS);
    const struct demand_calib *c = !strcmp(cells, "without_segment") ? &s->dcal[h - 1][ML_TOTAL]
                                   : !strcmp(cells, "segment")       ? &s->dcal[h - 1][ML_SEGMENT]
                                                                     : &s->dcal_cold[h - 1];
    assert_true(!strcmp(cells, "cold_pincodes") ? s->has_cold[h - 1] : 1);
    assert_true(json_number_value(json_object_get(e, "dispersion")) == c->alpha);
    json_t *fo = json_object_get(e, "fitted_on");
    assert_true(!strcmp(cells, "without_segment") == (fo != NULL));
    if (fo) {
      json_int_t rows = json_integer_value(json_object_get(fo, "backtest_cells"));
      json_int_t inf =
          json_integer_value(json_object_get(fo, "backtest_cells_expecting_1_or_more"));
      json_int_t more = json_integer_value(json_object_get(fo, "extra_cells"));
      double q = json_number_value(json_object_get(fo, "extra_draw_rate"));
      assert_true(rows >= inf && inf >= 0 && more >= 0);
      assert_true(more ? q > 0 && q <= 1 && inf < 5000 : q == 0);
      extra += (size_t)more;
    }
    json_t *bands = json_object_get(e, "bands"), *b;
    size_t k;
    assert_int_equal(json_array_size(bands), ML_DEMAND_BANDS);
    json_array_foreach(bands, k, b) {
      double from = json_number_value(json_object_get(b, "expected_from"));
      json_t *below = json_object_get(b, "expected_below");
      double level = json_number_value(json_object_get(b, "nominal_level"));
      double mu = json_is_null(below) ? from * 2 : (from + json_number_value(below)) / 2;
      double lo, hi;
      ml_demand_interval(c, mu, &lo, &hi);
      assert_true(lo == (double)ml_nb_quantile(mu, c->alpha, (1 - level) / 2));
      assert_true(hi == (double)ml_nb_quantile(mu, c->alpha, (1 + level) / 2));
    }
    n++;
  }
  assert_true(n >= 2 * ML_HORIZONS);
  json_decref(r);
  return extra;
}

/* The backtest reads nothing after each window's cutoff: more sales in the
 * last two periods leave every figure of the windows before them as they
 * were, and do change the newest. Then the horizons of the suite. */
static void test_ml__backtest_reads_no_later_data(void **state) {
  (void)state;
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("bt", dir), 0);
  char pa[128], pb[128];
  snprintf(pa, sizeof pa, "%s/a.db", dir);
  snprintf(pb, sizeof pb, "%s/b.db", dir);
  struct store *a = backtest_store(pa, 0), *b = backtest_store(pb, 1);
  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 15;
  struct suite *sa = NULL, *sb = NULL;
  struct gerr err;
  if (suite_train(a, gaz, &cfg, NULL, NULL, &sa, &err) < 0 ||
      suite_train(b, gaz, &cfg, NULL, NULL, &sb, &err) < 0)
    fail_msg("training: %s", err.msg);
  json_t *ra = suite_report(sa), *rb = suite_report(sb);
  json_t *ma = json_object_get(json_object_get(ra, "backtest"), "by_month");
  json_t *mb = json_object_get(json_object_get(rb, "backtest"), "by_month");
  assert_true(json_array_size(ma) >= 30); /* 12 + 11 + 10 months */
  assert_int_equal(json_array_size(ma), json_array_size(mb));
  size_t same = 0, changed = 0;
  for (size_t i = 0; i < json_array_size(ma); i++) {
    json_t *x = json_array_get(ma, i), *y = json_array_get(mb, i);
    const char *asof = json_string_value(json_object_get(x, "as_of"));
    assert_string_equal(asof, json_string_value(json_object_get(y, "as_of")));
    json_t *ax = json_object_get(x, "all"), *ay = json_object_get(y, "all");
    double bx = json_number_value(json_object_get(ax, "bias")),
           by = json_number_value(json_object_get(ay, "bias")),
           dx = json_number_value(json_object_get(ax, "poisson_deviance")),
           dy = json_number_value(json_object_get(ay, "poisson_deviance"));
    /* the sales added are in periods 0 and 1: a figure whose target period
     * is older, forecast by a model trained before it, stays */
    int yy, mm, dd;
    assert_int_equal(sscanf(asof, "%d-%d-%d", &yy, &mm, &dd), 3);
    int64_t back = (days_from_civil(2026, 6, 30) -
                    days_from_civil(yy, (unsigned)mm, (unsigned)dd)) / 30;
    int64_t t = back - json_integer_value(json_object_get(x, "horizon"));
    if (t >= 2) {
      if (bx != by || dx != dy)
        fail_msg("as of %s: the figures changed with later sales (bias %g vs %g)", asof, bx,
                 by);
      same++;
    } else if (bx != by || dx != dy) {
      changed++;
    }
  }
  assert_true(same >= 25);
  assert_true(changed >= 3);
  check_horizons(sa);
  check_product_totals(sa);
  /* a sparse store: the rows hold few cells expecting a sale, and the
   * calibration of the cells without segment draws more */
  assert_true(check_interval_report(sa) > 0);
  json_decref(ra);
  json_decref(rb);
  suite_free(sa);
  suite_free(sb);
  store_close(a);
  store_close(b);
  unlink(pa);
  unlink(pb);
  rmdir(dir);
}

/* Each horizon answers for its own period, with its own calibration. s was
 * trained on the store of backtest_store (as of 2026-06-30). */
static void check_horizons(struct suite *s) {
  /* 2026-07-01..07-30, 07-31..08-29, 08-30..09-28 */
  static const char *const from[3] = {"2026-07-01", "2026-07-31", "2026-08-30"};
  static const char *const to[3] = {"2026-07-30", "2026-08-29", "2026-09-28"};
  struct predict_query q = {.pincode = s->d->pins[0]};
  snprintf(q.product, sizeof q.product, "%s", s->d->prod[0]);
  snprintf(q.channel, sizeof q.channel, "%s", s->d->chan[0]);
  for (int h = 0; h <= 3; h++) {
    q.horizon = h;
    struct predict_answer a;
    for (int kind = PREDICT_DEMAND; kind <= PREDICT_RISE; kind++) {
      suite_predict(s, (enum predict_kind)kind, &q, 0, &a);
      int k = h ? h - 1 : 0;
      assert_int_equal(a.horizon, k + 1);
      assert_string_equal(a.period_from, from[k]);
      assert_string_equal(a.period_to, to[k]);
      if (kind == PREDICT_DEMAND)
        assert_true(a.low <= a.predicted_demand + 1 && a.high + 1 >= a.predicted_demand);
      else
        assert_true(a.probability >= 0 && a.probability <= 1);
    }
  }
  /* a calibration per horizon, fitted on that horizon's backtest rows */
  json_t *r = suite_report(s);
  json_t *hz = json_object_get(json_object_get(r, "backtest"), "horizons");
  for (int h = 1; h <= 3; h++) {
    char key[12];
    snprintf(key, sizeof key, "%d", h);
    json_t *o = json_object_get(hz, key);
    assert_non_null(o);
    assert_true(json_integer_value(json_object_get(o, "months")) >= 12 - (h - 1));
    assert_true(json_number_value(json_object_get(o, "cells")) > 500);
    assert_true(s->dcal[h - 1][ML_TOTAL].nominal > 0 && s->dcal[h - 1][ML_TOTAL].nominal < 1);
  }
  json_decref(r);
}

static void test_ml__damaged_blob_refused(void **state) {
  (void)state;
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("ml", dir), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/gen.db", dir);
  struct gerr err;
  struct store *db = generated_store(path, 3, 8000);
  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 5;
  struct suite *s = NULL;
  if (suite_train(db, gaz, &cfg, NULL, NULL, &s, &err) < 0)
    fail_msg("training: %s", err.msg);
  assert_int_equal(suite_save(db, s, 5, &err), 0);
  struct model_row row;
  memset(&row, 0, sizeof row);
  assert_int_equal(store_model_get(db, 0, &row, &err), 0);
  /* the documented form, little-endian: magic, use_baseline[], level, and
   * the FNV-1a hash of everything before the last 8 bytes */
  assert_true(row.blob_len > 24);
  assert_memory_equal(row.blob, "GSUA", 4);
  for (int k = 0; k < PREDICT__COUNT; k++) {
    const unsigned char *u = row.blob + 4 + 4 * k;
    assert_int_equal(u[0], s->use_baseline[k]);
    assert_true(!u[1] && !u[2] && !u[3]);
  }
  uint64_t bits = 0, sum = 0, h = 0xcbf29ce484222325ULL;
  for (int i = 7; i >= 0; i--)
    bits = bits << 8 | row.blob[16 + i];
  double level;
  memcpy(&level, &bits, sizeof level);
  assert_true(level == s->level);
  for (int i = 7; i >= 0; i--)
    sum = sum << 8 | row.blob[row.blob_len - 8 + i];
  for (size_t i = 0; i + 8 < row.blob_len; i++)
    h = (h ^ row.blob[i]) * 0x100000001b3ULL;
  assert_true(sum == h);
  /* flipped bytes anywhere and truncations: refused */
  for (size_t at = 0; at < row.blob_len; at += row.blob_len / 37 + 1) {
    struct model_row bad = row;
    unsigned char *copy = malloc(row.blob_len);
    memcpy(copy, row.blob, row.blob_len);
    copy[at] ^= 0x5a;
    bad.blob = copy;
    int64_t v;
    assert_int_equal(store_model_insert(db, &bad, &v, &err), 0);
    struct suite *l = NULL;
    assert_int_equal(suite_load(db, gaz, v, &l, &err), -1);
    assert_null(l);
    bad.blob_len = at;
    assert_int_equal(store_model_insert(db, &bad, &v, &err), 0);
    assert_int_equal(suite_load(db, gaz, v, &l, &err), -1);
    free(copy);
  }
  model_row_release(&row);
  suite_free(s);
  /* too little data: a clear refusal */
  snprintf(path, sizeof path, "%s/tiny.db", dir);
  struct store *tiny = NULL;
  assert_int_equal(store_open(path, &tiny, &err), 0);
  assert_int_equal(suite_train(tiny, gaz, &cfg, NULL, NULL, &s, &err), -1);
  assert_int_equal(err.code, GERR_CONFLICT);
  store_close(tiny);
  store_close(db);
  test_tmpdir_remove(dir);
}


/* The period cells of four sales (period 30, three periods kept), as
 * tests/fixtures/dataset_gds2.bin holds them: that file was written by
 * dataset_save on x86-64 when the codec still wrote the host's byte order,
 * so it stands for the blobs stored before the form was fixed as
 * little-endian. */
static struct dataset *four_sales_dataset(void) {
  struct dataset_builder *b = NULL;
  struct gerr err;
  assert_int_equal(dataset_builder_new(30, &b, &err), 0);
  int64_t end = days_from_civil(2025, 3, 31) * DAY_MS + 12 * 3600000LL;
  const struct ml_sale_src s[] = {
      {end, 400001, "loan", "online", 30, 25000},
      {end - 3 * DAY_MS, 400001, "loan", "offline", 45, 80000},
      {end - 40 * DAY_MS, 110001, "card", "online", 22, 15000},
      {end - 70 * DAY_MS, 110001, "loan", "online", 61, 120000},
  };
  for (size_t i = 0; i < N_OF(s); i++)
    assert_int_equal(dataset_builder_add(b, &s[i]), 0);
  struct dataset *d = NULL;
  if (dataset_builder_finish(b, gaz, 3, 0, &d, NULL, NULL, &err) < 0)
    fail_msg("finish: %s", err.msg);
  return d;
}

static unsigned char *read_fixture(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  unsigned char *p = malloc(1 << 16);
  assert_non_null(p);
  *len = fread(p, 1, 1 << 16, f);
  fclose(f);
  return p;
}

/* A blob written before the codec was little-endian everywhere loads, and
 * the same cells are saved as the same bytes; fields sit where the
 * documented form puts them, least significant byte first. */
static void test_ml__dataset_blob_form_kept(void **state) {
  (void)state;
  size_t n = 0;
  unsigned char *old = read_fixture("tests/fixtures/dataset_gds2.bin", &n);
  struct dataset *d = four_sales_dataset();
  struct buf b;
  buf_init(&b, 1 << 20);
  assert_int_equal(dataset_save(d, &b), 0);
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, old, n);
  const unsigned char *p = (const unsigned char *)b.data;
  assert_memory_equal(p, "GDS2", 4);
  static const unsigned char period_le[4] = {30, 0, 0, 0}, nper_le[4] = {3, 0, 0, 0};
  assert_memory_equal(p + 4, period_le, 4);
  assert_memory_equal(p + 8, nper_le, 4);
  int32_t asof = days_from_civil(2025, 3, 31);
  const unsigned char asof_le[4] = {(unsigned char)asof, (unsigned char)(asof >> 8),
                                    (unsigned char)(asof >> 16), (unsigned char)(asof >> 24)};
  assert_memory_equal(p + 12, asof_le, 4);
  buf_release(&b);

  struct dataset *l = NULL;
  struct gerr err;
  if (dataset_load(old, n, gaz, &l, &err) < 0)
    fail_msg("load: %s", err.msg);
  assert_int_equal(l->asof_day, d->asof_day);
  assert_int_equal(l->ncell, d->ncell);
  assert_int_equal(l->npin, 2);
  assert_int_equal(l->pins[0], 110001);
  assert_int_equal(l->pins[1], 400001);
  assert_memory_equal(l->counts, d->counts, d->ncell * (size_t)d->nper * sizeof *d->counts);
  buf_init(&b, 1 << 20);
  assert_int_equal(dataset_save(l, &b), 0);
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, old, n);
  buf_release(&b);
  /* cut short anywhere: refused */
  for (size_t cut = 0; cut < n; cut += 97) {
    struct dataset *t = NULL;
    assert_int_equal(dataset_load(old, cut, gaz, &t, &err), -1);
    assert_null(t);
  }
  dataset_free(l);
  dataset_free(d);
  free(old);
}

static int count_row(void *ctx, int32_t pincode, int32_t region_id) {
  (void)pincode;
  (void)region_id;
  ++*(size_t *)ctx;
  return 0;
}

static int accept_in(int32_t pincode, void *ctx) {
  return ml_pin_index(((struct suite *)ctx)->d, pincode) >= 0;
}

/* Regions in a suite: every clustered pincode in one region, a region's
 * predicted demand the sum of its pincodes' predictions, the regions kept
 * through the registry, ids kept when retraining on the same sales; and
 * the fallback of a pincode without sales from its nearest ones. */
static void check_cold_blob_forms(struct store *db, struct suite *s,
                                  const struct predict_query *q, double model_answer,
                                  double nearest_answer);

static void test_ml__regions_and_fallbacks(void **state) {
  (void)state;
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("ml", dir), 0);
  char path[128];
  snprintf(path, sizeof path, "%s/reg.db", dir);
  struct gerr err;
  struct store *db = generated_store(path, 5, 12000);
  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 10;
  cfg.regions = 6;
  struct suite *s = NULL;
  if (suite_train(db, gaz, &cfg, NULL, NULL, &s, &err) < 0)
    fail_msg("training: %s", err.msg);
  check_interval_report(s);
  assert_int_equal(suite_region_count(s), 6);
  json_error_t je;
  json_t *list = json_loads(suite_regions_json(s), 0, &je);
  assert_int_equal(json_array_size(list), 6);
  const struct dataset *d = s->d;
  size_t members = 0;
  for (size_t i = 0; i < 6; i++) {
    json_t *reg = json_array_get(list, i);
    int32_t id = (int32_t)json_integer_value(json_object_get(reg, "region_id"));
    assert_int_equal(id, (int32_t)i + 1);
    json_t *pins = json_object_get(reg, "pincodes");
    double sum = 0;
    for (size_t j = 0; j < json_array_size(pins); j++) {
      int32_t pin = (int32_t)atol(json_string_value(json_array_get(pins, j)));
      assert_int_equal(suite_region_of(s, pin), id);
      for (size_t k = 0; k < d->nprod; k++)
        for (size_t c = 0; c < d->nchan; c++) {
          struct predict_query q = {.pincode = pin};
          snprintf(q.product, sizeof q.product, "%s", d->prod[k]);
          snprintf(q.channel, sizeof q.channel, "%s", d->chan[c]);
          struct predict_answer a;
          suite_predict(s, PREDICT_DEMAND, &q, 0, &a);
          assert_false(a.fallback);
          assert_int_equal(a.region_id, id);
          sum += a.predicted_demand;
        }
    }
    members += json_array_size(pins);
    double pred = json_number_value(json_object_get(reg, "predicted_demand"));
    if (fabs(pred - sum) > 1e-4)
      fail_msg("region %d: predicted %.6f, its pincodes' sum %.6f", id, pred, sum);
    const char *one = suite_region_json(s, id);
    assert_non_null(one);
  }
  assert_null(suite_region_json(s, 0));
  assert_null(suite_region_json(s, 7));
  json_decref(list);

  /* a pincode of the gazetteer without sales answers from its nearest
   * pincodes with sales, as gaz_nearest ranks them */
  int32_t unseen = 0;
  for (size_t i = 0; i < gaz_count(gaz) && !unseen; i += 97)
    if (ml_pin_index(d, gaz_at(gaz, i)->pincode) < 0)
      unseen = gaz_at(gaz, i)->pincode;
  assert_true(unseen > 0);
  struct gaz_near near[5];
  size_t nn = gaz_nearest(gaz, unseen, accept_in, s, 5, near);
  assert_int_equal(nn, 5);
  struct predict_query q = {.pincode = unseen};
  snprintf(q.product, sizeof q.product, "%s", d->prod[0]);
  snprintf(q.channel, sizeof q.channel, "%s", d->chan[0]);
  struct predict_answer a, b;
  int model_serves = s->cold_model[0];
  s->cold_model[0] = 0; /* the nearest pincodes' average first */
  suite_predict(s, PREDICT_DEMAND, &q, 0, &a);
  assert_true(a.fallback);
  assert_int_equal(a.region_id, 0);
  double mean = 0;
  for (size_t i = 0; i < nn; i++) {
    struct predict_query nq = q;
    nq.pincode = near[i].e->pincode;
    suite_predict(s, PREDICT_DEMAND, &nq, 0, &b);
    mean += b.predicted_demand / (double)nn;
  }
  assert_true(s->has_cold[0]);
  assert_true(fabs(a.predicted_demand - mean * s->cold_scale[0]) < 1e-9);
  /* its interval and confidence: those fitted on the backtest's cold
   * pincodes, not those of pincodes with sales */
  assert_true(s->has_cold[0]);
  double lo, hi;
  ml_demand_interval(&s->dcal_cold[0], a.predicted_demand, &lo, &hi);
  assert_true(a.low == lo && a.high == hi);
  assert_true(a.confidence == ml_demand_confidence(&s->dcal_cold[0], a.predicted_demand));
  json_t *cold = json_object_get(
      json_object_get(json_object_get(json_object_get(s->report, "backtest"), "horizons"), "1"),
      "cold_pincodes");
  assert_true(json_number_value(json_object_get(cold, "dispersion")) == s->dcal_cold[0].alpha);
  /* the report has the model's and the baselines' figures, and says which
   * serves: the one of lower cross-fitted deviance */
  for (int h = 1; h <= ML_HORIZONS; h++) {
    char key[12];
    snprintf(key, sizeof key, "%d", h);
    json_t *ch = json_object_get(
        json_object_get(json_object_get(json_object_get(s->report, "backtest"), "horizons"), key),
        "cold_pincodes");
    json_t *m = json_object_get(ch, "model"), *nb = json_object_get(ch, "baseline_nearest_average");
    assert_true(json_is_number(json_object_get(m, "poisson_deviance")));
    assert_true(json_is_number(json_object_get(nb, "poisson_deviance")));
    assert_true(json_is_number(
        json_object_get(json_object_get(m, "baseline_national_average"), "poisson_deviance")));
    const char *serves = json_string_value(json_object_get(ch, "serves"));
    assert_non_null(serves);
    if (!s->has_cold[h - 1])
      continue;
    double dm = json_number_value(
        json_object_get(json_object_get(m, "scaled_cross_fitted"), "poisson_deviance"));
    double dn = json_number_value(
        json_object_get(json_object_get(nb, "scaled_cross_fitted"), "poisson_deviance"));
    printf("cold pincodes, horizon %d: model %.4f, nearest average %.4f (cross-fitted): %s\n", h,
           dm, dn, serves);
    assert_string_equal(serves, dm < dn ? "model" : "nearest_average");
    assert_int_equal(h == 1 ? model_serves : s->cold_model[h - 1], dm < dn);
  }

  /* the model on the pincode's own features (its view outside the data
   * set), times its scale, with drivers */
  s->cold_model[0] = 1;
  suite_predict(s, PREDICT_DEMAND, &q, 1, &a);
  assert_true(a.fallback);
  assert_string_equal(a.source, "model");
  assert_true(strstr(a.fallback_reason, "the model answers") != NULL);
  assert_true(a.ndrivers > 0);
  struct ml_pin v;
  int32_t vnear[ML_NEAR];
  assert_int_equal(ml_pin_outside(d, gaz, NULL, unseen, vnear, &v), 0);
  float vx[CF__COUNT];
  ml_pin_cell_features(d, &v, 0, 0, ML_SEG_TOTAL, 0, 1, vx);
  double want = ml_demand_forest_mu(s->demand, vx) * s->cold_scale[0];
  assert_true(fabs(a.predicted_demand - want) < 1e-9 * (1 + want));
  printf("pincode %06d without sales, by the model: %.4f [%g, %g]\n", (int)unseen,
         a.predicted_demand, a.low, a.high);
  /* the interval is of the count: it holds the forecast's whole part */
  assert_true(isfinite(a.predicted_demand) && a.low <= a.predicted_demand &&
              floor(a.predicted_demand) <= a.high);
  /* a segment's share of it: the segments add up to the cell */
  double segsum = 0;
  for (int g = 0; g < ML_SEGMENTS; g++) {
    static const int32_t ages[ML_AGE_BANDS] = {22, 30, 40, 52, 66};
    static const double incomes[ML_INCOME_BANDS] = {15000, 37500, 75000, 150000, 300000};
    struct predict_query sq = q;
    sq.has_customer = 1;
    sq.customer_age = ages[g / ML_INCOME_BANDS];
    sq.customer_income = incomes[g % ML_INCOME_BANDS];
    suite_predict(s, PREDICT_DEMAND, &sq, 0, &b);
    segsum += b.predicted_demand;
  }
  assert_true(fabs(segsum - a.predicted_demand) < 1e-9 * (1 + a.predicted_demand));
  double nearest_answer = mean * s->cold_scale[0];

  /* saved with its regions; loaded the same */
  assert_int_equal(suite_save(db, s, 5, &err), 0);
  size_t rows = 0;
  assert_int_equal(store_regions_scan(db, suite_version(s), count_row, &rows, &err), 0);
  assert_int_equal(rows, members);
  struct suite *l = NULL;
  assert_int_equal(suite_load(db, gaz, 0, &l, &err), 0);
  assert_string_equal(suite_regions_json(l), suite_regions_json(s));
  for (int h = 0; h < ML_HORIZONS; h++) {
    assert_int_equal(l->has_cold[h], s->has_cold[h]);
    assert_true(l->dcal_cold[h].alpha == s->dcal_cold[h].alpha);
    assert_true(l->dcal_cold[h].nominal == s->dcal_cold[h].nominal);
    assert_int_equal(l->dcal_cold[h].conf.n, s->dcal_cold[h].conf.n);
    assert_int_equal(l->cold_model[h], s->cold_model[h]);
  }
  suite_free(l);
  s->cold_model[0] = model_serves;

  /* retrained on the same sales: the same regions under the same ids */
  struct suite *s2 = NULL;
  if (suite_train(db, gaz, &cfg, NULL, NULL, &s2, &err) < 0)
    fail_msg("training: %s", err.msg);
  assert_int_equal(suite_save(db, s2, 5, &err), 0);
  assert_int_equal(suite_version(s2), suite_version(s) + 1);
  assert_string_equal(suite_regions_json(s2), suite_regions_json(s));
  suite_free(s2);
  check_cold_blob_forms(db, s, &q, want, nearest_answer);
  suite_free(s);
  store_close(db);
  test_tmpdir_remove(dir);
}

/* The loaded suite l answers the cells of pincodes with sales with its
 * demand forest times the product totals' factors of s (kept) or times 1
 * (a form without them). */
static void check_warm_totals(const double (*total)[ML_HORIZONS], const struct suite *l,
                              int kept) {
  float x[CF__COUNT];
  size_t scaled = 0;
  for (size_t k = 0; k < l->d->nprod; k++)
    for (int h = 1; h <= ML_HORIZONS; h++) {
      assert_true(l->total[k][h - 1] == (kept ? total[k][h - 1] : 1));
      for (size_t p = 0; p < l->d->npin && p < 20; p++) {
        ml_cell_features(l->d, (long)p, (int)k, 0, ML_SEG_TOTAL, 0, h, x);
        int sc = x[CF_MA12] > 0; /* sold in the last 12 periods */
        double m = ml_demand_forest_mu(l->demand, x) * (sc ? l->total[k][h - 1] : 1);
        assert_true(fabs(ml_cell_mu(l, x) - m) <= 1e-12 * (1 + m));
        scaled += (size_t)sc;
      }
    }
  assert_true(scaled > 0);
}

/* Offset of the cold-answer choices in a GSUA blob of suite s (after the
 * cold pincodes' calibrations, suite_blob.c). */
static size_t cold_model_offset(const struct suite *s) {
  size_t at = 4 + 4 * PREDICT__COUNT + 8;
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++)
      at += 16 + 4 + 16 * s->dcal[h][k].conf.n;
  for (int h = 0; h < ML_HORIZONS; h++)
    at += 4 + 16 + 4 + 16 * s->rise_cal[h].n;
  at += 8 + sizeof s->rise_base;
  for (int h = 0; h < ML_HORIZONS; h++)
    at += 4 + 24 + 4 + 16 * s->dcal_cold[h].conf.n;
  return at;
}

/* The suite blob's forms: GSUA keeps what answers cold pincodes, the
 * product totals' factors and the intervals' levels per band of expected
 * demand; a GSU9 blob (without the bands) loads with every band at 0,
 * its intervals at the level of all cells; a GSU8 blob (the GSU9 bytes)
 * loads with its
 * seasonal change counting days, not days of the week, as its models
 * learned it; a GSU7 blob (without the factors either) loads with
 * each 1, its cells of pincodes with sales answered by the demand forest
 * alone; a GSU6 blob (the GSU7 form, from before the levels were scaled)
 * loads with its levels unscaled and answers as the model does with them;
 * a GSU5 blob (without the choices) loads and answers cold pincodes by
 * their nearest pincodes' average. q: a gazetteer pincode without sales,
 * model_answer and nearest_answer its answers at horizon 1 by the model
 * and by the average. */
static void check_cold_blob_forms(struct store *db, struct suite *s,
                                  const struct predict_query *q, double model_answer,
                                  double nearest_answer) {
  struct gerr err;
  int was = s->cold_model[0], use = s->use_baseline[PREDICT_DEMAND];
  s->cold_model[0] = 1;
  s->use_baseline[PREDICT_DEMAND] = 0; /* the model answers */
  /* product totals' factors unlike 1, which a form without them loads */
  double total[ML_MAX_PRODUCTS][ML_HORIZONS];
  memcpy(total, s->total, sizeof total);
  for (int k = 0; k < ML_MAX_PRODUCTS; k++)
    for (int h = 0; h < ML_HORIZONS; h++)
      s->total[k][h] = 1 + 0.1 * (k + 1) + 0.01 * h;
  double want_total[ML_MAX_PRODUCTS][ML_HORIZONS];
  memcpy(want_total, s->total, sizeof want_total);
  struct buf b;
  buf_init(&b, (size_t)1 << 33);
  assert_int_equal(suite_blob(s, &b), 0);
  memcpy(s->total, total, sizeof total);
  s->use_baseline[PREDICT_DEMAND] = use;
  /* the answers with days counted as days: by the model (GSU8, GSU7),
   * with the levels unscaled too (GSU6), and by the nearest pincodes, whose
   * answers the average takes (GSU5) */
  struct predict_answer days, unscaled, unscaled_near;
  s->d->weekday_adjusted = 0;
  suite_predict(s, PREDICT_DEMAND, q, 1, &days);
  s->d->level_scaled = 0;
  suite_predict(s, PREDICT_DEMAND, q, 1, &unscaled);
  int models[ML_HORIZONS], lapsed = s->cold_lapsed;
  for (int h = 0; h < ML_HORIZONS; h++) {
    models[h] = s->cold_model[h];
    s->cold_model[h] = 0;
  }
  s->cold_lapsed = 0;
  suite_predict(s, PREDICT_DEMAND, q, 1, &unscaled_near);
  for (int h = 0; h < ML_HORIZONS; h++)
    s->cold_model[h] = models[h];
  s->cold_lapsed = lapsed;
  s->d->level_scaled = 1;
  s->d->weekday_adjusted = 1;
  assert_true(fabs(unscaled.predicted_demand - model_answer) > 1e-6 * (1 + model_answer));
  assert_true(fabs(unscaled_near.predicted_demand - nearest_answer) > 1e-6 * (1 + nearest_answer));
  s->cold_model[0] = was;
  assert_memory_equal(b.data, "GSUA", 4);
  assert_true(s->dcal[0][ML_TOTAL].band[0] > 0); /* the bands' levels travel */
  struct model_row row;
  memset(&row, 0, sizeof row);
  assert_int_equal(store_model_get(db, 0, &row, &err), 0);
  unsigned char *old_blob = row.blob;
  size_t old_len = row.blob_len;
  const size_t totals = sizeof s->total, bands = 3 * ML_HORIZONS * ML_DEMAND_BANDS * 8;
  for (int form = 10; form >= 5; form--) {
    size_t at = cold_model_offset(s), len = b.len;
    unsigned char *p = malloc(b.len);
    memcpy(p, b.data, b.len);
    if (form < 10) { /* GSU9: without the bands; GSU8: the same bytes;
                        GSU7: without the factors; GSU6: the same bytes;
                        GSU5: without the choices either; hashed again */
      size_t t = at + 4 * ML_HORIZONS;
      memmove(p + t + totals, p + t + totals + bands, len - t - totals - bands);
      len -= bands;
      if (form < 8) {
        memmove(p + t, p + t + totals, len - t - totals);
        len -= totals;
      }
      p[3] = (unsigned char)('0' + form);
      if (form == 5) {
        memmove(p + at, p + at + 4 * ML_HORIZONS, len - at - 4 * ML_HORIZONS);
        len -= 4 * ML_HORIZONS;
      }
      uint64_t hsh = 0xcbf29ce484222325ULL;
      for (size_t i = 0; i + 8 < len; i++)
        hsh = (hsh ^ p[i]) * 0x100000001b3ULL;
      for (int i = 0; i < 8; i++)
        p[len - 8 + (size_t)i] = (unsigned char)(hsh >> (8 * i));
    }
    if (form >= 6) {
      for (int h = 0; h < ML_HORIZONS; h++) /* the documented place */
        assert_int_equal(p[at + 4 * (size_t)h], h == 0 ? 1 : s->cold_model[h]);
    }
    row.blob = p;
    row.blob_len = len;
    int64_t v;
    assert_int_equal(store_model_insert(db, &row, &v, &err), 0);
    struct suite *l = NULL;
    if (suite_load(db, gaz, v, &l, &err) < 0)
      fail_msg("loading a GSU%d blob: %s", form, err.msg);
    struct predict_answer a;
    suite_predict(l, PREDICT_DEMAND, q, 1, &a);
    assert_true(a.fallback);
    assert_int_equal(l->cold_lapsed, form >= 6); /* as each release answered them */
    assert_int_equal(l->d->level_scaled, form >= 7);
    assert_int_equal(l->d->weekday_adjusted, form >= 9);
    check_warm_totals(want_total, l, form >= 8);
    for (int h = 0; h < ML_HORIZONS; h++)
      for (int k = 0; k < 3; k++) {
        const struct demand_calib *lc = k < 2 ? &l->dcal[h][k] : &l->dcal_cold[h];
        const struct demand_calib *sc = k < 2 ? &s->dcal[h][k] : &s->dcal_cold[h];
        assert_true(lc->nominal == sc->nominal);
        for (int g = 0; g < ML_DEMAND_BANDS; g++)
          assert_true(lc->band[g] == (form >= 10 ? sc->band[g] : 0));
      }
    if (form >= 6) {
      double want = form >= 9   ? model_answer
                    : form >= 7 ? days.predicted_demand
                                : unscaled.predicted_demand;
      assert_int_equal(l->cold_model[0], 1);
      assert_string_equal(a.source, "model");
      assert_true(fabs(a.predicted_demand - want) < 1e-9 * (1 + want));
    } else {
      for (int h = 0; h < ML_HORIZONS; h++)
        assert_int_equal(l->cold_model[h], 0);
      assert_int_equal(a.ndrivers, 0);
      double want = unscaled_near.predicted_demand;
      assert_true(fabs(a.predicted_demand - want) < 1e-9 * (1 + want));
    }
    suite_free(l);
    free(p);
  }
  row.blob = old_blob;
  row.blob_len = old_len;
  model_row_release(&row);
  buf_release(&b);
}

/* Cells without a sale in the 12 periods before an origin, at pincodes
 * that sold, are rows too (serving answers them from their features), and
 * which ones are rows reads nothing after the origin: sales added in the
 * last period, on new and on known cells, leave every row's features, and
 * every label of a target before that period, as they were. */
static void test_ml__new_cells_are_rows_without_later_data(void **state) {
  (void)state;
  int64_t end = generated_end();
  struct dataset_builder *b2 = generated_builder(5);
  struct dataset *d1 = generated_dataset(5), *d2 = NULL;
  struct gerr err;
  /* later sales: every product and channel at some known pincodes */
  static const char *const prods[] = {"loan", "insurance", "credit_card"};
  static const char *const chans[] = {"online", "offline"};
  for (size_t p = 0; p < d1->npin; p += 40)
    for (int k = 0; k < 6; k++) {
      struct ml_sale_src src = {end - (int64_t)(p % 20) * DAY_MS, d1->pins[p], prods[k % 3],
                                chans[k / 3], 40, 50000};
      assert_int_equal(dataset_builder_add(b2, &src), 0);
    }
  assert_int_equal(dataset_builder_finish(b2, gaz, 19, 0, &d2, NULL, NULL, &err), 0);
  assert_int_equal(d1->npin, d2->npin);
  for (size_t k = 0; k < d1->nprod; k++)
    assert_string_equal(d1->prod[k], d2->prod[k]);
  struct rows r1, r2;
  memset(&r1, 0, sizeof r1);
  memset(&r2, 0, sizeof r2);
  assert_int_equal(rows_build(d1, 4, 1000000, 3, 1, &r1), 0);
  assert_int_equal(rows_build(d2, 4, 1000000, 3, 2, &r2), 0);
  assert_int_equal(r1.n, r2.n);
  size_t fresh = 0, fresh_sold = 0;
  for (size_t i = 0; i < r1.n; i++) {
    assert_int_equal(r1.origin[i], r2.origin[i]);
    assert_int_equal(r1.h[i], r2.h[i]);
    for (int f = 0; f < CF__COUNT; f++)
      if (!same_float(r1.X[i * r1.nf + f], r2.X[i * r2.nf + f]))
        fail_msg("row %zu: feature '%s' changed with later sales", i, ml_cell_feature_names[f]);
    if (rows_target(&r1, i) >= 1)
      assert_true(r1.y[i] == r2.y[i]);
    if (r1.kind[i] == ML_TOTAL && r1.X[i * r1.nf + CF_MA12] == 0) {
      fresh++;
      fresh_sold += r1.y[i] > 0;
      assert_true(r1.X[i * r1.nf + CF_SEASON_BASE] > 0);
    }
  }
  printf("%zu rows, %zu of cells new at their origin (%zu of them sold)\n", r1.n, fresh,
         fresh_sold);
  assert_true(fresh > 1000);
  assert_true(fresh_sold > 10);
  rows_release(&r1);
  rows_release(&r2);
  dataset_free(d1);
  dataset_free(d2);
}

/* Cells of pincodes without a sale in the 12 periods up to an origin are
 * rows too, marked cold: every product x channel without segment, the
 * target their sales in the target period; none of a warm pincode; at most
 * ROWS_COLD_SHARE of the rows, never sampled more densely than the other
 * cells without segment. */
static void test_ml__cold_pincodes_are_rows(void **state) {
  (void)state;
  struct dataset *d = generated_dataset(17);
  for (int pass = 0; pass < 2; pass++) {
    size_t max_rows = pass ? 20000 : 5000000; /* sampled, then every row */
    struct rows r;
    memset(&r, 0, sizeof r);
    assert_int_equal(rows_build(d, 12, max_rows, 5, 2, &r), 0);
    size_t cold = 0, warm_tot = 0, all_tot = 0;
    for (size_t i = 0; i < r.n; i++) {
      uint64_t key = r.key[i];
      long pin = (long)(key >> 24);
      int prod = (int)((key >> 16) & 0xff), chan = (int)((key >> 8) & 0xff);
      all_tot += r.kind[i] == ML_TOTAL;
      if (!r.cold[i]) {
        warm_tot += r.kind[i] == ML_TOTAL;
        assert_true(rows_pin_active(d, (size_t)pin, r.origin[i]));
        continue;
      }
      cold++;
      assert_int_equal(r.kind[i], ML_TOTAL);
      assert_int_equal((int)(key & 0xff), ML_SEG_TOTAL);
      assert_false(rows_pin_active(d, (size_t)pin, r.origin[i]));
      long c = ml_cell_find(d, (int32_t)pin, prod, chan, ML_SEG_TOTAL);
      double y = c >= 0 ? d->counts[(size_t)c * (size_t)d->nper + (size_t)rows_target(&r, i)] : 0;
      assert_true(r.y[i] == y);
      assert_true(r.last[i] == 0);
      assert_true(r.X[i * r.nf + CF_PIN_MA6] == 0 || isnan(r.X[i * r.nf + CF_PIN_MA6]));
    }
    /* every cell of a cold pincode when nothing is sampled */
    size_t expect = 0;
    for (int j = 1; j <= 12 && j < d->known; j++)
      for (size_t p = 0; p < d->npin; p++)
        expect += rows_pin_active(d, p, j)
                      ? 0
                      : d->nprod * d->nchan * (size_t)(j < ML_HORIZONS ? j : ML_HORIZONS);
    printf("max %zu rows: %zu rows, %zu cold (of %zu cold cells), %zu warm without segment\n",
           max_rows, r.n, cold, expect, warm_tot);
    assert_true(expect > 1000);
    if (!pass) {
      assert_int_equal(cold, expect);
    } else {
      assert_true(cold > 0);
      assert_true((double)cold <= ROWS_COLD_SHARE * (double)max_rows * 1.1);
      /* no denser than the others without segment: their rate is at most 1,
       * and cold cells are more than the cap allows */
      assert_true((double)cold / (double)expect <= (double)all_tot / (double)r.n + 0.05);
    }
    rows_release(&r);
  }
  dataset_free(d);
}

/* A data set of one cell (pincode 400001, loans online) selling
 * per_day(day) on each of the 801 days up to `last`. */
static struct dataset *one_cell_data(int64_t last, int (*per_day)(int64_t day)) {
  struct dataset_builder *b = NULL;
  struct gerr err;
  assert_int_equal(dataset_builder_new(30, &b, &err), 0);
  for (int64_t day = last - 800; day <= last; day++)
    for (int k = 0; k < per_day(day); k++) {
      struct ml_sale_src src = {day * DAY_MS + 10 * 3600000LL, 400001, "loan", "online", 40,
                                50000};
      assert_int_equal(dataset_builder_add(b, &src), 0);
    }
  struct dataset *d = NULL;
  assert_int_equal(dataset_builder_finish(b, gaz, 19, 0, &d, NULL, NULL, &err), 0);
  return d;
}

static int march_doubles(int64_t day) {
  int y;
  unsigned m, dd;
  civil_from_days(day, &y, &m, &dd);
  return m == 3 ? 20 : 10;
}

/* The seasonal baseline reads a year as 365 days: one cell selling 10 a
 * day, 20 a day in March; as of 28 February the next period (1-30 March)
 * is twice the level of the 6 periods before, the one after it (31 March -
 * 29 April) about the level. A year of 12 periods (360 days) would start
 * the March of a year earlier 5 days late. */
static void test_ml__seasonal_baseline_reads_a_year_of_days(void **state) {
  (void)state;
  struct gerr err;
  struct dataset *d = one_cell_data(days_from_civil(2026, 2, 28), march_doubles);
  long pin = ml_pin_index(d, 400001);
  assert_true(pin >= 0);
  float x[CF__COUNT];
  ml_cell_features(d, pin, 0, 0, ML_SEG_TOTAL, 0, 1, x);
  printf("level %.1f, baseline for March %.1f", x[CF_MA6], x[CF_SEASON_BASE]);
  assert_true(fabs(x[CF_SEASON_BASE] / (2 * x[CF_MA6]) - 1) < 0.02);
  ml_cell_features(d, pin, 0, 0, ML_SEG_TOTAL, 0, 2, x);
  printf(", for April %.1f\n", x[CF_SEASON_BASE]);
  assert_true(fabs(x[CF_SEASON_BASE] / (310.0 / 300 * x[CF_MA6]) - 1) < 0.02);
  /* the serving copy keeps the days it needs */
  struct dataset *t = NULL;
  assert_int_equal(dataset_trim(d, gaz, ML_HIST, &t, &err), 0);
  float xt[CF__COUNT];
  for (int h = 1; h <= ML_HORIZONS; h++) {
    ml_cell_features(d, pin, 0, 0, ML_SEG_TOTAL, 0, h, x);
    ml_cell_features(t, ml_pin_index(t, 400001), 0, 0, ML_SEG_TOTAL, 0, h, xt);
    assert_true(x[CF_SEASON_BASE] == xt[CF_SEASON_BASE]);
  }
  dataset_free(t);
  dataset_free(d);
}

/* The seasonal change counts the days of the week: one cell selling 10 a
 * day, 4 on Sundays, all year. As of 30 November 2025 the next period (1-30
 * December) holds 4 Sundays, the same days a year earlier 5, and the 90
 * days before the origin as many as a year earlier: counted as days, the
 * baseline says 2.9 % less than the cell sells; counted by their days of
 * the week, what it sells, at every horizon. */
static int quiet_sundays(int64_t day) {
  return (day + 4) % 7 == 0 ? 4 : 10; /* 1970-01-01 was a Thursday */
}

static void test_ml__seasonal_baseline_counts_the_days_of_the_week(void **state) {
  (void)state;
  int64_t last = days_from_civil(2025, 11, 30);
  struct dataset *d = one_cell_data(last, quiet_sundays);
  long pin = ml_pin_index(d, 400001);
  assert_true(pin >= 0);
  float x[CF__COUNT];
  double worst_days = 0;
  for (int h = 1; h <= ML_HORIZONS; h++) {
    double truth = 0; /* what the cell sells in the period h ahead */
    for (int64_t day = last + 30 * (h - 1) + 1; day <= last + 30 * h; day++)
      truth += quiet_sundays(day);
    ml_cell_features(d, pin, 0, 0, ML_SEG_TOTAL, 0, h, x);
    printf("h %d: sells %.0f, baseline %.1f", h, truth, x[CF_SEASON_BASE]);
    assert_true(fabs(x[CF_SEASON_BASE] / truth - 1) < 0.002);
    d->weekday_adjusted = 0; /* as a model saved before reads it */
    ml_cell_features(d, pin, 0, 0, ML_SEG_TOTAL, 0, h, x);
    printf(", counted in days %.1f\n", x[CF_SEASON_BASE]);
    worst_days = fmax(worst_days, fabs(x[CF_SEASON_BASE] / truth - 1));
    d->weekday_adjusted = 1;
  }
  assert_true(worst_days > 0.025);
  dataset_free(d);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ml__segments),
      cmocka_unit_test(test_ml__count_laws),
      cmocka_unit_test(test_ml__interval_levels_per_band),
      cmocka_unit_test(test_ml__calib_weights),
      cmocka_unit_test(test_ml__no_feature_reads_the_future),
      cmocka_unit_test(test_ml__segment_features_match_one_by_one),
      cmocka_unit_test(test_ml__outside_pincode_reads_as_one_without_sales_yet),
      cmocka_unit_test(test_ml__parallel_covers_each_item_once),
      cmocka_unit_test(test_ml__rows_same_with_any_threads),
      cmocka_unit_test(test_ml__sampled_rows_keep_each_group_s_ratio),
      cmocka_unit_test(test_ml__levels_add_up_to_recent_sales),
      cmocka_unit_test(test_ml__known_process),
      cmocka_unit_test(test_ml__backtest_reads_no_later_data),
      cmocka_unit_test(test_ml__damaged_blob_refused),
      cmocka_unit_test(test_ml__dataset_blob_form_kept),
      cmocka_unit_test(test_ml__regions_and_fallbacks),
      cmocka_unit_test(test_ml__new_cells_are_rows_without_later_data),
      cmocka_unit_test(test_ml__cold_pincodes_are_rows),
      cmocka_unit_test(test_ml__cold_answer_is_the_lower_cross_fitted_deviance),
      cmocka_unit_test(test_ml__seasonal_baseline_reads_a_year_of_days),
      cmocka_unit_test(test_ml__seasonal_baseline_counts_the_days_of_the_week),
  };
  /* Tests to leave out, a cmocka pattern: make check-clock runs this file
   * again under a faked clock, and the sanitized build once more, both
   * without the longest test. */
  const char *skip = getenv("GROMO_TEST_SKIP");
  if (skip && *skip)
    cmocka_set_skip_filter(skip);
  return cmocka_run_group_tests(tests, setup, teardown);
}
