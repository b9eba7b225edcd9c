/* The demand model: its rolling-origin backtest (the figures of /models
 * "backtest"), promotion against the baselines, the interval calibration
 * of each horizon, and the model that serves, refitted on every row.
 *
 * The backtest: the as-of dates of the last BT_MONTHS periods are split in
 * windows of BT_REFIT. Each window has a model of its own, trained only on
 * rows whose target period ended by the window's first as-of date (its
 * cutoff) and stopped early on the rows whose target is the last period
 * before it; that model forecasts every as-of date of the window at every
 * horizon. No backtest figure is computed from a model that saw its
 * target, and no calibration figure from the calibration fitted on it
 * (cross-fitted by cell halves). Segment forecasts are reconciled with
 * their cell's, as served; the baselines (gromo/evaluate.h) are those of
 * serving and the benchmarks; the figures are those of cells and, after
 * the regions, of their sums by pincode, region and state.
 * docs/evaluation.md describes the report. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/buf.h"
#include "gromo/gazetteer.h"
#include "gromo/timeutil.h"
#include "ml/train_int.h"

#define BT_MONTHS 12
#define BT_REFIT 3
#define BT_FOLDS (BT_MONTHS / BT_REFIT)
/* Training rows of one backtest model, at most (sampled). */
#define BT_FOLD_ROWS 150000
#define NBASE ML_DEMAND_BASELINES

void ml_demand_history(const float *x, struct eval_history *out) {
  double parent = isnan(x[CF_SEG_SHARE])
                      ? eval_parent_rate(x[CF_PIN_MA6], x[CF_PIN_PROD_SHARE], x[CF_PIN_CHAN_SHARE])
                      : eval_parent_rate(x[CF_PARENT_MA6], x[CF_SEG_SHARE], 1);
  *out = (struct eval_history){x[CF_LAG1], x[CF_MA3], x[CF_MA6], x[CF_MA12],
                               x[CF_SEASONAL_NAIVE], parent};
}

double ml_demand_baseline(const float *x, int which) {
  struct eval_history hh;
  ml_demand_history(x, &hh);
  return eval_baseline(&hh, which);
}

double ml_rise_baseline(const float *x) {
  double last = isnan(x[CF_LAG1]) ? 0 : x[CF_LAG1];
  return eval_poisson_above(ml_demand_baseline(x, EVAL_BASE_MA6), last);
}

/* ---- calibration ---- */

static double nb_central_cover(double mu, double alpha, double nominal, long y) {
  long lo = ml_nb_quantile(mu, alpha, (1 - nominal) / 2);
  long hi = ml_nb_quantile(mu, alpha, (1 + nominal) / 2);
  return y >= lo && y <= hi;
}

/* The least central level of NB(mu, alpha) whose coverage of the rows
 * idx[0..n) in bands from .. to - 1 (ml_demand_band: those expecting a
 * sale or more) reaches `level`; of all of them with `every`. Rows count
 * with their weights wt (NULL: 1). */
static double nominal_fit(const double *y, const double *mu, const double *wt, const size_t *idx,
                          size_t n, double alpha, double level, int from, int to, int every) {
  double lo = 0.01, hi = 0.9999;
  for (int it = 0; it < 30; it++) {
    double mid = (lo + hi) / 2, cov = 0, cnt = 0;
    for (size_t t = 0; t < n; t++) {
      double m = mu[idx[t]], w = wt ? wt[idx[t]] : 1;
      int b = ml_demand_band(m);
      if (every || (b >= from && b < to)) {
        cov += w * nb_central_cover(m, alpha, mid, (long)y[idx[t]]);
        cnt += w;
      }
    }
    if (cnt && cov / cnt >= level)
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

/* The fewest cells expecting a sale or more that get a level of their own. */
#define BAND_MIN 50

int demand_calib_fit(const double *y, const double *mu, const double *wt, const size_t *idx,
                     size_t n, double level, struct demand_calib *c) {
  double num = 0, den = 0;
  for (size_t t = 0; t < n; t++) {
    size_t i = idx[t];
    double w = wt ? wt[i] : 1;
    num += w * ((y[i] - mu[i]) * (y[i] - mu[i]) - mu[i]);
    den += w * mu[i] * mu[i];
  }
  c->alpha = den > 0 && num > 0 ? num / den : 0;
  if (c->alpha > 50)
    c->alpha = 50;
  /* nominal: the least central level whose coverage reaches `level`, on
   * the cells expecting a sale or more. Below that most cells realise 0,
   * which any interval from 0 covers whatever its level, so they would
   * drag the level down for the cells where an interval says something. */
  size_t m = 0, nb[ML_DEMAND_BANDS] = {0};
  for (size_t t = 0; t < n; t++)
    if (mu[idx[t]] >= INFORMATIVE_MU) {
      m++;
      nb[ml_demand_band(mu[idx[t]])]++;
    }
  c->nominal = nominal_fit(y, mu, wt, idx, n, c->alpha, level, 0, ML_DEMAND_BANDS, m < 30);
  /* The same per band of expected demand: a count's law is discrete, so
   * one level covers cells of different means differently (at 1.6 the
   * central interval leaves out 0 at a level where at 1.1 it keeps it), and
   * a pooled level covers the cells that serving expects as it covered
   * those of the backtest only when both have the same mix of means. From
   * the highest band: one with BAND_MIN such cells or more gets a level of
   * its own, one with fewer shares it with the bands above that had fewer
   * too; those of the lowest left over keep the pooled level (0), as the
   * cells expecting less than a sale do. */
  memset(c->band, 0, sizeof c->band);
  size_t acc = 0;
  int top = ML_DEMAND_BANDS;
  for (int b = ML_DEMAND_BANDS - 1; b >= 0; b--) {
    acc += nb[b];
    if (acc < BAND_MIN)
      continue;
    double v = nominal_fit(y, mu, wt, idx, n, c->alpha, level, b, top, 0);
    for (int q = b; q < top; q++)
      c->band[q] = v;
    top = b;
    acc = 0;
  }
  size_t cap = n ? n : 1;
  double *raw = malloc(cap * sizeof *raw), *hit = malloc(cap * sizeof *hit);
  double *w = wt ? malloc(cap * sizeof *w) : NULL;
  if (!raw || !hit || (wt && !w)) {
    free(raw);
    free(hit);
    free(w);
    return -1;
  }
  for (size_t t = 0; t < n; t++) {
    size_t i = idx[t];
    raw[t] = ml_demand_confidence_raw(c->alpha, mu[i]);
    hit[t] = fabs(y[i] - mu[i]) <= fmax(0.25 * mu[i], 1.0);
    if (w)
      w[t] = wt[i];
  }
  isotonic_release(&c->conf);
  int rc = n ? isotonic_fit(raw, hit, w, n, &c->conf) : -1;
  free(raw);
  free(hit);
  free(w);
  return rc;
}

/* Cross-fitted intervals and confidence: each half of the rows gets the
 * calibration fitted on the other. */
struct xfit {
  const double *y, *mu;
  double level;
  struct demand_calib c;
  double *lo, *hi, *conf; /* per row */
};
static int xfit_fit(void *ctx, int f, const size_t *idx, size_t n) {
  struct xfit *x = ctx;
  (void)f;
  isotonic_release(&x->c.conf);
  memset(&x->c, 0, sizeof x->c);
  x->c.nominal = x->level;
  return n == 0 || demand_calib_fit(x->y, x->mu, NULL, idx, n, x->level, &x->c) == 0 ? 0 : -1;
}
static int xfit_apply(void *ctx, int f, const size_t *idx, size_t n) {
  struct xfit *x = ctx;
  (void)f;
  for (size_t t = 0; t < n; t++) {
    size_t i = idx[t];
    ml_demand_interval(&x->c, x->mu[i], &x->lo[i], &x->hi[i]);
    x->conf[i] = ml_demand_confidence(&x->c, x->mu[i]);
  }
  return 0;
}

/* ---- the backtest's accumulators ---- */

struct acc {
  double n, mu, y, dev, ae;
  double bmu[NBASE], bdev[NBASE], bae[NBASE];
  double n_inf, cov_inf, n_real, cov_real, n_low, cov_low, iscore;
};

/* The model's mean is raised to EVAL_POISSON_MU_MIN for the logarithm (a
 * guard: the Poisson model's exp(score) is positive); the baselines never
 * reach it (EVAL_BASE_FLOOR). */
static double dev_term(double y, double mu) { return eval_poisson_term(y, mu); }

/* One forecast (of a cell, or of a sum of cells) beside the baselines'. */
static void acc_point(struct acc *a, double y, double mu, const double *bmu) {
  a->n++;
  a->mu += mu;
  a->y += y;
  a->dev += dev_term(y, mu);
  a->ae += fabs(y - mu);
  for (int b = 0; b < NBASE; b++) {
    a->bmu[b] += bmu[b];
    a->bdev[b] += dev_term(y, bmu[b]);
    a->bae[b] += fabs(y - bmu[b]);
  }
}

static void acc_add(struct acc *a, double y, double mu, const double *bmu, double lo, double hi,
                    double alpha_iv) {
  acc_point(a, y, mu, bmu);
  int in = y >= lo && y <= hi;
  if (mu >= INFORMATIVE_MU) {
    a->n_inf++;
    a->cov_inf += in;
  } else {
    a->n_low++;
    a->cov_low += in;
  }
  if (y >= 1) {
    a->n_real++;
    a->cov_real += in;
  }
  a->iscore += (hi - lo) + (y < lo ? 2 / alpha_iv * (lo - y) : 0) +
               (y > hi ? 2 / alpha_iv * (y - hi) : 0);
}

static void acc_merge(struct acc *dst, const struct acc *src) {
  double *d = (double *)dst;
  const double *s = (const double *)src;
  for (size_t i = 0; i < sizeof *dst / sizeof(double); i++)
    d[i] += s[i];
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* The figures of the model and of every baseline, without the intervals:
 * bias, WAPE (sum |y - mu| / sum y), MAE, mean Poisson deviance, the best
 * baseline by deviance and the skill against it. `count` names the count
 * member ("cells" or "units"). */
static json_t *acc_point_json(const struct acc *a, const char *count) {
  json_t *bases = json_object();
  int best = 0;
  for (int b = 0; b < NBASE; b++) {
    json_object_set_new(bases, eval_baseline_names[b],
                        json_pack("{s:o,s:o,s:o,s:o}", "bias", rep_num(ratio(a->bmu[b], a->y) - 1),
                                  "wape", rep_num(ratio(a->bae[b], a->y)), "poisson_deviance",
                                  rep_num(ratio(a->bdev[b], a->n)), "mae",
                                  rep_num(ratio(a->bae[b], a->n))));
    if (a->bdev[b] < a->bdev[best])
      best = b;
  }
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o}", count, (json_int_t)a->n,
                   "mean_predicted", rep_num(ratio(a->mu, a->n)), "mean_realized",
                   rep_num(ratio(a->y, a->n)), "bias", rep_num(ratio(a->mu, a->y) - 1), "wape",
                   rep_num(ratio(a->ae, a->y)), "poisson_deviance", rep_num(ratio(a->dev, a->n)),
                   "mae", rep_num(ratio(a->ae, a->n)), "baselines", bases, "best_baseline",
                   eval_baseline_names[best], "skill", rep_num(1 - ratio(a->dev, a->bdev[best])));
}

static json_t *acc_json(const struct acc *a) {
  json_t *o = acc_point_json(a, "cells");
  json_t *iv = json_pack(
      "{s:I,s:o,s:I,s:o,s:I,s:o,s:o}", "cells_expected_1_or_more", (json_int_t)a->n_inf,
      "interval_coverage_expected_1_or_more", rep_num(ratio(a->cov_inf, a->n_inf)),
      "cells_realized_1_or_more", (json_int_t)a->n_real, "interval_coverage_realized_1_or_more",
      rep_num(ratio(a->cov_real, a->n_real)), "cells_expected_below_1", (json_int_t)a->n_low,
      "interval_coverage_expected_below_1", rep_num(ratio(a->cov_low, a->n_low)),
      "interval_score", rep_num(ratio(a->iscore, a->n)));
  if (o && iv)
    json_object_update(o, iv);
  json_decref(iv);
  return o;
}

/* ---- the backtest's models ---- */

struct fold {
  int cutoff; /* as-of origin of its window's first date */
  int rounds;
  size_t ntrain;
  struct forest *f;
  /* per origin of its window (cutoff - origin), product and horizon - 1:
   * the factor of its forecasts (docs/models.md "Product totals") */
  float total[BT_REFIT][ML_MAX_PRODUCTS][ML_HORIZONS];
};

/* ---- product totals (docs/models.md "Product totals") ---- */
#define TOTAL_MIN 0.5
#define TOTAL_MAX 2.0

/* The factor that makes forecasts adding up to mu add up to rho times
 * their seasonal baselines' sum base; 1 without either sum. */
static double total_factor(double rho, double base, double mu) {
  if (!(mu > 0) || !(base > 0))
    return 1;
  return fmin(fmax(rho * base / mu, TOTAL_MIN), TOTAL_MAX);
}

/* ---- which rows a demand model learns from ----
 * A row's seasonal baseline carries the product's national season only
 * with a year and a quarter of daily sales before its origin (the feature
 * CF_SEASON_RATIO is missing otherwise). Rows of both kinds in one model
 * teach its trees the calendar twice: from the rows without it, the month
 * feature learns each peak, and applied on top of an offset that already
 * holds the peak it doubles it (and deepens each trough). So a model
 * learns from the rows whose baseline is of the kind of the rows it
 * forecasts: with the season, when most of those have it and at least
 * SEASON_MIN_ROWS of its candidate rows do; else from every row. */
#define SEASON_MIN_ROWS 2000

static int season_known(const struct rows *r, size_t i) {
  return !isnan(r->X[i * r->nf + CF_SEASON_RATIO]);
}

/* Whether the serving forecasts (origin 0) carry the season: most
 * products' at most horizons. */
static int serving_seasoned(const struct dataset *d) {
  float x[CF__COUNT];
  int known = 0, all = 0;
  for (size_t k = 0; d->npin && d->nchan && k < d->nprod; k++)
    for (int h = 1; h <= ML_HORIZONS; h++, all++) {
      ml_cell_features(d, 0, (int)k, 0, ML_SEG_TOTAL, 0, h, x);
      known += !isnan(x[CF_SEASON_RATIO]);
    }
  return 2 * known > all;
}

/* A selection of rows: those `test` keeps, and with `seasoned` only those
 * whose baseline carries the season. */
struct pick {
  int (*test)(const struct rows *, size_t, int);
  int arg;
  int seasoned;
};

static int picked(const struct rows *r, size_t i, const struct pick *p) {
  return (!p->test || p->test(r, i, p->arg)) && (!p->seasoned || season_known(r, i));
}

/* Whether a model that forecasts the rows `judged` keeps learns from the
 * seasoned rows among those `learn` keeps. */
static int learn_seasoned(const struct rows *r, int (*judged)(const struct rows *, size_t, int),
                          int jarg, int (*learn)(const struct rows *, size_t, int), int larg) {
  size_t nj = 0, kj = 0, kl = 0;
  for (size_t i = 0; i < r->n; i++) {
    int k = season_known(r, i);
    if (judged(r, i, jarg)) {
      nj++;
      kj += k;
    }
    if (k && learn(r, i, larg))
      kl++;
  }
  return 2 * kj > nj && kl >= SEASON_MIN_ROWS;
}

/* The same for the serving model, which forecasts origin 0 and learns
 * from every row. */
static int refit_seasoned(const struct dataset *d, const struct rows *r) {
  size_t kl = 0;
  for (size_t i = 0; i < r->n; i++)
    kl += season_known(r, i);
  return serving_seasoned(d) && kl >= SEASON_MIN_ROWS;
}

/* Rows of w->all that p picks (every row: p NULL) into a dense copy (X,
 * y) with their offsets (rows_offset). Rows past `cap` are sampled away.
 * 0 or -1 (out of memory). */
static int take_rows(const struct rows *r, const struct pick *p, size_t cap, uint64_t seed,
                     float **X, float **y, float **off, size_t *n) {
  size_t m = 0;
  for (size_t i = 0; i < r->n; i++)
    m += !p || picked(r, i, p);
  double rate = m > cap ? (double)cap / (double)m : 1;
  *X = malloc((m ? m : 1) * r->nf * sizeof **X);
  *y = malloc((m ? m : 1) * sizeof **y);
  *off = malloc((m ? m : 1) * sizeof **off);
  if (!*X || !*y || !*off)
    return -1;
  *n = 0;
  for (size_t i = 0; i < r->n; i++) {
    if ((p && !picked(r, i, p)) || (rate < 1 && ml_unit((uint64_t)i ^ seed) >= rate))
      continue;
    memcpy(*X + *n * r->nf, r->X + i * r->nf, r->nf * sizeof **X);
    (*y)[*n] = r->y[i];
    (*off)[*n] = rows_offset(r, i);
    (*n)++;
  }
  return 0;
}

static int target_after(const struct rows *r, size_t i, int c) { return rows_target(r, i) > c; }
static int target_at(const struct rows *r, size_t i, int c) { return rows_target(r, i) == c; }


/* The window of cutoff c: as-of origins c - BT_REFIT + 1 .. c (at least 1). */
static int in_window(int origin, int c) { return origin <= c && origin > c - BT_REFIT; }
static int in_window_of(const struct rows *r, size_t i, int c) {
  return in_window(r->origin[i], c);
}

/* The forecasts of a window's rows idx[] into mu. */
struct window_pred {
  const struct forest *f;
  const struct rows *r;
  double *mu;
  size_t *idx;
};

/* Rows idx[from .. to - 1], copied a block at a time for one batch. */
static void window_predict(void *ctx, size_t from, size_t to) {
  enum { BLOCK = 64 };
  const struct window_pred *wp = ctx;
  float x[BLOCK * CF__COUNT];
  double m[BLOCK];
  for (size_t t0 = from; t0 < to; t0 += BLOCK) {
    size_t k = to - t0 < BLOCK ? to - t0 : BLOCK;
    for (size_t t = 0; t < k; t++)
      memcpy(x + t * CF__COUNT, wp->r->X + wp->idx[t0 + t] * wp->r->nf, CF__COUNT * sizeof *x);
    ml_demand_forest_mu_rows(wp->f, x, k, m);
    for (size_t t = 0; t < k; t++)
      wp->mu[wp->idx[t0 + t]] = m[t];
  }
}

/* The factor of fold fo's forecast of features x at origin j. */
static double fold_total(const struct fold *fo, int j, const float *x) {
  if (!ml_total_scales(x))
    return 1;
  return fo->total[fo->cutoff - j][(int)x[CF_PRODUCT]][(int)x[CF_HORIZON] - 1];
}

/* The factors of fold fo's forecasts mu of its window's rows idx[n], and
 * those forecasts times them: per origin, product and horizon, the
 * forecasts of the cells without segment that sold in the 12 periods up
 * to the origin add up to the product's ratio of sales to baseline over
 * the rows the fold learned from (rows_total_ratio) times their
 * baselines. 1 for a model without the season (its trees carry it, not
 * its baselines). Segment rows follow their cell in bt_reconcile. */
static void fold_totals(const struct rows *r, struct fold *fo, int seasoned, const size_t *idx,
                        size_t n, double *mu) {
  double base[BT_REFIT][ML_MAX_PRODUCTS][ML_HORIZONS] = {{{0}}};
  double sum[BT_REFIT][ML_MAX_PRODUCTS][ML_HORIZONS] = {{{0}}};
  for (size_t t = 0; seasoned && t < n; t++) {
    size_t i = idx[t];
    if (!ml_total_scales(r->X + i * r->nf) || isnan(mu[i]))
      continue;
    size_t w = (size_t)(fo->cutoff - r->origin[i]), k = r->key[i] >> 16 & 0xff;
    base[w][k][r->h[i] - 1] += r->X[i * r->nf + CF_SEASON_BASE];
    sum[w][k][r->h[i] - 1] += mu[i];
  }
  for (int k = 0; k < ML_MAX_PRODUCTS; k++)
    for (int h = 0; h < ML_HORIZONS; h++) {
      double rho = seasoned && k < r->gprods ? rows_total_ratio(r, k, h + 1, fo->cutoff) : 1;
      for (int w = 0; w < BT_REFIT; w++) /* 1 without sums: no model with the season */
        fo->total[w][k][h] = (float)total_factor(rho, base[w][k][h], sum[w][k][h]);
    }
  for (size_t t = 0; t < n; t++)
    mu[idx[t]] *= fold_total(fo, r->origin[idx[t]], r->X + idx[t] * r->nf);
}

/* Trains the model of cutoff c and predicts its window into mu (rows of
 * the window; NaN elsewhere is left alone). 1 when the fold has too little
 * data (nothing done), 0, -1. */
static int fold_run(struct work *w, struct fold *fo, double *mu, struct gerr *err) {
  const struct rows *r = &w->all;
  float *X = NULL, *y = NULL, *Xv = NULL, *yv = NULL, *m = NULL, *mv = NULL;
  size_t n = 0, nv = 0;
  int rc = -1;
  int seasoned = learn_seasoned(r, in_window_of, fo->cutoff, target_after, fo->cutoff);
  struct pick learn = {target_after, fo->cutoff, seasoned},
              stop = {target_at, fo->cutoff, seasoned};
  if (take_rows(r, &learn, BT_FOLD_ROWS, w->cfg->seed ^ 0xb7, &X, &y, &m, &n) < 0 ||
      take_rows(r, &stop, BT_FOLD_ROWS / 4, w->cfg->seed ^ 0xb8, &Xv, &yv, &mv, &nv) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  /* the window's forecasts: the cells of pincodes with sales (cold rows
   * are judged by cold_eval, on every cold cell) */
  size_t nwin = 0;
  for (size_t i = 0; i < r->n; i++)
    nwin += in_window(r->origin[i], fo->cutoff) && !r->cold[i];
  if (n < 100 || nwin == 0) {
    rc = 1;
    goto out;
  }
  const struct train_config *cfg = w->cfg;
  struct xgb_params xp = {"count:poisson", 1, cfg->rounds, cfg->depth, cfg->threads, 0.2,
                          cfg->seed, nv >= 30 ? EARLY_STOP : 0};
  fo->rounds = nv >= 30 ? cfg->rounds : cfg->rounds / 2 + 1;
  xp.rounds = fo->rounds;
  if (xgb_train_offset(&xp, X, y, m, n, CF__COUNT, Xv, yv, mv, nv >= 30 ? nv : 0, &fo->f,
                       &fo->rounds, err) < 0)
    goto out;
  fo->ntrain = n;
  struct window_pred wp = {fo->f, r, mu, malloc(nwin * sizeof *wp.idx)};
  if (!wp.idx) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  nwin = 0;
  for (size_t i = 0; i < r->n; i++)
    if (in_window(r->origin[i], fo->cutoff) && !r->cold[i])
      wp.idx[nwin++] = i;
  ml_parallel(nwin, cfg->threads, window_predict, &wp);
  fold_totals(r, fo, seasoned, wp.idx, nwin, mu);
  free(wp.idx);
  rc = 0;
out:
  free(X);
  free(y);
  free(Xv);
  free(yv);
  free(m);
  free(mv);
  return rc;
}

/* ---- the intervals' calibration in the report ---- */

/* The cells a calibration of the cells without segment was fitted on
 * (bt_calibrate): backtest rows, those of them expecting a sale or more,
 * extra cells drawn and their draw rate. */
struct calset {
  size_t rows, rows_inf, extra;
  double q;
};

static json_t *calib_json(int h, const char *cells, const struct demand_calib *c,
                          const struct calset *cs) {
  json_t *bands = json_array();
  for (int b = 0; b < ML_DEMAND_BANDS; b++) {
    double below = ml_demand_band_from(b + 1);
    json_array_append_new(
        bands, json_pack("{s:f,s:o,s:o}", "expected_from", ml_demand_band_from(b),
                         "expected_below", isfinite(below) ? json_real(below) : json_null(),
                         "nominal_level", rep_num(ml_demand_band_level(c, b))));
  }
  json_t *o = json_pack("{s:i,s:s,s:o,s:o,s:o}", "horizon", h, "cells", cells, "dispersion",
                        rep_num(c->alpha), "nominal_level", rep_num(c->nominal), "bands", bands);
  if (o && cs)
    json_object_set_new(o, "fitted_on",
                        json_pack("{s:I,s:I,s:I,s:o}", "backtest_cells", (json_int_t)cs->rows,
                                  "backtest_cells_expecting_1_or_more",
                                  (json_int_t)cs->rows_inf, "extra_cells",
                                  (json_int_t)cs->extra, "extra_draw_rate", rep_num(cs->q)));
  return o;
}

/* Per horizon, for the cells without and with segment and the cold
 * pincodes (when they have a calibration of their own): the dispersion,
 * the pooled nominal level and the level each band of expected demand is
 * served with (docs/models.md "Calibration"). */
static json_t *intervals_json(const struct suite *s, const struct calset cs[ML_HORIZONS]) {
  json_t *out = json_array();
  for (int h = 1; h <= ML_HORIZONS; h++) {
    json_array_append_new(out,
                          calib_json(h, "without_segment", &s->dcal[h - 1][ML_TOTAL], &cs[h - 1]));
    json_array_append_new(out, calib_json(h, "segment", &s->dcal[h - 1][ML_SEGMENT], NULL));
    if (s->has_cold[h - 1])
      json_array_append_new(out, calib_json(h, "cold_pincodes", &s->dcal_cold[h - 1], NULL));
  }
  return out;
}

/* The serving factors s->total (docs/models.md "Product totals"): per
 * product and horizon, those that make the serving model's forecasts of
 * the cells without segment that sold in the 12 periods up to the as-of
 * date (origin 0) add up to the product's ratio of sales to baseline over
 * every row it learned from times their baselines; 1 for a model without
 * the season. Returns them for the report, with those ratios. */
static json_t *serving_totals(struct work *w, int seasoned) {
  const struct dataset *d = w->d;
  struct suite *s = w->s;
  double base[ML_MAX_PRODUCTS][ML_HORIZONS] = {{0}}, sum[ML_MAX_PRODUCTS][ML_HORIZONS] = {{0}};
  float x[CF__COUNT];
  for (size_t p = 0; seasoned && p < d->npin; p++) {
    if (!rows_pin_active(d, p, 0))
      continue;
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t ch = 0; ch < d->nchan; ch++)
        for (int h = 1; h <= ML_HORIZONS; h++) {
          ml_cell_features(d, (long)p, (int)k, (int)ch, ML_SEG_TOTAL, 0, h, x);
          if (!ml_total_scales(x))
            continue;
          base[k][h - 1] += x[CF_SEASON_BASE];
          sum[k][h - 1] += ml_demand_forest_mu(s->demand, x);
        }
  }
  json_t *out = json_array();
  for (size_t k = 0; k < ML_MAX_PRODUCTS; k++)
    for (int h = 1; h <= ML_HORIZONS; h++) {
      double rho = rows_total_ratio(&w->all, (int)k, h, -1);
      s->total[k][h - 1] = seasoned ? total_factor(rho, base[k][h - 1], sum[k][h - 1]) : 1;
      if (k < d->nprod)
        json_array_append_new(out, json_pack("{s:s,s:i,s:o,s:o}", "product", d->prod[k],
                                             "horizon", h,
                                             "ratio", seasoned ? rep_num(rho) : json_null(),
                                             "factor", rep_num(s->total[k][h - 1])));
    }
  return out;
}

/* ---- cold pincodes: those of the data without a sale up to an as-of date
 * (their first sale came later), forecast as serving may answer them: by
 * the window's model on the pincode's own features (which read as those of
 * a pincode outside the data set), and by the average of its nearest
 * pincodes with sales then; judged on every product and channel in the
 * target period, zeros included, beside the national average per pincode
 * ---- */

static int pin_cold(const struct dataset *d, size_t pin, int b) {
  const uint32_t *s = d->pin_all + pin * (size_t)d->nper;
  for (int a = b; a < d->nper; a++)
    if (s[a])
      return 0;
  return 1;
}

/* The cold cells' forecasts and outcomes of one horizon, for the choice of
 * what serves them and the calibration of their intervals. */
struct cold_rows {
  struct cold_row *r;
  size_t n, cap;
  int oom;
};

static void cold_push(struct cold_rows *c, struct cold_row row) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 1024;
    struct cold_row *nr = realloc(c->r, cap * sizeof *nr);
    if (!nr) {
      c->oom = 1;
      return;
    }
    c->r = nr;
    c->cap = cap;
  }
  c->r[c->n++] = row;
}

/* One cold forecast into a (its national-average baseline at bmu[0]). */
static void cold_acc(struct acc *a, double y, double mu, double base) {
  a->n++;
  a->mu += mu;
  a->y += y;
  a->dev += dev_term(y, mu);
  a->ae += fabs(y - mu);
  a->bmu[0] += base;
  a->bdev[0] += dev_term(y, base);
  a->bae[0] += fabs(y - base);
}

static void cold_eval(const struct dataset *d, const struct fold *fo, int b, int h,
                      struct acc out[COLD__SOURCES], struct cold_rows *rows) {
  const struct forest *f = fo->f;
  size_t K = d->nprod, C = d->nchan, P = (size_t)d->nper;
  int t = b - h;
  /* the baseline: the national demand per pincode with sales, by cell */
  size_t nwarm = 0;
  for (size_t i = 0; i < d->npin; i++)
    nwarm += rows_pin_active(d, i, b);
  double nat[ML_MAX_PRODUCTS * ML_MAX_CHANNELS] = {0};
  for (size_t c = 0; c < d->ncell; c++) {
    uint64_t key = d->cell_key[c];
    if ((key & 0xff) != ML_SEG_TOTAL)
      continue;
    for (int a = b; a < b + 3 && a < d->nper; a++)
      nat[((key >> 16) & 0xff) * C + ((key >> 8) & 0xff)] += d->counts[c * P + (size_t)a];
  }
  if (nwarm == 0)
    return;
  float x[CF__COUNT];
  for (size_t i = 0; i < d->npin; i++) {
    if (!pin_cold(d, i, b))
      continue;
    long near[SUITE_FALLBACK_NEAR];
    size_t nn = 0;
    for (int q = 0; q < ML_NEAR && nn < SUITE_FALLBACK_NEAR; q++) {
      int32_t p = d->near[i * ML_NEAR + (size_t)q];
      if (p >= 0 && rows_pin_active(d, (size_t)p, b))
        near[nn++] = p;
    }
    if (nn == 0)
      continue;
    for (size_t k = 0; k < K; k++)
      for (size_t ch = 0; ch < C; ch++) {
        long cell = ml_cell_find(d, (int32_t)i, (int)k, (int)ch, ML_SEG_TOTAL);
        double y = cell >= 0 ? d->counts[(size_t)cell * P + (size_t)t] : 0, mu = 0;
        for (size_t q = 0; q < nn; q++) {
          ml_cell_features(d, near[q], (int)k, (int)ch, ML_SEG_TOTAL, b, h, x);
          mu += ml_demand_forest_mu(f, x) * fold_total(fo, b, x); /* as served */
        }
        mu /= (double)nn;
        ml_cell_features(d, (long)i, (int)k, (int)ch, ML_SEG_TOTAL, b, h, x);
        double own = ml_demand_forest_mu(f, x);
        double base = fmax(nat[k * C + ch] / (3.0 * (double)nwarm), EVAL_BASE_FLOOR);
        cold_acc(&out[COLD_NEAREST], y, mu, base);
        cold_acc(&out[COLD_MODEL], y, own, base);
        cold_push(rows, (struct cold_row){y, {mu, own}, base,
                                          (int)(ml_mix((uint64_t)d->pins[i]) & 1)});
      }
  }
}

static json_t *cold_json(const struct acc *a) {
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o},s:o}", "cells", (json_int_t)a->n,
                   "mean_predicted", rep_num(ratio(a->mu, a->n)), "mean_realized",
                   rep_num(ratio(a->y, a->n)), "bias", rep_num(ratio(a->mu, a->y) - 1),
                   "poisson_deviance", rep_num(ratio(a->dev, a->n)), "mae",
                   rep_num(ratio(a->ae, a->n)), "baseline_national_average", "bias",
                   rep_num(ratio(a->bmu[0], a->y) - 1), "poisson_deviance",
                   rep_num(ratio(a->bdev[0], a->n)), "mae", rep_num(ratio(a->bae[0], a->n)),
                   "skill", rep_num(1 - ratio(a->dev, a->bdev[0])));
}

/* ---- the whole step ---- */

/* IST date of day number `day` into out[11]. */
static void day_str(int64_t day, char out[11]) { ist_format_date(day * DAY_MS, out); }

/* Holdout figures of one cell kind: the rows of idx (as-of the last period,
 * the next one), with their cross-fitted intervals and confidence. */
static json_t *kind_json(const struct demand_calib *served, const double *y, const double *mu,
                         const struct xfit *xf, const size_t *idx, size_t n) {
  double cov = 0, icov = 0;
  size_t in = 0;
  double *conf = malloc((n ? n : 1) * sizeof *conf);
  unsigned char *hit = malloc(n ? n : 1);
  struct calib_report cr = {0};
  cr.ece = cr.max_gap = NAN;
  for (size_t t = 0; conf && hit && t < n; t++) {
    size_t i = idx[t];
    int c = y[i] >= xf->lo[i] && y[i] <= xf->hi[i];
    cov += c;
    if (mu[i] >= INFORMATIVE_MU) {
      icov += c;
      in++;
    }
    conf[t] = xf->conf[i];
    hit[t] = fabs(y[i] - mu[i]) <= fmax(0.25 * mu[i], 1.0);
  }
  if (!conf || !hit || !n || eval_calibration(conf, hit, n, 10, &cr) < 0)
    cr.ece = cr.max_gap = NAN;
  free(conf);
  free(hit);
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "cells", (json_int_t)n, "interval_coverage",
                   rep_num(n ? cov / (double)n : NAN), "interval_coverage_expected_1_or_more",
                   rep_num(in ? icov / (double)in : NAN), "confidence_calibration_error",
                   rep_num(cr.ece), "confidence_max_decile_gap", rep_num(cr.max_gap),
                   "dispersion", rep_num(served->alpha), "nominal_level",
                   rep_num(served->nominal));
}

struct bt {
  struct work *w;
  size_t n;
  double *mu, *serve, *y, *bmu; /* bmu: n x NBASE */
  double *lo, *hi, *conf;       /* cross-fitted, per row */
  size_t *idx;
  struct fold folds[BT_FOLDS];
  int nfolds;
  int best_base, promoted;
  double dev_all, bdev_all; /* mean deviance of every backtest row: the
                               model's, the best baseline's */
  struct acc month[BT_MONTHS + 1][ML_HORIZONS][ML_MAX_PRODUCTS + 1]; /* [b][h-1][prod or K] */
  /* the cold cells' forecasts, [enum cold_source]: as forecast, and
   * scaled (cross-fitted) */
  struct acc cold[ML_HORIZONS][COLD__SOURCES];
  struct cold_rows crow[ML_HORIZONS];
  struct acc cold_scaled[ML_HORIZONS][COLD__SOURCES];
  struct cold_choice cold_pick[ML_HORIZONS];
  /* coverage on the cold cells expecting >= 1 sale: of the intervals of
   * the other cells, and of their own (fitted on them) */
  double cold_cov_warm[ML_HORIZONS], cold_cov_own[ML_HORIZONS];
  double cold_cov_warm_all[ML_HORIZONS], cold_cov_own_all[ML_HORIZONS]; /* every cold cell */
  size_t cold_inf[ML_HORIZONS];
  struct calset calset[ML_HORIZONS]; /* of the cells without segment */
};

static void bt_free(struct bt *b) {
  free(b->mu);
  free(b->serve);
  free(b->y);
  free(b->bmu);
  free(b->lo);
  free(b->hi);
  free(b->conf);
  free(b->idx);
  for (int f = 0; f < b->nfolds; f++)
    forest_free(b->folds[f].f);
  for (int h = 0; h < ML_HORIZONS; h++)
    free(b->crow[h].r);
  free(b);
}

static int bt_alloc(struct bt *b, size_t n) {
  b->n = n;
  b->mu = malloc((n ? n : 1) * sizeof *b->mu);
  b->serve = malloc((n ? n : 1) * sizeof *b->serve);
  b->y = malloc((n ? n : 1) * sizeof *b->y);
  b->bmu = malloc((n ? n : 1) * NBASE * sizeof *b->bmu);
  b->lo = malloc((n ? n : 1) * sizeof *b->lo);
  b->hi = malloc((n ? n : 1) * sizeof *b->hi);
  b->conf = malloc((n ? n : 1) * sizeof *b->conf);
  b->idx = malloc((n ? n : 1) * sizeof *b->idx);
  if (!b->mu || !b->serve || !b->y || !b->bmu || !b->lo || !b->hi || !b->conf || !b->idx)
    return -1;
  for (size_t i = 0; i < n; i++)
    b->mu[i] = NAN;
  return 0;
}

/* The backtest's models, every window that has the data for one. */
static int bt_folds(struct bt *b, struct gerr *err) {
  for (int q = 1; q <= BT_FOLDS; q++) {
    struct fold *fo = &b->folds[b->nfolds];
    memset(fo, 0, sizeof *fo);
    fo->cutoff = q * BT_REFIT;
    train_stage(b->w, "demand model (backtest)", 0.15 + 0.05 * q);
    int rc = fold_run(b->w, fo, b->mu, err);
    if (rc < 0)
      return -1;
    if (rc == 0)
      b->nfolds++;
  }
  if (b->nfolds == 0) { /* short history: the last period alone */
    struct fold *fo = &b->folds[0];
    memset(fo, 0, sizeof *fo);
    fo->cutoff = 1;
    int rc = fold_run(b->w, fo, b->mu, err);
    if (rc < 0)
      return -1;
    if (rc == 0)
      b->nfolds = 1;
  }
  if (b->nfolds == 0)
    return gerr_set(err, GERR_CONFLICT,
                    "too little history to judge the demand model: the sales span %d period(s) "
                    "of %d days, at least 4 are needed",
                    b->w->d->known, b->w->d->period);
  return 0;
}

/* The fold of the window holding as-of origin j, or NULL. */
static const struct fold *bt_fold_of(const struct bt *b, int j) {
  for (int f = 0; f < b->nfolds; f++)
    if (in_window(j, b->folds[f].cutoff))
      return &b->folds[f];
  return NULL;
}

/* A segment row and its group: the whole cell, origin and horizon. */
struct seg_row {
  uint64_t group;
  size_t i;
};
static int cmp_seg(const void *a, const void *b) {
  const struct seg_row *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* The groups of segment rows, sorted: group g is sr[start[g]] ..
 * sr[start[g + 1] - 1]. */
struct reconcile {
  struct bt *b;
  const struct seg_row *sr;
  const size_t *start;
};

/* Reconciles groups g0 .. g1 - 1; each writes its own rows only. */
static void reconcile_groups(void *ctx, size_t g0, size_t g1) {
  const struct reconcile *rc = ctx;
  struct bt *b = rc->b;
  const struct rows *r = &b->w->all;
  const struct dataset *d = b->w->d;
  float x[(ML_SEG_TOTAL + 1) * CF__COUNT];
  double m[ML_SEG_TOTAL + 1];
  for (size_t g = g0; g < g1; g++) {
    size_t i = rc->sr[rc->start[g]].i;
    const struct fold *fo = bt_fold_of(b, r->origin[i]);
    if (!fo)
      continue;
    const struct forest *f = fo->f;
    uint64_t key = r->key[i];
    long pin = (long)(key >> 24);
    int prod = (int)(key >> 16 & 0xff), chan = (int)(key >> 8 & 0xff);
    ml_cell_features_segments(d, pin, prod, chan, r->origin[i], r->h[i], x);
    ml_demand_forest_mu_rows(f, x, ML_SEG_TOTAL + 1, m);
    m[ML_SEG_TOTAL] *= fold_total(fo, r->origin[i], x + (size_t)ML_SEG_TOTAL * CF__COUNT);
    double tot[1 + NBASE] = {0}, sum[1 + NBASE] = {0};
    for (int seg = 0; seg <= ML_SEG_TOTAL; seg++) {
      double *o = seg == ML_SEG_TOTAL ? tot : sum;
      o[0] += m[seg] > 0 ? m[seg] : 0;
      for (int q = 0; q < NBASE; q++)
        o[1 + q] += ml_demand_baseline(x + (size_t)seg * CF__COUNT, q);
    }
    for (size_t t = rc->start[g]; t < rc->start[g + 1]; t++) {
      size_t k = rc->sr[t].i;
      b->mu[k] *= sum[0] > 0 ? tot[0] / sum[0] : 1;
      for (int q = 0; q < NBASE; q++)
        b->bmu[k * NBASE + q] *= sum[1 + q] > 0 ? tot[1 + q] / sum[1 + q] : 1;
    }
  }
}

/* docs/models.md "Segments": the forecasts of a cell's segments add up to
 * the cell's. Each segment row's forecast, the model's and every
 * baseline's, is scaled by the cell's forecast over the sum of its
 * ML_SEGMENTS segments' (at the row's origin and horizon, by the model of
 * the row's window), as serving answers it. The groups are shared out
 * between the training's threads. 0 or -1 (out of memory). */
static int bt_reconcile(struct bt *b) {
  const struct rows *r = &b->w->all;
  size_t n = 0;
  for (size_t i = 0; i < r->n; i++)
    n += r->kind[i] == ML_SEGMENT && !isnan(b->mu[i]);
  struct seg_row *sr = malloc((n ? n : 1) * sizeof *sr);
  size_t *start = malloc((n + 1) * sizeof *start);
  if (!sr || !start) {
    free(sr);
    free(start);
    return -1;
  }
  n = 0;
  for (size_t i = 0; i < r->n; i++)
    if (r->kind[i] == ML_SEGMENT && !isnan(b->mu[i]))
      sr[n++] = (struct seg_row){(r->key[i] >> 8) << 16 |
                                     (uint64_t)(r->origin[i] & 0xff) << 8 | r->h[i],
                                 i};
  qsort(sr, n, sizeof *sr, cmp_seg);
  size_t ng = 0;
  for (size_t t = 0; t < n; t++)
    if (t == 0 || sr[t].group != sr[t - 1].group)
      start[ng++] = t;
  start[ng] = n;
  struct reconcile rc = {b, sr, start};
  ml_parallel(ng, b->w->cfg->threads, reconcile_groups, &rc);
  free(sr);
  free(start);
  return 0;
}

/* Baselines and the served prediction of every backtest row (segments
 * reconciled with their cell); promotion. 0 or -1 (out of memory). */
static int bt_promote(struct bt *b) {
  const struct rows *r = &b->w->all;
  double dev = 0, bdev[NBASE] = {0};
  for (size_t i = 0; i < r->n; i++) {
    b->y[i] = r->y[i];
    for (int q = 0; q < NBASE; q++)
      b->bmu[i * NBASE + q] = isnan(b->mu[i]) ? NAN : ml_demand_baseline(r->X + i * r->nf, q);
  }
  if (bt_reconcile(b) < 0)
    return -1;
  for (size_t i = 0; i < r->n; i++) {
    if (isnan(b->mu[i]))
      continue;
    dev += dev_term(b->y[i], b->mu[i]);
    for (int q = 0; q < NBASE; q++)
      bdev[q] += dev_term(b->y[i], b->bmu[i * NBASE + q]);
  }
  b->best_base = 0;
  for (int q = 1; q < NBASE; q++)
    if (bdev[q] < bdev[b->best_base])
      b->best_base = q;
  b->promoted = dev < bdev[b->best_base];
  size_t nrows = 0;
  for (size_t i = 0; i < r->n; i++)
    nrows += !isnan(b->mu[i]);
  b->dev_all = ratio(dev, (double)nrows);
  b->bdev_all = ratio(bdev[b->best_base], (double)nrows);
  for (size_t i = 0; i < r->n; i++)
    b->serve[i] = isnan(b->mu[i]) ? NAN
                  : b->promoted   ? b->mu[i]
                                  : b->bmu[i * NBASE + b->best_base];
  return 0;
}

/* ---- more cells for the calibration of the cells without segment ----
 *
 * docs/models.md "Calibration": the training rows are a uniform sample of
 * the candidate cells (rows_build), so on sparse data few of them expect a
 * sale or more, and the level of a band would rest on a few hundred cells.
 * When the rows of a horizon hold fewer than CAL_ENOUGH such cells,
 * the cells without segment that sold CAL_SOLD times or more in the 6
 * periods up to their origin (a stratum fixed before the target period,
 * whatever it then sold) are drawn once more, at the rate q that gives
 * about CAL_EXTRA_MAX of them, and forecast by the model of their window
 * as the rows are. In the calibration every cell counts with the inverse
 * of its chance to be drawn: 1 / rate outside the stratum, 1 / (rate + q)
 * in it (rate: the rows' sampling rate; a cell drawn both ways counts
 * twice), so the cells stand for all cells as the rows alone do. The
 * cross-fitted figures of the report stay those of the rows. */
#define CAL_SOLD 3
#define CAL_ENOUGH 5000
#define CAL_EXTRA_MAX 40000

struct cal_extra {
  double q;       /* the stratum's draw rate; 0: no cell drawn */
  size_t n;
  double *y, *mu; /* the target period's sales, the served forecast */
};

/* Whether cell c sold CAL_SOLD times or more in the 6 periods up to origin j. */
static int cal_stratum(const struct dataset *d, long c, int j) {
  if (c < 0)
    return 0;
  const uint32_t *s = d->counts + (size_t)c * (size_t)d->nper;
  uint64_t sold = 0;
  for (int a = j; a < j + 6 && a < d->known; a++)
    sold += s[a];
  return sold >= CAL_SOLD;
}

/* The origins whose cells the backtest forecasts at horizon h. */
static int cal_origin(const struct bt *b, int j, int h) {
  return j >= h && j < b->w->d->known && bt_fold_of(b, j) != NULL;
}

struct cal_pick {
  uint32_t c;
  int32_t j;
};
struct cal_forecast {
  const struct bt *b;
  const struct cal_pick *pk;
  int h;
  struct cal_extra *e;
};

/* Picks from .. to - 1, a block of one window's cells at a time. */
static void cal_forecast_range(void *ctx, size_t from, size_t to) {
  enum { BLOCK = 64 };
  const struct cal_forecast *cf = ctx;
  const struct dataset *d = cf->b->w->d;
  float x[BLOCK * CF__COUNT];
  double m[BLOCK];
  for (size_t t0 = from; t0 < to;) {
    const struct fold *fo = bt_fold_of(cf->b, cf->pk[t0].j);
    size_t k = 0;
    while (t0 + k < to && k < BLOCK && bt_fold_of(cf->b, cf->pk[t0 + k].j) == fo) {
      const struct cal_pick *p = &cf->pk[t0 + k];
      uint64_t key = d->cell_key[p->c];
      ml_cell_features(d, (long)(key >> 24), (int)(key >> 16 & 0xff), (int)(key >> 8 & 0xff),
                       ML_SEG_TOTAL, p->j, cf->h, x + k * CF__COUNT);
      k++;
    }
    ml_demand_forest_mu_rows(fo->f, x, k, m);
    for (size_t t = 0; t < k; t++) {
      const struct cal_pick *p = &cf->pk[t0 + t];
      const float *xt = x + t * CF__COUNT;
      cf->e->y[t0 + t] = d->counts[(size_t)p->c * (size_t)d->nper + (size_t)(p->j - cf->h)];
      cf->e->mu[t0 + t] = cf->b->promoted ? m[t] * fold_total(fo, p->j, xt)
                                          : ml_demand_baseline(xt, cf->b->best_base);
    }
    t0 += k;
  }
}

/* The extra cells of horizon h into e, whose rows hold `have` cells
 * expecting a sale or more (none drawn when that is enough, or when the
 * rows are every candidate). 0 or -1 (out of memory). */
static int cal_extras(const struct bt *b, int h, size_t have, struct cal_extra *e) {
  const struct dataset *d = b->w->d;
  memset(e, 0, sizeof *e);
  if (b->w->all.rate_tot >= 1 || have >= CAL_ENOUGH)
    return 0;
  /* every candidate, then those the draw keeps */
  struct buf all;
  buf_init(&all, SIZE_MAX);
  for (int j = 1; j <= BT_MONTHS; j++)
    for (size_t c = 0; cal_origin(b, j, h) && c < d->ncell; c++) {
      struct cal_pick p = {(uint32_t)c, j};
      if ((d->cell_key[c] & 0xff) == ML_SEG_TOTAL && cal_stratum(d, (long)c, j) &&
          buf_append(&all, &p, sizeof p) < 0) {
        buf_release(&all);
        return -1;
      }
    }
  struct cal_pick *pk = (struct cal_pick *)all.data;
  size_t cand = all.len / sizeof *pk, n = 0;
  e->q = cand > CAL_EXTRA_MAX ? (double)CAL_EXTRA_MAX / (double)cand : 1;
  uint64_t seed = b->w->cfg->seed ^ 0xca1bull;
  for (size_t t = 0; t < cand; t++) {
    uint64_t key = d->cell_key[pk[t].c];
    if (ml_unit(key ^ seed ^ ((uint64_t)pk[t].j << 56) ^ ((uint64_t)h << 48)) < e->q)
      pk[n++] = pk[t];
  }
  int rc = 0;
  if (n) {
    e->y = malloc(n * sizeof *e->y);
    e->mu = malloc(n * sizeof *e->mu);
    if (e->y && e->mu) {
      e->n = n;
      struct cal_forecast cf = {b, pk, h, e};
      ml_parallel(n, b->w->cfg->threads, cal_forecast_range, &cf);
    } else {
      rc = -1;
    }
  }
  buf_release(&all);
  return rc;
}

/* The serving calibration of the cells without segment at horizon h: rows
 * idx[n] of the backtest and the extra cells e, weighted (above). */
static int cal_fit_extras(const struct bt *b, const size_t *idx, size_t n,
                          const struct cal_extra *e, double level, struct demand_calib *c) {
  const struct rows *r = &b->w->all;
  const struct dataset *d = b->w->d;
  size_t m = n + e->n;
  double *y = malloc(m * sizeof *y), *mu = malloc(m * sizeof *mu), *w = malloc(m * sizeof *w);
  size_t *all = malloc(m * sizeof *all);
  int rc = -1;
  if (!y || !mu || !w || !all)
    goto out;
  /* weights relative to a cell outside the stratum's 1 / rate */
  double in = r->rate_tot / (r->rate_tot + e->q);
  for (size_t t = 0; t < n; t++) {
    size_t i = idx[t];
    uint64_t key = r->key[i];
    long cell = ml_cell_find(d, (int32_t)(key >> 24), (int)(key >> 16 & 0xff),
                             (int)(key >> 8 & 0xff), ML_SEG_TOTAL);
    y[t] = b->y[i];
    mu[t] = b->serve[i];
    w[t] = cal_stratum(d, cell, r->origin[i]) ? in : 1;
  }
  for (size_t t = 0; t < e->n; t++) {
    y[n + t] = e->y[t];
    mu[n + t] = e->mu[t];
    w[n + t] = in;
  }
  for (size_t t = 0; t < m; t++)
    all[t] = t;
  rc = demand_calib_fit(y, mu, w, all, m, level, c);
out:
  free(y);
  free(mu);
  free(w);
  free(all);
  return rc;
}

/* Per horizon and cell kind: the serving calibration on every backtest row
 * (and the extra cells of the cells without segment), and the
 * cross-fitted intervals of the report. */
static int bt_calibrate(struct bt *b, struct suite *s, double level) {
  const struct rows *r = &b->w->all;
  for (int h = 1; h <= ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++) {
      size_t n = 0;
      for (size_t i = 0; i < r->n; i++)
        if (!isnan(b->serve[i]) && r->h[i] == h && r->kind[i] == k)
          b->idx[n++] = i;
      struct demand_calib *c = &s->dcal[h - 1][k];
      isotonic_release(&c->conf);
      memset(c, 0, sizeof *c);
      c->nominal = level;
      if (n == 0 && h > 1) { /* no row this far ahead: the horizon before */
        c->alpha = s->dcal[h - 2][k].alpha;
        c->nominal = s->dcal[h - 2][k].nominal;
        continue;
      }
      size_t inf = 0;
      for (size_t t = 0; t < n; t++)
        inf += b->serve[b->idx[t]] >= INFORMATIVE_MU;
      struct cal_extra e = {0};
      int rc = k == ML_TOTAL && n ? cal_extras(b, h, inf, &e) : 0;
      if (rc == 0 && n)
        rc = e.n ? cal_fit_extras(b, b->idx, n, &e, level, c)
                 : demand_calib_fit(b->y, b->serve, NULL, b->idx, n, level, c);
      if (k == ML_TOTAL)
        b->calset[h - 1] = (struct calset){n, inf, e.n, e.n ? e.q : 0};
      free(e.y);
      free(e.mu);
      if (rc < 0)
        return -1;
      struct xfit xf = {b->y, b->serve, level, {.alpha = 0}, b->lo, b->hi, b->conf};
      rc = crossfit(b->idx, n, r->fold, xfit_fit, xfit_apply, &xf);
      isotonic_release(&xf.c.conf);
      if (rc < 0)
        return -1;
    }
  return 0;
}

static void bt_accumulate(struct bt *b, double level) {
  const struct rows *r = &b->w->all;
  size_t K = b->w->d->nprod;
  for (size_t i = 0; i < r->n; i++) {
    if (isnan(b->serve[i]) || r->kind[i] != ML_TOTAL || r->origin[i] > BT_MONTHS)
      continue;
    int prod = (int)r->X[i * r->nf + CF_PRODUCT];
    struct acc *a = b->month[r->origin[i]][r->h[i] - 1];
    for (int t = 0; t < 2; t++)
      acc_add(&a[t ? K : (size_t)prod], b->y[i], b->serve[i], b->bmu + i * NBASE, b->lo[i],
              b->hi[i], 1 - level);
  }
}

static json_t *bt_report(struct bt *b, double level) {
  const struct dataset *d = b->w->d;
  size_t K = d->nprod;
  json_t *months = json_array(), *hz = json_object(), *folds = json_array();
  for (int f = 0; f < b->nfolds; f++) {
    char cut[11];
    day_str(d->asof_day - (int64_t)b->folds[f].cutoff * d->period, cut);
    json_array_append_new(folds, json_pack("{s:s,s:I,s:i}", "cutoff", cut, "train_rows",
                                           (json_int_t)b->folds[f].ntrain, "rounds",
                                           b->folds[f].rounds));
  }
  for (int h = 1; h <= ML_HORIZONS; h++) {
    struct acc sum;
    memset(&sum, 0, sizeof sum);
    double worst_bias = 0, cov_min = NAN, cov_max = NAN;
    int nm = 0;
    for (int m = BT_MONTHS; m >= 1; m--) {
      struct acc *a = b->month[m][h - 1];
      if (a[K].n == 0)
        continue;
      char asof[11], from[11], to[11];
      int t = m - h;
      day_str(d->asof_day - (int64_t)m * d->period, asof);
      day_str(d->asof_day - (int64_t)(t + 1) * d->period + 1, from);
      day_str(d->asof_day - (int64_t)t * d->period, to);
      json_t *prods = json_object();
      for (size_t k = 0; k < K; k++)
        if (a[k].n > 0) {
          json_object_set_new(prods, d->prod[k], acc_json(&a[k]));
          double bias = ratio(a[k].mu, a[k].y) - 1;
          if (isfinite(bias) && fabs(bias) > fabs(worst_bias))
            worst_bias = bias;
        }
      json_array_append_new(months, json_pack("{s:s,s:i,s:s,s:s,s:o,s:o}", "as_of", asof,
                                              "horizon", h, "period_from", from, "period_to", to,
                                              "all", acc_json(&a[K]), "products", prods));
      double cov = ratio(a[K].cov_inf, a[K].n_inf);
      if (isfinite(cov)) {
        cov_min = isnan(cov_min) || cov < cov_min ? cov : cov_min;
        cov_max = isnan(cov_max) || cov > cov_max ? cov : cov_max;
      }
      acc_merge(&sum, &a[K]);
      nm++;
    }
    char key[12];
    snprintf(key, sizeof key, "%d", h);
    json_t *o = acc_json(&sum);
    json_object_set_new(o, "months", json_integer(nm));
    json_object_set_new(o, "largest_product_bias", rep_num(nm ? worst_bias : NAN));
    json_object_set_new(o, "interval_coverage_expected_1_or_more_lowest_month", rep_num(cov_min));
    json_object_set_new(o, "interval_coverage_expected_1_or_more_highest_month", rep_num(cov_max));
    /* the nearest pincodes' average in the members of earlier reports;
     * beside it the model's, and which serves */
    json_t *cj = cold_json(&b->cold[h - 1][COLD_NEAREST]);
    const struct suite *s = b->w->s;
    const struct cold_choice *ch = &b->cold_pick[h - 1];
    static const char *const src_names[COLD__SOURCES] = {"nearest_average", "model"};
    for (int q = 0; q < COLD__SOURCES; q++) {
      json_t *sj = cold_json(&b->cold[h - 1][q]);
      json_t *xj = cold_json(&b->cold_scaled[h - 1][q]);
      json_object_set_new(xj, "scale", ch->fitted ? rep_num(ch->scale[q]) : json_null());
      json_object_set_new(sj, "scaled_cross_fitted", xj);
      json_object_set_new(cj, q == COLD_MODEL ? "model" : "baseline_nearest_average", sj);
    }
    json_object_set_new(cj, "serves",
                        json_string(ch->fitted ? src_names[ch->serves] : "nearest_average"));
    json_object_set_new(cj, "cells_expecting_1_or_more",
                        json_integer((json_int_t)b->cold_inf[h - 1]));
    json_object_set_new(cj, "interval_coverage_other_cells_calibration",
                        rep_num(b->cold_cov_warm_all[h - 1]));
    json_object_set_new(cj, "interval_coverage_in_sample", rep_num(b->cold_cov_own_all[h - 1]));
    json_object_set_new(cj, "interval_coverage_expected_1_or_more_other_cells_calibration",
                        rep_num(b->cold_cov_warm[h - 1]));
    json_object_set_new(cj, "interval_coverage_expected_1_or_more_in_sample",
                        rep_num(b->cold_cov_own[h - 1]));
    json_t *sc = cold_json(&b->cold_scaled[h - 1][s->cold_model[h - 1]]);
    json_object_set_new(sc, "scale", rep_num(s->cold_scale[h - 1]));
    json_object_set_new(cj, "scaled_cross_fitted", sc);
    json_object_set_new(cj, "dispersion",
                        s->has_cold[h - 1] ? rep_num(s->dcal_cold[h - 1].alpha) : json_null());
    json_object_set_new(o, "cold_pincodes", cj);
    json_object_set_new(hz, key, o);
  }
  return json_pack("{s:s,s:i,s:i,s:f,s:o,s:o,s:o}", "method",
                   "rolling origins: each window of as-of dates is forecast by a model trained "
                   "only on periods that ended before its first date",
                   "months", BT_MONTHS, "refit_every_periods", BT_REFIT, "interval_level", level,
                   "folds", folds, "horizons", hz, "by_month", months);
}

static void bt_cold(struct bt *b) {
  const struct dataset *d = b->w->d;
  for (int f = 0; f < b->nfolds; f++)
    for (int m = b->folds[f].cutoff; m > b->folds[f].cutoff - BT_REFIT && m >= 1; m--)
      for (int h = 1; h <= ML_HORIZONS && h <= m; h++)
        cold_eval(d, &b->folds[f], m, h, b->cold[h - 1], &b->crow[h - 1]);
}

/* Coverage of calibration c on the cold cells, the forecasts of `src`
 * times scale[half] (with `informative`, those that expect >= 1 sale; NaN
 * without any); their count into *n. */
static double cold_cover(const struct cold_rows *cr, int src, const struct demand_calib *c,
                         const double scale[2], int informative, size_t *n) {
  double cov = 0;
  *n = 0;
  for (size_t i = 0; i < cr->n; i++) {
    const struct cold_row *w = &cr->r[i];
    double mu = w->mu[src] * scale[w->half];
    if (informative && mu < INFORMATIVE_MU)
      continue;
    double lo, hi;
    ml_demand_interval(c, mu, &lo, &hi);
    cov += w->y >= lo && w->y <= hi;
    (*n)++;
  }
  return *n ? cov / (double)*n : NAN;
}

/* Sum of outcomes over sum of the forecasts of `src` of the cold cells of
 * half `half` (-1: all), within [1 / COLD_SCALE_MAX, COLD_SCALE_MAX]; 1
 * without any. */
#define COLD_SCALE_MAX 4.0
static double cold_ratio(const struct cold_row *r, size_t n, int src, int half) {
  double y = 0, mu = 0;
  for (size_t i = 0; i < n; i++)
    if (half < 0 || r[i].half == half) {
      y += r[i].y;
      mu += r[i].mu[src];
    }
  if (!(mu > 0))
    return 1;
  return fmin(fmax((y + 0.5) / (mu + 0.5), 1 / COLD_SCALE_MAX), COLD_SCALE_MAX);
}

void cold_choose(const struct cold_row *r, size_t n, struct cold_choice *out) {
  memset(out, 0, sizeof *out);
  out->serves = COLD_NEAREST;
  for (int src = 0; src < COLD__SOURCES; src++) {
    out->scale[src] = 1;
    out->xdev[src] = NAN;
  }
  if (n < COLD_MIN_CELLS)
    return;
  out->fitted = 1;
  for (int src = 0; src < COLD__SOURCES; src++) {
    /* each half scaled by the other half's ratio */
    double xs[2] = {cold_ratio(r, n, src, 1), cold_ratio(r, n, src, 0)}, dev = 0;
    for (size_t i = 0; i < n; i++)
      dev += dev_term(r[i].y, r[i].mu[src] * xs[r[i].half]);
    out->xdev[src] = dev / (double)n;
    out->scale[src] = cold_ratio(r, n, src, -1);
  }
  if (out->xdev[COLD_MODEL] < out->xdev[COLD_NEAREST])
    out->serves = COLD_MODEL;
}

/* The answers for cold pincodes, per horizon, when at least COLD_MIN_CELLS
 * cold cells were forecast: the model on their own features or their
 * nearest pincodes' average, each scaled by what it made of the cold
 * pincodes' sales (sum of outcomes over sum of forecasts), whichever has
 * the lower cross-fitted Poisson deviance (cold_choose), with a
 * calibration of its own fitted on its scaled forecasts. Both scaled
 * forecasts are judged cross-fitted, each half of the cold pincodes (by a
 * hash) scaled by the other half's ratio, into b->cold_scaled. 0 or -1
 * (out of memory). */
static int bt_cold_calibrate(struct bt *b, struct suite *s, double level) {
  const double one[2] = {1, 1};
  s->cold_lapsed = 1;
  for (int h = 0; h < ML_HORIZONS; h++) {
    struct cold_rows *cr = &b->crow[h];
    struct cold_choice *ch = &b->cold_pick[h];
    size_t ninf, nall;
    if (cr->oom)
      return -1;
    cold_choose(cr->r, cr->n, ch);
    int src = ch->serves;
    b->cold_cov_warm[h] = cold_cover(cr, src, &s->dcal[h][ML_TOTAL], one, 1, &ninf);
    b->cold_cov_warm_all[h] = cold_cover(cr, src, &s->dcal[h][ML_TOTAL], one, 0, &nall);
    b->cold_cov_own[h] = b->cold_cov_own_all[h] = NAN;
    b->cold_inf[h] = ninf;
    s->has_cold[h] = 0;
    s->cold_scale[h] = 1;
    s->cold_model[h] = 0;
    if (!ch->fitted)
      continue;
    for (int q = 0; q < COLD__SOURCES; q++) {
      double xs[2] = {cold_ratio(cr->r, cr->n, q, 1), cold_ratio(cr->r, cr->n, q, 0)};
      for (size_t i = 0; i < cr->n; i++) {
        const struct cold_row *w = &cr->r[i];
        cold_acc(&b->cold_scaled[h][q], w->y, w->mu[q] * xs[w->half], w->base);
      }
    }
    s->cold_scale[h] = ch->scale[src];
    s->cold_model[h] = src == COLD_MODEL;
    double *y = malloc(cr->n * sizeof *y), *mu = malloc(cr->n * sizeof *mu);
    size_t *idx = malloc(cr->n * sizeof *idx);
    int rc = y && mu && idx ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < cr->n; i++) {
      y[i] = cr->r[i].y;
      mu[i] = cr->r[i].mu[src] * s->cold_scale[h];
      idx[i] = i;
    }
    if (rc == 0)
      rc = demand_calib_fit(y, mu, NULL, idx, cr->n, level, &s->dcal_cold[h]);
    free(y);
    free(mu);
    free(idx);
    if (rc < 0)
      return -1;
    s->has_cold[h] = 1;
    const double all[2] = {s->cold_scale[h], s->cold_scale[h]};
    b->cold_cov_own[h] = cold_cover(cr, src, &s->dcal_cold[h], all, 1, &ninf);
    b->cold_cov_own_all[h] = cold_cover(cr, src, &s->dcal_cold[h], all, 0, &nall);
  }
  return 0;
}

int train_demand(struct work *w, json_t *eval, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  const struct rows *r = &w->all;
  struct bt *b = calloc(1, sizeof *b);
  json_t *hold = NULL;
  int rc = -1;
  if (!b || (b->w = w, bt_alloc(b, r->n) < 0)) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  if (bt_folds(b, err) < 0)
    goto out;
  if (bt_promote(b) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory reconciling the segment forecasts");
    goto out;
  }
  s->use_baseline[PREDICT_DEMAND] = b->promoted ? 0 : 1 + b->best_base;
  if (bt_calibrate(b, s, cfg->level) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory calibrating the demand intervals");
    goto out;
  }
  bt_accumulate(b, cfg->level);
  bt_cold(b);
  if (bt_cold_calibrate(b, s, cfg->level) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory calibrating the cold pincodes' intervals");
    goto out;
  }

  /* "holdout": as of the last period, the next one (the `evaluation` keys of docs/api.md) */
  size_t nho = 0;
  for (size_t i = 0; i < r->n; i++)
    if (!isnan(b->serve[i]) && r->origin[i] == 1 && r->h[i] == 1)
      b->idx[nho++] = i;
  double *hy = malloc((nho ? nho : 1) * sizeof *hy), *hm = malloc((nho ? nho : 1) * sizeof *hm);
  if (!hy || !hm) {
    free(hy);
    free(hm);
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t t = 0; t < nho; t++) {
    hy[t] = b->y[b->idx[t]];
    hm[t] = b->serve[b->idx[t]];
  }
  struct reg_metrics mm;
  eval_regression(hy, hm, nho, &mm);
  free(hy);
  free(hm);
  hold = rep_regression(&mm);
  json_t *kinds = json_object();
  size_t *kidx = malloc((nho ? nho : 1) * sizeof *kidx);
  double cov = 0, icov = 0, ece = 0;
  size_t ncov = 0, ninf = 0;
  for (int k = 0; kidx && k < 2; k++) {
    size_t n = 0;
    for (size_t t = 0; t < nho; t++)
      if (r->kind[b->idx[t]] == k)
        kidx[n++] = b->idx[t];
    struct xfit xf = {b->y, b->serve, cfg->level, {.alpha = 0}, b->lo, b->hi, b->conf};
    json_t *kj = kind_json(&s->dcal[0][k], b->y, b->serve, &xf, kidx, n);
    if (n) {
      double c = json_real_value(json_object_get(kj, "interval_coverage"));
      cov += c * (double)n;
      ece += json_number_value(json_object_get(kj, "confidence_calibration_error")) * (double)n;
      ncov += n;
    }
    json_object_set_new(kinds, k == ML_TOTAL ? "pincode_product_channel" : "segment", kj);
  }
  free(kidx);
  for (size_t t = 0; t < nho; t++) {
    size_t i = b->idx[t];
    if (b->serve[i] >= INFORMATIVE_MU) {
      ninf++;
      icov += b->y[i] >= b->lo[i] && b->y[i] <= b->hi[i];
    }
  }
  char asof[11];
  day_str(w->d->asof_day - w->d->period, asof);
  json_object_set_new(hold, "as_of", json_string(asof));
  json_object_set_new(hold, "interval_level", json_real(cfg->level));
  json_object_set_new(hold, "interval_coverage", rep_num(ncov ? cov / (double)ncov : NAN));
  json_object_set_new(hold, "interval_coverage_expected_1_or_more",
                      rep_num(ninf ? icov / (double)ninf : NAN));
  json_object_set_new(hold, "confidence_calibration_error",
                      rep_num(ncov ? ece / (double)ncov : NAN));
  json_object_set_new(hold, "by_cell_kind", kinds);
  json_object_set(eval, "regression_metrics", hold);

  /* baselines on the same rows, for the "baselines" keys of docs/api.md */
  json_t *bases = json_object();
  for (int q = 0; q < NBASE; q++) {
    size_t n = 0;
    double *by = malloc((nho ? nho : 1) * sizeof *by), *bm = malloc((nho ? nho : 1) * sizeof *bm);
    for (size_t t = 0; by && bm && t < nho; t++, n++) {
      by[n] = b->y[b->idx[t]];
      bm[n] = b->bmu[b->idx[t] * NBASE + q];
    }
    struct reg_metrics bmm;
    eval_regression(by, bm, n, &bmm);
    free(by);
    free(bm);
    json_object_set_new(bases, eval_baseline_names[q], rep_regression(&bmm));
  }
  w->backtest = bt_report(b, cfg->level);
  json_t *all = json_object_get(json_object_get(w->backtest, "horizons"), "1");
  double mdev = json_number_value(json_object_get(all, "poisson_deviance"));
  double bdev = json_number_value(json_object_get(
      json_object_get(json_object_get(all, "baselines"), eval_baseline_names[b->best_base]),
      "poisson_deviance"));
  char why[300];
  snprintf(why, sizeof why,
           "backtest mean Poisson deviance (every cell, horizon and as-of date) %.4f %s the best "
           "baseline's (%s, %.4f)%s; next period, cells without segment: %.4f against %.4f",
           b->dev_all, b->promoted ? "beats" : "does not beat",
           eval_baseline_names[b->best_base], b->bdev_all,
           b->promoted ? "" : ": the baseline answers", mdev, bdev);

  /* the serving model: every row, as many rounds as the newest window's */
  train_stage(w, "demand model (refit)", 0.4);
  struct xgb_params xp = {"count:poisson", 1, b->folds[0].rounds > 0 ? b->folds[0].rounds : 1,
                          cfg->depth, cfg->threads, 0.2, cfg->seed, 0};
  float *rX = r->X, *ry = r->y, *off = NULL;
  size_t rn = r->n;
  struct pick learn = {NULL, 0, 1};
  int seasoned = refit_seasoned(w->d, r);
  if (seasoned) {
    if (take_rows(r, &learn, SIZE_MAX, 0, &rX, &ry, &off, &rn) < 0) {
      free(rX);
      free(ry);
      free(off);
      rX = ry = off = NULL;
    }
  } else if ((off = malloc((rn ? rn : 1) * sizeof *off)) != NULL) {
    for (size_t i = 0; i < rn; i++)
      off[i] = rows_offset(r, i);
  }
  if (!off || xgb_train_offset(&xp, rX, ry, off, rn, CF__COUNT, NULL, NULL, NULL, 0,
                               &s->demand, NULL, err) < 0) {
    if (!off)
      gerr_set(err, GERR_INTERNAL, "out of memory");
    free(off);
    if (rX != r->X) {
      free(rX);
      free(ry);
    }
    json_decref(bases);
    goto out;
  }
  free(off);
  if (rX != r->X) {
    free(rX);
    free(ry);
  }
  json_t *dm = rep_model("count:poisson", rn, nho, rep_names(ml_cell_feature_names, CF__COUNT),
                         xp.rounds, json_incref(hold), bases, b->promoted,
                         b->promoted ? "model" : eval_baseline_names[b->best_base], why);
  json_object_set_new(dm, "product_totals", serving_totals(w, seasoned));
  json_object_set_new(dm, "intervals", intervals_json(s, b->calset));
  json_object_set_new(w->models, "demand", dm);
  free(w->bt_mu);
  free(w->bt_base);
  w->bt_cutoff = b->folds[0].cutoff;
  w->bt_mu = b->serve; /* handed over */
  w->bt_base = b->bmu;
  b->serve = b->bmu = NULL;
  rc = 0;
out:
  json_decref(hold);
  if (b)
    bt_free(b);
  return rc;
}

/* ---- sums of cells: pincode, region, state ----
 * The cells of a pincode are many and small; a plan is made for a
 * pincode, a region or a state. Forecasts and outcomes of the cells
 * without segment are summed per as-of date, horizon and unit, and the
 * figures are those of the sums. */

enum { LV_PINCODE, LV_REGION, LV_STATE, LV__COUNT };
static const char *const level_names[LV__COUNT] = {"pincode", "region", "state"};

struct lv_row {
  uint64_t group; /* origin, horizon, unit */
  size_t i;
};
static int cmp_lv(const void *a, const void *b) {
  const struct lv_row *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* The unit of row i at `level`; -1 when it has none (a pincode outside
 * every region). */
static int64_t lv_unit(const struct work *w, size_t i, int level) {
  const struct dataset *d = w->d;
  long pin = (long)(w->all.key[i] >> 24);
  if (level == LV_PINCODE)
    return pin;
  if (level == LV_STATE)
    return d->state[pin];
  int32_t id = suite_region_of(w->s, d->pins[pin]);
  return id > 0 ? id : -1;
}

/* The figures at every level of the backtest rows of horizon h, at as-of
 * origin `origin` (0: every one of the backtest). NULL when out of
 * memory. */
static json_t *levels_json(const struct work *w, int h, int origin) {
  const struct rows *r = &w->all;
  struct lv_row *lr = malloc((r->n ? r->n : 1) * sizeof *lr);
  json_t *out = json_object();
  if (!lr || !out) {
    free(lr);
    json_decref(out);
    return NULL;
  }
  for (int level = 0; level < LV__COUNT; level++) {
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
      if (isnan(w->bt_mu[i]) || r->kind[i] != ML_TOTAL || r->h[i] != h ||
          r->origin[i] > BT_MONTHS || (origin && r->origin[i] != origin))
        continue;
      int64_t u = lv_unit(w, i, level);
      if (u >= 0)
        lr[n++] = (struct lv_row){(uint64_t)r->origin[i] << 40 | (uint64_t)u, i};
    }
    qsort(lr, n, sizeof *lr, cmp_lv);
    struct acc a;
    memset(&a, 0, sizeof a);
    for (size_t t = 0; t < n;) {
      double y = 0, mu = 0, bmu[NBASE] = {0};
      size_t u = t;
      for (; u < n && lr[u].group == lr[t].group; u++) {
        size_t i = lr[u].i;
        y += r->y[i];
        mu += w->bt_mu[i];
        for (int q = 0; q < NBASE; q++)
          bmu[q] += w->bt_base[i * NBASE + q];
      }
      acc_point(&a, y, mu, bmu);
      t = u;
    }
    json_object_set_new(out, level_names[level], acc_point_json(&a, "units"));
  }
  free(lr);
  return out;
}

int train_demand_levels(struct work *w, struct gerr *err) {
  json_t *rep = w->s->report;
  json_t *hz = json_object_get(json_object_get(rep, "backtest"), "horizons");
  json_t *hold =
      json_object_get(json_object_get(json_object_get(rep, "models"), "demand"), "holdout");
  if (!w->bt_mu || !w->bt_base)
    return 0;
  for (int h = 1; h <= ML_HORIZONS; h++) {
    char key[12];
    snprintf(key, sizeof key, "%d", h);
    json_t *o = json_object_get(hz, key), *lv = o ? levels_json(w, h, 0) : NULL;
    if (o && (!lv || json_object_set_new(o, "levels", lv) < 0))
      return gerr_set(err, GERR_INTERNAL, "out of memory summing the backtest by place");
  }
  json_t *lv = hold ? levels_json(w, 1, 1) : NULL;
  if (hold && (!lv || json_object_set_new(hold, "levels", lv) < 0))
    return gerr_set(err, GERR_INTERNAL, "out of memory summing the holdout by place");
  return 0;
}
