/* The training pipeline of SPEC §3: period cells at rolling origins, the
 * three models trained on all but the last period and judged there beside
 * their baselines, calibrated on that holdout, then refitted on every
 * origin for serving. docs/models.md describes each step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/gazetteer.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

void train_config_defaults(struct train_config *c) {
  c->period_days = 30;
  c->origins = 6;
  c->rounds = 120;
  c->depth = 6;
  c->threads = 2;
  c->level = 0.8;
  c->seed = 1;
  c->max_sales_rows = 150000;
  c->regions = 0;
}

/* Cell rows the demand and rise models train on, at most (all total cells,
 * segment cells sampled to fit). */
#define MAX_CELL_ROWS 300000
#define EARLY_STOP 10
/* Cells whose predicted demand is at least this are where interval levels
 * are calibrated and judged (see demand_calib_fit). */
#define INFORMATIVE_MU 1.0

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
/* Uniform in [0, 1) from a key. */
static double unit_of(uint64_t k) { return (double)(mix(k) >> 11) / 9007199254740992.0; }

/* ---- rows ---- */

struct rows {
  size_t n, cap, nf;
  float *X, *y, *last;
  uint8_t *kind;   /* enum ml_kind */
  uint8_t *fold;   /* 0/1, for cross-fitted calibration */
  int32_t *origin;
};

static int rows_push(struct rows *r, const float *x, float y, float last, int kind,
                     int fold, int origin) {
  if (r->n == r->cap) {
    size_t nc = r->cap ? r->cap * 2 : 65536;
    float *X = realloc(r->X, nc * r->nf * sizeof *X);
    if (!X)
      return -1;
    r->X = X;
    float *ny = realloc(r->y, nc * sizeof *ny), *nl;
    if (!ny)
      return -1;
    r->y = ny;
    if (!(nl = realloc(r->last, nc * sizeof *nl)))
      return -1;
    r->last = nl;
    uint8_t *k = realloc(r->kind, nc), *f;
    if (!k)
      return -1;
    r->kind = k;
    if (!(f = realloc(r->fold, nc)))
      return -1;
    r->fold = f;
    int32_t *o = realloc(r->origin, nc * sizeof *o);
    if (!o)
      return -1;
    r->origin = o;
    r->cap = nc;
  }
  memcpy(r->X + r->n * r->nf, x, r->nf * sizeof *x);
  r->y[r->n] = y;
  r->last[r->n] = last;
  r->kind[r->n] = (uint8_t)kind;
  r->fold[r->n] = (uint8_t)fold;
  r->origin[r->n] = origin;
  r->n++;
  return 0;
}

static void rows_release(struct rows *r) {
  free(r->X);
  free(r->y);
  free(r->last);
  free(r->kind);
  free(r->fold);
  free(r->origin);
  memset(r, 0, sizeof *r);
}

/* Rows [from, to) of src whose origin test passes, into dst. */
static int rows_select(const struct rows *src, int holdout, struct rows *dst) {
  dst->nf = src->nf;
  for (size_t i = 0; i < src->n; i++)
    if ((src->origin[i] == 1) == holdout &&
        rows_push(dst, src->X + i * src->nf, src->y[i], src->last[i], src->kind[i],
                  src->fold[i], src->origin[i]) < 0)
      return -1;
  return 0;
}

/* A cell is a training row at origin j when it sold in the 12 periods up to
 * the origin. */
static int cell_active(const struct dataset *d, size_t c, int j) {
  const uint32_t *s = d->counts + c * (size_t)d->nper;
  for (int a = j; a < j + 12 && a < d->nper; a++)
    if (s[a])
      return 1;
  return 0;
}

static int build_cell_rows(const struct dataset *d, int origins, uint64_t seed,
                           struct rows *r) {
  size_t totals = 0, segs = 0;
  for (int j = 1; j <= origins; j++)
    for (size_t c = 0; c < d->ncell; c++)
      if (cell_active(d, c, j)) {
        if ((d->cell_key[c] & 0xff) == ML_SEG_TOTAL)
          totals++;
        else
          segs++;
      }
  double rate = segs == 0 ? 0
                : totals >= MAX_CELL_ROWS / 2 ? (double)(MAX_CELL_ROWS / 2) / (double)segs
                                              : (double)(MAX_CELL_ROWS - totals) / (double)segs;
  if (rate > 1)
    rate = 1;
  r->nf = CF__COUNT;
  float x[CF__COUNT];
  for (int j = 1; j <= origins; j++) {
    for (size_t c = 0; c < d->ncell; c++) {
      if (!cell_active(d, c, j))
        continue;
      uint64_t key = d->cell_key[c];
      int seg = (int)(key & 0xff);
      if (seg != ML_SEG_TOTAL && unit_of(key ^ seed ^ ((uint64_t)j << 56)) >= rate)
        continue;
      ml_cell_features(d, (long)(key >> 24), (int)((key >> 16) & 0xff),
                       (int)((key >> 8) & 0xff), seg, j, x);
      const uint32_t *s = d->counts + c * (size_t)d->nper;
      if (rows_push(r, x, (float)s[j - 1], (float)s[j],
                    seg == ML_SEG_TOTAL ? ML_TOTAL : ML_SEGMENT,
                    (int)(mix(key ^ seed) & 1), j) < 0)
        return -1;
    }
  }
  return 0;
}

/* ---- demand calibration ---- */

static double nb_central_cover(double mu, double alpha, double nominal, long y) {
  long lo = ml_nb_quantile(mu, alpha, (1 - nominal) / 2);
  long hi = ml_nb_quantile(mu, alpha, (1 + nominal) / 2);
  return y >= lo && y <= hi;
}

/* Fits alpha, the nominal level and the confidence map on the rows of idx. */
static int demand_calib_fit(const double *y, const double *mu, const size_t *idx, size_t n,
                            double level, struct demand_calib *c) {
  double num = 0, den = 0;
  for (size_t t = 0; t < n; t++) {
    size_t i = idx[t];
    num += (y[i] - mu[i]) * (y[i] - mu[i]) - mu[i];
    den += mu[i] * mu[i];
  }
  c->alpha = den > 0 && num > 0 ? num / den : 0;
  if (c->alpha > 50)
    c->alpha = 50;
  /* nominal: the least central level whose coverage reaches `level`, on
   * the cells expecting a sale or more. Below that most cells realise 0,
   * which any interval from 0 covers whatever its level, so they would
   * drag the level down for the cells where an interval says something. */
  size_t m = 0;
  for (size_t t = 0; t < n; t++)
    m += mu[idx[t]] >= INFORMATIVE_MU;
  int all = m < 30;
  double lo = 0.01, hi = 0.9999;
  for (int it = 0; it < 30; it++) {
    double mid = (lo + hi) / 2, cov = 0, cnt = 0;
    for (size_t t = 0; t < n; t++)
      if (all || mu[idx[t]] >= INFORMATIVE_MU) {
        cov += nb_central_cover(mu[idx[t]], c->alpha, mid, (long)y[idx[t]]);
        cnt++;
      }
    if (cnt && cov / cnt >= level)
      hi = mid;
    else
      lo = mid;
  }
  c->nominal = hi;
  double *raw = malloc((n ? n : 1) * sizeof *raw), *hit = malloc((n ? n : 1) * sizeof *hit);
  if (!raw || !hit) {
    free(raw);
    free(hit);
    return -1;
  }
  for (size_t t = 0; t < n; t++) {
    size_t i = idx[t];
    raw[t] = ml_demand_confidence_raw(c->alpha, mu[i]);
    double band = fmax(0.25 * mu[i], 1.0);
    hit[t] = fabs(y[i] - mu[i]) <= band;
  }
  isotonic_release(&c->conf);
  int rc = n ? isotonic_fit(raw, hit, NULL, n, &c->conf) : -1;
  free(raw);
  free(hit);
  return rc;
}

struct demand_eval {
  double coverage, coverage_informative, conf_ece, conf_max_gap;
  size_t n, n_informative;
};

/* Cross-fitted: calibrate on one fold, measure on the other, both ways. */
static int demand_calib_eval(const double *y, const double *mu, const uint8_t *fold,
                             const size_t *idx, size_t n, double level,
                             struct demand_eval *ev) {
  size_t *part[2] = {malloc((n ? n : 1) * sizeof(size_t)), malloc((n ? n : 1) * sizeof(size_t))};
  size_t np[2] = {0, 0};
  double *conf = malloc((n ? n : 1) * sizeof *conf);
  unsigned char *hit = malloc(n ? n : 1);
  int rc = -1;
  if (!part[0] || !part[1] || !conf || !hit)
    goto out;
  for (size_t t = 0; t < n; t++)
    part[fold[idx[t]]][np[fold[idx[t]]]++] = idx[t];
  double covered = 0, icovered = 0;
  size_t m = 0, im = 0;
  for (int f = 0; f < 2; f++) {
    struct demand_calib c = {0};
    if (np[f] == 0 || np[1 - f] == 0 || demand_calib_fit(y, mu, part[f], np[f], level, &c) < 0) {
      isotonic_release(&c.conf);
      continue;
    }
    for (size_t t = 0; t < np[1 - f]; t++) {
      size_t i = part[1 - f][t];
      double lo, hi;
      ml_demand_interval(&c, mu[i], &lo, &hi);
      covered += y[i] >= lo && y[i] <= hi;
      if (mu[i] >= INFORMATIVE_MU) {
        icovered += y[i] >= lo && y[i] <= hi;
        im++;
      }
      conf[m] = ml_demand_confidence(&c, mu[i]);
      hit[m] = fabs(y[i] - mu[i]) <= fmax(0.25 * mu[i], 1.0);
      m++;
    }
    isotonic_release(&c.conf);
  }
  ev->n = m;
  ev->coverage = m ? covered / (double)m : NAN;
  ev->coverage_informative = im ? icovered / (double)im : NAN;
  ev->n_informative = im;
  struct calib_report cr;
  if (m && eval_calibration(conf, hit, m, 10, &cr) == 0) {
    ev->conf_ece = cr.ece;
    ev->conf_max_gap = cr.max_gap;
  } else {
    ev->conf_ece = ev->conf_max_gap = NAN;
  }
  rc = 0;
out:
  free(part[0]);
  free(part[1]);
  free(conf);
  free(hit);
  return rc;
}

/* ---- report helpers ---- */

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *reg_json(const struct reg_metrics *m) {
  return json_pack("{s:I,s:o,s:o,s:o,s:o}", "n", (json_int_t)m->n, "r2", num(m->r2), "mae",
                   num(m->mae), "rmse", num(m->rmse), "poisson_deviance",
                   num(m->poisson_deviance));
}

static json_t *class_json(const struct class_report *c) {
  return json_pack("{s:o,s:o,s:o,s:I}", "precision", num(c->precision), "recall",
                   num(c->recall), "f1-score", num(c->f1), "support", (json_int_t)c->support);
}

static json_t *binary_json(const struct binary_metrics *m) {
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o}}", "n", (json_int_t)m->n,
                   "accuracy", num(m->accuracy), "precision", num(m->cls[1].precision),
                   "recall", num(m->cls[1].recall), "f1", num(m->cls[1].f1), "roc_auc",
                   num(m->roc_auc), "log_loss", num(m->log_loss), "brier", num(m->brier),
                   "report", "0", class_json(&m->cls[0]), "1", class_json(&m->cls[1]));
}

static json_t *multi_json(const struct dataset *d, const struct multi_metrics *m,
                          const struct class_report *cls) {
  json_t *rep = json_object();
  for (size_t k = 0; k < d->nprod; k++)
    json_object_set_new(rep, d->prod[k], class_json(&cls[k]));
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "n", (json_int_t)m->n, "accuracy",
                   num(m->accuracy), "top2_accuracy", num(m->top2_accuracy), "log_loss",
                   num(m->log_loss), "macro_f1", num(m->macro_f1), "report", rep);
}

static json_t *feature_list(const char *const *names, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(names[i]));
  return a;
}

static void stage(train_progress_fn fn, void *ctx, const char *what, double frac) {
  if (fn)
    fn(ctx, what, frac);
}

/* ---- reading the store ---- */

struct reader_ctx {
  struct dataset_builder *b;
  int failed;
  size_t n;
  train_progress_fn progress;
  void *pctx;
  int64_t total;
};

static int on_sale(void *ctx, const struct sale *rec, int64_t seq) {
  struct reader_ctx *r = ctx;
  (void)seq;
  struct ml_sale_src s = {rec->ts_ms, rec->pincode, rec->product, rec->channel,
                          rec->customer_age, rec->customer_income};
  if (dataset_builder_add(r->b, &s) < 0) {
    r->failed = 1;
    return 1;
  }
  if (++r->n % 100000 == 0 && r->total > 0)
    stage(r->progress, r->pctx, "reading sales", 0.1 * (double)r->n / (double)r->total);
  return 0;
}

/* ---- the pipeline ---- */

struct work {
  const struct train_config *cfg;
  struct dataset *d;
  struct ml_sale *sales;
  size_t nsales;
  struct rows all, tr, ho;
  double *y_ho, *mu_ho;
  struct suite *s;
  json_t *models;
  train_progress_fn progress;
  void *pctx;
};

static void fill_double(double *dst, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = src[i];
}

/* Baseline predictions of a holdout row: 0 naive, 1 ma3, 2 ma6. */
static double baseline_demand(const float *x, int which) {
  double v = which == 0 ? x[CF_LAG1] : which == 1 ? x[CF_MA3] : x[CF_MA6];
  return isnan(v) ? 0 : v;
}
static const char *const demand_baselines[3] = {"last_period", "moving_average_3",
                                                "moving_average_6"};

static int train_demand(struct work *w, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  size_t nho = w->ho.n;
  struct xgb_params xp = {"count:poisson", 1, cfg->rounds, cfg->depth, cfg->threads, 0.2,
                          cfg->seed, EARLY_STOP};
  struct forest *fh = NULL;
  int best = cfg->rounds;
  stage(w->progress, w->pctx, "demand model", 0.2);
  if (xgb_train(&xp, w->tr.X, w->tr.y, w->tr.n, CF__COUNT, w->ho.X, w->ho.y, nho, &fh, &best,
                err) < 0)
    return -1;
  double *mu = w->mu_ho, *y = w->y_ho, *bmu = malloc((nho ? nho : 1) * sizeof *bmu);
  if (!bmu) {
    forest_free(fh);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  fill_double(y, w->ho.y, nho);
  for (size_t i = 0; i < nho; i++)
    forest_predict(fh, w->ho.X + i * CF__COUNT, &mu[i]);
  forest_free(fh);

  struct reg_metrics mm, bm[3];
  eval_regression(y, mu, nho, &mm);
  json_t *bases = json_object();
  int best_base = 0;
  for (int b = 0; b < 3; b++) {
    for (size_t i = 0; i < nho; i++)
      bmu[i] = baseline_demand(w->ho.X + i * CF__COUNT, b);
    eval_regression(y, bmu, nho, &bm[b]);
    json_object_set_new(bases, demand_baselines[b], reg_json(&bm[b]));
    if (bm[b].poisson_deviance < bm[best_base].poisson_deviance)
      best_base = b;
  }
  int promoted = mm.poisson_deviance < bm[best_base].poisson_deviance;
  s->use_baseline[PREDICT_DEMAND] = promoted ? 0 : 1 + best_base;
  if (!promoted)
    for (size_t i = 0; i < nho; i++)
      mu[i] = baseline_demand(w->ho.X + i * CF__COUNT, best_base);
  free(bmu);

  /* calibration per kind, on the predictions that will serve */
  json_t *cal = json_object();
  size_t *idx = malloc((nho ? nho : 1) * sizeof *idx);
  if (!idx)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  double cov_all = 0, ece_all = 0, icov_all = 0;
  size_t n_all = 0, in_all = 0;
  for (int k = 0; k < 2; k++) {
    size_t n = 0;
    for (size_t i = 0; i < nho; i++)
      if (w->ho.kind[i] == k)
        idx[n++] = i;
    struct demand_eval ev = {NAN, NAN, NAN, NAN, 0, 0};
    if (n && demand_calib_eval(y, mu, w->ho.fold, idx, n, cfg->level, &ev) < 0) {
      free(idx);
      return gerr_set(err, GERR_INTERNAL, "out of memory");
    }
    if (n)
      demand_calib_fit(y, mu, idx, n, cfg->level, &s->dcal[k]);
    else
      s->dcal[k].nominal = cfg->level;
    if (ev.n) {
      cov_all += ev.coverage * (double)ev.n;
      ece_all += ev.conf_ece * (double)ev.n;
      n_all += ev.n;
    }
    if (ev.n_informative) {
      icov_all += ev.coverage_informative * (double)ev.n_informative;
      in_all += ev.n_informative;
    }
    json_object_set_new(
        cal, k == ML_TOTAL ? "pincode_product_channel" : "segment",
        json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "cells", (json_int_t)n, "interval_coverage",
                  num(ev.coverage), "interval_coverage_expected_1_or_more",
                  num(ev.coverage_informative), "confidence_calibration_error", num(ev.conf_ece),
                  "confidence_max_decile_gap", num(ev.conf_max_gap), "dispersion",
                  num(s->dcal[k].alpha), "nominal_level", num(s->dcal[k].nominal)));
  }
  free(idx);
  json_t *hold = reg_json(&mm);
  json_object_set_new(hold, "interval_level", json_real(cfg->level));
  json_object_set_new(hold, "interval_coverage", num(n_all ? cov_all / (double)n_all : NAN));
  json_object_set_new(hold, "interval_coverage_expected_1_or_more",
                      num(in_all ? icov_all / (double)in_all : NAN));
  json_object_set_new(hold, "confidence_calibration_error",
                      num(n_all ? ece_all / (double)n_all : NAN));
  json_object_set_new(hold, "by_cell_kind", cal);
  char why[200];
  if (promoted)
    snprintf(why, sizeof why, "mean Poisson deviance %.4f beats the best baseline (%s, %.4f)",
             mm.poisson_deviance, demand_baselines[best_base], bm[best_base].poisson_deviance);
  else
    snprintf(why, sizeof why,
             "mean Poisson deviance %.4f does not beat the baseline %s (%.4f): the baseline "
             "answers",
             mm.poisson_deviance, demand_baselines[best_base], bm[best_base].poisson_deviance);

  /* refit on every origin */
  stage(w->progress, w->pctx, "demand model (refit)", 0.4);
  xp.rounds = best > 0 ? best : 1;
  xp.early_stop = 0;
  if (xgb_train(&xp, w->all.X, w->all.y, w->all.n, CF__COUNT, NULL, NULL, 0, &s->demand, NULL,
                err) < 0)
    return -1;
  json_object_set_new(
      w->models, "demand",
      json_pack("{s:s,s:s,s:I,s:I,s:o,s:i,s:o,s:o,s:b,s:s,s:s}", "algorithm",
                "XGBoost gradient-boosted trees", "objective", "count:poisson", "rows",
                (json_int_t)w->all.n, "holdout_rows", (json_int_t)nho, "features",
                feature_list(ml_cell_feature_names, CF__COUNT), "rounds", xp.rounds,
                "holdout", hold, "baselines", bases, "promoted", promoted, "serving",
                promoted ? "model" : demand_baselines[best_base], "reason", why));
  json_object_set_new(json_object_get(w->models, "demand"), "holdout_metrics_json_keys",
                      json_null());
  json_object_del(json_object_get(w->models, "demand"), "holdout_metrics_json_keys");
  return 0;
}

static int train_rise(struct work *w, json_t *eval, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  size_t nho = w->ho.n, ntr = w->tr.n, nall = w->all.n;
  float *ytr = malloc((ntr ? ntr : 1) * sizeof *ytr), *yho = malloc((nho ? nho : 1) * sizeof *yho),
        *yall = malloc((nall ? nall : 1) * sizeof *yall);
  double *p = malloc((nho ? nho : 1) * sizeof *p), *pc = malloc((nho ? nho : 1) * sizeof *pc);
  unsigned char *lab = malloc(nho ? nho : 1);
  struct forest *fh = NULL;
  int rc = -1;
  if (!ytr || !yho || !yall || !p || !pc || !lab) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ntr; i++)
    ytr[i] = w->tr.y[i] > w->tr.last[i];
  for (size_t i = 0; i < nho; i++)
    lab[i] = (unsigned char)(yho[i] = w->ho.y[i] > w->ho.last[i]);
  for (size_t i = 0; i < nall; i++)
    yall[i] = w->all.y[i] > w->all.last[i];
  /* baseline: the rate of rise by last-period demand, from the training rows */
  double up[RISE_BASE_MAX + 1] = {0}, cnt[RISE_BASE_MAX + 1] = {0};
  for (size_t i = 0; i < ntr; i++) {
    int b = w->tr.last[i] > RISE_BASE_MAX ? RISE_BASE_MAX : (int)w->tr.last[i];
    up[b] += ytr[i];
    cnt[b]++;
  }
  for (int b = 0; b <= RISE_BASE_MAX; b++)
    s->rise_base[b] = (up[b] + 0.5) / (cnt[b] + 1);

  stage(w->progress, w->pctx, "demand-rise model", 0.5);
  struct xgb_params xp = {"binary:logistic", 1, cfg->rounds, cfg->depth, cfg->threads, 0.2,
                          cfg->seed + 1, EARLY_STOP};
  int best = cfg->rounds;
  if (xgb_train(&xp, w->tr.X, ytr, ntr, CF__COUNT, w->ho.X, yho, nho, &fh, &best, err) < 0)
    goto out;
  for (size_t i = 0; i < nho; i++)
    forest_predict(fh, w->ho.X + i * CF__COUNT, &p[i]);

  /* calibration, cross-fitted: Platt and isotonic, the better log loss wins */
  double loss[2] = {0, 0};
  for (int method = 0; method < 2; method++) {
    for (int f = 0; f < 2; f++) {
      size_t n = 0;
      double *fp = malloc((nho ? nho : 1) * sizeof *fp);
      unsigned char *fy = malloc(nho ? nho : 1);
      if (!fp || !fy) {
        free(fp);
        free(fy);
        gerr_set(err, GERR_INTERNAL, "out of memory");
        goto out;
      }
      for (size_t i = 0; i < nho; i++)
        if (w->ho.fold[i] == f) {
          fp[n] = p[i];
          fy[n++] = lab[i];
        }
      struct platt pl = {1, 0};
      struct isotonic iso = {0};
      double *fyd = malloc((n ? n : 1) * sizeof *fyd);
      for (size_t i = 0; fyd && i < n; i++)
        fyd[i] = fy[i];
      int ok = n > 0 && fyd &&
               (method == 0 ? platt_fit(fp, fy, n, &pl) : isotonic_fit(fp, fyd, NULL, n, &iso)) == 0;
      for (size_t i = 0; i < nho; i++)
        if (w->ho.fold[i] != f) {
          double q = !ok ? p[i] : method == 0 ? platt_apply(&pl, p[i]) : isotonic_apply(&iso, p[i]);
          pc[i] = method == 0 || !ok ? q : fmin(fmax(q, 1e-4), 1 - 1e-4);
          if (method == 1)
            pc[i] = fmin(fmax(pc[i], 1e-4), 1 - 1e-4);
          loss[method] -= lab[i] ? log(pc[i]) : log(1 - pc[i]);
        }
      isotonic_release(&iso);
      free(fyd);
      free(fp);
      free(fy);
    }
  }
  s->rise_iso = loss[1] < loss[0];
  /* the cross-fitted calibrated predictions of the chosen method, again */
  for (int f = 0; f < 2; f++) {
    size_t n = 0;
    double *fp = malloc((nho ? nho : 1) * sizeof *fp), *fyd = malloc((nho ? nho : 1) * sizeof *fyd);
    unsigned char *fy = malloc(nho ? nho : 1);
    if (!fp || !fy || !fyd) {
      free(fp);
      free(fy);
      free(fyd);
      gerr_set(err, GERR_INTERNAL, "out of memory");
      goto out;
    }
    for (size_t i = 0; i < nho; i++)
      if (w->ho.fold[i] == f) {
        fp[n] = p[i];
        fyd[n] = lab[i];
        fy[n++] = lab[i];
      }
    struct platt pl = {1, 0};
    struct isotonic iso = {0};
    int ok = n > 0 && (s->rise_iso ? isotonic_fit(fp, fyd, NULL, n, &iso) : platt_fit(fp, fy, n, &pl)) == 0;
    for (size_t i = 0; i < nho; i++)
      if (w->ho.fold[i] != f) {
        double q = !ok ? p[i] : s->rise_iso ? isotonic_apply(&iso, p[i]) : platt_apply(&pl, p[i]);
        pc[i] = fmin(fmax(q, 1e-4), 1 - 1e-4);
      }
    isotonic_release(&iso);
    free(fp);
    free(fy);
    free(fyd);
  }
  /* final calibration on the whole holdout */
  {
    double *yd = malloc((nho ? nho : 1) * sizeof *yd);
    if (!yd) {
      gerr_set(err, GERR_INTERNAL, "out of memory");
      goto out;
    }
    for (size_t i = 0; i < nho; i++)
      yd[i] = lab[i];
    s->rise_platt = (struct platt){1, 0};
    int ok = nho == 0 ? 0
             : s->rise_iso ? isotonic_fit(p, yd, NULL, nho, &s->rise_cal)
                           : platt_fit(p, lab, nho, &s->rise_platt);
    free(yd);
    if (ok < 0)
      s->rise_iso = 0, s->rise_platt = (struct platt){1, 0};
  }
  struct binary_metrics raw, cal, base;
  struct calib_report rel = {0};
  memset(&raw, 0, sizeof raw);
  memset(&cal, 0, sizeof cal);
  memset(&base, 0, sizeof base);
  if (nho && (eval_binary(lab, p, nho, &raw) < 0 || eval_binary(lab, pc, nho, &cal) < 0 ||
              eval_calibration(pc, lab, nho, 10, &rel) < 0)) {
    gerr_set(err, GERR_INTERNAL, "evaluating the demand-rise model");
    goto out;
  }
  for (size_t i = 0; i < nho; i++) {
    int b = w->ho.last[i] > RISE_BASE_MAX ? RISE_BASE_MAX : (int)w->ho.last[i];
    p[i] = s->rise_base[b];
  }
  if (nho && eval_binary(lab, p, nho, &base) < 0) {
    gerr_set(err, GERR_INTERNAL, "evaluating the demand-rise baseline");
    goto out;
  }
  int promoted = nho && cal.log_loss < base.log_loss;
  s->use_baseline[PREDICT_RISE] = !promoted;
  char why[200];
  snprintf(why, sizeof why, "holdout log loss %.4f %s the baseline's %.4f%s", cal.log_loss,
           promoted ? "beats" : "does not beat", base.log_loss,
           promoted ? "" : ": the baseline answers");
  json_t *hold = binary_json(&cal);
  json_object_set_new(hold, "calibration", json_string(s->rise_iso ? "isotonic" : "platt"));
  json_object_set_new(hold, "calibration_error", num(rel.ece));
  json_object_set_new(hold, "calibration_max_decile_gap", num(rel.max_gap));
  json_object_set_new(hold, "uncalibrated", binary_json(&raw));
  json_object_set(eval, "binary_classification_metrics", hold);

  stage(w->progress, w->pctx, "demand-rise model (refit)", 0.6);
  xp.rounds = best > 0 ? best : 1;
  xp.early_stop = 0;
  if (xgb_train(&xp, w->all.X, yall, nall, CF__COUNT, NULL, NULL, 0, &s->rise, NULL, err) < 0) {
    json_decref(hold);
    goto out;
  }
  json_object_set_new(
      w->models, "demand_rise",
      json_pack("{s:s,s:s,s:I,s:I,s:o,s:i,s:o,s:{s:o},s:b,s:s,s:s}", "algorithm",
                "XGBoost gradient-boosted trees", "objective", "binary:logistic", "rows",
                (json_int_t)nall, "holdout_rows", (json_int_t)nho, "features",
                feature_list(ml_cell_feature_names, CF__COUNT), "rounds", xp.rounds, "holdout",
                hold, "baselines", "rise_rate_by_last_period", binary_json(&base), "promoted",
                promoted, "serving", promoted ? "model" : "rise_rate_by_last_period", "reason",
                why));
  rc = 0;
out:
  forest_free(fh);
  free(ytr);
  free(yho);
  free(yall);
  free(p);
  free(pc);
  free(lab);
  return rc;
}

static int train_top(struct work *w, json_t *eval, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  const struct dataset *d = w->d;
  size_t nf = ml_cust_nfeatures(d), K = d->nprod;
  size_t ntr_all = 0, nho = 0;
  for (size_t i = 0; i < w->nsales; i++) {
    int a = (d->asof_day - w->sales[i].day) / d->period;
    if (a == 0)
      nho++;
    else if (a < cfg->origins)
      ntr_all++;
  }
  double rate = ntr_all > cfg->max_sales_rows ? (double)cfg->max_sales_rows / (double)ntr_all : 1;
  float *Xtr = NULL, *ytr = NULL, *Xho = NULL, *yho = NULL, *Xall = NULL, *yall = NULL;
  double *p = NULL, *pb = NULL;
  int *lab = NULL;
  unsigned char *fold = NULL;
  struct class_report *cls = NULL;
  struct forest *fh = NULL;
  int rc = -1;
  size_t cap_tr = (size_t)(rate * (double)ntr_all) + 1024;
  if (cap_tr > ntr_all)
    cap_tr = ntr_all;
  size_t cap_ho = nho > cfg->max_sales_rows / 4 ? cfg->max_sales_rows / 4 : nho;
  double rate_ho = nho ? (double)cap_ho / (double)nho : 1;
  Xtr = malloc((cap_tr + 1) * nf * sizeof *Xtr);
  ytr = malloc((cap_tr + 1) * sizeof *ytr);
  Xho = malloc((cap_ho + 1) * nf * sizeof *Xho);
  yho = malloc((cap_ho + 1) * sizeof *yho);
  if (!Xtr || !ytr || !Xho || !yho) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  size_t ntr = 0;
  nho = 0;
  for (size_t i = 0; i < w->nsales; i++) {
    const struct ml_sale *sa = &w->sales[i];
    int a = (d->asof_day - sa->day) / d->period;
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ULL ^ cfg->seed;
    if (a == 0 && nho < cap_ho && unit_of(h) < rate_ho) {
      ml_cust_features(d, sa->pin, sa->chan, sa->age, sa->income, 1, Xho + nho * nf);
      yho[nho++] = sa->prod;
    } else if (a > 0 && a < cfg->origins && ntr < cap_tr && unit_of(h) < rate) {
      ml_cust_features(d, sa->pin, sa->chan, sa->age, sa->income, a + 1, Xtr + ntr * nf);
      ytr[ntr++] = sa->prod;
    }
  }
  if (ntr == 0 || nho == 0) {
    gerr_set(err, GERR_CONFLICT, "too few recent sales to train the top-product model");
    goto out;
  }
  stage(w->progress, w->pctx, "top-product model", 0.7);
  struct xgb_params xp = {"multi:softprob", (int)K, cfg->rounds, cfg->depth, cfg->threads, 0.2,
                          cfg->seed + 2, EARLY_STOP};
  int best = cfg->rounds;
  if (K < 2) {
    gerr_set(err, GERR_CONFLICT, "top product needs at least two products in the sales");
    goto out;
  }
  if (xgb_train(&xp, Xtr, ytr, ntr, nf, Xho, yho, nho, &fh, &best, err) < 0)
    goto out;
  p = malloc(nho * K * sizeof *p);
  pb = malloc(nho * K * sizeof *pb);
  lab = malloc(nho * sizeof *lab);
  fold = malloc(nho);
  cls = calloc(K, sizeof *cls);
  if (!p || !pb || !lab || !fold || !cls) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nho; i++) {
    forest_predict(fh, Xho + i * nf, p + i * K);
    lab[i] = (int)yho[i];
    fold[i] = (unsigned char)(mix((uint64_t)i ^ cfg->seed) & 1);
    /* baseline: the pincode's product shares, shrunk toward the nation's */
    double sum = 0;
    for (size_t k = 0; k < K; k++)
      sum += pb[i * K + k] = Xho[i * nf + UF__COUNT + k * UF_PER_PRODUCT];
    for (size_t k = 0; k < K; k++)
      pb[i * K + k] /= sum > 0 ? sum : 1;
  }
  /* temperature, cross-fitted for the report, then on the whole holdout */
  double *pc = malloc(nho * K * sizeof *pc), *tmp = malloc(nho * K * sizeof *tmp);
  int *tl = malloc(nho * sizeof *tl);
  if (!pc || !tmp || !tl) {
    free(pc);
    free(tmp);
    free(tl);
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  memcpy(pc, p, nho * K * sizeof *p);
  for (int f = 0; f < 2; f++) {
    size_t n = 0;
    for (size_t i = 0; i < nho; i++)
      if (fold[i] == f) {
        memcpy(tmp + n * K, p + i * K, K * sizeof *p);
        tl[n++] = lab[i];
      }
    double T = 1;
    if (n && temperature_fit(tmp, tl, n, K, &T) < 0)
      T = 1;
    for (size_t i = 0; i < nho; i++)
      if (fold[i] != f)
        temperature_apply(pc + i * K, K, T);
  }
  if (temperature_fit(p, lab, nho, K, &s->top_temp) < 0)
    s->top_temp = 1;
  free(tmp);
  free(tl);
  struct multi_metrics mm, bm;
  struct class_report *bcls = calloc(K, sizeof *bcls);
  /* reliability of the top probability */
  double *topp = malloc(nho * sizeof *topp);
  unsigned char *tophit = malloc(nho);
  struct calib_report rel = {0};
  int bad = !bcls || !topp || !tophit || eval_multiclass(lab, pc, nho, K, &mm, cls) < 0 ||
            eval_multiclass(lab, pb, nho, K, &bm, bcls) < 0;
  for (size_t i = 0; !bad && i < nho; i++) {
    size_t t = 0;
    for (size_t k = 1; k < K; k++)
      if (pc[i * K + k] > pc[i * K + t])
        t = k;
    topp[i] = pc[i * K + t];
    tophit[i] = (int)t == lab[i];
  }
  if (!bad && eval_calibration(topp, tophit, nho, 10, &rel) < 0)
    bad = 1;
  free(pc);
  free(topp);
  free(tophit);
  if (bad) {
    free(bcls);
    gerr_set(err, GERR_INTERNAL, "evaluating the top-product model");
    goto out;
  }
  int promoted = mm.log_loss < bm.log_loss;
  s->use_baseline[PREDICT_TOP_PRODUCT] = !promoted;
  char why[200];
  snprintf(why, sizeof why, "holdout log loss %.4f %s the baseline's %.4f%s", mm.log_loss,
           promoted ? "beats" : "does not beat", bm.log_loss,
           promoted ? "" : ": the baseline answers");
  json_t *hold = multi_json(d, &mm, cls);
  json_object_set_new(hold, "calibration", json_string("temperature"));
  json_object_set_new(hold, "temperature", num(s->top_temp));
  json_object_set_new(hold, "top_probability_calibration_error", num(rel.ece));
  json_object_set_new(hold, "top_probability_max_decile_gap", num(rel.max_gap));
  json_object_set(eval, "multi_classification_metrics", hold);
  json_t *base = multi_json(d, &bm, bcls);
  free(bcls);

  /* refit on every sale used */
  stage(w->progress, w->pctx, "top-product model (refit)", 0.85);
  size_t nall = ntr + nho;
  Xall = malloc(nall * nf * sizeof *Xall);
  yall = malloc(nall * sizeof *yall);
  if (!Xall || !yall) {
    json_decref(hold);
    json_decref(base);
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  memcpy(Xall, Xtr, ntr * nf * sizeof *Xall);
  memcpy(Xall + ntr * nf, Xho, nho * nf * sizeof *Xall);
  memcpy(yall, ytr, ntr * sizeof *yall);
  memcpy(yall + ntr, yho, nho * sizeof *yall);
  xp.rounds = best > 0 ? best : 1;
  xp.early_stop = 0;
  if (xgb_train(&xp, Xall, yall, nall, nf, NULL, NULL, 0, &s->top, NULL, err) < 0) {
    json_decref(hold);
    json_decref(base);
    goto out;
  }
  json_t *names = json_array();
  char nb[160];
  for (size_t i = 0; i < nf; i++)
    json_array_append_new(names, json_string(ml_cust_feature_name(d, i, nb, sizeof nb)));
  json_object_set_new(
      w->models, "top_product",
      json_pack("{s:s,s:s,s:I,s:I,s:o,s:i,s:o,s:{s:o},s:b,s:s,s:s}", "algorithm",
                "XGBoost gradient-boosted trees", "objective", "multi:softprob", "rows",
                (json_int_t)nall, "holdout_rows", (json_int_t)nho, "features", names, "rounds",
                xp.rounds, "holdout", hold, "baselines", "pincode_product_shares", base,
                "promoted", promoted, "serving", promoted ? "model" : "pincode_product_shares",
                "reason", why));
  rc = 0;
out:
  forest_free(fh);
  free(Xtr);
  free(ytr);
  free(Xho);
  free(yho);
  free(Xall);
  free(yall);
  free(p);
  free(pb);
  free(lab);
  free(fold);
  free(cls);
  return rc;
}

static void iso_utc(char *out, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char base[20];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%s.%06dZ", base, (int)(ts.tv_nsec / 1000));
}

int suite_train(struct store *db, const struct gaz *gaz, const struct train_config *cfg,
                train_progress_fn progress, void *progress_ctx, struct suite **out,
                struct gerr *err) {
  struct train_config def;
  if (!cfg) {
    train_config_defaults(&def);
    cfg = &def;
  }
  *out = NULL;
  if (cfg->period_days < 1 || cfg->origins < 2 || cfg->rounds < 1 || cfg->depth < 1)
    return gerr_set(err, GERR_INVALID_INPUT, "invalid training settings");
  int64_t t0 = mono_us();
  struct work w = {.cfg = cfg, .progress = progress, .pctx = progress_ctx};
  struct dataset_builder *b = NULL;
  int rc = -1;
  json_t *eval = json_object();
  w.models = json_object();
  w.s = calloc(1, sizeof *w.s);
  if (!w.s || !eval || !w.models) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  w.s->level = cfg->level;
  w.s->gaz = gaz;
  stage(progress, progress_ctx, "reading sales", 0);
  if (dataset_builder_new(cfg->period_days, &b, err) < 0)
    goto out;
  struct reader_ctx rd = {b, 0, 0, progress, progress_ctx, 0};
  if (store_sales_count(db, &rd.total, err) < 0)
    goto out;
  struct sales_filter f;
  sales_filter_init(&f);
  if (store_sales_query(db, &f, on_sale, &rd, err) < 0)
    goto out;
  if (rd.failed) {
    gerr_set(err, GERR_INTERNAL, "out of memory reading sales");
    goto out;
  }
  stage(progress, progress_ctx, "building period cells", 0.1);
  struct dataset_builder *bb = b;
  b = NULL;
  if (dataset_builder_finish(bb, gaz, cfg->origins + ML_HIST, cfg->origins, &w.d, &w.sales,
                             &w.nsales, err) < 0)
    goto out;
  if (w.d->known < 3) {
    gerr_set(err, GERR_CONFLICT,
             "too little history to train: the sales span %d period(s) of %d days, at least 3 "
             "are needed",
             w.d->known, cfg->period_days);
    goto out;
  }
  if (build_cell_rows(w.d, cfg->origins, cfg->seed, &w.all) < 0 ||
      rows_select(&w.all, 0, &w.tr) < 0 || rows_select(&w.all, 1, &w.ho) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory building training rows");
    goto out;
  }
  if (w.tr.n == 0 || w.ho.n == 0) {
    gerr_set(err, GERR_CONFLICT, "too few cells with sales to train on");
    goto out;
  }
  w.y_ho = malloc(w.ho.n * sizeof *w.y_ho);
  w.mu_ho = malloc(w.ho.n * sizeof *w.mu_ho);
  if (!w.y_ho || !w.mu_ho) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  if (train_demand(&w, err) < 0)
    goto out;
  json_t *dm = json_object_get(json_object_get(w.models, "demand"), "holdout");
  json_object_set(eval, "regression_metrics", dm);
  if (train_rise(&w, eval, err) < 0 || train_top(&w, eval, err) < 0)
    goto out;

  stage(progress, progress_ctx, "finishing", 0.95);
  struct suite *s = w.s;
  if (dataset_trim(w.d, gaz, ML_HIST, &s->d, err) < 0 || suite_index(s, err) < 0)
    goto out;
  iso_utc(s->trained_at, sizeof s->trained_at);
  ist_format_date(w.d->first_ms, s->data_from);
  ist_format_date(w.d->last_ms, s->data_to);
  s->rows = (int64_t)w.all.n;
  s->duration_ms = (mono_us() - t0) / 1000;
  char asof[11];
  ist_format_date((int64_t)w.d->asof_day * DAY_MS, asof);
  json_object_set_new(eval, "dataset_size", json_integer((json_int_t)w.d->nsales_read));
  s->report = json_pack(
      "{s:I,s:s,s:{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:i},s:o,s:o,s:I}", "version", (json_int_t)0,
      "trained_at", s->trained_at, "data", "from", s->data_from, "to", s->data_to, "as_of",
      asof, "period_days", cfg->period_days, "sales", (json_int_t)w.d->nsales_read, "pincodes",
      (json_int_t)w.d->npin, "cells", (json_int_t)w.d->ncell, "origins", cfg->origins,
      "evaluation", eval, "models", w.models, "duration_ms", (json_int_t)s->duration_ms);
  eval = w.models = NULL;
  if (!s->report) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  stage(progress, progress_ctx, "regions", 0.97);
  if (suite_regions_make(s, db, cfg->regions, cfg->seed, err) < 0)
    goto out;
  s->duration_ms = (mono_us() - t0) / 1000;
  json_object_set_new(s->report, "duration_ms", json_integer((json_int_t)s->duration_ms));
  stage(progress, progress_ctx, "done", 1);
  *out = s;
  w.s = NULL;
  rc = 0;
out:
  dataset_builder_free(b);
  json_decref(eval);
  json_decref(w.models);
  suite_free(w.s);
  dataset_free(w.d);
  free(w.sales);
  rows_release(&w.all);
  rows_release(&w.tr);
  rows_release(&w.ho);
  free(w.y_ho);
  free(w.mu_ho);
  return rc;
}
