/* Pieces of the /models report that every model's training writes. */
#include <math.h>

#include "ml/train_int.h"

json_t *rep_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *rep_regression(const struct reg_metrics *m) {
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "n", (json_int_t)m->n, "r2", rep_num(m->r2),
                   "mae", rep_num(m->mae), "rmse", rep_num(m->rmse), "poisson_deviance",
                   rep_num(m->poisson_deviance), "bias", rep_num(m->bias), "wape",
                   rep_num(m->wape));
}

static json_t *class_json(const struct class_report *c) {
  return json_pack("{s:o,s:o,s:o,s:I}", "precision", rep_num(c->precision), "recall",
                   rep_num(c->recall), "f1-score", rep_num(c->f1), "support",
                   (json_int_t)c->support);
}

json_t *rep_binary(const struct binary_metrics *m) {
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o}}", "n", (json_int_t)m->n,
                   "accuracy", rep_num(m->accuracy), "precision", rep_num(m->cls[1].precision),
                   "recall", rep_num(m->cls[1].recall), "f1", rep_num(m->cls[1].f1), "roc_auc",
                   rep_num(m->roc_auc), "log_loss", rep_num(m->log_loss), "brier",
                   rep_num(m->brier), "report", "0", class_json(&m->cls[0]), "1",
                   class_json(&m->cls[1]));
}

json_t *rep_multi(const struct dataset *d, const struct multi_metrics *m,
                  const struct class_report *cls) {
  json_t *rep = json_object();
  for (size_t k = 0; k < d->nprod; k++)
    json_object_set_new(rep, d->prod[k], class_json(&cls[k]));
  return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "n", (json_int_t)m->n, "accuracy",
                   rep_num(m->accuracy), "top2_accuracy", rep_num(m->top2_accuracy), "log_loss",
                   rep_num(m->log_loss), "macro_f1", rep_num(m->macro_f1), "report", rep);
}

json_t *rep_names(const char *const *names, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(names[i]));
  return a;
}

json_t *rep_model(const char *objective, size_t rows, size_t holdout_rows, json_t *features,
                  int rounds, json_t *holdout, json_t *baselines, int promoted,
                  const char *serving, const char *reason) {
  return json_pack("{s:s,s:s,s:I,s:I,s:o,s:i,s:o,s:o,s:b,s:s,s:s}", "algorithm",
                   "XGBoost gradient-boosted trees", "objective", objective, "rows",
                   (json_int_t)rows, "holdout_rows", (json_int_t)holdout_rows, "features",
                   features, "rounds", rounds, "holdout", holdout, "baselines", baselines,
                   "promoted", promoted, "serving", serving, "reason", reason);
}
