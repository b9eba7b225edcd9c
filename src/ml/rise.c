/* The demand-rise model: trained on every row whose target period is older
 * than the last, early-stopped and judged on the last period (as-of dates
 * one to three periods before it, so each horizon has its holdout),
 * calibrated per horizon (Platt or isotonic, whichever the cross-fitted log
 * loss prefers), then refitted on every row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/train_int.h"

static int rise_label(const struct rows *r, size_t i) { return r->y[i] > r->last[i]; }

static double clamp_p(double p) { return fmin(fmax(p, 1e-4), 1 - 1e-4); }

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

/* Chooses and fits the calibration of horizon h on the holdout rows idx;
 * pc gets their cross-fitted calibrated probabilities. */
static int calibrate_horizon(struct suite *s, int h, const double *p, const unsigned char *lab,
                             const uint8_t *fold, const size_t *idx, size_t n, double *pc) {
  double loss[2] = {0, 0};
  struct rcal c = {p, lab, 0, {1, 0}, {0}, pc, 0};
  for (int m = 0; m < 2; m++) {
    c.method = m;
    if (crossfit(idx, n, fold, rcal_fit, rcal_apply, &c) < 0) {
      isotonic_release(&c.iso);
      return -1;
    }
    for (size_t t = 0; t < n; t++)
      loss[m] -= lab[idx[t]] ? log(pc[idx[t]]) : log(1 - pc[idx[t]]);
  }
  c.method = loss[1] < loss[0];
  if (crossfit(idx, n, fold, rcal_fit, rcal_apply, &c) < 0 || rcal_fit(&c, 0, idx, n) < 0) {
    isotonic_release(&c.iso);
    return -1;
  }
  int k = h - 1;
  isotonic_release(&s->rise_cal[k]);
  s->rise_iso[k] = c.method == 1 && !c.failed;
  s->rise_platt[k] = c.method == 0 && !c.failed ? c.pl : (struct platt){1, 0};
  s->rise_cal[k] = c.iso; /* moved */
  if (!s->rise_iso[k]) {
    isotonic_release(&s->rise_cal[k]);
    memset(&s->rise_cal[k], 0, sizeof s->rise_cal[k]);
  }
  return 0;
}

int train_rise(struct work *w, json_t *eval, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  const struct rows *r = &w->all;
  size_t n = r->n, ntr = 0, nho = 0;
  for (size_t i = 0; i < n; i++)
    rows_target(r, i) == 0 ? nho++ : ntr++;
  float *Xtr = malloc((ntr ? ntr : 1) * CF__COUNT * sizeof *Xtr),
        *ytr = malloc((ntr ? ntr : 1) * sizeof *ytr),
        *Xho = malloc((nho ? nho : 1) * CF__COUNT * sizeof *Xho),
        *yho = malloc((nho ? nho : 1) * sizeof *yho), *yall = malloc((n ? n : 1) * sizeof *yall);
  double *p = malloc((n ? n : 1) * sizeof *p), *pc = malloc((n ? n : 1) * sizeof *pc);
  unsigned char *lab = malloc(n ? n : 1);
  size_t *idx = malloc((n ? n : 1) * sizeof *idx), *hidx = malloc((n ? n : 1) * sizeof *hidx);
  struct forest *fh = NULL;
  json_t *hold = NULL, *base_j = NULL;
  int rc = -1;
  if (!Xtr || !ytr || !Xho || !yho || !yall || !p || !pc || !lab || !idx || !hidx) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  /* baseline: the rate of rise by last-period demand and horizon, from the
   * training rows */
  double up[ML_HORIZONS][RISE_BASE_MAX + 1] = {{0}}, cnt[ML_HORIZONS][RISE_BASE_MAX + 1] = {{0}};
  ntr = nho = 0;
  for (size_t i = 0; i < n; i++) {
    lab[i] = (unsigned char)rise_label(r, i);
    yall[i] = lab[i];
    if (rows_target(r, i) == 0) {
      memcpy(Xho + nho * CF__COUNT, r->X + i * r->nf, CF__COUNT * sizeof *Xho);
      yho[nho] = lab[i];
      hidx[nho++] = i;
    } else {
      memcpy(Xtr + ntr * CF__COUNT, r->X + i * r->nf, CF__COUNT * sizeof *Xtr);
      ytr[ntr++] = lab[i];
      int b = r->last[i] > RISE_BASE_MAX ? RISE_BASE_MAX : (int)r->last[i];
      up[r->h[i] - 1][b] += lab[i];
      cnt[r->h[i] - 1][b]++;
    }
  }
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int b = 0; b <= RISE_BASE_MAX; b++)
      s->rise_base[h][b] = (up[h][b] + 0.5) / (cnt[h][b] + 1);
  if (ntr == 0 || nho == 0) {
    gerr_set(err, GERR_CONFLICT, "too few cells with sales to train the demand-rise model");
    goto out;
  }
  train_stage(w, "demand-rise model", 0.5);
  struct xgb_params xp = {"binary:logistic", 1, cfg->rounds, cfg->depth, cfg->threads, 0.2,
                          cfg->seed + 1, EARLY_STOP};
  int best = cfg->rounds;
  if (xgb_train(&xp, Xtr, ytr, ntr, CF__COUNT, Xho, yho, nho, &fh, &best, err) < 0)
    goto out;
  for (size_t t = 0; t < nho; t++)
    forest_predict(fh, r->X + hidx[t] * r->nf, &p[hidx[t]]);

  /* calibration per horizon */
  for (int h = 1; h <= ML_HORIZONS; h++) {
    size_t m = 0;
    for (size_t t = 0; t < nho; t++)
      if (r->h[hidx[t]] == h)
        idx[m++] = hidx[t];
    if (calibrate_horizon(s, h, p, lab, r->fold, idx, m, pc) < 0) {
      gerr_set(err, GERR_INTERNAL, "out of memory calibrating the demand-rise model");
      goto out;
    }
  }
  /* judged on the next period (horizon 1), as before any horizon */
  size_t m = 0;
  for (size_t t = 0; t < nho; t++)
    if (r->h[hidx[t]] == 1)
      idx[m++] = hidx[t];
  double *hp = malloc((m ? m : 1) * sizeof *hp), *hpc = malloc((m ? m : 1) * sizeof *hpc),
         *hb = malloc((m ? m : 1) * sizeof *hb);
  unsigned char *hl = malloc(m ? m : 1);
  struct binary_metrics raw, cal, base;
  struct calib_report rel = {0};
  memset(&raw, 0, sizeof raw);
  memset(&cal, 0, sizeof cal);
  memset(&base, 0, sizeof base);
  int bad = !hp || !hpc || !hb || !hl;
  for (size_t t = 0; !bad && t < m; t++) {
    size_t i = idx[t];
    hp[t] = p[i];
    hpc[t] = pc[i];
    hl[t] = lab[i];
    int b = r->last[i] > RISE_BASE_MAX ? RISE_BASE_MAX : (int)r->last[i];
    hb[t] = s->rise_base[0][b];
  }
  if (!bad && m &&
      (eval_binary(hl, hp, m, &raw) < 0 || eval_binary(hl, hpc, m, &cal) < 0 ||
       eval_calibration(hpc, hl, m, 10, &rel) < 0 || eval_binary(hl, hb, m, &base) < 0))
    bad = 1;
  free(hp);
  free(hpc);
  free(hb);
  free(hl);
  if (bad) {
    gerr_set(err, GERR_INTERNAL, "evaluating the demand-rise model");
    goto out;
  }
  int promoted = m && cal.log_loss < base.log_loss;
  s->use_baseline[PREDICT_RISE] = !promoted;
  char why[200];
  snprintf(why, sizeof why, "holdout log loss %.4f %s the baseline's %.4f%s", cal.log_loss,
           promoted ? "beats" : "does not beat", base.log_loss,
           promoted ? "" : ": the baseline answers");
  hold = rep_binary(&cal);
  json_object_set_new(hold, "calibration", json_string(s->rise_iso[0] ? "isotonic" : "platt"));
  json_object_set_new(hold, "calibration_error", rep_num(rel.ece));
  json_object_set_new(hold, "calibration_max_decile_gap", rep_num(rel.max_gap));
  json_object_set_new(hold, "uncalibrated", rep_binary(&raw));
  json_object_set(eval, "binary_classification_metrics", hold);
  base_j = json_pack("{s:o}", "rise_rate_by_last_period", rep_binary(&base));

  train_stage(w, "demand-rise model (refit)", 0.6);
  xp.rounds = best > 0 ? best : 1;
  xp.early_stop = 0;
  if (xgb_train(&xp, r->X, yall, n, CF__COUNT, NULL, NULL, 0, &s->rise, NULL, err) < 0)
    goto out;
  json_object_set_new(w->models, "demand_rise",
                      rep_model("binary:logistic", n, m, rep_names(ml_cell_feature_names, CF__COUNT),
                                xp.rounds, json_incref(hold), base_j,
                                promoted, promoted ? "model" : "rise_rate_by_last_period", why));
  base_j = NULL;
  rc = 0;
out:
  json_decref(hold);
  json_decref(base_j);
  forest_free(fh);
  free(Xtr);
  free(ytr);
  free(Xho);
  free(yho);
  free(yall);
  free(p);
  free(pc);
  free(lab);
  free(idx);
  free(hidx);
  return rc;
}
