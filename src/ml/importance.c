/* Global feature importance of a trained suite (docs/models.md "Feature
 * importance"): per model, the mean absolute TreeSHAP contribution of each
 * feature over an even sample of IMPORTANCE_ROWS of its training rows, in
 * the readable names of ?explain=true, largest first. Kept in the report
 * (and so with the version in the registry). The rows' contributions are
 * computed over the training's threads and summed in order, so the
 * figures are forest_importance's, whatever the thread count. */
#include <math.h>
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

/* Rows whose contributions are computed side by side, then summed. */
#define IMPORTANCE_CHUNK 256

struct contribs {
  const struct forest *f;
  const float *X; /* the chunk's first row */
  size_t stride, each; /* each: doubles per row, groups x (features + 1) */
  double *cb;          /* [rows x each] */
  _Atomic int failed;
};

static void contribs_rows(void *ctx, size_t from, size_t to) {
  struct contribs *c = ctx;
  for (size_t i = from; i < to; i++)
    if (forest_contribs(c->f, c->X + i * c->stride, c->cb + i * c->each) < 0)
      c->failed = 1;
}

/* forest_importance's figures, bit for bit (the same sums in the same
 * order), with the rows' contributions computed over `threads` threads.
 * 0 or -1 (out of memory). */
static int importance_of(const struct forest *f, const float *X, size_t n, size_t stride,
                         int threads, double *out) {
  size_t nf = forest_num_features(f), G = forest_num_groups(f), width = nf + 1;
  struct contribs c = {f, X, stride, G * width,
                       malloc(IMPORTANCE_CHUNK * G * width * sizeof(double)), 0};
  if (!c.cb)
    return -1;
  for (size_t k = 0; k < nf; k++)
    out[k] = 0;
  for (size_t i0 = 0; i0 < n && !c.failed; i0 += IMPORTANCE_CHUNK) {
    size_t m = n - i0 < IMPORTANCE_CHUNK ? n - i0 : IMPORTANCE_CHUNK;
    c.X = X + i0 * stride;
    ml_parallel(m, threads, contribs_rows, &c);
    for (size_t i = 0; i < m; i++)
      for (size_t g = 0; g < G; g++)
        for (size_t k = 0; k < nf; k++)
          out[k] += fabs(c.cb[i * c.each + g * width + k]);
  }
  for (size_t k = 0; k < nf; k++)
    out[k] = n ? out[k] / ((double)n * (double)G) : 0;
  free(c.cb);
  return c.failed ? -1 : 0;
}

/* One model's entry: {"rows": n, "features": [{feature, mean_abs_contribution}]}. */
static json_t *model_importance(const struct forest *f, const float *X, size_t n, size_t stride,
                                int threads, const struct dataset *d, name_fn name) {
  size_t nf = forest_num_features(f);
  double *v = malloc((nf ? nf : 1) * sizeof *v);
  struct ranked *r = malloc((nf ? nf : 1) * sizeof *r);
  json_t *list = json_array(), *out = NULL;
  if (!v || !r || !list || importance_of(f, X, n, stride, threads, v) < 0)
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
  int th = w->cfg->threads;
  json_t *dm = model_importance(s->demand, Xc, mc, w->all.nf, th, w->d, cell_feature);
  json_t *rm = model_importance(s->rise, Xc, mc, w->all.nf, th, w->d, cell_feature);
  json_t *tm = model_importance(s->top, Xs, ms, nf, th, w->d, ml_cust_feature_name);
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
