/* Tree ensembles evaluated natively: an XGBoost (1.x, gbtree) model,
 * exported as JSON, becomes a compact flat forest that any number of
 * threads evaluate at once without locks, giving XGBoost's predictions,
 * margins and SHAP contributions (docs/forest.md).
 *
 * Invariants: a struct forest never changes after it is loaded; no function
 * here keeps state between calls (no static or thread-local buffers), so
 * one forest may be shared by every thread of the server. x is always one
 * row of forest_num_features() floats, NaN meaning missing. */
#ifndef GROMO_FOREST_H
#define GROMO_FOREST_H

#include <stddef.h>

#include "gromo/error.h"

/* Limits a model must respect to be loaded (from JSON or a blob). */
#define FOREST_MAX_FEATURES (1u << 24)
#define FOREST_MAX_GROUPS 4096u
#define FOREST_MAX_NODES (1u << 26) /* over all trees */
#define FOREST_MAX_DEPTH 256u       /* edges from a root to its deepest leaf */

struct forest; /* opaque, immutable after load, safe to share across threads */

/* Parses the JSON model text of XGBoost 1.x (XGBoosterSaveModelToBuffer with
 * {"format":"json"}): a gbtree booster with one of the objectives
 * reg:squarederror, reg:squaredlogerror, reg:pseudohubererror,
 * reg:absoluteerror, reg:logistic, binary:logistic, binary:logitraw,
 * count:poisson, reg:gamma, reg:tweedie, multi:softprob, multi:softmax.
 * json need not be NUL-terminated. Every index is checked: a corrupt or
 * unsupported model (categorical splits, dart, vector leaves) is refused
 * with GERR_INVALID_INPUT (GERR_INTERNAL when out of memory). */
int forest_load_json(const char *json, size_t len, struct forest **out,
                     struct gerr *err) GROMO_WUR;
void forest_free(struct forest *f); /* NULL allowed */

size_t forest_num_features(const struct forest *f);
size_t forest_num_groups(const struct forest *f); /* classes for multi:*, else 1 */
size_t forest_num_trees(const struct forest *f);
size_t forest_num_nodes(const struct forest *f);  /* reachable nodes, all trees */
size_t forest_max_depth(const struct forest *f);  /* deepest leaf, in edges */
const char *forest_objective(const struct forest *f); /* "count:poisson", ... */
/* The base margin every prediction starts from (XGBoost's base_score taken
 * through the objective's link: log, logit or identity). */
double forest_base_margin(const struct forest *f);

/* Raw margins (base margin included, as XGBoost's output_margin) of one row
 * into out[num_groups]. No allocation. */
void forest_margin(const struct forest *f, const float *x, double *out);

/* The prediction as XGBoost's default predict gives it, into out[num_groups]:
 * exp for count:poisson, reg:gamma and reg:tweedie; sigmoid for
 * binary:logistic and reg:logistic; softmax over the groups for
 * multi:softprob and multi:softmax (XGBoost answers multi:softmax with the
 * index of the largest, which is the index of the largest of these);
 * identity otherwise. No allocation. */
void forest_predict(const struct forest *f, const float *x, double *out);
/* forest_predict of n rows, row i at X + i * stride, into
 * out[i * num_groups ...]: the same values bit for bit (each row's trees
 * are summed in the same order), computed for a block of rows at a time so
 * that the trees being walked stay in cache. No allocation. */
void forest_predict_rows(const struct forest *f, const float *X, size_t n, size_t stride,
                         double *out);

/* SHAP contributions in margin space, as XGBoost's pred_contribs: into
 * out[num_groups * (num_features + 1)], group by group; the last of each
 * group's block is the bias (the expected margin over the training data as
 * the covers weigh it), and each block sums to that group's margin. Exact
 * TreeSHAP weighted by each node's cover (sum_hessian). Scratch memory comes
 * from the stack, or from malloc for trees deeper than 20 levels.
 * Returns 0, or -1 when out of memory (out is then undefined). */
int forest_contribs(const struct forest *f, const float *x, double *out) GROMO_WUR;

/* Global importance: the mean absolute SHAP contribution (margin units) of
 * each feature over n rows of X (row i at X + i * stride, stride >=
 * num_features), averaged over the groups too for multi-class models, into
 * out[num_features]. 0, or -1 when out of memory. */
int forest_importance(const struct forest *f, const float *X, size_t n, size_t stride,
                      double *out) GROMO_WUR;

/* A compact, versioned, checksummed binary form for keeping models in the
 * store (the layout is in docs/forest.md). forest_save sets *buf to a
 * malloc'd blob the caller frees, *len to its size. forest_load_blob checks
 * the length, the checksum and then every count, index and value as
 * forest_load_json does: a hostile blob is refused, never trusted. */
int forest_save(const struct forest *f, unsigned char **buf, size_t *len,
                struct gerr *err) GROMO_WUR;
int forest_load_blob(const unsigned char *buf, size_t len, struct forest **out,
                     struct gerr *err) GROMO_WUR;

#endif
