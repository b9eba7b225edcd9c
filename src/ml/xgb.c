/* Training through XGBoost's C API, the only file that calls it. The
 * trained booster is exported as JSON and loaded as a native forest
 * (forest.h): serving never calls XGBoost, whose predict calls are not
 * documented thread-safe in Debian's version. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "ml/ml_int.h"

static xgb_tap_fn tap_fn;
static void *tap_ctx;

void xgb_set_tap(xgb_tap_fn fn, void *ctx) {
  tap_fn = fn;
  tap_ctx = ctx;
}

static int xgb_fail(struct gerr *err, const char *what) {
  return gerr_set(err, GERR_INTERNAL, "XGBoost %s: %s", what, XGBGetLastError());
}

static int matrix(const float *X, const float *y, const float *margin, size_t n, size_t nf,
                  DMatrixHandle *out, struct gerr *err) {
  if (XGDMatrixCreateFromMat(X, (bst_ulong)n, (bst_ulong)nf, NAN, out) != 0)
    return xgb_fail(err, "matrix");
  if (XGDMatrixSetFloatInfo(*out, "label", y, (bst_ulong)n) != 0 ||
      (margin && XGDMatrixSetFloatInfo(*out, "base_margin", margin, (bst_ulong)n) != 0)) {
    XGDMatrixFree(*out);
    *out = NULL;
    return xgb_fail(err, "labels");
  }
  return 0;
}

/* The base_score whose margin is 0 under the objective's link. */
static const char *zero_margin_score(const char *objective) {
  if (!strcmp(objective, "count:poisson") || !strcmp(objective, "reg:gamma") ||
      !strcmp(objective, "reg:tweedie"))
    return "1"; /* log link */
  if (!strcmp(objective, "binary:logistic") || !strcmp(objective, "reg:logistic"))
    return "0.5"; /* logit link */
  return "0";
}

/* The metric's value at the end of an evaluation line "[3]\teval-x:0.123". */
static double metric_of(const char *line) {
  const char *c = strrchr(line, ':');
  return c ? strtod(c + 1, NULL) : NAN;
}

int xgb_train(const struct xgb_params *p, const float *X, const float *y, size_t n,
              size_t nf, const float *Xe, const float *ye, size_t ne,
              struct forest **out, int *best_rounds, struct gerr *err) {
  return xgb_train_offset(p, X, y, NULL, n, nf, Xe, ye, NULL, ne, out, best_rounds, err);
}

int xgb_train_offset(const struct xgb_params *p, const float *X, const float *y,
                     const float *margin, size_t n, size_t nf, const float *Xe,
                     const float *ye, const float *eval_margin, size_t ne,
                     struct forest **out, int *best_rounds, struct gerr *err) {
  DMatrixHandle dtrain = NULL, deval = NULL;
  BoosterHandle bst = NULL, sliced = NULL;
  int rc = -1;
  *out = NULL;
  if (n == 0)
    return gerr_set(err, GERR_CONFLICT, "no training rows");
  if (margin && ne && !eval_margin)
    return gerr_set(err, GERR_INTERNAL, "offsets for the training rows but not the eval rows");
  if (matrix(X, y, margin, n, nf, &dtrain, err) < 0)
    goto out;
  if (ne && matrix(Xe, ye, eval_margin, ne, nf, &deval, err) < 0)
    goto out;
  DMatrixHandle both[2] = {dtrain, deval};
  if (XGBoosterCreate(both, ne ? 2 : 1, &bst) != 0) {
    xgb_fail(err, "booster");
    goto out;
  }
  char buf[64];
  struct {
    const char *k;
    const char *v;
  } fixed[] = {{"objective", p->objective}, {"tree_method", "hist"}, {"max_bin", "64"},
               {"subsample", "0.8"}, {"colsample_bytree", "0.8"}, {"min_child_weight", "2"},
               {"verbosity", "0"}};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    if (XGBoosterSetParam(bst, fixed[i].k, fixed[i].v) != 0) {
      xgb_fail(err, "parameters");
      goto out;
    }
#define SETP(key, fmt, val)                                                    \
  do {                                                                         \
    snprintf(buf, sizeof buf, fmt, val);                                       \
    if (XGBoosterSetParam(bst, key, buf) != 0) {                               \
      xgb_fail(err, "parameters");                                             \
      goto out;                                                                \
    }                                                                          \
  } while (0)
  SETP("max_depth", "%d", p->depth);
  SETP("eta", "%g", p->eta);
  SETP("nthread", "%d", p->threads);
  SETP("seed", "%llu", (unsigned long long)(p->seed % 2147483647));
  if (p->num_class > 1)
    SETP("num_class", "%d", p->num_class);
  if (margin) /* the offsets carry the level: the trees start from margin 0 */
    SETP("base_score", "%s", zero_margin_score(p->objective));
#undef SETP
  const char *names[1] = {"eval"};
  double best = INFINITY;
  int best_at = -1;
  int iter = 0;
  for (; iter < p->rounds; iter++) {
    if (XGBoosterUpdateOneIter(bst, iter, dtrain) != 0) {
      xgb_fail(err, "training");
      goto out;
    }
    if (!ne)
      continue;
    const char *line = NULL;
    if (XGBoosterEvalOneIter(bst, iter, &deval, names, 1, &line) != 0) {
      xgb_fail(err, "evaluation");
      goto out;
    }
    double m = metric_of(line);
    if (m < best - 1e-7) {
      best = m;
      best_at = iter;
    } else if (p->early_stop && iter - best_at >= p->early_stop) {
      iter++;
      break;
    }
  }
  int keep = ne && best_at >= 0 ? best_at + 1 : iter;
  if (best_rounds)
    *best_rounds = keep;
  BoosterHandle use = bst;
  if (keep < iter) {
    if (XGBoosterSlice(bst, 0, keep, 1, &sliced) != 0) {
      xgb_fail(err, "slicing");
      goto out;
    }
    use = sliced;
  }
  bst_ulong len = 0;
  const char *json = NULL;
  if (XGBoosterSaveModelToBuffer(use, "{\"format\":\"json\"}", &len, &json) != 0) {
    xgb_fail(err, "export");
    goto out;
  }
  rc = forest_load_json(json, (size_t)len, out, err);
  if (rc == 0 && tap_fn) {
    struct xgb_tapped t = {p->objective, json, (size_t)len, X, margin, n, nf, *out};
    tap_fn(tap_ctx, &t);
  }
out:
  if (sliced)
    XGBoosterFree(sliced);
  if (bst)
    XGBoosterFree(bst);
  if (deval)
    XGDMatrixFree(deval);
  if (dtrain)
    XGDMatrixFree(dtrain);
  return rc;
}
