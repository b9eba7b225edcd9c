/* The top-product model: one row per sale of the last TOP_PERIODS periods
 * (sampled), with the customer features at the sale's origin; trained on
 * the sales of periods 2 and older, early-stopped and calibrated (a
 * temperature) on period 1, judged on the last period (which chose
 * nothing) beside the pincode's product shares, then refitted on every
 * sale used with the round count and temperature found. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/train_int.h"

int train_top(struct work *w, json_t *eval, struct gerr *err) {
  const struct train_config *cfg = w->cfg;
  struct suite *s = w->s;
  const struct dataset *d = w->d;
  size_t nf = ml_cust_nfeatures(d), K = d->nprod;
  size_t ntr_all = 0, nho = 0;
  for (size_t i = 0; i < w->nsales; i++) {
    int a = (d->asof_day - w->sales[i].day) / d->period;
    if (a == 0)
      nho++;
    else if (a < TOP_PERIODS)
      ntr_all++;
  }
  double rate = ntr_all > cfg->max_sales_rows ? (double)cfg->max_sales_rows / (double)ntr_all : 1;
  float *Xtr = NULL, *ytr = NULL, *Xho = NULL, *yho = NULL, *Xall = NULL, *yall = NULL;
  float *Xva = NULL, *yva = NULL, *Xfit = NULL, *yfit = NULL;
  uint8_t *ta = NULL; /* period of each Xtr row */
  double *pv = NULL;
  int *lv = NULL;
  double *p = NULL, *pb = NULL;
  int *lab = NULL;
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
  ta = malloc(cap_tr + 1);
  if (!Xtr || !ytr || !Xho || !yho || !ta) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  size_t ntr = 0;
  nho = 0;
  for (size_t i = 0; i < w->nsales; i++) {
    const struct ml_sale *sa = &w->sales[i];
    int a = (d->asof_day - sa->day) / d->period;
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ULL ^ cfg->seed;
    if (a == 0 && nho < cap_ho && ml_unit(h) < rate_ho) {
      ml_cust_features(d, sa->pin, sa->chan, sa->age, sa->income, 1, Xho + nho * nf);
      yho[nho++] = sa->prod;
    } else if (a > 0 && a < TOP_PERIODS && ntr < cap_tr && ml_unit(h) < rate) {
      ml_cust_features(d, sa->pin, sa->chan, sa->age, sa->income, a + 1, Xtr + ntr * nf);
      ta[ntr] = (uint8_t)a;
      ytr[ntr++] = sa->prod;
    }
  }
  /* period 1 apart: the validation of early stopping and temperature */
  size_t nva = 0, nfit = 0;
  for (size_t i = 0; i < ntr; i++)
    nva += ta[i] == 1;
  Xva = malloc((nva + 1) * nf * sizeof *Xva);
  yva = malloc((nva + 1) * sizeof *yva);
  Xfit = malloc((ntr - nva + 1) * nf * sizeof *Xfit);
  yfit = malloc((ntr - nva + 1) * sizeof *yfit);
  if (!Xva || !yva || !Xfit || !yfit) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  nva = 0;
  for (size_t i = 0; i < ntr; i++) {
    float *X = ta[i] == 1 ? Xva : Xfit, *y = ta[i] == 1 ? yva : yfit;
    size_t *at = ta[i] == 1 ? &nva : &nfit;
    memcpy(X + *at * nf, Xtr + i * nf, nf * sizeof *X);
    y[(*at)++] = ytr[i];
  }
  if (nfit == 0 || nho == 0) {
    gerr_set(err, GERR_CONFLICT, "too few recent sales to train the top-product model");
    goto out;
  }
  train_stage(w, "top-product model", 0.7);
  struct xgb_params xp = {"multi:softprob", (int)K, cfg->rounds, cfg->depth, cfg->threads, 0.2,
                          cfg->seed + 2, EARLY_STOP};
  int best = cfg->rounds;
  if (K < 2) {
    gerr_set(err, GERR_CONFLICT, "top product needs at least two products in the sales");
    goto out;
  }
  int stop = nva >= 30;
  xp.early_stop = stop ? EARLY_STOP : 0;
  xp.rounds = best = stop ? cfg->rounds : cfg->rounds / 2 + 1;
  if (xgb_train(&xp, Xfit, yfit, nfit, nf, Xva, yva, stop ? nva : 0, &fh, &best, err) < 0)
    goto out;
  p = malloc(nho * K * sizeof *p);
  pb = malloc(nho * K * sizeof *pb);
  lab = malloc(nho * sizeof *lab);
  cls = calloc(K, sizeof *cls);
  pv = malloc((nva ? nva : 1) * K * sizeof *pv);
  lv = malloc((nva ? nva : 1) * sizeof *lv);
  if (!p || !pb || !lab || !cls || !pv || !lv) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < nho; i++) {
    forest_predict(fh, Xho + i * nf, p + i * K);
    lab[i] = (int)yho[i];
    /* baseline: the pincode's product shares, shrunk toward the nation's */
    double sum = 0;
    for (size_t k = 0; k < K; k++)
      sum += pb[i * K + k] = Xho[i * nf + UF__COUNT + k * UF_PER_PRODUCT];
    for (size_t k = 0; k < K; k++)
      pb[i * K + k] /= sum > 0 ? sum : 1;
  }
  /* the temperature, on period 1; the holdout's figures with it */
  for (size_t i = 0; i < nva; i++) {
    forest_predict(fh, Xva + i * nf, pv + i * K);
    lv[i] = (int)yva[i];
  }
  if (nva == 0 || temperature_fit(pv, lv, nva, K, &s->top_temp) < 0)
    s->top_temp = 1;
  double *pc = malloc(nho * K * sizeof *pc);
  if (!pc) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  memcpy(pc, p, nho * K * sizeof *pc);
  for (size_t i = 0; i < nho; i++)
    temperature_apply(pc + i * K, K, s->top_temp);
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
  json_t *hold = rep_multi(d, &mm, cls);
  json_object_set_new(hold, "calibration", json_string("temperature"));
  json_object_set_new(hold, "temperature", rep_num(s->top_temp));
  json_object_set_new(hold, "top_probability_calibration_error", rep_num(rel.ece));
  json_object_set_new(hold, "top_probability_max_decile_gap", rep_num(rel.max_gap));
  json_object_set(eval, "multi_classification_metrics", hold);
  json_t *base = rep_multi(d, &bm, bcls);
  free(bcls);

  /* refit on every sale used */
  train_stage(w, "top-product model (refit)", 0.85);
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
  json_object_set_new(w->models, "top_product",
                      rep_model("multi:softprob", nall, nho, names, xp.rounds, hold,
                                json_pack("{s:o}", "pincode_product_shares", base), promoted,
                                promoted ? "model" : "pincode_product_shares", why));
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
  free(cls);
  free(ta);
  free(Xva);
  free(yva);
  free(Xfit);
  free(yfit);
  free(pv);
  free(lv);
  return rc;
}

