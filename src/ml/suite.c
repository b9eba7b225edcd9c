/* A trained model suite: serving (predictions, fallbacks, explanations),
 * its place in the registry, and the holder that swaps it atomically. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/gazetteer.h"
#include "gromo/store.h"
#include "core/wire.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

/* ---- count laws ---- */

/* Above this mean the negative binomial is taken as normal (with a
 * continuity correction): the sums would cost a term per count. */
#define NB_NORMAL_ABOVE 200.0

static double nb_var(double mu, double alpha) { return mu * (1 + alpha * mu); }

double ml_nb_cdf(double mu, double alpha, long k) {
  if (k < 0)
    return 0;
  if (mu <= 0)
    return 1;
  if (mu > NB_NORMAL_ABOVE) {
    double z = ((double)k + 0.5 - mu) / sqrt(nb_var(mu, alpha));
    return 0.5 * erfc(-z / M_SQRT2);
  }
  double pmf, sum = 0;
  if (alpha < 1e-9) {
    pmf = exp(-mu);
    for (long i = 0; i <= k; i++) {
      sum += pmf;
      pmf *= mu / (double)(i + 1);
    }
  } else {
    double r = 1 / alpha, q = mu / (r + mu);
    pmf = exp(r * log(r / (r + mu)));
    for (long i = 0; i <= k; i++) {
      sum += pmf;
      pmf *= ((double)i + r) / (double)(i + 1) * q;
    }
  }
  return sum > 1 ? 1 : sum;
}

long ml_nb_quantile(double mu, double alpha, double q) {
  if (mu <= 0 || q <= 0)
    return 0;
  if (mu > NB_NORMAL_ABOVE) {
    /* invert the normal by bisection on the continuity-corrected CDF */
    double sd = sqrt(nb_var(mu, alpha));
    long lo = 0, hi = (long)(mu + 40 * sd) + 1;
    while (lo < hi) {
      long mid = lo + (hi - lo) / 2;
      if (ml_nb_cdf(mu, alpha, mid) >= q)
        hi = mid;
      else
        lo = mid + 1;
    }
    return lo;
  }
  double pmf, sum = 0, r = alpha < 1e-9 ? 0 : 1 / alpha, p = r ? mu / (r + mu) : 0;
  pmf = r ? exp(r * log(r / (r + mu))) : exp(-mu);
  for (long i = 0; i < 1000000; i++) {
    sum += pmf;
    if (sum >= q)
      return i;
    pmf *= r ? ((double)i + r) / (double)(i + 1) * p : mu / (double)(i + 1);
  }
  return 1000000;
}

void ml_demand_interval(const struct demand_calib *c, double mu, double *low, double *high) {
  *low = (double)ml_nb_quantile(mu, c->alpha, (1 - c->nominal) / 2);
  *high = (double)ml_nb_quantile(mu, c->alpha, (1 + c->nominal) / 2);
}

double ml_demand_confidence_raw(double alpha, double mu) {
  double band = fmax(0.25 * mu, 1.0);
  long hi = (long)floor(mu + band), lo = (long)ceil(mu - band);
  if (lo < 0)
    lo = 0;
  return ml_nb_cdf(mu, alpha, hi) - ml_nb_cdf(mu, alpha, lo - 1);
}

double ml_demand_confidence(const struct demand_calib *c, double mu) {
  double raw = ml_demand_confidence_raw(c->alpha, mu);
  double v = c->conf.n ? isotonic_apply(&c->conf, raw) : raw;
  return isnan(v) ? raw : fmin(fmax(v, 0), 1);
}

/* ---- serving ---- */

static const char *const demand_sources[1 + ML_DEMAND_BASELINES] = {
    "model", "baseline:last_period", "baseline:moving_average_3", "baseline:moving_average_6",
    "baseline:seasonal_naive"};

static int accept_known(int32_t pincode, void *ctx) {
  return ml_pin_index(ctx, pincode) >= 0;
}

#define FALLBACK_NEAR SUITE_FALLBACK_NEAR

/* The pincodes, products and channels an answer averages over. */
struct cover {
  long pin[FALLBACK_NEAR];
  size_t npin;
  int prod[ML_MAX_PRODUCTS];
  size_t nprod;
  int chan[ML_MAX_CHANNELS];
  size_t nchan;
};

/* Appends a reason (what, then its subject in quotes, then why). */
static void note(struct predict_answer *a, const char *what, const char *subject,
                 const char *why) {
  size_t len = strlen(a->fallback_reason);
  snprintf(a->fallback_reason + len, sizeof a->fallback_reason - len, "%s%s '%s' %s",
           len ? "; " : "", what, subject, why);
  a->fallback = 1;
}

static void resolve(const struct suite *s, const struct predict_query *q, int need_prod,
                    struct cover *c, struct predict_answer *a) {
  const struct dataset *d = s->d;
  c->npin = c->nprod = c->nchan = 0;
  long pin = ml_pin_index(d, q->pincode);
  if (pin >= 0) {
    c->pin[c->npin++] = pin;
  } else {
    long g = s->gaz && s->fb_near ? gaz_index(s->gaz, q->pincode) : -1;
    if (g >= 0) { /* in the gazetteer: nearest by distance, precomputed */
      for (size_t i = 0; i < FALLBACK_NEAR; i++)
        if (s->fb_near[(size_t)g * FALLBACK_NEAR + i] >= 0)
          c->pin[c->npin++] = s->fb_near[(size_t)g * FALLBACK_NEAR + i];
    } else { /* not in it: by shared PIN prefix, then distance */
      struct gaz_near near[FALLBACK_NEAR];
      size_t n = s->gaz ? gaz_nearest(s->gaz, q->pincode, accept_known, (void *)d,
                                      FALLBACK_NEAR, near)
                        : 0;
      for (size_t i = 0; i < n; i++)
        c->pin[c->npin++] = ml_pin_index(d, near[i].e->pincode);
    }
    char buf[16];
    snprintf(buf, sizeof buf, "%06d", (int)q->pincode);
    note(a, "pincode", buf, "has no sales in training: the nearest pincodes with sales answer");
    if (c->npin == 0)
      for (size_t i = 0; i < d->npin && c->npin < FALLBACK_NEAR; i++)
        c->pin[c->npin++] = (long)i;
  }
  int prod = need_prod ? ml_prod_index(d, q->product) : -1;
  if (prod >= 0) {
    c->prod[c->nprod++] = prod;
  } else if (need_prod) {
    for (size_t k = 0; k < d->nprod; k++)
      c->prod[c->nprod++] = (int)k;
    note(a, "product", q->product, "was never seen in training: the average over known products");
  }
  int chan = ml_chan_index(d, q->channel);
  if (chan >= 0) {
    c->chan[c->nchan++] = chan;
  } else {
    for (size_t k = 0; k < d->nchan; k++)
      c->chan[c->nchan++] = (int)k;
    note(a, "channel", q->channel, "was never seen in training: the average over known channels");
  }
}

/* Fills the drivers from contributions cb[nf + 1] of features x. */
static void drivers(const double *cb, const float *x, size_t nf,
                    const char *(*name)(const struct dataset *, size_t, char *, size_t),
                    const struct dataset *d, struct predict_answer *a) {
  a->ndrivers = 0;
  for (size_t i = 0; i < nf; i++) {
    double v = fabs(cb[i]);
    if (v < 1e-12)
      continue;
    size_t t = a->ndrivers < PREDICT_MAX_DRIVERS ? a->ndrivers++ : PREDICT_MAX_DRIVERS;
    if (t == PREDICT_MAX_DRIVERS) {
      if (v <= fabs(a->drivers[PREDICT_MAX_DRIVERS - 1].contribution))
        continue;
      t = PREDICT_MAX_DRIVERS - 1;
    }
    while (t > 0 && fabs(a->drivers[t - 1].contribution) < v) {
      a->drivers[t] = a->drivers[t - 1];
      t--;
    }
    struct predict_driver *dr = &a->drivers[t];
    const char *nm = name(d, i, dr->feature, sizeof dr->feature);
    if (nm != dr->feature)
      snprintf(dr->feature, sizeof dr->feature, "%s", nm);
    a->drivers[t].value = x[i];
    a->drivers[t].contribution = cb[i];
  }
}

static const char *cell_name(const struct dataset *d, size_t i, char *buf, size_t cap) {
  (void)d;
  (void)buf;
  (void)cap;
  return ml_cell_feature_names[i];
}

double ml_cell_mu(const struct suite *s, const float *x) {
  double mu;
  if (s->use_baseline[PREDICT_DEMAND])
    mu = ml_demand_baseline(x, s->use_baseline[PREDICT_DEMAND] - 1);
  else
    mu = ml_demand_forest_mu(s->demand, x);
  return mu > 0 ? mu : 0;
}

int suite_regions_make(struct suite *s, struct store *db, int k, uint64_t seed,
                       struct gerr *err) {
  const struct dataset *d = s->d;
  struct region_pin *pred = calloc(d->npin ? d->npin : 1, sizeof *pred);
  if (!pred)
    return gerr_set(err, GERR_INTERNAL, "out of memory predicting regions");
  /* each cell as POST /predict/demand and /predict/demand-rise answer it
   * without customer (the insights hold them), so that a region's
   * predicted demand is the sum of its pincodes' answers and its rise the
   * rise of that sum */
  for (size_t i = 0; i < d->npin; i++)
    if (suite_insights_pin(s, i, &pred[i]) < 0) {
      free(pred);
      return gerr_set(err, GERR_INTERNAL, "the predictions of every cell are missing");
    }
  int rc = suite_regions_build(s, db, pred, k, seed, err);
  free(pred);
  return rc;
}

/* Index of the horizon of features x, 0..ML_HORIZONS-1. */
static int horizon_index(const float *x) {
  int h = isnan(x[CF_HORIZON]) ? 1 : (int)x[CF_HORIZON];
  return h < 1 ? 0 : h > ML_HORIZONS ? ML_HORIZONS - 1 : h - 1;
}

/* docs/rules.md §3 "rise": the law of next period's demand of the demand
 * answer for a cell (or the average of cells) of kind mk whose served
 * expected demand is mu: negative binomial, mean mu, the dispersion of its
 * horizon and cell kind. */
static void demand_law(const struct suite *s, int hz, enum ml_kind mk, double mu, double *mean,
                       double *var) {
  double a = s->dcal[hz][mk].alpha;
  *mean = mu;
  *var = mu * (1 + a * mu);
}

void ml_cell_rise_law(const struct suite *s, const float *x, double *mean, double *var) {
  enum ml_kind mk = isnan(x[CF_SEG_SHARE]) ? ML_TOTAL : ML_SEGMENT;
  demand_law(s, horizon_index(x), mk, ml_cell_mu(s, x), mean, var);
}

double ml_rise_agree(double p, double p_law) {
  if (isnan(p))
    p = p_law;
  p = fmin(fmax(p, 0), 1);
  return p_law > 0.5 ? fmax(p, RISE_ABOVE_HALF) : fmin(p, 0.5);
}

/* The rise probability of features x at horizon index k before agreement:
 * the calibrated classifier's, or the rise baseline's when it serves. */
static double rise_raw(const struct suite *s, const float *x, int k) {
  if (s->use_baseline[PREDICT_RISE] || !s->rise)
    return ml_rise_baseline(x);
  double p;
  forest_predict(s->rise, x, &p);
  return s->rise_iso[k] ? isotonic_apply(&s->rise_cal[k], p) : platt_apply(&s->rise_platt[k], p);
}

double ml_cell_rise(const struct suite *s, const float *x) {
  double m, v;
  ml_cell_rise_law(s, x, &m, &v);
  double last = isnan(x[CF_LAG1]) ? 0 : x[CF_LAG1];
  return ml_rise_agree(rise_raw(s, x, horizon_index(x)), eval_count_above(m, v, last));
}

/* The served expected demand of cell (pin, prod, chan, seg) at the as-of
 * date, hz periods ahead; x gets its features. A segment's is scaled so
 * that the ML_SEGMENTS segments of the cell add up to the cell's (docs/
 * models.md "Segments"): the backtest judges it so (demand.c). */
static double served_mu(const struct suite *s, long pin, int prod, int chan, int seg, int hz,
                        float *x) {
  const struct dataset *d = s->d;
  ml_cell_features(d, pin, prod, chan, seg, 0, hz, x);
  double mu = ml_cell_mu(s, x);
  if (seg == ML_SEG_TOTAL)
    return mu;
  float y[CF__COUNT];
  double sum = 0;
  for (int g = 0; g < ML_SEGMENTS; g++) {
    if (g == seg) {
      sum += mu;
      continue;
    }
    ml_cell_features(d, pin, prod, chan, g, 0, hz, y);
    sum += ml_cell_mu(s, y);
  }
  ml_cell_features(d, pin, prod, chan, ML_SEG_TOTAL, 0, hz, y);
  double tot = ml_cell_mu(s, y);
  return sum > 0 ? mu * tot / sum : mu;
}

static void predict_cells(const struct suite *s, enum predict_kind kind,
                          const struct predict_query *q, int explain,
                          struct predict_answer *a) {
  const struct dataset *d = s->d;
  struct cover c;
  resolve(s, q, 1, &c, a);
  int seg = q->has_customer ? ml_segment(q->customer_age, q->customer_income) : ML_SEG_TOTAL;
  enum ml_kind mk = seg == ML_SEG_TOTAL ? ML_TOTAL : ML_SEGMENT;
  int hz = q->horizon >= 1 && q->horizon <= ML_HORIZONS ? q->horizon : 1;
  const struct demand_calib *cal = &s->dcal[hz - 1][mk];
  float x[CF__COUNT];
  double mu_sum = 0, p_sum = 0, last_sum = 0;
  size_t n = 0;
  int single = c.npin * c.nprod * c.nchan == 1;
  for (size_t i = 0; i < c.npin; i++)
    for (size_t k = 0; k < c.nprod; k++)
      for (size_t h = 0; h < c.nchan; h++, n++) {
        mu_sum += served_mu(s, c.pin[i], c.prod[k], c.chan[h], seg, hz, x);
        last_sum += isnan(x[CF_LAG1]) ? 0 : x[CF_LAG1];
        if (kind == PREDICT_RISE)
          p_sum += rise_raw(s, x, hz - 1);
        const struct forest *f = kind == PREDICT_DEMAND ? s->demand : s->rise;
        if (explain && single && f && !s->use_baseline[kind]) {
          double cb[CF__COUNT + 1];
          if (forest_contribs(f, x, cb) == 0) {
            if (kind == PREDICT_DEMAND) /* the offset, in log units */
              cb[CF_SEASON_BASE] += log(x[CF_SEASON_BASE]);
            drivers(cb, x, CF__COUNT, cell_name, d, a);
          }
        }
      }
  double mu = n ? mu_sum / (double)n : 0, last = n ? last_sum / (double)n : 0;
  a->last_period_demand = last;
  a->level = s->level;
  if (mu < 0)
    mu = 0;
  if (kind == PREDICT_DEMAND) {
    a->predicted_demand = mu;
    ml_demand_interval(cal, mu, &a->low, &a->high);
    a->confidence = ml_demand_confidence(cal, mu);
    a->source = demand_sources[s->use_baseline[PREDICT_DEMAND]];
  } else {
    /* on the side of 1/2 of the demand answer's law (several cells, a
     * fallback: the average cell's) */
    double m, v;
    demand_law(s, hz - 1, mk, mu, &m, &v);
    a->probability = ml_rise_agree(n ? p_sum / (double)n : NAN, eval_count_above(m, v, last));
    a->demand_rise = a->probability > 0.5;
    a->source = s->use_baseline[PREDICT_RISE] ? "baseline:poisson_moving_average_6" : "model";
  }
}

static void predict_top(const struct suite *s, const struct predict_query *q, int explain,
                        struct predict_answer *a) {
  const struct dataset *d = s->d;
  size_t K = d->nprod, nf = ml_cust_nfeatures(d);
  struct cover c;
  resolve(s, q, 0, &c, a);
  float *x = malloc(nf * sizeof *x);
  double *cb = explain ? malloc(K * (nf + 1) * sizeof *cb) : NULL;
  double acc[ML_MAX_PRODUCTS] = {0}, pr[ML_MAX_PRODUCTS], wsum = 0;
  a->nproducts = K;
  a->source = s->use_baseline[PREDICT_TOP_PRODUCT] ? "baseline:pincode_product_shares" : "model";
  if (!x) {
    free(cb);
    for (size_t k = 0; k < K; k++)
      a->product_prob[k] = 1.0 / (double)K;
    return;
  }
  int single = c.npin * c.nchan == 1 && q->has_customer;
  for (size_t i = 0; i < c.npin; i++)
    for (size_t h = 0; h < c.nchan; h++) {
      /* the customer, or the pincode's customers by their segment mix */
      for (int seg = 0; seg < (q->has_customer ? 1 : ML_SEGMENTS); seg++) {
        double w = 1;
        int32_t age = q->customer_age;
        double income = q->customer_income;
        if (!q->has_customer) {
          static const int32_t ages[ML_AGE_BANDS] = {22, 30, 40, 52, 66};
          static const double incomes[ML_INCOME_BANDS] = {15000, 37500, 75000, 150000, 300000};
          w = 0;
          for (size_t k = 0; k < K; k++) {
            long cell = ml_cell_find(d, (int32_t)c.pin[i], (int)k, c.chan[h], seg);
            for (int t = 0; cell >= 0 && t < 12 && t < d->nper; t++)
              w += d->counts[(size_t)cell * d->nper + t];
          }
          if (w == 0)
            continue;
          age = ages[seg / ML_INCOME_BANDS];
          income = incomes[seg % ML_INCOME_BANDS];
        }
        ml_cust_features(d, c.pin[i], c.chan[h], age, income, 0, x);
        if (s->use_baseline[PREDICT_TOP_PRODUCT]) {
          double sum = 0;
          for (size_t k = 0; k < K; k++)
            sum += pr[k] = x[UF__COUNT + k * UF_PER_PRODUCT];
          for (size_t k = 0; k < K; k++)
            pr[k] /= sum > 0 ? sum : 1;
        } else {
          forest_predict(s->top, x, pr);
          temperature_apply(pr, K, s->top_temp);
        }
        for (size_t k = 0; k < K; k++)
          acc[k] += w * pr[k];
        wsum += w;
      }
    }
  if (wsum <= 0) { /* no customers seen there: national shares */
    for (size_t k = 0; k < K; k++) {
      acc[k] = 0;
      for (int t = 0; t < 12 && t < d->nper; t++)
        acc[k] += d->nat_prod[k * (size_t)d->nper + t];
      wsum += acc[k];
    }
  }
  a->top = 0;
  for (size_t k = 0; k < K; k++) {
    a->products[k] = d->prod[k];
    a->product_prob[k] = wsum > 0 ? acc[k] / wsum : 1.0 / (double)K;
    if (a->product_prob[k] > a->product_prob[a->top])
      a->top = k;
  }
  a->probability = a->product_prob[a->top];
  if (explain && single && cb && !s->use_baseline[PREDICT_TOP_PRODUCT] &&
      forest_contribs(s->top, x, cb) == 0)
    drivers(cb + a->top * (nf + 1), x, nf, ml_cust_feature_name, d, a);
  free(x);
  free(cb);
}

void suite_predict(const struct suite *s, enum predict_kind kind, const struct predict_query *q,
                   int explain, struct predict_answer *out) {
  memset(out, 0, sizeof *out);
  out->region_id = suite_region_of(s, q->pincode);
  /* the forecast period: days (T + (h-1)P, T + hP] */
  int hz = kind != PREDICT_TOP_PRODUCT && q->horizon >= 1 && q->horizon <= ML_HORIZONS
               ? q->horizon
               : 1;
  out->horizon = hz;
  suite_period(s, hz, out->period_from, out->period_to);
  if (kind == PREDICT_TOP_PRODUCT)
    predict_top(s, q, explain, out);
  else
    predict_cells(s, kind, q, explain, out);
}

/* ---- lifecycle and report ---- */

void suite_free(struct suite *s) {
  if (!s)
    return;
  dataset_free(s->d);
  forest_free(s->demand);
  forest_free(s->rise);
  forest_free(s->top);
  for (int h = 0; h < ML_HORIZONS; h++) {
    for (int k = 0; k < 2; k++)
      isotonic_release(&s->dcal[h][k].conf);
    isotonic_release(&s->rise_cal[h]);
  }
  json_decref(s->report);
  json_decref(s->promotion);
  free(s->fb_near);
  suite_regions_free(s->reg);
  suite_insights_free(s->ins);
  free(s);
}

int suite_index(struct suite *s, struct gerr *err) {
  free(s->fb_near);
  s->fb_near = NULL;
  if (s->gaz && dataset_gaz_nearest(s->d, s->gaz, FALLBACK_NEAR, &s->fb_near) < 0)
    return gerr_set(err, GERR_INTERNAL, "out of memory indexing the model");
  return suite_insights_build(s, err);
}

int64_t suite_version(const struct suite *s) { return s->version; }
const char *suite_trained_at(const struct suite *s) { return s->trained_at; }

json_t *suite_report(const struct suite *s) { return json_deep_copy(s->report); }

int suite_degraded(const struct suite *s) {
  for (int k = 0; k < PREDICT__COUNT; k++)
    if (s->use_baseline[k])
      return 1;
  return 0;
}

/* ---- the blob ----
 * "GSU4", then little-endian (core/wire.h): i32 use_baseline[3], f64 level;
 * per horizon and cell kind f64 alpha, nominal and an isotonic map (u32 n,
 * n x f64, n x f64); per horizon i32 rise_iso, f64 platt a, b and the rise
 * isotonic map; f64 top_temp, f64 rise_base[horizon][RISE_BASE_MAX + 1];
 * then length-prefixed parts (u64): the period cells, the demand, rise and
 * top-product forests, the regions; last, a 64-bit FNV-1a hash of
 * everything before it (rise_base keeps its place, no longer read: the
 * rise baseline is computed from the features). Versions saved in the
 * earlier forms (GSU1, GSU2: next period only; GSU3: a demand forest
 * without the seasonal baseline) are refused with a message to train
 * again. Blobs written in the host's byte order before the form was fixed
 * as little-endian are the same bytes on the little-endian hosts that
 * wrote them. */

static int put_iso(struct buf *b, const struct isotonic *c) {
  return wire_add_u32(b, (uint32_t)c->n) || wire_add_f64s(b, c->x, c->n) ||
         wire_add_f64s(b, c->y, c->n);
}
static int put_part(struct buf *b, const void *p, size_t n) {
  return wire_add_u64(b, n) || wire_add_bytes(b, p, n);
}
static int put_forest(struct buf *b, const struct forest *f) {
  unsigned char *fb = NULL;
  size_t fl = 0;
  struct gerr err;
  if (f && forest_save(f, &fb, &fl, &err) < 0)
    return -1;
  int rc = put_part(b, fb, fl);
  free(fb);
  return rc;
}

static int suite_blob(const struct suite *s, struct buf *b) {
  if (wire_add_bytes(b, "GSU4", 4))
    return -1;
  for (int k = 0; k < PREDICT__COUNT; k++)
    if (wire_add_u32(b, (uint32_t)(int32_t)s->use_baseline[k]))
      return -1;
  if (wire_add_f64(b, s->level))
    return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++)
      if (wire_add_f64(b, s->dcal[h][k].alpha) || wire_add_f64(b, s->dcal[h][k].nominal) ||
          put_iso(b, &s->dcal[h][k].conf))
        return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    if (wire_add_u32(b, (uint32_t)(int32_t)s->rise_iso[h]) ||
        wire_add_f64(b, s->rise_platt[h].a) || wire_add_f64(b, s->rise_platt[h].b) ||
        put_iso(b, &s->rise_cal[h]))
      return -1;
  if (wire_add_f64(b, s->top_temp) ||
      wire_add_f64s(b, &s->rise_base[0][0], sizeof s->rise_base / sizeof s->rise_base[0][0]))
    return -1;
  struct buf ds;
  buf_init(&ds, (size_t)1 << 33);
  int rc = dataset_save(s->d, &ds) || put_part(b, ds.data, ds.len) || put_forest(b, s->demand) ||
           put_forest(b, s->rise) || put_forest(b, s->top);
  buf_release(&ds);
  struct buf rg;
  buf_init(&rg, (size_t)1 << 32);
  rc = rc || suite_regions_save(s, &rg) || put_part(b, rg.data, rg.len);
  buf_release(&rg);
  if (rc)
    return -1;
  return wire_add_u64(b, wire_fnv1a64((const unsigned char *)b->data, b->len));
}

static int get_i32(struct wire_rd *r, int32_t *v) {
  uint32_t u;
  if (wire_rd_u32(r, &u))
    return -1;
  *v = (int32_t)u;
  return 0;
}
static int get_iso(struct wire_rd *r, struct isotonic *c) {
  uint32_t n;
  if (wire_rd_u32(r, &n) || n > wire_rd_left(r) / 16)
    return -1;
  c->n = n;
  c->x = malloc((n ? n : 1) * 8);
  c->y = malloc((n ? n : 1) * 8);
  if (!c->x || !c->y || wire_rd_f64s(r, c->x, n) || wire_rd_f64s(r, c->y, n))
    return -1;
  for (uint32_t i = 0; i < n; i++)
    if (!isfinite(c->x[i]) || !isfinite(c->y[i]) || (i && c->x[i] <= c->x[i - 1]))
      return -1;
  return 0;
}
static int get_part(struct wire_rd *r, const unsigned char **p, size_t *n) {
  uint64_t len;
  if (wire_rd_u64(r, &len) || len > wire_rd_left(r))
    return -1;
  *p = wire_rd_take(r, (size_t)len);
  *n = (size_t)len;
  return 0;
}

static int suite_unblob(struct suite *s, const unsigned char *p, size_t n, struct gerr *err) {
  if (n < 12)
    goto bad;
  n -= 8;
  if (wire_fnv1a64(p, n) != wire_get64(p + n))
    goto bad;
  struct wire_rd r = {p, n, 0};
  char magic[4];
  int32_t ub[PREDICT__COUNT], iso;
  if (wire_rd_bytes(&r, magic, 4))
    goto bad;
  if (!memcmp(magic, "GSU3", 4) || !memcmp(magic, "GSU2", 4) || !memcmp(magic, "GSU1", 4))
    return gerr_set(err, GERR_CONFLICT,
                    "the stored model was saved by an earlier release: train again");
  if (memcmp(magic, "GSU4", 4))
    goto bad;
  for (int k = 0; k < PREDICT__COUNT; k++)
    if (get_i32(&r, &ub[k]))
      goto bad;
  if (wire_rd_f64(&r, &s->level))
    goto bad;
  for (int k = 0; k < PREDICT__COUNT; k++) {
    if (ub[k] < 0 || ub[k] > (k == PREDICT_DEMAND ? ML_DEMAND_BASELINES : 1))
      goto bad;
    s->use_baseline[k] = ub[k];
  }
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++) {
      struct demand_calib *c = &s->dcal[h][k];
      if (wire_rd_f64(&r, &c->alpha) || wire_rd_f64(&r, &c->nominal) ||
          get_iso(&r, &c->conf) || !(c->alpha >= 0) || !(c->nominal > 0 && c->nominal < 1))
        goto bad;
    }
  for (int h = 0; h < ML_HORIZONS; h++) {
    if (get_i32(&r, &iso) || wire_rd_f64(&r, &s->rise_platt[h].a) ||
        wire_rd_f64(&r, &s->rise_platt[h].b) || get_iso(&r, &s->rise_cal[h]))
      goto bad;
    s->rise_iso[h] = iso != 0;
  }
  if (wire_rd_f64(&r, &s->top_temp) ||
      wire_rd_f64s(&r, &s->rise_base[0][0], sizeof s->rise_base / sizeof s->rise_base[0][0]))
    goto bad;
  const unsigned char *part;
  size_t plen;
  if (get_part(&r, &part, &plen) || dataset_load(part, plen, s->gaz, &s->d, err) < 0)
    goto bad;
  struct forest **fs[3] = {&s->demand, &s->rise, &s->top};
  for (int k = 0; k < 3; k++) {
    if (get_part(&r, &part, &plen))
      goto bad;
    if (plen && forest_load_blob(part, plen, fs[k], err) < 0)
      goto bad;
  }
  if (get_part(&r, &part, &plen) || suite_regions_load(s, part, plen, err) < 0)
    goto bad;
  if (r.at != r.n || !s->demand || !s->rise || !s->top ||
      forest_num_features(s->demand) > CF__COUNT || forest_num_features(s->rise) > CF__COUNT ||
      forest_num_features(s->top) > ml_cust_nfeatures(s->d) ||
      forest_num_groups(s->top) != s->d->nprod)
    goto bad;
  return 0;
bad:
  return gerr_set(err, GERR_INTERNAL, "the stored model is damaged");
}

/* The registry row of s, its texts and blob malloc'd (model_row_release). */
static int suite_row(const struct suite *s, struct model_row *row) {
  memset(row, 0, sizeof *row);
  struct buf b;
  buf_init(&b, (size_t)1 << 34);
  if (suite_blob(s, &b) < 0) {
    buf_release(&b);
    return -1;
  }
  json_t *models = json_object_get(s->report, "models");
  json_t *fl = json_pack("{s:O,s:O,s:O}", "demand",
                         json_object_get(json_object_get(models, "demand"), "features"),
                         "demand_rise",
                         json_object_get(json_object_get(models, "demand_rise"), "features"),
                         "top_product",
                         json_object_get(json_object_get(models, "top_product"), "features"));
  row->features = fl ? json_dumps(fl, JSON_COMPACT) : NULL;
  json_decref(fl);
  snprintf(row->kind, sizeof row->kind, "suite");
  snprintf(row->algorithm, sizeof row->algorithm, "XGBoost %s", "gbtree, native evaluation");
  snprintf(row->trained_at, sizeof row->trained_at, "%s", s->trained_at);
  row->rows = s->rows;
  snprintf(row->data_from, sizeof row->data_from, "%s", s->data_from);
  snprintf(row->data_to, sizeof row->data_to, "%s", s->data_to);
  row->duration_ms = s->duration_ms;
  /* the report names its version once loaded: stored without it */
  row->metrics = json_dumps(s->report, JSON_COMPACT);
  row->blob_len = b.len;
  row->blob = (unsigned char *)buf_detach(&b, NULL);
  if (!row->features || !row->metrics || !row->blob) {
    model_row_release(row);
    return -1;
  }
  return 0;
}

/* ---- promotion (docs/models.md "Promotion: champion and challenger") ---- */

static const char *const policy_names[] = {"if_better", "always"};

int promote_policy_parse(const char *name, enum promote_policy *out) {
  for (int p = 0; name && p < 2; p++)
    if (!strcmp(name, policy_names[p])) {
      *out = (enum promote_policy)p;
      return 0;
    }
  return -1;
}

const char *promote_policy_name(enum promote_policy p) {
  return p == PROMOTE_ALWAYS ? policy_names[1] : policy_names[0];
}

int suite_serving(const struct suite *s) { return s->serving; }

json_t *suite_promotion(const struct suite *s) {
  return s->promotion ? json_deep_copy(s->promotion) : NULL;
}

static void utc_now(char out[32]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The override part of a record: who and why; NULL when nobody is named. */
static json_t *override_json(const struct promote_request *req, const char *what) {
  char at[32];
  utc_now(at);
  return json_pack("{s:s,s:s,s:s,s:s}", "action", what, "by", req->by[0] ? req->by : "unknown",
                   "reason", req->reason, "at", at);
}

struct champion_row {
  int64_t version;
  json_t *report; /* the champion's /models report */
};

static int champion_row_fn(void *ctx, const struct model_row *r) {
  struct champion_row *c = ctx;
  if (r->version != c->version)
    return 0;
  c->report = r->metrics ? json_loads(r->metrics, 0, NULL) : NULL;
  return 1;
}

/* The names of the models that are worse, "demand, top_product", into buf. */
static void worse_names(const json_t *models, char *buf, size_t cap) {
  const char *name;
  json_t *m;
  buf[0] = 0;
  json_object_foreach((json_t *)models, name, m) {
    if (json_is_true(json_object_get(m, "no_worse")))
      continue;
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
  }
}

/* The decision on s against the version serving now (champ, 0: none), as
 * a new record; *serve says whether s serves. NULL when out of memory or
 * the store fails (err set). */
static json_t *promotion_decide(struct store *db, const struct suite *s, int64_t champ,
                                const struct promote_request *req, int *serve,
                                struct gerr *err) {
  char at[32], why[400];
  utc_now(at);
  int always = req->policy == PROMOTE_ALWAYS;
  json_t *rec;
  if (!champ) {
    *serve = 1;
    rec = json_pack("{s:s,s:s,s:n,s:f,s:{},s:s,s:s}", "decision", "promoted", "policy",
                    promote_policy_name(req->policy), "champion", "tolerance",
                    PROMOTE_TOLERANCE, "models", "decided_at", at, "reason",
                    "the first version: no serving version to compare with");
  } else {
    struct champion_row c = {champ, NULL};
    if (store_model_scan(db, champion_row_fn, &c, err) < 0)
      return NULL;
    int worse = 0;
    json_t *models = c.report ? champion_compare(s->report, c.report, PROMOTE_TOLERANCE, &worse)
                              : json_object();
    json_decref(c.report);
    if (!models) {
      gerr_set(err, GERR_INTERNAL, "out of memory comparing with the serving version");
      return NULL;
    }
    *serve = always || !worse;
    char names[80];
    worse_names(models, names, sizeof names);
    if (!worse)
      snprintf(why, sizeof why,
               "no model is worse than version %lld's (within %.0f%%): the new version serves",
               (long long)champ, PROMOTE_TOLERANCE * 100);
    else if (always)
      snprintf(why, sizeof why,
               "worse than version %lld on %s (by more than %.0f%%): serves all the same, by "
               "override (promote=always)",
               (long long)champ, names, PROMOTE_TOLERANCE * 100);
    else
      snprintf(why, sizeof why,
               "worse than version %lld on %s (by more than %.0f%%): kept as a candidate, "
               "version %lld serves on",
               (long long)champ, names, PROMOTE_TOLERANCE * 100, (long long)champ);
    rec = json_pack("{s:s,s:s,s:I,s:f,s:o,s:s,s:s}", "decision",
                    *serve ? "promoted" : "candidate", "policy",
                    promote_policy_name(req->policy), "champion", (json_int_t)champ,
                    "tolerance", PROMOTE_TOLERANCE, "models", models, "decided_at", at,
                    "reason", why);
  }
  if (rec && always)
    json_object_set_new(rec, "override", override_json(req, "trained with promote=always"));
  if (!rec)
    gerr_set(err, GERR_INTERNAL, "out of memory");
  return rec;
}

int suite_save(struct store *db, struct suite *s, int keep, struct gerr *err) {
  return suite_save_as(db, s, keep, NULL, err);
}

int suite_save_as(struct store *db, struct suite *s, int keep, const struct promote_request *req,
                  struct gerr *err) {
  static const struct promote_request if_better = {PROMOTE_IF_BETTER, "", ""};
  struct model_row row;
  memset(&row, 0, sizeof row);
  int64_t prev = 0, version = 0;
  int rc = -1, serve = 0;
  json_t *rec = NULL;
  if (!req)
    req = &if_better;
  /* One transaction: the regions are numbered after those of the version
   * serving now, which is also the champion the new version is compared
   * with; the version, its regions, its promotion record, the serving
   * mark and the prune land together or not at all. */
  if (store_begin(db, err) < 0)
    return -1;
  int have = store_model_serving_version(db, &prev, err);
  if (have < 0 || suite_regions_relabel(s, db, have == 0 ? prev : 0, err) < 0)
    goto out;
  if (!(rec = promotion_decide(db, s, have == 0 ? prev : 0, req, &serve, err)))
    goto out;
  if (suite_row(s, &row) < 0 || !(row.promotion = json_dumps(rec, JSON_COMPACT))) {
    gerr_set(err, GERR_INTERNAL, "out of memory saving the model");
    goto out;
  }
  if (store_model_insert(db, &row, &version, err) < 0)
    goto out;
  s->version = version;
  if (suite_regions_store(s, db, err) < 0 ||
      (serve && store_model_set_serving(db, version, err) < 0) ||
      store_model_prune(db, keep, err) < 0 || store_commit(db, err) < 0)
    goto out;
  json_object_set_new(s->report, "version", json_integer((json_int_t)version));
  json_decref(s->promotion);
  s->promotion = rec;
  rec = NULL;
  s->serving = serve;
  rc = 0;
out:
  if (rc < 0) {
    store_rollback(db);
    s->version = 0;
  }
  json_decref(rec);
  model_row_release(&row);
  return rc;
}

int suite_promote_candidate(struct store *db, int64_t version, const struct promote_request *req,
                            json_t **record, struct gerr *err) {
  struct model_row row;
  memset(&row, 0, sizeof row);
  json_t *rec = NULL;
  char *text = NULL;
  int rc = -1;
  if (record)
    *record = NULL;
  if (store_begin(db, err) < 0)
    return -1;
  int got = store_model_get(db, version, &row, err);
  if (got != 0) {
    rc = got;
    goto out;
  }
  rec = row.promotion ? json_loads(row.promotion, 0, NULL) : NULL;
  const char *was = json_string_value(json_object_get(rec, "decision"));
  if (row.serving) {
    rc = 2;
    goto out;
  }
  if (!was || strcmp(was, "candidate") != 0) {
    rc = 3;
    goto out;
  }
  json_object_set_new(rec, "decision", json_string("promoted"));
  json_object_set_new(rec, "policy", json_string("manual"));
  json_object_set_new(rec, "override", override_json(req, "promoted a candidate"));
  json_object_set_new(rec, "reason", json_string("a candidate, promoted by override"));
  if (!(text = json_dumps(rec, JSON_COMPACT))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  int done = store_model_promote(db, version, text, err);
  if (done != 0) {
    rc = done;
    goto out;
  }
  if (store_commit(db, err) < 0)
    goto out;
  if (record) {
    *record = rec;
    rec = NULL;
  }
  rc = 0;
out:
  if (rc != 0)
    store_rollback(db);
  free(text);
  json_decref(rec);
  model_row_release(&row);
  return rc;
}

int suite_load(struct store *db, const struct gaz *gaz, int64_t version, struct suite **out,
               struct gerr *err) {
  struct model_row row;
  memset(&row, 0, sizeof row);
  *out = NULL;
  int rc = store_model_get(db, version, &row, err);
  if (rc != 0)
    return rc;
  struct suite *s = calloc(1, sizeof *s);
  if (!s) {
    model_row_release(&row);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  s->gaz = gaz;
  s->version = row.version;
  snprintf(s->trained_at, sizeof s->trained_at, "%s", row.trained_at);
  snprintf(s->data_from, sizeof s->data_from, "%s", row.data_from);
  snprintf(s->data_to, sizeof s->data_to, "%s", row.data_to);
  s->rows = row.rows;
  s->duration_ms = row.duration_ms;
  json_error_t je;
  s->report = row.metrics ? json_loads(row.metrics, 0, &je) : NULL;
  if (!s->report || !json_is_object(s->report) ||
      suite_unblob(s, row.blob, row.blob_len, err) < 0) {
    if (!s->report)
      gerr_set(err, GERR_INTERNAL, "the stored model's report is damaged");
    gerr_prefix(err, "loading model version");
    model_row_release(&row);
    suite_free(s);
    return -1;
  }
  json_object_set_new(s->report, "version", json_integer((json_int_t)s->version));
  s->promotion = row.promotion ? json_loads(row.promotion, 0, NULL) : NULL;
  s->serving = row.serving;
  model_row_release(&row);
  if (suite_index(s, err) < 0) {
    suite_free(s);
    return -1;
  }
  *out = s;
  return 0;
}

/* ---- the holder ---- */

struct model_holder {
  pthread_mutex_t mu;
  struct suite *cur;
  /* references by suite; a suite no longer current is freed at zero */
  struct ref {
    struct suite *s;
    long n;
  } refs[16];
};

int model_holder_new(struct model_holder **out) {
  struct model_holder *h = calloc(1, sizeof *h);
  if (!h || pthread_mutex_init(&h->mu, NULL) != 0) {
    free(h);
    return -1;
  }
  *out = h;
  return 0;
}

static struct ref *ref_of(struct model_holder *h, const struct suite *s, int add) {
  struct ref *free_slot = NULL;
  for (size_t i = 0; i < sizeof h->refs / sizeof *h->refs; i++) {
    if (h->refs[i].s == s)
      return &h->refs[i];
    if (!h->refs[i].s && !free_slot)
      free_slot = &h->refs[i];
  }
  if (add && free_slot) {
    free_slot->s = (struct suite *)s;
    free_slot->n = 0;
  }
  return add ? free_slot : NULL;
}

const struct suite *model_holder_get(struct model_holder *h) {
  pthread_mutex_lock(&h->mu);
  struct suite *s = h->cur;
  struct ref *r = s ? ref_of(h, s, 0) : NULL;
  if (r)
    r->n++;
  pthread_mutex_unlock(&h->mu);
  return s;
}

void model_holder_put(struct model_holder *h, const struct suite *s) {
  if (!s)
    return;
  struct suite *dead = NULL;
  pthread_mutex_lock(&h->mu);
  struct ref *r = ref_of(h, s, 0);
  if (r && --r->n == 0 && r->s != h->cur) {
    dead = r->s;
    r->s = NULL;
  }
  pthread_mutex_unlock(&h->mu);
  suite_free(dead);
}

void model_holder_swap(struct model_holder *h, struct suite *s) {
  struct suite *dead = NULL;
  pthread_mutex_lock(&h->mu);
  struct suite *old = h->cur;
  struct ref *r = s ? ref_of(h, s, 1) : NULL;
  if (s && !r) { /* every slot holds a suite still read: keep the old one */
    pthread_mutex_unlock(&h->mu);
    suite_free(s);
    return;
  }
  h->cur = s;
  if (r)
    r->n++; /* the holder's own reference */
  struct ref *o = old ? ref_of(h, old, 0) : NULL;
  if (o && --o->n == 0) {
    dead = o->s;
    o->s = NULL;
  }
  pthread_mutex_unlock(&h->mu);
  suite_free(dead);
}

void model_holder_free(struct model_holder *h) {
  if (!h)
    return;
  model_holder_swap(h, NULL);
  pthread_mutex_destroy(&h->mu);
  free(h);
}
