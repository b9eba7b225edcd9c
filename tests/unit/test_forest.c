/* src/ml/forest.c: the native forest against XGBoost itself. Models are
 * trained here through the C API on deterministic synthetic data, exported
 * as JSON, and every prediction, margin and SHAP contribution is compared
 * with XGBoost's own on rows it did not train on. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <xgboost/c_api.h>

#include "core/rng.h"
#include "gromo/forest.h"
#include "ml/ml_int.h"

#define XGB_OK(call)                                                         \
  do {                                                                       \
    if ((call) != 0)                                                         \
      fail_msg("%s: %s", #call, XGBGetLastError());                          \
  } while (0)

/* ---- deterministic data ---------------------------------------------- */

/* splitmix64 (core/rng.h) */
static double rng_normal(uint64_t *s) {
  double u = rng_unit(s), v = rng_unit(s);
  return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}
static int rng_poisson(uint64_t *s, double lambda) {
  double l = exp(-lambda), p = 1.0;
  int k = 0;
  do {
    k++;
    p *= rng_unit(s);
  } while (p > l && k < 1000);
  return k - 1;
}

enum label { LABEL_COUNT, LABEL_POSITIVE, LABEL_BINARY, LABEL_CLASS3, LABEL_REAL };

struct testdata {
  size_t rows, cols;
  float *x; /* rows x cols, NaN missing */
  float *y;
};

/* Feature 0 takes few integer values (ties sit exactly on thresholds),
 * features 1 and 3 miss 8 % of their values, feature 5 (when there is one)
 * 30 %; the rest are uniform or heavy-tailed. */
static void dataset_make(struct testdata *d, size_t rows, size_t cols,
                         enum label label, uint64_t seed) {
  d->rows = rows;
  d->cols = cols;
  d->x = malloc(rows * cols * sizeof *d->x);
  d->y = malloc(rows * sizeof *d->y);
  assert_non_null(d->x);
  assert_non_null(d->y);
  uint64_t s = seed;
  for (size_t i = 0; i < rows; i++) {
    float *x = d->x + i * cols;
    for (size_t j = 0; j < cols; j++) {
      if (j == 0)
        x[j] = (float)(splitmix64(&s) % 7);
      else if (j % 4 == 2)
        x[j] = (float)exp(2.0 * rng_normal(&s));
      else
        x[j] = (float)(10.0 * rng_unit(&s));
      double miss = j == 1 || j == 3 ? 0.08 : j == 5 ? 0.30 : 0.0;
      if (rng_unit(&s) < miss)
        x[j] = NAN;
    }
    double v[6]; /* the first six features, 0 when missing or absent */
    int miss5 = cols > 5 && isnan(x[5]);
    for (size_t j = 0; j < 6; j++)
      v[j] = j < cols && !isnan(x[j]) ? x[j] : 0.0;
    double eta = 0.25 * (v[0] == 3.0) + 0.12 * v[1] - 0.4 * log1p(v[2]) +
                 0.05 * v[3] * (v[4] > 5.0) + (miss5 ? 0.3 : 0.02 * v[5]);
    switch (label) {
    case LABEL_COUNT:
      d->y[i] = (float)rng_poisson(&s, exp(eta));
      break;
    case LABEL_POSITIVE: { /* compound Poisson-gamma: zeros and amounts */
      int n = rng_poisson(&s, 0.8 * exp(eta));
      double amount = 0.0;
      for (int k = 0; k < n; k++)
        amount += exp(0.5 * rng_normal(&s));
      d->y[i] = (float)amount;
      break;
    }
    case LABEL_BINARY:
      d->y[i] = rng_unit(&s) < 1.0 / (1.0 + exp(-(2.0 * eta - 1.5)));
      break;
    case LABEL_CLASS3: {
      double sc[3] = {eta, 0.15 * v[3] + 0.3 * (v[0] < 2.0), 0.8 - 0.1 * v[1]};
      int best = 0;
      for (int k = 0; k < 3; k++) {
        sc[k] -= log(-log(rng_unit(&s) + 1e-300)); /* Gumbel noise */
        if (sc[k] > sc[best])
          best = k;
      }
      d->y[i] = (float)best;
      break;
    }
    case LABEL_REAL:
      d->y[i] = (float)(3.0 * eta + 0.3 * rng_normal(&s));
      break;
    }
  }
}

static void dataset_release(struct testdata *d) {
  free(d->x);
  free(d->y);
}

/* ---- training through the C API --------------------------------------- */

struct model_case {
  const char *objective;
  enum label label;
  int num_class;
  int depth, rounds;
  size_t cols, rows;
};

/* The five objectives the service uses, at full size. */
static const struct model_case main_cases[] = {
    {"count:poisson", LABEL_COUNT, 0, 6, 60, 8, 3000},
    {"reg:tweedie", LABEL_POSITIVE, 0, 5, 50, 8, 3000},
    {"binary:logistic", LABEL_BINARY, 0, 5, 50, 10, 3000},
    {"multi:softprob", LABEL_CLASS3, 3, 4, 30, 6, 3000},
    {"reg:squarederror", LABEL_REAL, 0, 6, 100, 9, 3000},
};

/* The other objectives of the table, smaller. */
static const struct model_case extra_cases[] = {
    {"multi:softmax", LABEL_CLASS3, 3, 3, 10, 6, 1500},
    {"reg:logistic", LABEL_BINARY, 0, 4, 15, 7, 1500},
    {"binary:logitraw", LABEL_BINARY, 0, 4, 15, 7, 1500},
    {"reg:gamma", LABEL_POSITIVE, 0, 4, 15, 7, 1500}, /* y > 0: shifted below */
    {"reg:pseudohubererror", LABEL_REAL, 0, 4, 15, 7, 1500},
    {"reg:absoluteerror", LABEL_REAL, 0, 4, 15, 7, 1500},
    {"reg:squaredlogerror", LABEL_COUNT, 0, 4, 15, 7, 1500},
};

struct trained {
  BoosterHandle booster;
  struct testdata test;
  DMatrixHandle dtest;
  char *json; /* the exported model */
  size_t json_len;
};

static DMatrixHandle dmatrix_of(const struct testdata *d) {
  DMatrixHandle m;
  XGB_OK(XGDMatrixCreateFromMat(d->x, d->rows, d->cols, NAN, &m));
  XGB_OK(XGDMatrixSetFloatInfo(m, "label", d->y, d->rows));
  return m;
}

static void train(const struct model_case *c, struct trained *t) {
  struct testdata tr;
  dataset_make(&tr, c->rows, c->cols, c->label, 1000 + (uint64_t)c->label);
  dataset_make(&t->test, 1000, c->cols, c->label, 7777);
  if (strcmp(c->objective, "reg:gamma") == 0)
    for (size_t i = 0; i < tr.rows; i++)
      tr.y[i] += 0.1f;
  DMatrixHandle dtrain = dmatrix_of(&tr);
  t->dtest = dmatrix_of(&t->test);
  XGB_OK(XGBoosterCreate(&dtrain, 1, &t->booster));
  char depth[16], nclass[16];
  snprintf(depth, sizeof depth, "%d", c->depth);
  snprintf(nclass, sizeof nclass, "%d", c->num_class);
  const char *params[][2] = {
      {"objective", c->objective}, {"max_depth", depth}, {"eta", "0.3"},
      {"nthread", "2"}, {"tree_method", "hist"}, {"seed", "0"},
      {"verbosity", "0"},
  };
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
    XGB_OK(XGBoosterSetParam(t->booster, params[i][0], params[i][1]));
  if (c->num_class)
    XGB_OK(XGBoosterSetParam(t->booster, "num_class", nclass));
  for (int it = 0; it < c->rounds; it++)
    XGB_OK(XGBoosterUpdateOneIter(t->booster, it, dtrain));
  bst_ulong len;
  const char *buf;
  XGB_OK(XGBoosterSaveModelToBuffer(t->booster, "{\"format\":\"json\"}", &len, &buf));
  t->json = malloc(len);
  assert_non_null(t->json);
  memcpy(t->json, buf, len);
  t->json_len = len;
  XGB_OK(XGDMatrixFree(dtrain));
  dataset_release(&tr);
}

static void trained_release(struct trained *t) {
  XGB_OK(XGDMatrixFree(t->dtest));
  XGB_OK(XGBoosterFree(t->booster));
  dataset_release(&t->test);
  free(t->json);
}

/* XGBoost's prediction of a whole DMatrix, copied out of its buffer.
 * type: 0 value, 1 margin, 2 contributions. */
static float *xgb_predict(BoosterHandle b, DMatrixHandle m, int type, size_t *n) {
  char config[160];
  snprintf(config, sizeof config,
           "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
           "\"iteration_end\": 0, \"strict_shape\": false}", type);
  const bst_ulong *shape;
  bst_ulong dim;
  const float *res;
  XGB_OK(XGBoosterPredictFromDMatrix(b, m, config, &shape, &dim, &res));
  size_t total = 1;
  for (bst_ulong i = 0; i < dim; i++)
    total *= shape[i];
  float *copy = malloc(total * sizeof *copy);
  assert_non_null(copy);
  memcpy(copy, res, total * sizeof *copy);
  *n = total;
  return copy;
}

/* ---- agreement with XGBoost ------------------------------------------ */

/* |a - b| within tol, relative to |b| when rel, else to max(1, |b|). */
static int close_to(double a, double b, double tol, int rel) {
  double scale = rel ? fabs(b) : fmax(1.0, fabs(b));
  return fabs(a - b) <= tol * scale + 1e-12;
}

static void check_against_xgboost(const struct model_case *c) {
  struct trained t;
  train(c, &t);
  struct gerr err = {0};
  struct forest *f = NULL;
  int rc = forest_load_json(t.json, t.json_len, &f, &err);
  if (rc != 0)
    fail_msg("%s: %s", c->objective, err.msg);
  size_t groups = c->num_class ? (size_t)c->num_class : 1, F = c->cols;
  assert_int_equal(forest_num_features(f), F);
  assert_int_equal(forest_num_groups(f), groups);
  assert_int_equal(forest_num_trees(f), (size_t)c->rounds * groups);
  assert_string_equal(forest_objective(f), c->objective);
  assert_true(forest_max_depth(f) <= (size_t)c->depth);

  size_t nv, nm, nc, rows = t.test.rows;
  float *value = xgb_predict(t.booster, t.dtest, 0, &nv);
  float *margin = xgb_predict(t.booster, t.dtest, 1, &nm);
  float *contrib = xgb_predict(t.booster, t.dtest, 2, &nc);
  int argmax_only = strcmp(c->objective, "multi:softmax") == 0;
  assert_int_equal(nv, argmax_only ? rows : rows * groups);
  assert_int_equal(nm, rows * groups);
  assert_int_equal(nc, rows * groups * (F + 1));
  int exp_out = strcmp(c->objective, "count:poisson") == 0 ||
                strcmp(c->objective, "reg:tweedie") == 0 ||
                strcmp(c->objective, "reg:gamma") == 0;

  double out[8], m[8], *phi = malloc(groups * (F + 1) * sizeof *phi);
  assert_non_null(phi);
  double worst_v = 0, worst_m = 0, worst_c = 0, worst_sum = 0;
  for (size_t i = 0; i < rows; i++) {
    const float *x = t.test.x + i * F;
    forest_predict(f, x, out);
    forest_margin(f, x, m);
    assert_int_equal(forest_contribs(f, x, phi), 0);
    if (argmax_only) {
      size_t best = 0;
      for (size_t g = 1; g < groups; g++)
        if (out[g] > out[best])
          best = g;
      assert_int_equal(best, (size_t)value[i]);
    }
    for (size_t g = 0; g < groups; g++) {
      double xm = margin[i * groups + g];
      if (!argmax_only) {
        double xv = value[i * groups + g];
        worst_v = fmax(worst_v, fabs(out[g] - xv) / (exp_out ? fabs(xv) : 1.0));
        if (!close_to(out[g], xv, 1e-5, exp_out))
          fail_msg("%s row %zu group %zu: predict %.9g, XGBoost %.9g",
                   c->objective, i, g, out[g], xv);
      }
      worst_m = fmax(worst_m, fabs(m[g] - xm));
      if (!close_to(m[g], xm, 1e-5, 0))
        fail_msg("%s row %zu group %zu: margin %.9g, XGBoost %.9g",
                 c->objective, i, g, m[g], xm);
      double sum = 0;
      for (size_t j = 0; j <= F; j++) {
        double mine = phi[g * (F + 1) + j];
        double theirs = contrib[(i * groups + g) * (F + 1) + j];
        sum += mine;
        worst_c = fmax(worst_c, fabs(mine - theirs));
        if (!close_to(mine, theirs, 1e-4, 0))
          fail_msg("%s row %zu group %zu feature %zu: contribution %.9g, "
                   "XGBoost %.9g", c->objective, i, g, j, mine, theirs);
      }
      worst_sum = fmax(worst_sum, fabs(sum - m[g]));
      if (!close_to(sum, m[g], 1e-9, 0))
        fail_msg("%s row %zu group %zu: contributions sum to %.12g, margin "
                 "%.12g", c->objective, i, g, sum, m[g]);
    }
  }
  print_message("%-22s trees %3zu depth %zu: worst |predict| %.2g%s, |margin| "
                "%.2g, |contrib| %.2g, |sum - margin| %.2g\n",
                c->objective, forest_num_trees(f), forest_max_depth(f), worst_v,
                exp_out ? " (relative)" : "", worst_m, worst_c, worst_sum);

  /* save -> load_blob: the same forest, bit for bit */
  unsigned char *blob = NULL, *blob2 = NULL;
  size_t blen = 0, blen2 = 0;
  struct forest *g = NULL;
  assert_int_equal(forest_save(f, &blob, &blen, &err), 0);
  assert_int_equal(forest_load_blob(blob, blen, &g, &err), 0);
  assert_int_equal(forest_save(g, &blob2, &blen2, &err), 0);
  assert_int_equal(blen, blen2);
  assert_memory_equal(blob, blob2, blen);
  double *phi2 = malloc(groups * (F + 1) * sizeof *phi2);
  assert_non_null(phi2);
  for (size_t i = 0; i < rows; i++) {
    const float *x = t.test.x + i * F;
    double a[8], b[8];
    forest_predict(f, x, a);
    forest_predict(g, x, b);
    assert_memory_equal(a, b, groups * sizeof *a);
    if (i % 8)
      continue; /* contributions of every eighth row are enough here */
    assert_int_equal(forest_contribs(f, x, phi), 0);
    assert_int_equal(forest_contribs(g, x, phi2), 0);
    assert_memory_equal(phi, phi2, groups * (F + 1) * sizeof *phi);
  }
  /* forest_predict_rows: forest_predict's values bit for bit, whole blocks
   * of rows and a partial one, over a stride wider than a row */
  size_t stride = F + 3, nb = rows < 77 ? rows : 77;
  float *xs = calloc(nb * stride, sizeof *xs);
  double *one = malloc(nb * groups * sizeof *one), *many = malloc(nb * groups * sizeof *many);
  assert_true(xs && one && many);
  for (size_t i = 0; i < nb; i++) {
    memcpy(xs + i * stride, t.test.x + i * F, F * sizeof *xs);
    forest_predict(f, t.test.x + i * F, one + i * groups);
  }
  for (size_t n = 0; n <= nb; n += n < 3 ? 1 : 37) {
    memset(many, 0xff, nb * groups * sizeof *many);
    forest_predict_rows(f, xs, n, stride, many);
    assert_memory_equal(one, many, n * groups * sizeof *one);
  }
  free(xs);
  free(one);
  free(many);
  free(blob);
  free(blob2);
  free(phi);
  free(phi2);
  free(value);
  free(margin);
  free(contrib);
  forest_free(g);
  forest_free(f);
  trained_release(&t);
}

static void test_forest__matches_xgboost(void **state) {
  check_against_xgboost(*state);
}

static void test_forest__other_objectives_match(void **state) {
  for (size_t i = 0; i < sizeof extra_cases / sizeof extra_cases[0]; i++)
    check_against_xgboost(&extra_cases[i]);
}

/* ---- a deep tree: TreeSHAP's scratch comes from malloc ------------------
 * A hand-made chain of depth 30 cycling over three features (so features
 * repeat along the path and the path is unwound often), loaded by XGBoost
 * from the same JSON and compared. */

static json_t *int_array(const int64_t *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_integer(v[i]));
  return a;
}
static json_t *real_array(const double *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_real(v[i]));
  return a;
}

static void chain_tree(json_t *tree, int depth) {
  size_t n = 2 * (size_t)depth + 1;
  int64_t *left = calloc(n, sizeof *left), *right = calloc(n, sizeof *right),
          *split = calloc(n, sizeof *split), *parent = calloc(n, sizeof *parent),
          *dleft = calloc(n, sizeof *dleft), *stype = calloc(n, sizeof *stype);
  double *cond = calloc(n, sizeof *cond), *hess = calloc(n, sizeof *hess),
         *loss = calloc(n, sizeof *loss);
  assert_true(left && right && split && parent && dleft && stype && cond && hess && loss);
  /* Children come in pairs (right = left + 1, as XGBoost allocates them);
   * the chain goes on through the left child at even levels, the right at
   * odd ones, and the other child is a leaf. */
  size_t in = 0;
  hess[0] = 1000.0;
  parent[0] = 2147483647;
  for (int k = 0; k < depth; k++) {
    size_t a = 2 * (size_t)k + 1, on = k % 2 ? a + 1 : a, leaf = k % 2 ? a : a + 1;
    left[in] = (int64_t)a;
    right[in] = (int64_t)a + 1;
    split[in] = k % 3;
    cond[in] = 1.0 + (double)(k % 7);
    dleft[in] = (k / 2) % 2;
    hess[on] = hess[in] * (0.55 + 0.01 * (k % 5));
    hess[leaf] = hess[in] - hess[on];
    parent[a] = parent[a + 1] = (int64_t)in;
    left[leaf] = right[leaf] = -1;
    cond[leaf] = 0.1 * ((k * 37) % 11) - 0.5;
    in = on;
  }
  left[in] = right[in] = -1;
  cond[in] = 0.05 * depth - 0.4;
  json_object_set_new(tree, "left_children", int_array(left, n));
  json_object_set_new(tree, "right_children", int_array(right, n));
  json_object_set_new(tree, "split_indices", int_array(split, n));
  json_object_set_new(tree, "parents", int_array(parent, n));
  json_object_set_new(tree, "default_left", int_array(dleft, n));
  json_object_set_new(tree, "split_type", int_array(stype, n));
  json_object_set_new(tree, "split_conditions", real_array(cond, n));
  json_object_set_new(tree, "base_weights", real_array(cond, n));
  json_object_set_new(tree, "sum_hessian", real_array(hess, n));
  json_object_set_new(tree, "loss_changes", real_array(loss, n));
  char nodes[24];
  snprintf(nodes, sizeof nodes, "%zu", n);
  json_object_set_new(json_object_get(tree, "tree_param"), "num_nodes",
                      json_string(nodes));
  free(left), free(right), free(split), free(parent), free(dleft), free(stype);
  free(cond), free(hess), free(loss);
}

static void test_forest__deep_tree_contribs(void **state) {
  static const struct model_case c = {"reg:squarederror", LABEL_REAL, 0, 3, 3, 6, 600};
  struct trained t;
  train(&c, &t);
  json_error_t jerr;
  json_t *root = json_loadb(t.json, t.json_len, 0, &jerr);
  assert_non_null(root);
  json_t *trees = json_object_get(json_object_get(json_object_get(
      json_object_get(root, "learner"), "gradient_booster"), "model"), "trees");
  chain_tree(json_array_get(trees, 0), 30);
  chain_tree(json_array_get(trees, 2), 25);
  char *text = json_dumps(root, JSON_COMPACT);
  assert_non_null(text);
  json_decref(root);

  BoosterHandle b;
  XGB_OK(XGBoosterCreate(NULL, 0, &b));
  XGB_OK(XGBoosterLoadModelFromBuffer(b, text, strlen(text)));
  struct forest *f = NULL;
  struct gerr err;
  if (forest_load_json(text, strlen(text), &f, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(forest_max_depth(f), 30);
  size_t nm, nc, F = c.cols;
  float *margin = xgb_predict(b, t.dtest, 1, &nm);
  float *contrib = xgb_predict(b, t.dtest, 2, &nc);
  double phi[7], m;
  for (size_t i = 0; i < t.test.rows; i++) {
    const float *x = t.test.x + i * F;
    forest_margin(f, x, &m);
    assert_true(close_to(m, margin[i], 1e-5, 0));
    assert_int_equal(forest_contribs(f, x, phi), 0);
    double sum = 0;
    for (size_t j = 0; j <= F; j++) {
      sum += phi[j];
      if (!close_to(phi[j], contrib[i * (F + 1) + j], 1e-4, 0))
        fail_msg("row %zu feature %zu: %.9g, XGBoost %.9g", i, j, phi[j],
                 contrib[i * (F + 1) + j]);
    }
    assert_true(close_to(sum, m, 1e-9, 0));
  }
  free(margin);
  free(contrib);
  free(text);
  forest_free(f);
  XGB_OK(XGBoosterFree(b));
  trained_release(&t);
}

/* ---- concurrency --------------------------------------------------------- */

struct worker {
  const struct forest *f;
  const struct testdata *d;
  const double *want_pred, *want_phi;
  size_t width, start;
  size_t mismatches;
};

static void *worker_run(void *arg) {
  struct worker *w = arg;
  double *phi = malloc(w->width * sizeof *phi), pred;
  if (!phi)
    return NULL;
  for (size_t k = 0; k < w->d->rows; k++) {
    size_t i = (k + w->start) % w->d->rows; /* each thread its own order */
    const float *x = w->d->x + i * w->d->cols;
    for (int rep = 0; rep < 4; rep++) { /* predictions are cheap: more of them */
      forest_predict(w->f, x, &pred);
      if (memcmp(&pred, &w->want_pred[i], sizeof pred) != 0)
        w->mismatches++;
    }
    if (forest_contribs(w->f, x, phi) != 0 ||
        memcmp(phi, w->want_phi + i * w->width, w->width * sizeof *phi) != 0)
      w->mismatches++;
  }
  free(phi);
  return arg;
}

static void test_forest__threads_agree(void **state) {
  struct trained t;
  train(&main_cases[0], &t);
  struct forest *f = NULL;
  struct gerr err;
  assert_int_equal(forest_load_json(t.json, t.json_len, &f, &err), 0);
  size_t rows = t.test.rows, width = forest_num_features(f) + 1;
  double *pred = malloc(rows * sizeof *pred), *phi = malloc(rows * width * sizeof *phi);
  assert_true(pred && phi);
  for (size_t i = 0; i < rows; i++) {
    forest_predict(f, t.test.x + i * t.test.cols, &pred[i]);
    assert_int_equal(forest_contribs(f, t.test.x + i * t.test.cols, phi + i * width), 0);
  }
  enum { THREADS = 4 };
  pthread_t th[THREADS];
  struct worker w[THREADS];
  for (int k = 0; k < THREADS; k++) {
    w[k] = (struct worker){f, &t.test, pred, phi, width, (size_t)k * 250, 0};
    assert_int_equal(pthread_create(&th[k], NULL, worker_run, &w[k]), 0);
  }
  for (int k = 0; k < THREADS; k++) {
    void *ret;
    assert_int_equal(pthread_join(th[k], &ret), 0);
    assert_non_null(ret);
    assert_int_equal(w[k].mismatches, 0);
  }
  free(pred);
  free(phi);
  forest_free(f);
  trained_release(&t);
}

/* ---- corrupt models ------------------------------------------------------ */

static const struct model_case tiny = {"count:poisson", LABEL_COUNT, 0, 2, 2, 3, 300};

static void expect_refused_json(const char *text, size_t len, const char *why,
                                const char *label) {
  struct forest *f = (struct forest *)&f; /* must be reset to NULL */
  struct gerr err = {0};
  if (forest_load_json(text, len, &f, &err) != -1)
    fail_msg("%s: accepted", label);
  assert_null(f);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  if (why && !strstr(err.msg, why))
    fail_msg("%s: \"%s\" does not say \"%s\"", label, err.msg, why);
}

static json_t *jpath(json_t *root, const char *path) {
  char buf[200];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *v = root;
  for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
    if (json_is_array(v))
      v = json_array_get(v, strtoul(tok, NULL, 10));
    else
      v = json_object_get(v, tok);
  }
  assert_non_null(v);
  return v;
}

#define TREE0 "learner.gradient_booster.model.trees.0"

/* Sets the element (or member) at the end of path to a new value. */
static void jset(json_t *root, const char *path, json_t *value) {
  char parent[200];
  const char *dot = strrchr(path, '.');
  snprintf(parent, sizeof parent, "%.*s", (int)(dot - path), path);
  json_t *p = jpath(root, parent);
  if (json_is_array(p))
    assert_int_equal(json_array_set_new(p, strtoul(dot + 1, NULL, 10), value), 0);
  else
    assert_int_equal(json_object_set_new(p, dot + 1, value), 0);
}

/* Index of the first leaf of tree 0 (left child -1). */
static size_t first_leaf(json_t *root) {
  json_t *left = jpath(root, TREE0 ".left_children");
  for (size_t i = 0; i < json_array_size(left); i++)
    if (json_integer_value(json_array_get(left, i)) == -1)
      return i;
  fail_msg("no leaf");
  return 0;
}

static void mut_child_range(json_t *r) { jset(r, TREE0 ".left_children.0", json_integer(99)); }
static void mut_child_negative(json_t *r) { jset(r, TREE0 ".right_children.0", json_integer(-7)); }
static void mut_cycle(json_t *r) { /* a leaf made to point back at the root */
  char p[120];
  size_t leaf = first_leaf(r);
  snprintf(p, sizeof p, TREE0 ".left_children.%zu", leaf);
  jset(r, p, json_integer(0));
  snprintf(p, sizeof p, TREE0 ".right_children.%zu", leaf);
  jset(r, p, json_integer(1));
}
static void mut_siblings_apart(json_t *r) { /* root's children swapped */
  json_t *l = jpath(r, TREE0 ".left_children.0"), *rt = jpath(r, TREE0 ".right_children.0");
  json_int_t a = json_integer_value(l), b = json_integer_value(rt);
  jset(r, TREE0 ".left_children.0", json_integer(b));
  jset(r, TREE0 ".right_children.0", json_integer(a));
}
static void mut_self_child(json_t *r) { jset(r, TREE0 ".left_children.0", json_integer(0)); }
static void mut_half_leaf(json_t *r) {
  char p[120];
  snprintf(p, sizeof p, TREE0 ".right_children.%zu", first_leaf(r));
  jset(r, p, json_integer(1));
}
static void mut_feature(json_t *r) { jset(r, TREE0 ".split_indices.0", json_integer(3)); }
static void mut_feature_huge(json_t *r) {
  jset(r, TREE0 ".split_indices.0", json_integer(1LL << 40));
}
static void mut_categorical(json_t *r) { jset(r, TREE0 ".split_type.0", json_integer(1)); }
static void mut_categories(json_t *r) {
  json_array_append_new(jpath(r, TREE0 ".categories"), json_integer(2));
}
static void mut_array_length(json_t *r) {
  json_array_append_new(jpath(r, TREE0 ".sum_hessian"), json_real(1.0));
}
static void mut_num_nodes(json_t *r) { jset(r, TREE0 ".tree_param.num_nodes", json_string("4")); }
static void mut_missing_array(json_t *r) { json_object_del(jpath(r, TREE0), "sum_hessian"); }
static void mut_not_array(json_t *r) { jset(r, TREE0 ".left_children", json_integer(5)); }
static void mut_string_index(json_t *r) { jset(r, TREE0 ".left_children.0", json_string("1")); }
static void mut_huge_value(json_t *r) { jset(r, TREE0 ".split_conditions.0", json_real(1e300)); }
static void mut_negative_cover(json_t *r) { jset(r, TREE0 ".sum_hessian.1", json_real(-3.0)); }
static void mut_default_left(json_t *r) { jset(r, TREE0 ".default_left.0", json_integer(2)); }
static void mut_tree_id(json_t *r) { jset(r, TREE0 ".id", json_integer(5)); }
static void mut_tree_scalar(json_t *r) { jset(r, TREE0, json_integer(5)); }
static void mut_leaf_vector(json_t *r) {
  jset(r, TREE0 ".tree_param.size_leaf_vector", json_string("2"));
}
static void mut_objective(json_t *r) { jset(r, "learner.objective.name", json_string("rank:pairwise")); }
static void mut_booster(json_t *r) { jset(r, "learner.gradient_booster.name", json_string("dart")); }
static void mut_group(json_t *r) { jset(r, "learner.gradient_booster.model.tree_info.0", json_integer(1)); }
static void mut_tree_info_short(json_t *r) {
  json_array_remove(jpath(r, "learner.gradient_booster.model.tree_info"), 0);
}
static void mut_num_trees(json_t *r) {
  jset(r, "learner.gradient_booster.model.gbtree_model_param.num_trees", json_string("3"));
}
static void mut_version(json_t *r) { jset(r, "version.0", json_integer(2)); }
static void mut_no_version(json_t *r) { json_object_del(r, "version"); }
static void mut_base_score_text(json_t *r) {
  jset(r, "learner.learner_model_param.base_score", json_string("abc"));
}
static void mut_base_score_domain(json_t *r) {
  jset(r, "learner.learner_model_param.base_score", json_string("-1"));
}
static void mut_num_class(json_t *r) {
  jset(r, "learner.learner_model_param.num_class", json_string("3"));
}
static void mut_num_feature(json_t *r) {
  jset(r, "learner.learner_model_param.num_feature", json_string("-2"));
}
static void mut_no_num_feature(json_t *r) {
  json_object_del(jpath(r, "learner.learner_model_param"), "num_feature");
}
static void mut_num_target(json_t *r) {
  jset(r, "learner.learner_model_param.num_target", json_string("2"));
}
static void mut_learner_array(json_t *r) { json_object_set_new(r, "learner", json_array()); }

static const struct json_mutation {
  const char *name;
  void (*mutate)(json_t *root);
  const char *why; /* a part of the expected message */
} json_mutations[] = {
    {"child out of range", mut_child_range, "children"},
    {"negative child", mut_child_negative, "children"},
    {"cycle through a leaf", mut_cycle, "reached twice"},
    {"node its own child", mut_self_child, "reached twice"},
    {"right child not left + 1", mut_siblings_apart, "side by side"},
    {"leaf with one child", mut_half_leaf, "only a right child"},
    {"feature out of range", mut_feature, "feature 3 of 3"},
    {"feature beyond 31 bits", mut_feature_huge, "feature"},
    {"categorical split", mut_categorical, "categorical"},
    {"categories", mut_categories, "categorical"},
    {"arrays of different lengths", mut_array_length, "sum_hessian for"},
    {"num_nodes disagrees", mut_num_nodes, "for 4 nodes"},
    {"sum_hessian missing", mut_missing_array, "sum_hessian is missing"},
    {"left_children a number", mut_not_array, "not an array"},
    {"index as a string", mut_string_index, "non-integer"},
    {"threshold beyond float", mut_huge_value, "non-finite"},
    {"negative cover", mut_negative_cover, "bad value"},
    {"default_left 2", mut_default_left, "default_left"},
    {"tree id", mut_tree_id, "id is 5"},
    {"tree not an object", mut_tree_scalar, "not an object"},
    {"vector leaves", mut_leaf_vector, "vector leaves"},
    {"unknown objective", mut_objective, "rank:pairwise"},
    {"dart", mut_booster, "dart"},
    {"group out of range", mut_group, "group 1 of 1"},
    {"tree_info short", mut_tree_info_short, "tree_info"},
    {"num_trees disagrees", mut_num_trees, "num_trees 3"},
    {"version 2", mut_version, "version 2"},
    {"no version", mut_no_version, "version"},
    {"base_score not a number", mut_base_score_text, "base_score"},
    {"base_score below 0 for a log link", mut_base_score_domain, "out of range"},
    {"num_class for poisson", mut_num_class, "num_class 3"},
    {"negative num_feature", mut_num_feature, "num_feature"},
    {"no num_feature", mut_no_num_feature, "num_feature"},
    {"multi-target", mut_num_target, "multi-target"},
    {"learner an array", mut_learner_array, "not an object"},
};

static void test_forest__corrupt_json_refused(void **state) {
  struct trained t;
  train(&tiny, &t);
  struct forest *f = NULL;
  struct gerr err;
  assert_int_equal(forest_load_json(t.json, t.json_len, &f, &err), 0);
  forest_free(f);

  /* every truncation */
  for (size_t n = 0; n < t.json_len; n++)
    expect_refused_json(t.json, n, NULL, "truncated");

  for (size_t i = 0; i < sizeof json_mutations / sizeof json_mutations[0]; i++) {
    json_error_t jerr;
    json_t *root = json_loadb(t.json, t.json_len, 0, &jerr);
    assert_non_null(root);
    json_mutations[i].mutate(root);
    char *text = json_dumps(root, JSON_COMPACT);
    assert_non_null(text);
    expect_refused_json(text, strlen(text), json_mutations[i].why,
                        json_mutations[i].name);
    free(text);
    json_decref(root);
  }

  /* a key given twice */
  char *dup = malloc(t.json_len + 16);
  assert_non_null(dup);
  const char *id = strstr(t.json, "\"id\":0");
  assert_non_null(id);
  size_t at = (size_t)(id - t.json);
  memcpy(dup, t.json, at);
  memcpy(dup + at, "\"id\":0,", 7);
  memcpy(dup + at + 7, t.json + at, t.json_len - at);
  expect_refused_json(dup, t.json_len + 7, "given twice", "duplicate key");
  free(dup);

  /* not JSON, not a model */
  static const struct {
    const char *text, *why;
  } junk[] = {
      {"", "not JSON"},
      {"42", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {"null", "not a JSON object"},
      {"{}", "version"},
      {"{\"learner\":{}} x", "not JSON"},
      {"{\"learner\":{\"gradient_booster\":{\"model\":{\"trees\":[{\"split_conditions\":"
       "[NaN]}]}}}}", "not JSON"},
      {"{\"a\":\"\xff\"}", "not JSON"},
  };
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
    expect_refused_json(junk[i].text, strlen(junk[i].text), junk[i].why, junk[i].text);
  char deep[5 + 2 * 100 + 1];
  memcpy(deep, "{\"a\":", 5);
  memset(deep + 5, '[', 100);
  memset(deep + 105, ']', 100);
  deep[205] = '}';
  expect_refused_json(deep, sizeof deep, "deeper", "deep nesting");
  trained_release(&t);
}

/* ---- corrupt blobs ------------------------------------------------------- */

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static void resign(unsigned char *b, size_t n) {
  uint64_t h = fnv1a64(b, n - 8);
  for (int i = 0; i < 8; i++)
    b[n - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void expect_refused_blob(const unsigned char *b, size_t n, const char *why,
                                const char *label) {
  struct forest *f = (struct forest *)&f;
  struct gerr err = {0};
  if (forest_load_blob(b, n, &f, &err) != -1)
    fail_msg("%s: accepted", label);
  assert_null(f);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  if (why && !strstr(err.msg, why))
    fail_msg("%s: \"%s\" does not say \"%s\"", label, err.msg, why);
}

/* Blob layout (docs/forest.md): header 80 bytes, trees of 8, nodes of 16. */
enum { H_FEATURES = 56, H_GROUPS = 60, H_TREES = 64, H_NODES = 68, H_MARGIN = 72,
       H_SIZE = 80 };

struct blob_view {
  unsigned char *b;
  size_t n;
  uint32_t trees;
};
static unsigned char *tree_at(struct blob_view *v, uint32_t t) { return v->b + H_SIZE + 8 * t; }
static unsigned char *node_at(struct blob_view *v, uint32_t i) {
  return v->b + H_SIZE + 8 * v->trees + 16 * (size_t)i;
}

/* The first node after tree 0's root that splits (depth 2: node 1 or 2). */
static uint32_t second_split(struct blob_view *v) {
  for (uint32_t i = 1; i < get32(tree_at(v, 1)); i++)
    if (get32(node_at(v, i) + 8))
      return i;
  fail_msg("tree 0 has one split");
  return 0;
}

static void bm_child_range(struct blob_view *v) { put32(node_at(v, 0) + 8, 5000); }
static void bm_child_back(struct blob_view *v) { /* tree 1's root into tree 0 */
  put32(node_at(v, get32(tree_at(v, 1))) + 8, 1);
}
static void bm_child_self(struct blob_view *v) {
  uint32_t k = second_split(v);
  put32(node_at(v, k) + 8, k);
}
static void bm_child_next_tree(struct blob_view *v) { /* into tree 1 */
  put32(node_at(v, 0) + 8, get32(tree_at(v, 1)) - 1);
}
static void bm_shared(struct blob_view *v) { /* the root adopts its grandchildren */
  put32(node_at(v, 0) + 8, get32(node_at(v, second_split(v)) + 8));
}
static void bm_feature(struct blob_view *v) { put32(node_at(v, 0) + 4, 3); }
static void bm_leaf_info(struct blob_view *v) {
  put32(node_at(v, get32(tree_at(v, 1)) - 1) + 4, 1);
}
static void bm_nan_value(struct blob_view *v) { put32(node_at(v, 0), 0x7fc00000u); }
static void bm_negative_cover(struct blob_view *v) { put32(node_at(v, 0) + 12, 0xbf800000u); }
static void bm_root_first(struct blob_view *v) { put32(tree_at(v, 0), 1); }
static void bm_root_order(struct blob_view *v) { put32(tree_at(v, 1), 0); }
static void bm_root_range(struct blob_view *v) { put32(tree_at(v, 1), 100000); }
static void bm_group(struct blob_view *v) { put32(tree_at(v, 1) + 4, 1); }
static void bm_features_zero(struct blob_view *v) { put32(v->b + H_FEATURES, 0); }
static void bm_groups_two(struct blob_view *v) { put32(v->b + H_GROUPS, 2); }
static void bm_margin_nan(struct blob_view *v) {
  memset(v->b + H_MARGIN, 0xff, 8);
}
static void bm_objective(struct blob_view *v) { memcpy(v->b + 24, "count:poissom", 13); }
static void bm_objective_unterminated(struct blob_view *v) { memset(v->b + 24, 'a', 32); }
static void bm_version(struct blob_view *v) { put32(v->b + 8, 2); }
static void bm_nodes_more(struct blob_view *v) { put32(v->b + H_NODES, get32(v->b + H_NODES) + 1); }
static void bm_trees_more(struct blob_view *v) { put32(v->b + H_TREES, 1u << 30); }

static const struct blob_mutation {
  const char *name;
  void (*mutate)(struct blob_view *v);
  const char *why;
} blob_mutations[] = {
    {"child out of range", bm_child_range, "outside"},
    {"child in an earlier tree", bm_child_back, "outside"},
    {"child is itself", bm_child_self, "outside"},
    {"child in the next tree", bm_child_next_tree, "outside"},
    {"shared child", bm_shared, "parent"},
    {"feature out of range", bm_feature, "feature 3 of 3"},
    {"leaf with a split", bm_leaf_info, "leaf"},
    {"NaN threshold", bm_nan_value, "bad value"},
    {"negative cover", bm_negative_cover, "bad value"},
    {"first root not 0", bm_root_first, "root"},
    {"roots not increasing", bm_root_order, "root"},
    {"root out of range", bm_root_range, "root"},
    {"group out of range", bm_group, "group 1 of 1"},
    {"no features", bm_features_zero, "features"},
    {"two groups for poisson", bm_groups_two, "groups"},
    {"NaN base margin", bm_margin_nan, "base margin"},
    {"unknown objective", bm_objective, "objective"},
    {"objective not terminated", bm_objective_unterminated, "objective"},
    {"version 2", bm_version, "version 2"},
    {"node count beyond the bytes", bm_nodes_more, "expected"},
    {"tree count beyond the limit", bm_trees_more, "trees"},
};

static void test_forest__corrupt_blob_refused(void **state) {
  struct trained t;
  train(&tiny, &t);
  struct forest *f = NULL;
  struct gerr err;
  assert_int_equal(forest_load_json(t.json, t.json_len, &f, &err), 0);
  assert_true(forest_num_trees(f) == 2 && forest_max_depth(f) == 2);
  unsigned char *blob;
  size_t n;
  assert_int_equal(forest_save(f, &blob, &n, &err), 0);
  assert_int_equal(n, 80 + 8 * forest_num_trees(f) + 16 * forest_num_nodes(f) + 8);
  assert_memory_equal(blob, "GRFOREST", 8);
  forest_free(f);

  for (size_t len = 0; len < n; len++)
    expect_refused_blob(blob, len, NULL, "truncated");
  unsigned char *copy = malloc(n);
  assert_non_null(copy);
  for (size_t i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(copy, blob, n);
      copy[i] ^= (unsigned char)(1u << bit);
      expect_refused_blob(copy, n, NULL, "flipped bit");
    }
  }
  /* hostile blobs with a valid checksum: refused by the structure checks */
  for (size_t i = 0; i < sizeof blob_mutations / sizeof blob_mutations[0]; i++) {
    memcpy(copy, blob, n);
    struct blob_view v = {copy, n, get32(copy + H_TREES)};
    blob_mutations[i].mutate(&v);
    resign(copy, n);
    expect_refused_blob(copy, n, blob_mutations[i].why, blob_mutations[i].name);
  }
  memcpy(copy, blob, n);
  resign(copy, n);
  assert_int_equal(forest_load_blob(copy, n, &f, &err), 0); /* resign is right */
  forest_free(f);
  free(copy);
  free(blob);
  trained_release(&t);
}

/* test_forest [PATTERN]: runs the tests whose names match (cmocka's filter). */
/* ---- early-stopped boosters, as the pipeline trains them ---------------- */

/* xgb_train (src/ml/xgb.c) stops early on an eval set and keeps the best
 * rounds by slicing the booster. The same booster trained here with the
 * pipeline's parameters and seed, asked for XGBoost's own prediction over
 * iteration_range [0, best), must agree with the native forest xgb_train
 * returned; so must the importance averaged from the same contributions. */
static void check_early_stopped(const char *objective, enum label label, int nclass) {
  struct testdata tr, ev;
  dataset_make(&tr, 2500, 8, label, 4242);
  dataset_make(&ev, 800, 8, label, 4343);
  /* a noisy eval set, so that early stopping stops early */
  uint64_t st = 99;
  for (size_t i = 0; i < ev.rows; i++)
    if (rng_unit(&st) < 0.5)
      ev.y[i] = tr.y[(i * 7) % tr.rows];
  struct xgb_params xp = {objective, nclass > 1 ? nclass : 1, 80, 6, 1, 0.2, 7, 3};
  struct forest *f = NULL;
  int best = 0;
  struct gerr err = {0};
  if (xgb_train(&xp, tr.x, tr.y, tr.rows, tr.cols, ev.x, ev.y, ev.rows, &f, &best, &err) < 0)
    fail_msg("%s: %s", objective, err.msg);
  assert_true(best >= 1 && best < 80); /* it did stop early */
  size_t G = nclass > 1 ? (size_t)nclass : 1;
  assert_int_equal(forest_num_trees(f), (size_t)best * G);

  /* the same training, by hand, kept whole */
  DMatrixHandle dtr = dmatrix_of(&tr), dev = dmatrix_of(&ev);
  BoosterHandle b;
  XGB_OK(XGBoosterCreate(&dtr, 1, &b));
  char nc[16];
  snprintf(nc, sizeof nc, "%d", nclass);
  const char *params[][2] = {{"objective", objective}, {"tree_method", "hist"},
                             {"max_bin", "64"},        {"subsample", "0.8"},
                             {"colsample_bytree", "0.8"}, {"min_child_weight", "2"},
                             {"verbosity", "0"},       {"max_depth", "6"},
                             {"eta", "0.2"},           {"nthread", "1"},
                             {"seed", "7"}};
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
    XGB_OK(XGBoosterSetParam(b, params[i][0], params[i][1]));
  if (nclass > 1)
    XGB_OK(XGBoosterSetParam(b, "num_class", nc));
  for (int it = 0; it < best + 5; it++)
    XGB_OK(XGBoosterUpdateOneIter(b, it, dtr));
  char config[200];
  snprintf(config, sizeof config,
           "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
           "\"iteration_end\": %d, \"strict_shape\": false}", best);
  const bst_ulong *shape;
  bst_ulong dim;
  const float *res;
  XGB_OK(XGBoosterPredictFromDMatrix(b, dev, config, &shape, &dim, &res));
  double out[8];
  size_t bad = 0;
  for (size_t i = 0; i < ev.rows; i++) {
    forest_predict(f, ev.x + i * ev.cols, out);
    for (size_t g = 0; g < G; g++)
      bad += !close_to(out[g], res[i * G + g], 1e-4, 0);
  }
  if (bad)
    fail_msg("%s: %zu of %zu predictions differ from XGBoost's at the best iteration %d",
             objective, bad, ev.rows * G, best);
  /* importance: the mean |contribution| of XGBoost's pred_contribs */
  snprintf(config, sizeof config,
           "{\"type\": 2, \"training\": false, \"iteration_begin\": 0, "
           "\"iteration_end\": %d, \"strict_shape\": false}", best);
  XGB_OK(XGBoosterPredictFromDMatrix(b, dev, config, &shape, &dim, &res));
  double imp[8], want[8] = {0};
  assert_int_equal(forest_importance(f, ev.x, ev.rows, ev.cols, imp), 0);
  size_t W = ev.cols + 1;
  for (size_t i = 0; i < ev.rows; i++)
    for (size_t g = 0; g < G; g++)
      for (size_t k = 0; k < ev.cols; k++)
        want[k] += fabs(res[(i * G + g) * W + k]) / (double)(ev.rows * G);
  for (size_t k = 0; k < ev.cols; k++)
    if (!close_to(imp[k], want[k], 1e-3, 0))
      fail_msg("%s: importance of feature %zu %g, XGBoost's contributions give %g", objective,
               k, imp[k], want[k]);
  XGB_OK(XGBoosterFree(b));
  XGB_OK(XGDMatrixFree(dtr));
  XGB_OK(XGDMatrixFree(dev));
  forest_free(f);
  dataset_release(&tr);
  dataset_release(&ev);
}

static void test_forest__early_stopped_match_xgboost(void **state) {
  (void)state;
  check_early_stopped("count:poisson", LABEL_COUNT, 0);   /* demand */
  check_early_stopped("binary:logistic", LABEL_BINARY, 0); /* demand rise */
  check_early_stopped("multi:softprob", LABEL_CLASS3, 3);  /* top product */
}

int main(int argc, char **argv) {
  /* XGBoost trains with OpenMP, whose idle workers spin: on a busy 2-core
   * machine they starve the working ones and training takes ten times
   * longer. libgomp reads OMP_WAIT_POLICY as it loads, so set it and start
   * again (if exec fails, carry on as we are). */
  if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
    execv("/proc/self/exe", argv);
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  XGBSetGlobalConfig("{\"verbosity\": 0}");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate(test_forest__matches_xgboost, (void *)&main_cases[0]),
      cmocka_unit_test_prestate(test_forest__matches_xgboost, (void *)&main_cases[1]),
      cmocka_unit_test_prestate(test_forest__matches_xgboost, (void *)&main_cases[2]),
      cmocka_unit_test_prestate(test_forest__matches_xgboost, (void *)&main_cases[3]),
      cmocka_unit_test_prestate(test_forest__matches_xgboost, (void *)&main_cases[4]),
      cmocka_unit_test(test_forest__other_objectives_match),
      cmocka_unit_test(test_forest__early_stopped_match_xgboost),
      cmocka_unit_test(test_forest__deep_tree_contribs),
      cmocka_unit_test(test_forest__threads_agree),
      cmocka_unit_test(test_forest__corrupt_json_refused),
      cmocka_unit_test(test_forest__corrupt_blob_refused),
  };
  return cmocka_run_group_tests_name("forest", tests, NULL, NULL);
}
