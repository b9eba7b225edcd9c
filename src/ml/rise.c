/* The demand-rise answer and its judges. docs/rules.md §3: a cell rises
 * when its demand in the target period is strictly greater than in the
 * last period before the as-of date.
 *
 * The answer: a classifier (binary:logistic on the cell features),
 * calibrated per horizon, whose probability is kept on the side of 1/2
 * that the demand answer's own law puts P(Y > last) on (ml_rise_agree,
 * suite.c): /predict/demand and /predict/demand-rise, the regions and the
 * insights never disagree on whether a cell rises, and the classifier's
 * ranking (better than the law's alone, docs/models.md) is kept.
 *
 * No figure comes from data that chose anything about it. The classifier
 * is trained on the rows of the demand backtest's model that forecast the
 * last period (targets older than its cutoff c), early-stopped and
 * calibrated (Platt or isotonic per horizon, whichever the cross-fitted log
 * loss prefers) on target c, and judged on the rows whose target is the
 * last period (horizon 1), where the demand law comes from that backtest
 * model with a dispersion fitted on older targets. Beside it: the demand
 * law's P(Y > last) alone, and the baseline P(Y > last) for Y ~
 * Poisson(the 6-period moving-average baseline), which the answer must
 * beat on log loss to serve. Then the classifier is refitted on every row
 * with the round count found and keeps its calibrations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/train_int.h"

static int rise_label(const struct rows *r, size_t i) { return r->y[i] > r->last[i]; }

static double clamp_p(double p) { return fmin(fmax(p, 1e-4), 1 - 1e-4); }

/* ---- the classifier's calibration ---- */

/* One calibration method (0 Platt, 1 isotonic) fitted on rows idx. */
struct rcal {
  const double *p;
  const unsigned char *lab;
  int method;
  struct platt pl;
  struct isotonic iso;
  double *out; /* calibrated, per row */
  int failed;
};

static int rcal_fit(void *ctx, int f, const size_t *idx, size_t n) {
  struct rcal *c = ctx;
  (void)f;
  isotonic_release(&c->iso);
  c->pl = (struct platt){1, 0};
  c->failed = 0;
  double *p = malloc((n ? n : 1) * sizeof *p), *yd = malloc((n ? n : 1) * sizeof *yd);
  unsigned char *y = malloc(n ? n : 1);
  if (!p || !yd || !y) {
    free(p);
    free(yd);
    free(y);
    return -1;
  }
  for (size_t t = 0; t < n; t++) {
    p[t] = c->p[idx[t]];
    y[t] = c->lab[idx[t]];
    yd[t] = y[t];
  }
  c->failed = n == 0 || (c->method == 0 ? platt_fit(p, y, n, &c->pl)
                                        : isotonic_fit(p, yd, NULL, n, &c->iso)) != 0;
  free(p);
  free(yd);
  free(y);
  return 0;
}

static double rcal_one(const struct rcal *c, double p) {
  if (c->failed)
    return clamp_p(p);
  return clamp_p(c->method == 0 ? platt_apply(&c->pl, p) : isotonic_apply(&c->iso, p));
}

static int rcal_apply(void *ctx, int f, const size_t *idx, size_t n) {
  struct rcal *c = ctx;
  (void)f;
  for (size_t t = 0; t < n; t++)
    c->out[idx[t]] = rcal_one(c, c->p[idx[t]]);
  return 0;
}

/* Chooses the method by the cross-fitted log loss on rows vidx and fits it
 * on all of them into c (c->p, c->lab, c->out set by the caller). */
static int calibrate_on(struct rcal *c, const uint8_t *fold, const size_t *vidx, size_t nv) {
  double loss[2] = {0, 0};
  for (int m = 0; m < 2; m++) {
    c->method = m;
    if (crossfit(vidx, nv, fold, rcal_fit, rcal_apply, c) < 0)
      return -1;
    for (size_t t = 0; t < nv; t++)
      loss[m] -= c->lab[vidx[t]] ? log(c->out[vidx[t]]) : log(1 - c->out[vidx[t]]);
  }
  c->method = loss[1] < loss[0];
  return rcal_fit(c, 0, vidx, nv);
}

/* Moves the calibration of c into the suite's for horizon index k. */
static void calibration_keep(struct suite *s, int k, struct rcal *c) {
  isotonic_release(&s->rise_cal[k]);
  memset(&s->rise_cal[k], 0, sizeof s->rise_cal[k]);
  s->rise_iso[k] = c->method == 1 && !c->failed;
  s->rise_platt[k] = c->method == 0 && !c->failed ? c->pl : (struct platt){1, 0};
  if (s->rise_iso[k]) {
    s->rise_cal[k] = c->iso; /* moved */
    memset(&c->iso, 0, sizeof c->iso);
  }
}

/* ---- the classifier ---- */

struct classifier {
  int rounds, cutoff;
  size_t ntrain;
  struct binary_metrics raw, cal;
};

/* Trains the classifier on targets older than the cutoff c (early stop on
 * target c), fits the suite's calibration of each horizon on target c and
 * writes the calibrated probability of the holdout rows hidx[0..m) (before
 * agreement) into pc. 0, 1 (too little history: nothing done), -1. */
static int classifier_run(struct work *w, const unsigned char *lab, const size_t *hidx, size_t m,
                          double *pc, struct classifier *cl, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  const struct rows *r = &w->all;
  struct suite *s = w->s;
  size_t n = r->n, ntr = 0, nv = 0;
  int cut = w->bt_cutoff > 0 ? w->bt_cutoff : 1;
  /* learns from the cold rows too (a cold cell rises when it sells);
   * stopped and calibrated on the cells of pincodes with sales alone */
  for (size_t i = 0; i < n; i++) {
    int t = rows_target(r, i);
    ntr += t > cut;
    nv += t == cut && !r->cold[i];
  }
  memset(cl, 0, sizeof *cl);
  cl->cutoff = cut;
  if (ntr < 100 || m == 0)
    return 1;
  float *Xtr = malloc(ntr * CF__COUNT * sizeof *Xtr), *ytr = malloc(ntr * sizeof *ytr),
        *Xv = malloc((nv ? nv : 1) * CF__COUNT * sizeof *Xv),
        *yv = malloc((nv ? nv : 1) * sizeof *yv);
  double *p = malloc(n * sizeof *p), *po = malloc(n * sizeof *po), *hp = malloc(m * sizeof *hp);
  size_t *vidx = malloc((nv ? nv : 1) * sizeof *vidx);
  unsigned char *hl = malloc(m);
  struct forest *f = NULL;
  struct rcal c = {p, lab, 0, {1, 0}, {0}, po, 1};
  int rc = -1;
  if (!Xtr || !ytr || !Xv || !yv || !p || !po || !hp || !vidx || !hl) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  ntr = nv = 0;
  for (size_t i = 0; i < n; i++) {
    int t = rows_target(r, i);
    if (t > cut) {
      memcpy(Xtr + ntr * CF__COUNT, r->X + i * r->nf, CF__COUNT * sizeof *Xtr);
      ytr[ntr++] = lab[i];
    } else if (t == cut && !r->cold[i]) {
      memcpy(Xv + nv * CF__COUNT, r->X + i * r->nf, CF__COUNT * sizeof *Xv);
      yv[nv++] = lab[i];
    }
  }
  int stop = nv >= 30;
  struct xgb_params xp = {"binary:logistic", 1, stop ? cfg->rounds : cfg->rounds / 2 + 1,
                          cfg->depth, cfg->threads, 0.2, cfg->seed + 1, stop ? EARLY_STOP : 0};
  cl->rounds = xp.rounds;
  if (xgb_train(&xp, Xtr, ytr, ntr, CF__COUNT, Xv, yv, stop ? nv : 0, &f, &cl->rounds, err) < 0)
    goto out;
  for (size_t i = 0; i < n; i++)
    if (rows_target(r, i) == cut && !r->cold[i])
      forest_predict(f, r->X + i * r->nf, &p[i]);
  /* per horizon, the calibration on target c; the holdout's with it */
  for (int h = 1; h <= ML_HORIZONS; h++) {
    size_t nh = 0;
    for (size_t i = 0; i < n; i++)
      if (rows_target(r, i) == cut && r->h[i] == h && !r->cold[i])
        vidx[nh++] = i;
    c.failed = 1;
    c.method = 0;
    if (nh && calibrate_on(&c, r->fold, vidx, nh) < 0) {
      gerr_set(err, GERR_INTERNAL, "out of memory calibrating the demand-rise model");
      goto out;
    }
    if (h == 1)
      for (size_t t = 0; t < m; t++) {
        double q;
        forest_predict(f, r->X + hidx[t] * r->nf, &q);
        hp[t] = fmin(fmax(q, 0), 1);
        pc[t] = rcal_one(&c, hp[t]);
        hl[t] = lab[hidx[t]];
      }
    calibration_keep(s, h - 1, &c);
  }
  if (eval_binary(hl, hp, m, &cl->raw) < 0 || eval_binary(hl, pc, m, &cl->cal) < 0) {
    gerr_set(err, GERR_INTERNAL, "evaluating the demand-rise model");
    goto out;
  }
  cl->ntrain = ntr;
  rc = 0;
out:
  isotonic_release(&c.iso);
  forest_free(f);
  free(Xtr);
  free(ytr);
  free(Xv);
  free(yv);
  free(p);
  free(po);
  free(hp);
  free(vidx);
  free(hl);
  return rc;
}

/* ---- the answer on the holdout ---- */

/* The demand law's dispersion of horizon h and cell kind k by moments (as
 * demand_calib_fit), on the backtest rows whose target is older than the
 * last period. */
static double holdout_alpha(const struct work *w, int h, int k) {
  const struct rows *r = &w->all;
  double num = 0, den = 0;
  for (size_t i = 0; i < r->n; i++) {
    double mu = w->bt_mu[i];
    if (isnan(mu) || r->h[i] != h || r->kind[i] != k || rows_target(r, i) < 1)
      continue;
    num += (r->y[i] - mu) * (r->y[i] - mu) - mu;
    den += mu * mu;
  }
  double a = den > 0 && num > 0 ? num / den : 0;
  return a > 50 ? 50 : a;
}

int train_rise(struct work *w, json_t *eval, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  const struct rows *r = &w->all;
  size_t n = r->n, m = 0;
  unsigned char *lab = malloc(n ? n : 1), *hl = malloc(n ? n : 1);
  size_t *hidx = malloc((n ? n : 1) * sizeof *hidx);
  double *pl = malloc((n ? n : 1) * sizeof *pl), *pb = malloc((n ? n : 1) * sizeof *pb),
         *pc = malloc((n ? n : 1) * sizeof *pc), *ps = malloc((n ? n : 1) * sizeof *ps);
  float *yall = malloc((n ? n : 1) * sizeof *yall);
  json_t *hold = NULL, *by_h = json_object();
  int rc = -1;
  if (!lab || !hl || !hidx || !pl || !pb || !pc || !ps || !yall || !by_h || !w->bt_mu) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    yall[i] = lab[i] = (unsigned char)rise_label(r, i);
  /* the holdout: the last period, forecast by the demand backtest */
  double alpha[ML_HORIZONS][2];
  for (int h = 1; h <= ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++)
      alpha[h - 1][k] = holdout_alpha(w, h, k);
  for (int h = ML_HORIZONS; h >= 1; h--) { /* horizon 1 last: it stays */
    m = 0;
    for (size_t i = 0; i < n; i++) {
      double mu = w->bt_mu[i];
      if (isnan(mu) || rows_target(r, i) != 0 || r->h[i] != h)
        continue;
      double a = alpha[h - 1][r->kind[i]];
      pl[m] = eval_count_above(mu, mu * (1 + a * mu), r->last[i]);
      pb[m] = ml_rise_baseline(r->X + i * r->nf);
      hl[m] = lab[i];
      hidx[m++] = i;
    }
    struct binary_metrics bm;
    char key[12];
    snprintf(key, sizeof key, "%d", h);
    if (m && eval_binary(hl, pl, m, &bm) == 0)
      json_object_set_new(by_h, key, rep_binary(&bm));
  }
  if (m == 0) {
    gerr_set(err, GERR_CONFLICT, "too few cells with sales to judge the demand-rise model");
    goto out;
  }
  train_stage(w, "demand-rise model", 0.5);
  struct classifier cl;
  int crc = classifier_run(w, lab, hidx, m, pc, &cl, err);
  if (crc < 0)
    goto out;
  if (crc == 1) { /* no classifier: the law answers */
    gerr_set(err, GERR_CONFLICT, "too few cells with sales to train the demand-rise model");
    goto out;
  }
  /* the answer as served: the classifier on the law's side of 1/2 */
  for (size_t t = 0; t < m; t++)
    ps[t] = ml_rise_agree(pc[t], pl[t]);
  struct binary_metrics served, law, base;
  struct calib_report rel = {0};
  if (eval_binary(hl, ps, m, &served) < 0 || eval_binary(hl, pl, m, &law) < 0 ||
      eval_binary(hl, pb, m, &base) < 0 || eval_calibration(ps, hl, m, 10, &rel) < 0) {
    gerr_set(err, GERR_INTERNAL, "evaluating the demand-rise model");
    goto out;
  }
  int promoted = served.log_loss < base.log_loss;
  s->use_baseline[PREDICT_RISE] = !promoted;
  char why[300];
  snprintf(why, sizeof why,
           "holdout log loss %.4f %s the baseline's %.4f%s; ROC AUC %.4f (the classifier alone "
           "%.4f, the demand law alone %.4f)",
           served.log_loss, promoted ? "beats" : "does not beat", base.log_loss,
           promoted ? "" : ": the baseline answers", served.roc_auc, cl.cal.roc_auc, law.roc_auc);
  hold = rep_binary(&served);
  json_object_set_new(hold, "calibration", json_string(s->rise_iso[0] ? "isotonic" : "platt"));
  json_object_set_new(hold, "calibration_error", rep_num(rel.ece));
  json_object_set_new(hold, "calibration_max_decile_gap", rep_num(rel.max_gap));
  json_object_set_new(hold, "uncalibrated", rep_binary(&cl.raw));
  json_object_set_new(hold, "classifier_alone", rep_binary(&cl.cal));
  json_t *lj = rep_binary(&law);
  json_object_set_new(lj, "horizons", by_h);
  by_h = NULL;
  json_object_set_new(hold, "demand_law_alone", lj);
  json_object_set(eval, "binary_classification_metrics", hold);

  train_stage(w, "demand-rise model (refit)", 0.6);
  struct xgb_params xp = {"binary:logistic", 1, cl.rounds > 0 ? cl.rounds : 1, cfg->depth,
                          cfg->threads, 0.2, cfg->seed + 1, 0};
  forest_free(s->rise);
  s->rise = NULL;
  if (xgb_train(&xp, r->X, yall, n, CF__COUNT, NULL, NULL, 0, &s->rise, NULL, err) < 0)
    goto out;
  json_t *mj = rep_model("binary:logistic", n, m, rep_names(ml_cell_feature_names, CF__COUNT),
                         xp.rounds, json_incref(hold),
                         json_pack("{s:o}", "poisson_moving_average_6", rep_binary(&base)),
                         promoted, promoted ? "model" : "poisson_moving_average_6", why);
  json_object_set_new(mj, "training_cutoff_periods", json_integer(cl.cutoff));
  json_object_set_new(w->models, "demand_rise", mj);
  rc = 0;
out:
  json_decref(hold);
  json_decref(by_h);
  free(lab);
  free(hl);
  free(hidx);
  free(pl);
  free(pb);
  free(pc);
  free(ps);
  free(yall);
  return rc;
}
