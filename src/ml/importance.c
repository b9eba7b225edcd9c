/* Global feature importance of a trained suite (docs/models.md "Feature
 * importance"): per model, the mean absolute TreeSHAP contribution of each
 * feature over an even sample of IMPORTANCE_ROWS of its training rows, in
 * the readable names of ?explain=true, largest first. Kept in the report
 * (and so with the version in the registry). */
#include <stdlib.h>
#include <string.h>

#include "ml/train_int.h"

/* Rows explained per model: exact TreeSHAP costs about a thousand
 * predictions a row, so a few thousand keep this a small part of a run. */
#define IMPORTANCE_ROWS 1000

struct ranked {
  size_t i;
  double v;
};

static int by_value_desc(const void *a, const void *b) {
  const struct ranked *x = a, *y = b;
  return x->v < y->v ? 1 : x->v > y->v ? -1 : (x->i > y->i) - (x->i < y->i);
}

typedef const char *(*name_fn)(const struct dataset *d, size_t i, char *buf, size_t cap);

static const char *cell_feature(const struct dataset *d, size_t i, char *buf, size_t cap) {
  (void)d;
  (void)buf;
  (void)cap;
  return i < CF__COUNT ? ml_cell_feature_names[i] : "?";
}

/* One model's entry: {"rows": n, "features": [{feature, mean_abs_contribution}]}. */
static json_t *model_importance(const struct forest *f, const float *X, size_t n, size_t stride,
                                const struct dataset *d, name_fn name) {
  size_t nf = forest_num_features(f);
  double *v = malloc((nf ? nf : 1) * sizeof *v);
  struct ranked *r = malloc((nf ? nf : 1) * sizeof *r);
  json_t *list = json_array(), *out = NULL;
  if (!v || !r || !list || forest_importance(f, X, n, stride, v) < 0)
    goto done;
  for (size_t k = 0; k < nf; k++)
    r[k] = (struct ranked){k, v[k]};
  qsort(r, nf, sizeof *r, by_value_desc);
  char buf[160];
  for (size_t k = 0; k < nf; k++)
    json_array_append_new(list, json_pack("{s:s,s:o}", "feature", name(d, r[k].i, buf, sizeof buf),
                                          "mean_abs_contribution", rep_num(r[k].v)));
  out = json_pack("{s:I,s:O}", "rows", (json_int_t)n, "features", list);
done:
  json_decref(list);
  free(v);
  free(r);
  return out;
}

/* An even sample of the cell rows: m of them, densely copied. */
static float *sample_cells(const struct rows *r, size_t *m) {
  *m = r->n < IMPORTANCE_ROWS ? r->n : IMPORTANCE_ROWS;
  float *X = malloc((*m ? *m : 1) * r->nf * sizeof *X);
  for (size_t t = 0; X && t < *m; t++)
    memcpy(X + t * r->nf, r->X + (t * r->n / *m) * r->nf, r->nf * sizeof *X);
  return X;
}

/* An even sample of the top-product model's training sales (periods 1 to
 * TOP_PERIODS - 1, their features at their origin, as top.c builds them). */
static float *sample_sales(const struct work *w, size_t nf, size_t *m) {
  const struct dataset *d = w->d;
  size_t n = 0;
  for (size_t i = 0; i < w->nsales; i++) {
    int a = (d->asof_day - w->sales[i].day) / d->period;
    n += a > 0 && a < TOP_PERIODS;
  }
  *m = n < IMPORTANCE_ROWS ? n : IMPORTANCE_ROWS;
  float *X = malloc((*m ? *m : 1) * nf * sizeof *X);
  size_t seen = 0, t = 0;
  for (size_t i = 0; X && i < w->nsales && t < *m; i++) {
    const struct ml_sale *sa = &w->sales[i];
    int a = (d->asof_day - sa->day) / d->period;
    if (a <= 0 || a >= TOP_PERIODS)
      continue;
    if (seen++ == t * n / *m)
      ml_cust_features(d, sa->pin, sa->chan, sa->age, sa->income, a + 1, X + nf * t++);
  }
  *m = t;
  return X;
}

int train_importance(struct work *w, struct gerr *err) {
  const struct suite *s = w->s;
  size_t mc = 0, ms = 0, nf = ml_cust_nfeatures(w->d);
  float *Xc = sample_cells(&w->all, &mc), *Xs = sample_sales(w, nf, &ms);
  json_t *imp = NULL;
  int rc = -1;
  if (!Xc || !Xs)
    goto out;
  imp = json_pack("{s:s,s:s,s:i}", "method",
                  "mean absolute TreeSHAP contribution over a sample of the training rows, in "
                  "margin units (log for demand, logit for demand rise and, averaged over the "
                  "products, for top product); the refitted serving models",
                  "sample", "training rows, evenly spaced", "sample_rows_max", IMPORTANCE_ROWS);
  json_t *dm = model_importance(s->demand, Xc, mc, w->all.nf, w->d, cell_feature);
  json_t *rm = model_importance(s->rise, Xc, mc, w->all.nf, w->d, cell_feature);
  json_t *tm = model_importance(s->top, Xs, ms, nf, w->d, ml_cust_feature_name);
  if (imp && dm && rm && tm) {
    json_object_set_new(imp, "demand", dm);
    json_object_set_new(imp, "demand_rise", rm);
    json_object_set_new(imp, "top_product", tm);
    json_object_set_new(s->report, "importance", imp);
    imp = NULL;
    rc = 0;
  } else {
    json_decref(dm);
    json_decref(rm);
    json_decref(tm);
  }
out:
  json_decref(imp);
  free(Xc);
  free(Xs);
  if (rc < 0)
    gerr_set(err, GERR_INTERNAL, "out of memory computing feature importance");
  return rc;
}
