/* A trained model suite: serving (predictions, fallbacks, explanations)
 * and its lifecycle. The count laws are in countlaw.c, the blob in
 * suite_blob.c, the registry in registry.c, the holder in holder.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/gazetteer.h"
#include "ml/ml_int.h"

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
  int cold; /* the pincode is cold at the as-of date and answered so: the
               suite's cold answer of its horizon (or, without one, its
               nearest pincodes' average) */
  int model; /* cold, and the demand forest answers from `own` */
  struct ml_pin own; /* the pincode's view, when `model` */
  int32_t own_near[ML_NEAR];
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

/* The nearest pincodes with sales of a pincode outside the data set. */
static void outside_near(const struct suite *s, int32_t pincode, struct cover *c) {
  const struct dataset *d = s->d;
  long g = s->gaz && s->fb_near ? gaz_index(s->gaz, pincode) : -1;
  if (g >= 0) { /* in the gazetteer: nearest by distance, precomputed */
    for (size_t i = 0; i < FALLBACK_NEAR; i++)
      if (s->fb_near[(size_t)g * FALLBACK_NEAR + i] >= 0)
        c->pin[c->npin++] = s->fb_near[(size_t)g * FALLBACK_NEAR + i];
  } else { /* not in it: by shared PIN prefix, then distance */
    struct gaz_near near[FALLBACK_NEAR];
    size_t n = s->gaz ? gaz_nearest(s->gaz, pincode, accept_known, (void *)d, FALLBACK_NEAR,
                                    near)
                      : 0;
    for (size_t i = 0; i < n; i++)
      c->pin[c->npin++] = ml_pin_index(d, near[i].e->pincode);
  }
}

/* The pincodes of the data set nearest to pincode index pin that sold in
 * its last 12 periods (its gazetteer neighbours, as the backtest's cold
 * pincodes are answered). */
static void lapsed_near(const struct dataset *d, long pin, struct cover *c) {
  for (int q = 0; q < ML_NEAR && c->npin < FALLBACK_NEAR; q++) {
    int32_t p = d->near[(size_t)pin * ML_NEAR + (size_t)q];
    if (p >= 0 && rows_pin_active(d, (size_t)p, 0))
      c->pin[c->npin++] = p;
  }
}

int suite_pin_cold(const struct suite *s, size_t pin, int hz) {
  return hz >= 1 && hz <= ML_HORIZONS && s->has_cold[hz - 1] && s->cold_lapsed &&
         !rows_pin_active(s->d, pin, 0);
}

/* Which pincodes answer for q's at horizon hz: the pincode itself when it
 * sold in the last 12 periods (or is of the data set and the suite has no
 * cold answer at hz); else it is cold (docs/models.md "Serving and
 * fallbacks"): the model on its own features when that serves cold
 * pincodes at hz, else its nearest pincodes with sales (whose average also
 * apportions a segment's share of the model's answer). */
static void resolve(const struct suite *s, const struct predict_query *q, int need_prod, int hz,
                    struct cover *c, struct predict_answer *a) {
  const struct dataset *d = s->d;
  c->npin = c->nprod = c->nchan = 0;
  c->cold = c->model = 0;
  long pin = ml_pin_index(d, q->pincode);
  int has_cold = hz >= 1 && hz <= ML_HORIZONS && s->has_cold[hz - 1];
  int by_model = need_prod && has_cold && s->cold_model[hz - 1] && s->demand;
  if (pin >= 0 && (!need_prod || !suite_pin_cold(s, (size_t)pin, hz))) {
    c->pin[c->npin++] = pin;
  } else {
    char buf[16];
    snprintf(buf, sizeof buf, "%06d", (int)q->pincode);
    c->cold = 1;
    if (pin >= 0) {
      lapsed_near(d, pin, c);
      if (by_model) {
        ml_pin_of(d, pin, &c->own);
        c->model = 1;
      }
    } else {
      outside_near(s, q->pincode, c);
      c->model = by_model && ml_pin_outside(d, s->gaz, (const float(*)[3])s->gaz_units,
                                            q->pincode, c->own_near, &c->own) == 0;
    }
    /* a pincode of the data set answered by the model from its own
     * features is no fallback (the model learned cold start); other
     * pincodes answering, or one outside the data set, is */
    if (pin < 0 || !c->model)
      note(a, "pincode", buf,
           c->model ? "has no sales in training: the model answers from its place (neighbours, "
                      "state, geography), as it learned pincodes without sales"
           : pin >= 0 ? "has no sale in the last 12 periods: the nearest pincodes with sales "
                        "answer"
                      : "has no sales in training: the nearest pincodes with sales answer");
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

/* Index of the horizon of features x, 0..ML_HORIZONS-1. */
static int horizon_index(const float *x) {
  int h = isnan(x[CF_HORIZON]) ? 1 : (int)x[CF_HORIZON];
  return h < 1 ? 0 : h > ML_HORIZONS ? ML_HORIZONS - 1 : h - 1;
}

/* The factor of the demand forest's forecast of features x
 * (docs/models.md "Product totals"). */
static double total_of(const struct suite *s, const float *x) {
  float k = x[CF_PRODUCT];
  if (!ml_total_scales(x) || !(k >= 0 && k < ML_MAX_PRODUCTS))
    return 1;
  double f = s->total[(int)k][horizon_index(x)];
  return f > 0 ? f : 1;
}

double ml_cell_mu(const struct suite *s, const float *x) {
  double mu;
  if (s->use_baseline[PREDICT_DEMAND])
    mu = ml_demand_baseline(x, s->use_baseline[PREDICT_DEMAND] - 1);
  else
    mu = ml_demand_forest_mu(s->demand, x) * total_of(s, x);
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

/* Sales of cell (pin, prod, chan, seg) in the last 12 periods. */
static double sold12(const struct dataset *d, long pin, int prod, int chan, int seg) {
  long cell = ml_cell_find(d, (int32_t)pin, prod, chan, seg);
  double n = 0;
  for (int t = 0; cell >= 0 && t < 12 && t < d->nper; t++)
    n += d->counts[(size_t)cell * (size_t)d->nper + (size_t)t];
  return n;
}

/* Segment seg's share of cell (prod, chan) for the pincode c answers for:
 * its share of the sales of the nearest pincodes' segment cells in the
 * last 12 periods, shrunk toward the product's national segment share by
 * two sales' weight. The shares of the ML_SEGMENTS segments add up to 1. */
static double cold_segment_share(const struct dataset *d, const struct cover *c, int prod,
                                 int chan, int seg) {
  size_t K = d->nprod, P = (size_t)d->nper;
  double nat = 0, nat_all = 0, part = 0, whole = 0;
  for (int g = 0; g < ML_SEGMENTS; g++) {
    const uint32_t *ns = d->nat_seg_prod + ((size_t)g * K + (size_t)prod) * P;
    double v = 0, local = 0;
    for (size_t t = 0; t < 12 && t < P; t++)
      v += ns[t];
    for (size_t i = 0; i < c->npin; i++)
      local += sold12(d, c->pin[i], prod, chan, g);
    nat_all += v;
    whole += local;
    if (g == seg) {
      nat = v;
      part = local;
    }
  }
  double prior = nat_all > 0 ? nat / nat_all : 1.0 / ML_SEGMENTS;
  return (part + 2 * prior) / (whole + 2);
}

/* The cold answer by the model of cell (prod, chan, seg) of the pincode c
 * answers for, hz periods ahead, before the cold scale; x gets the
 * features of the cell without segment. A segment's is the cell's times
 * the segment's share (cold_segment_share), so the segments add up to
 * their cell. */
static double cold_model_mu(const struct suite *s, const struct cover *c, int prod, int chan,
                            int seg, int hz, float *x) {
  const struct dataset *d = s->d;
  double share = seg == ML_SEG_TOTAL ? 1 : cold_segment_share(d, c, prod, chan, seg);
  ml_pin_cell_features(d, &c->own, prod, chan, ML_SEG_TOTAL, 0, hz, x);
  return ml_demand_forest_mu(s->demand, x) * share;
}

static void predict_cells(const struct suite *s, enum predict_kind kind,
                          const struct predict_query *q, int explain,
                          struct predict_answer *a) {
  const struct dataset *d = s->d;
  struct cover c;
  int hz = q->horizon >= 1 && q->horizon <= ML_HORIZONS ? q->horizon : 1;
  resolve(s, q, 1, hz, &c, a);
  int seg = q->has_customer ? ml_segment(q->customer_age, q->customer_income) : ML_SEG_TOTAL;
  enum ml_kind mk = seg == ML_SEG_TOTAL ? ML_TOTAL : ML_SEGMENT;
  /* a cold pincode: the intervals of the backtest's cold pincodes, as wide
   * as their errors (docs/models.md "Serving and fallbacks") */
  int cold = c.cold && s->has_cold[hz - 1];
  const struct demand_calib *cal = cold ? &s->dcal_cold[hz - 1] : &s->dcal[hz - 1][mk];
  float x[CF__COUNT];
  double mu_sum = 0, p_sum = 0, last_sum = 0;
  size_t n = 0;
  /* the pincodes the answer averages over: the pincode itself when the
   * model answers it */
  size_t npin = c.model ? 1 : c.npin;
  int single = npin * c.nprod * c.nchan == 1;
  for (size_t i = 0; i < npin; i++)
    for (size_t k = 0; k < c.nprod; k++)
      for (size_t h = 0; h < c.nchan; h++, n++) {
        int by_forest = c.model || !s->use_baseline[PREDICT_DEMAND];
        mu_sum += c.model ? cold_model_mu(s, &c, c.prod[k], c.chan[h], seg, hz, x)
                          : served_mu(s, c.pin[i], c.prod[k], c.chan[h], seg, hz, x);
        last_sum += isnan(x[CF_LAG1]) ? 0 : x[CF_LAG1];
        if (kind == PREDICT_RISE)
          p_sum += rise_raw(s, x, hz - 1);
        const struct forest *f = kind == PREDICT_DEMAND ? s->demand : s->rise;
        int served_by_f = kind == PREDICT_DEMAND ? by_forest : !s->use_baseline[kind];
        if (explain && single && f && served_by_f) {
          double cb[CF__COUNT + 1];
          if (forest_contribs(f, x, cb) == 0) {
            if (kind == PREDICT_DEMAND) /* the offset and product total, in log units */
              cb[CF_SEASON_BASE] += log(x[CF_SEASON_BASE]) + (c.model ? 0 : log(total_of(s, x)));
            drivers(cb, x, CF__COUNT, cell_name, d, a);
          }
        }
      }
  double mu = n ? mu_sum / (double)n : 0, last = n ? last_sum / (double)n : 0;
  if (cold) /* what such answers made of cold pincodes */
    mu *= s->cold_scale[hz - 1];
  a->last_period_demand = last;
  a->level = s->level;
  if (mu < 0)
    mu = 0;
  if (kind == PREDICT_DEMAND) {
    a->predicted_demand = mu;
    ml_demand_interval(cal, mu, &a->low, &a->high);
    a->confidence = ml_demand_confidence(cal, mu);
    a->source = c.model ? "model" : demand_sources[s->use_baseline[PREDICT_DEMAND]];
  } else {
    /* on the side of 1/2 of the demand answer's law (several cells, a
     * fallback: the average cell's; a cold pincode: with the dispersion of
     * its calibration) */
    double v = mu * (1 + cal->alpha * mu);
    a->probability = ml_rise_agree(n ? p_sum / (double)n : NAN, eval_count_above(mu, v, last));
    a->demand_rise = a->probability > 0.5;
    a->source = s->use_baseline[PREDICT_RISE] ? "baseline:poisson_moving_average_6" : "model";
  }
}

static void predict_top(const struct suite *s, const struct predict_query *q, int explain,
                        struct predict_answer *a) {
  const struct dataset *d = s->d;
  size_t K = d->nprod, nf = ml_cust_nfeatures(d);
  struct cover c;
  resolve(s, q, 0, 1, &c, a);
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
          for (size_t k = 0; k < K; k++)
            w += sold12(d, c.pin[i], (int)k, c.chan[h], seg);
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
    isotonic_release(&s->dcal_cold[h].conf);
    isotonic_release(&s->rise_cal[h]);
  }
  json_decref(s->report);
  json_decref(s->promotion);
  free(s->fb_near);
  free(s->gaz_units);
  suite_regions_free(s->reg);
  suite_insights_free(s->ins);
  free(s);
}

int suite_index(struct suite *s, struct gerr *err) {
  free(s->fb_near);
  free(s->gaz_units);
  s->fb_near = NULL;
  s->gaz_units = NULL;
  if (s->gaz && (dataset_gaz_nearest(s->d, s->gaz, FALLBACK_NEAR, &s->fb_near) < 0 ||
                 !(s->gaz_units = dataset_gaz_units(s->gaz))))
    return gerr_set(err, GERR_INTERNAL, "out of memory indexing the model");
  return suite_insights_build(s, err);
}

int64_t suite_version(const struct suite *s) { return s->version; }
const char *suite_trained_at(const struct suite *s) { return s->trained_at; }

json_t *suite_report(const struct suite *s) { return json_deep_copy(s->report); }

json_t *suite_summary(const struct suite *s, int64_t duration_ms) {
  json_t *r = suite_report(s);
  if (!r)
    return NULL;
  if (!json_is_object(r)) {
    json_t *o = json_pack("{s:o}", "report", r);
    if (!o)
      return NULL;
    r = o;
  }
  json_object_set_new(r, "version", json_integer((json_int_t)suite_version(s)));
  json_object_set_new(r, "trained_at", json_string(suite_trained_at(s)));
  json_object_set_new(r, "degraded", json_boolean(suite_degraded(s)));
  json_object_set_new(r, "duration_ms", json_integer((json_int_t)duration_ms));
  json_object_set_new(r, "serving", json_boolean(suite_serving(s)));
  json_t *p = suite_promotion(s);
  json_object_set_new(r, "promotion", p ? p : json_null());
  return r;
}

int suite_degraded(const struct suite *s) {
  for (int k = 0; k < PREDICT__COUNT; k++)
    if (s->use_baseline[k])
      return 1;
  return 0;
}
