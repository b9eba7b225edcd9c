/* Native evaluation of XGBoost tree ensembles (docs/forest.md).
 *
 * A forest is one flat array of 16-byte nodes. Each tree's nodes are
 * contiguous and numbered breadth-first, so siblings are neighbours (the
 * right child is left + 1) and every child comes after its parent. Loading
 * (from XGBoost's JSON or from our own blob) ends in forest_check, which
 * proves those invariants before anything walks the trees: evaluation can
 * then follow indices without bounds checks and always terminates. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "core/wire.h"
#include "gromo/forest.h"
#include "gromo/parse.h"

#define NODE_FEATURE_MASK 0x7fffffffu
#define NODE_DEFAULT_LEFT 0x80000000u

struct fnode {
  float value;   /* internal: threshold, x < value goes left; leaf: its value */
  uint32_t info; /* internal: feature index | NODE_DEFAULT_LEFT; leaf: 0 */
  uint32_t left; /* internal: index of the left child, the right is left + 1;
                    leaf: 0 (no node has a root as child) */
  float cover;   /* sum of the hessians of the training rows reaching it */
};
_Static_assert(sizeof(struct fnode) == 16, "a node is 16 bytes");

/* ---- objectives ------------------------------------------------------ */

enum link { LINK_IDENTITY, LINK_LOG, LINK_LOGIT };        /* base_score to margin */
enum output { OUT_IDENTITY, OUT_EXP, OUT_SIGMOID, OUT_SOFTMAX }; /* margin to prediction */

struct objective {
  const char *name;
  enum link link;
  enum output output;
  int multi; /* one group (tree per round) for each of num_class classes */
};

static const struct objective objectives[] = {
    {"reg:squarederror", LINK_IDENTITY, OUT_IDENTITY, 0},
    {"reg:squaredlogerror", LINK_IDENTITY, OUT_IDENTITY, 0},
    {"reg:pseudohubererror", LINK_IDENTITY, OUT_IDENTITY, 0},
    {"reg:absoluteerror", LINK_IDENTITY, OUT_IDENTITY, 0},
    {"reg:logistic", LINK_LOGIT, OUT_SIGMOID, 0},
    {"binary:logistic", LINK_LOGIT, OUT_SIGMOID, 0},
    {"binary:logitraw", LINK_IDENTITY, OUT_IDENTITY, 0}, /* base_score as is */
    {"count:poisson", LINK_LOG, OUT_EXP, 0},
    {"reg:gamma", LINK_LOG, OUT_EXP, 0},
    {"reg:tweedie", LINK_LOG, OUT_EXP, 0},
    {"multi:softprob", LINK_IDENTITY, OUT_SOFTMAX, 1},
    {"multi:softmax", LINK_IDENTITY, OUT_SOFTMAX, 1},
};
#define OBJECTIVE_NAME_MAX 32 /* with its NUL, as the blob stores it */

static const struct objective *objective_find(const char *name) {
  for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; i++)
    if (strcmp(objectives[i].name, name) == 0)
      return &objectives[i];
  return NULL;
}

/* XGBoost's ProbToMargin, in float as XGBoost computes it; NaN when
 * base_score is outside the link's domain. */
static double link_margin(enum link link, float base_score) {
  switch (link) {
  case LINK_LOG:
    return base_score > 0.0f ? (double)logf(base_score) : NAN;
  case LINK_LOGIT:
    return base_score > 0.0f && base_score < 1.0f
               ? (double)-logf(1.0f / base_score - 1.0f)
               : NAN;
  case LINK_IDENTITY:
    break;
  }
  return (double)base_score;
}

/* ---- the forest --------------------------------------------------------- */

struct forest {
  const struct objective *obj;
  uint32_t num_features;
  uint32_t num_groups;
  uint32_t num_trees;
  uint32_t num_nodes;
  uint32_t max_depth;   /* set by forest_check */
  double base_margin;
  uint32_t *roots;      /* [num_trees]: tree t is nodes roots[t] .. roots[t+1]-1 */
  uint32_t *groups;     /* [num_trees]: the output group tree t adds to */
  struct fnode *nodes;  /* [num_nodes] */
  double *bias;         /* [num_groups]: base margin + the trees' expected values */
  double *recip;        /* [max_depth + 3]: recip[k] = 1 / k, for TreeSHAP */
};

void forest_free(struct forest *f) {
  if (!f)
    return;
  free(f->roots);
  free(f->groups);
  free(f->nodes);
  free(f->bias);
  free(f->recip);
  free(f);
}

size_t forest_num_features(const struct forest *f) { return f->num_features; }
size_t forest_num_groups(const struct forest *f) { return f->num_groups; }
size_t forest_num_trees(const struct forest *f) { return f->num_trees; }
size_t forest_num_nodes(const struct forest *f) { return f->num_nodes; }
size_t forest_max_depth(const struct forest *f) { return f->max_depth; }
const char *forest_objective(const struct forest *f) { return f->obj->name; }
double forest_base_margin(const struct forest *f) { return f->base_margin; }

/* The child x goes to: XGBoost's rule, compared in float. NaN (missing)
 * follows the node's default; everything else goes left iff x < value
 * (so +inf goes right, as in XGBoost). */
static inline uint32_t node_next(const struct fnode *n, const float *x) {
  float v = x[n->info & NODE_FEATURE_MASK];
  uint32_t right = !(v < n->value);
  right &= !(isnan(v) && (n->info & NODE_DEFAULT_LEFT));
  return n->left + right;
}

static inline float tree_leaf(const struct fnode *nodes, uint32_t i, const float *x) {
  while (nodes[i].left)
    i = node_next(&nodes[i], x);
  return nodes[i].value;
}

/* Four trees walked side by side: each step of one walk waits on a load,
 * so interleaving independent walks keeps the memory pipeline busy. A
 * finished walk stays on its leaf. */
static inline double four_trees(const struct fnode *nodes, const uint32_t *roots,
                                 const float *x) {
  uint32_t a = roots[0], b = roots[1], c = roots[2], d = roots[3];
  while (nodes[a].left | nodes[b].left | nodes[c].left | nodes[d].left) {
    if (nodes[a].left)
      a = node_next(&nodes[a], x);
    if (nodes[b].left)
      b = node_next(&nodes[b], x);
    if (nodes[c].left)
      c = node_next(&nodes[c], x);
    if (nodes[d].left)
      d = node_next(&nodes[d], x);
  }
  return ((double)nodes[a].value + (double)nodes[b].value) +
         ((double)nodes[c].value + (double)nodes[d].value);
}

static double trees_sum(const struct forest *f, uint32_t from, uint32_t to,
                        const float *x) {
  const struct fnode *nodes = f->nodes;
  double sum = 0.0;
  uint32_t t = from;
  for (; t + 4 <= to; t += 4)
    sum += four_trees(nodes, f->roots + t, x);
  for (; t < to; t++)
    sum += tree_leaf(nodes, f->roots[t], x);
  return sum;
}

void forest_margin(const struct forest *f, const float *x, double *out) {
  if (f->num_groups == 1) {
    out[0] = f->base_margin + trees_sum(f, 0, f->num_trees, x);
    return;
  }
  for (uint32_t g = 0; g < f->num_groups; g++)
    out[g] = f->base_margin;
  for (uint32_t t = 0; t < f->num_trees; t++)
    out[f->groups[t]] += tree_leaf(f->nodes, f->roots[t], x);
}

/* The margins out[num_groups] of one row into its prediction. */
static void margin_output(const struct forest *f, double *out) {
  size_t n = f->num_groups;
  switch (f->obj->output) {
  case OUT_IDENTITY:
    break;
  case OUT_EXP:
    for (size_t g = 0; g < n; g++)
      out[g] = exp(out[g]);
    break;
  case OUT_SIGMOID:
    for (size_t g = 0; g < n; g++)
      out[g] = 1.0 / (1.0 + exp(-out[g]));
    break;
  case OUT_SOFTMAX: {
    double max = out[0], sum = 0.0;
    for (size_t g = 1; g < n; g++)
      if (out[g] > max)
        max = out[g];
    for (size_t g = 0; g < n; g++)
      sum += (out[g] = exp(out[g] - max));
    for (size_t g = 0; g < n; g++)
      out[g] /= sum;
    break;
  }
  }
}

void forest_predict(const struct forest *f, const float *x, double *out) {
  forest_margin(f, x, out);
  margin_output(f, out);
}

/* Rows per block of forest_predict_rows: their sums stay in registers and
 * L1 while the same four trees are walked for each. */
#define ROW_BLOCK 32

void forest_predict_rows(const struct forest *f, const float *X, size_t n, size_t stride,
                         double *out) {
  if (f->num_groups != 1) {
    for (size_t i = 0; i < n; i++)
      forest_predict(f, X + i * stride, out + i * f->num_groups);
    return;
  }
  const struct fnode *nodes = f->nodes;
  uint32_t T = f->num_trees;
  for (size_t r0 = 0; r0 < n; r0 += ROW_BLOCK) {
    size_t m = n - r0 < ROW_BLOCK ? n - r0 : ROW_BLOCK;
    const float *x0 = X + r0 * stride;
    double sum[ROW_BLOCK];
    for (size_t i = 0; i < m; i++)
      sum[i] = 0.0;
    uint32_t t = 0;
    for (; t + 4 <= T; t += 4)
      for (size_t i = 0; i < m; i++)
        sum[i] += four_trees(nodes, f->roots + t, x0 + i * stride);
    for (; t < T; t++)
      for (size_t i = 0; i < m; i++)
        sum[i] += tree_leaf(nodes, f->roots[t], x0 + i * stride);
    for (size_t i = 0; i < m; i++) {
      out[r0 + i] = f->base_margin + sum[i];
      margin_output(f, out + r0 + i);
    }
  }
}

/* ---- TreeSHAP ------------------------------------------------------------
 * Lundberg, Erion and Lee, "Consistent individualized feature attribution
 * for tree ensembles" (2018), Algorithm 2, as XGBoost's pred_contribs runs
 * it: the walk follows every branch, carrying the path of unique features
 * seen so far with, for each, the fraction of the training cover that
 * passes when the feature is absent ("zero") or present ("one"), and the
 * permutation weights of the subsets of those features. */

/* The fraction of a node's cover that goes to a child. A zero cover (rows
 * of zero weight only) splits evenly rather than dividing by zero. */
static inline double cover_share(const struct fnode *nodes, uint32_t parent,
                                 uint32_t child) {
  double c = nodes[parent].cover;
  return c > 0.0 ? (double)nodes[child].cover / c : 0.5;
}

/* The path of unique features from the root to the node being visited.
 * Without conditioning (XGBoost's default, and ours) "one" is always 0 or
 * 1, which the code below relies on to skip dividing by it. */
struct shap_el {
  double zero;    /* share of the cover passing when the feature is absent */
  double one;     /* 1 if x follows this path at the feature's splits, else 0 */
  double pweight; /* permutation weight of the subsets of size = this index */
  uint32_t feature;
};

#define SHAP_NO_FEATURE UINT32_MAX
#define SHAP_STACK_ELS 256 /* (D + 2)(D + 3) / 2 for depth D <= 20 */

struct shap_walk {
  const struct fnode *nodes;
  const double *recip; /* recip[k] = 1 / k: the loops multiply, never divide */
  const float *x;
  double *phi;         /* the tree's group block */
};

static void shap_extend(const double *recip, struct shap_el *p, unsigned d,
                        double zero, double one, uint32_t feature) {
  double r = recip[d + 1];
  p[d].feature = feature;
  p[d].zero = zero;
  p[d].one = one;
  p[d].pweight = d == 0 ? 1.0 : 0.0;
  for (unsigned i = d; i-- > 0;) {
    if (one != 0.0)
      p[i + 1].pweight += p[i].pweight * (double)(i + 1) * r;
    p[i].pweight = zero * p[i].pweight * (double)(d - i) * r;
  }
}

/* Removes element k from a path of d + 1 elements (inverting its extend). */
static void shap_unwind(const double *recip, struct shap_el *p, unsigned d,
                        unsigned k) {
  double zero = p[k].zero, next = p[d].pweight, r = recip[d + 1];
  if (p[k].one != 0.0) {
    for (unsigned i = d; i-- > 0;) {
      double tmp = p[i].pweight;
      p[i].pweight = next * (double)(d + 1) * recip[i + 1];
      next = tmp - p[i].pweight * zero * (double)(d - i) * r;
    }
  } else {
    double z = (double)(d + 1) / zero;
    for (unsigned i = d; i-- > 0;)
      p[i].pweight *= z * recip[d - i];
  }
  for (unsigned i = k; i < d; i++) {
    p[i].feature = p[i + 1].feature;
    p[i].zero = p[i + 1].zero;
    p[i].one = p[i + 1].one;
  }
}

/* At a leaf: each feature's share of the leaf value. The weight of an
 * element is the total permutation weight once it is unwound; for the
 * elements x did not follow ("one" = 0) that total is the same sum divided
 * by their zero fraction, so it is computed once. */
static void shap_leaf(const struct shap_walk *w, const struct shap_el *p,
                      unsigned d, double value) {
  const double *recip = w->recip;
  double r = recip[d + 1], cold_sum = 0.0;
  for (unsigned i = 0; i < d; i++)
    cold_sum += p[i].pweight * recip[d - i];
  cold_sum *= (double)(d + 1);
  for (unsigned k = 1; k <= d; k++) {
    double zero = p[k].zero, total = 0.0;
    if (p[k].one != 0.0) {
      double next = p[d].pweight;
      for (unsigned i = d; i-- > 0;) {
        double tmp = next * (double)(d + 1) * recip[i + 1];
        total += tmp;
        next = p[i].pweight - tmp * zero * (double)(d - i) * r;
      }
      w->phi[p[k].feature] += total * (1.0 - zero) * value;
    } else if (zero != 0.0) {
      w->phi[p[k].feature] -= cold_sum * value; /* (total / zero) * (0 - zero) */
    }
  }
}

/* parent: the caller's path (d elements valid); this node's path is built
 * just after it, so the scratch holds one path per level. */
static void shap_recurse(const struct shap_walk *w, uint32_t node,
                         struct shap_el *parent, unsigned d, double zero,
                         double one, uint32_t feature) {
  /* No cover and not on x's path: every weight below is zero. */
  if (zero == 0.0 && one == 0.0)
    return;
  struct shap_el *p = parent + d + 1;
  memcpy(p, parent, d * sizeof *p);
  shap_extend(w->recip, p, d, zero, one, feature);

  const struct fnode *n = &w->nodes[node];
  if (!n->left) {
    shap_leaf(w, p, d, (double)n->value);
    return;
  }
  uint32_t split = n->info & NODE_FEATURE_MASK;
  uint32_t hot = node_next(n, w->x);
  uint32_t cold = hot == n->left ? n->left + 1 : n->left;
  double in_zero = 1.0, in_one = 1.0;
  /* A feature split on again: undo its earlier element, fold it in here. */
  for (unsigned k = 1; k <= d; k++) {
    if (p[k].feature == split) {
      in_zero = p[k].zero;
      in_one = p[k].one;
      shap_unwind(w->recip, p, d, k);
      d--;
      break;
    }
  }
  shap_recurse(w, hot, p, d + 1, cover_share(w->nodes, node, hot) * in_zero,
               in_one, split);
  shap_recurse(w, cold, p, d + 1, cover_share(w->nodes, node, cold) * in_zero,
               0.0, split);
}

int forest_contribs(const struct forest *f, const float *x, double *out) {
  size_t width = (size_t)f->num_features + 1;
  size_t need = ((size_t)f->max_depth + 2) * ((size_t)f->max_depth + 3) / 2;
  struct shap_el stack_path[SHAP_STACK_ELS];
  struct shap_el *path = stack_path;
  if (need > SHAP_STACK_ELS && !(path = malloc(need * sizeof *path)))
    return -1;
  memset(out, 0, f->num_groups * width * sizeof *out);
  for (uint32_t t = 0; t < f->num_trees; t++) {
    struct shap_walk w = {f->nodes, f->recip, x, out + (size_t)f->groups[t] * width};
    shap_recurse(&w, f->roots[t], path, 0, 1.0, 1.0, SHAP_NO_FEATURE);
  }
  for (uint32_t g = 0; g < f->num_groups; g++)
    out[(size_t)g * width + f->num_features] += f->bias[g];
  if (path != stack_path)
    free(path);
  return 0;
}

int forest_importance(const struct forest *f, const float *X, size_t n, size_t stride,
                      double *out) {
  size_t nf = (size_t)f->num_features, G = forest_num_groups(f), width = nf + 1;
  double *cb = malloc(G * width * sizeof *cb);
  if (!cb)
    return -1;
  for (size_t k = 0; k < nf; k++)
    out[k] = 0;
  for (size_t i = 0; i < n; i++) {
    if (forest_contribs(f, X + i * stride, cb) < 0) {
      free(cb);
      return -1;
    }
    for (size_t g = 0; g < G; g++)
      for (size_t k = 0; k < nf; k++)
        out[k] += fabs(cb[g * width + k]);
  }
  for (size_t k = 0; k < nf; k++)
    out[k] = n ? out[k] / ((double)n * (double)G) : 0;
  free(cb);
  return 0;
}

/* ---- validation, shared by both loaders ------------------------------
 * Proves: roots start at 0 and increase; each tree's internal nodes have
 * both children inside the tree and after themselves; every node but the
 * root has exactly one parent (so each tree is a tree: no sharing, no
 * cycles, nothing unreachable); features and groups are in range; depth is
 * bounded; values are finite and covers non-negative. Then computes the
 * depth and the bias (expected values, XGBoost's node mean values). */
static int forest_check(struct forest *f, struct gerr *err) {
  int rc = -1;
  uint8_t *parents = NULL;
  uint16_t *depth = NULL;
  double *mean = NULL;
  uint32_t nn = f->num_nodes, nt = f->num_trees;

  if (!f->obj)
    return gerr_set(err, GERR_INVALID_INPUT, "unsupported objective");
  if (f->num_features == 0 || f->num_features > FOREST_MAX_FEATURES)
    return gerr_set(err, GERR_INVALID_INPUT, "%u features (1 to %u allowed)",
                    f->num_features, FOREST_MAX_FEATURES);
  if (f->num_groups == 0 || f->num_groups > FOREST_MAX_GROUPS ||
      (!f->obj->multi && f->num_groups != 1))
    return gerr_set(err, GERR_INVALID_INPUT, "%u output groups for %s",
                    f->num_groups, f->obj->name);
  if (nn > FOREST_MAX_NODES || nt > nn || (nt == 0) != (nn == 0))
    return gerr_set(err, GERR_INVALID_INPUT, "%u trees with %u nodes", nt, nn);
  if (!isfinite(f->base_margin))
    return gerr_set(err, GERR_INVALID_INPUT, "the base margin is not finite");
  free(f->bias);
  if (!(f->bias = calloc(f->num_groups, sizeof *f->bias)))
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  if (nn && (!(parents = calloc(nn, 1)) || !(depth = malloc(nn * sizeof *depth)) ||
             !(mean = malloc(nn * sizeof *mean)))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  f->max_depth = 0;
  for (uint32_t t = 0; t < nt; t++) {
    uint32_t start = f->roots[t], end = t + 1 < nt ? f->roots[t + 1] : nn;
    if ((t == 0 && start != 0) || start >= end || end > nn) {
      gerr_set(err, GERR_INVALID_INPUT, "tree %u: bad root range %u..%u of %u",
               t, start, end, nn);
      goto out;
    }
    if (f->groups[t] >= f->num_groups) {
      gerr_set(err, GERR_INVALID_INPUT, "tree %u: group %u of %u", t,
               f->groups[t], f->num_groups);
      goto out;
    }
    depth[start] = 0;
    for (uint32_t i = start; i < end; i++) {
      const struct fnode *n = &f->nodes[i];
      if (i != start && parents[i] != 1) {
        gerr_set(err, GERR_INVALID_INPUT, "tree %u: node %u has no parent", t, i);
        goto out;
      }
      if (!isfinite(n->value) || !isfinite(n->cover) || n->cover < 0.0f) {
        gerr_set(err, GERR_INVALID_INPUT, "tree %u: node %u has a bad value", t, i);
        goto out;
      }
      if (!n->left) {
        if (n->info) {
          gerr_set(err, GERR_INVALID_INPUT, "tree %u: leaf %u has a split", t, i);
          goto out;
        }
        if (depth[i] > f->max_depth)
          f->max_depth = depth[i];
        continue;
      }
      uint32_t l = n->left;
      if (l <= i || l >= end - 1) {
        gerr_set(err, GERR_INVALID_INPUT, "tree %u: node %u has children %u, %u "
                 "outside %u..%u", t, i, l, l + 1, i + 1, end - 1);
        goto out;
      }
      if ((n->info & NODE_FEATURE_MASK) >= f->num_features) {
        gerr_set(err, GERR_INVALID_INPUT, "tree %u: node %u splits on feature %u "
                 "of %u", t, i, n->info & NODE_FEATURE_MASK, f->num_features);
        goto out;
      }
      if (++parents[l] > 1 || ++parents[l + 1] > 1) {
        gerr_set(err, GERR_INVALID_INPUT, "tree %u: node %u is a second parent",
                 t, i);
        goto out;
      }
      if (depth[i] + 1u > FOREST_MAX_DEPTH) {
        gerr_set(err, GERR_INVALID_INPUT, "tree %u: deeper than %u", t,
                 FOREST_MAX_DEPTH);
        goto out;
      }
      depth[l] = depth[l + 1] = (uint16_t)(depth[i] + 1);
    }
    for (uint32_t i = end; i-- > start;) {
      const struct fnode *n = &f->nodes[i];
      if (!n->left) {
        mean[i] = n->value;
      } else {
        double sl = cover_share(f->nodes, i, n->left);
        double sr = cover_share(f->nodes, i, n->left + 1);
        mean[i] = mean[n->left] * sl + mean[n->left + 1] * sr;
      }
    }
    f->bias[f->groups[t]] += mean[start];
  }
  for (uint32_t g = 0; g < f->num_groups; g++)
    f->bias[g] += f->base_margin;
  free(f->recip);
  if (!(f->recip = malloc(((size_t)f->max_depth + 3) * sizeof *f->recip))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  f->recip[0] = 0.0;
  for (uint32_t k = 1; k < f->max_depth + 3; k++)
    f->recip[k] = 1.0 / (double)k;
  rc = 0;
out:
  free(parents);
  free(depth);
  free(mean);
  return rc;
}

/* ---- growable arrays for the JSON loader ------------------------------ */

struct vec {
  void *p;
  size_t n, cap; /* in elements */
};

/* A new last element of size bytes, or NULL with errno ENOMEM when out of
 * memory or E2BIG at the limit of FOREST_MAX_NODES elements. */
static void *vec_push(struct vec *v, size_t size) {
  if (v->n == v->cap) {
    if (v->cap >= FOREST_MAX_NODES) {
      errno = E2BIG;
      return NULL;
    }
    size_t cap = v->cap ? v->cap * 2 : 64;
    void *p = realloc(v->p, cap * size);
    if (!p) {
      errno = ENOMEM;
      return NULL;
    }
    v->p = p;
    v->cap = cap;
  }
  return (char *)v->p + v->n++ * size;
}

/* Ensures room for n elements (contents not kept). */
static int vec_room(struct vec *v, size_t n, size_t size) {
  if (n <= v->cap)
    return 0;
  free(v->p);
  v->p = malloc(n * size);
  v->cap = v->p ? n : 0;
  return v->p ? 0 : -1;
}

/* ---- the JSON loader ------------------------------------------------------
 * yajl's event parser, so numbers arrive as text and are read with strtof
 * (exactly the float XGBoost wrote) and no document tree is built. Each
 * open container has a context; a table of keys says what each member
 * is. Anything not in the table is skipped. */

enum jctx {
  JC_SKIP, JC_ROOT, JC_VERSION, JC_LEARNER, JC_BOOSTER, JC_MODEL, JC_GBT_PARAM,
  JC_TREE_INFO, JC_TREES, JC_TREE, JC_TREE_ARRAY, JC_TREE_PARAM, JC_CATEGORIES,
  JC_LMP, JC_OBJECTIVE,
};

/* Whether each context is an object (1) or an array (0); skip is either. */
static const signed char jctx_is_map[] = {
    [JC_SKIP] = -1, [JC_ROOT] = 1, [JC_VERSION] = 0, [JC_LEARNER] = 1,
    [JC_BOOSTER] = 1, [JC_MODEL] = 1, [JC_GBT_PARAM] = 1, [JC_TREE_INFO] = 0,
    [JC_TREES] = 0, [JC_TREE] = 1, [JC_TREE_ARRAY] = 0, [JC_TREE_PARAM] = 1,
    [JC_CATEGORIES] = 0, [JC_LMP] = 1, [JC_OBJECTIVE] = 1,
};

/* Scalar members. */
enum jfield {
  JF_NONE, JF_BOOSTER_NAME, JF_NUM_TREES, JF_SIZE_LEAF_VECTOR, JF_TREE_ID,
  JF_TREE_NUM_NODES, JF_TREE_SIZE_LEAF_VECTOR, JF_BASE_SCORE, JF_NUM_CLASS,
  JF_NUM_FEATURE, JF_NUM_TARGET, JF_OBJECTIVE_NAME,
};

/* The per-node arrays of a tree. */
enum tarr {
  TA_LEFT, TA_RIGHT, TA_SPLIT_INDEX, TA_SPLIT_COND, TA_DEFAULT_LEFT,
  TA_SUM_HESS, TA_SPLIT_TYPE, TA__COUNT
};
#define TA_REQUIRED ((1u << TA_SPLIT_TYPE) - 1) /* split_type is optional */

static const struct jkey {
  enum jctx in;   /* the object the key belongs to */
  const char *key;
  enum jctx ctx;  /* the container the value must be, or JC_SKIP: a scalar */
  int field;      /* the scalar's enum jfield, or the array's enum tarr */
} jkeys[] = {
    {JC_ROOT, "version", JC_VERSION, 0},
    {JC_ROOT, "learner", JC_LEARNER, 0},
    {JC_LEARNER, "gradient_booster", JC_BOOSTER, 0},
    {JC_LEARNER, "learner_model_param", JC_LMP, 0},
    {JC_LEARNER, "objective", JC_OBJECTIVE, 0},
    {JC_BOOSTER, "name", JC_SKIP, JF_BOOSTER_NAME},
    {JC_BOOSTER, "model", JC_MODEL, 0},
    {JC_MODEL, "gbtree_model_param", JC_GBT_PARAM, 0},
    {JC_MODEL, "tree_info", JC_TREE_INFO, 0},
    {JC_MODEL, "trees", JC_TREES, 0},
    {JC_GBT_PARAM, "num_trees", JC_SKIP, JF_NUM_TREES},
    {JC_GBT_PARAM, "size_leaf_vector", JC_SKIP, JF_SIZE_LEAF_VECTOR},
    {JC_TREE, "id", JC_SKIP, JF_TREE_ID},
    {JC_TREE, "tree_param", JC_TREE_PARAM, 0},
    {JC_TREE, "left_children", JC_TREE_ARRAY, TA_LEFT},
    {JC_TREE, "right_children", JC_TREE_ARRAY, TA_RIGHT},
    {JC_TREE, "split_indices", JC_TREE_ARRAY, TA_SPLIT_INDEX},
    {JC_TREE, "split_conditions", JC_TREE_ARRAY, TA_SPLIT_COND},
    {JC_TREE, "default_left", JC_TREE_ARRAY, TA_DEFAULT_LEFT},
    {JC_TREE, "sum_hessian", JC_TREE_ARRAY, TA_SUM_HESS},
    {JC_TREE, "split_type", JC_TREE_ARRAY, TA_SPLIT_TYPE},
    {JC_TREE, "categories", JC_CATEGORIES, 0},
    {JC_TREE, "categories_nodes", JC_CATEGORIES, 0},
    {JC_TREE, "categories_segments", JC_CATEGORIES, 0},
    {JC_TREE, "categories_sizes", JC_CATEGORIES, 0},
    {JC_TREE_PARAM, "num_nodes", JC_SKIP, JF_TREE_NUM_NODES},
    {JC_TREE_PARAM, "size_leaf_vector", JC_SKIP, JF_TREE_SIZE_LEAF_VECTOR},
    {JC_LMP, "base_score", JC_SKIP, JF_BASE_SCORE},
    {JC_LMP, "num_class", JC_SKIP, JF_NUM_CLASS},
    {JC_LMP, "num_feature", JC_SKIP, JF_NUM_FEATURE},
    {JC_LMP, "num_target", JC_SKIP, JF_NUM_TARGET},
    {JC_OBJECTIVE, "name", JC_SKIP, JF_OBJECTIVE_NAME},
};
#define JKEY_COUNT (sizeof jkeys / sizeof jkeys[0])
_Static_assert(JKEY_COUNT <= 64, "seen is a 64-bit mask");

#define JSON_MAX_DEPTH 32

struct jframe {
  enum jctx ctx;
  int key;        /* the member whose value comes next: jkeys index, -1 none */
  int array;      /* JC_TREE_ARRAY: which enum tarr */
  uint64_t seen;  /* keys met in this object (a key twice is refused) */
  size_t count;   /* elements met in this array */
};

/* A staged tree value: indices as integers, the rest as floats. */
union tval {
  int64_t i;
  float f;
};

struct jparse {
  struct jframe stack[JSON_MAX_DEPTH];
  int depth;
  char error[200];
  int oom;             /* the error is running out of memory */
  /* the model */
  int64_t version[3];
  size_t version_len;
  char booster[16];
  char objective[OBJECTIVE_NAME_MAX];
  int have_base_score;
  float base_score;
  int64_t num_class, num_feature, num_target, num_trees_param, size_leaf_vector;
  int have_trees, have_tree_info;
  struct vec tree_info; /* int64_t */
  /* the tree being read */
  struct vec tarr[TA__COUNT]; /* union tval */
  unsigned tarr_seen;
  int64_t tree_id, tree_num_nodes, tree_size_leaf_vector;
  /* the forest so far */
  uint32_t num_trees;
  struct vec nodes; /* struct fnode */
  struct vec roots; /* uint32_t */
  struct vec queue; /* uint32_t: breadth-first order of one tree */
  struct vec seen_node; /* uint8_t */
};

static int jfail(struct jparse *j, const char *fmt, ...) GROMO_PRINTF(2, 3);
static int jfail(struct jparse *j, const char *fmt, ...) {
  if (!j->error[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error, sizeof j->error, fmt, ap);
    va_end(ap);
  }
  return 0; /* stops yajl */
}

/* After vec_push or vec_room failed. */
static int jno_room(struct jparse *j, const char *what) {
  if (errno != E2BIG) {
    j->oom = 1;
    return jfail(j, "out of memory");
  }
  return jfail(j, "%s has more than %u entries", what, FOREST_MAX_NODES);
}

static const char *jkey_name(int k) { return k >= 0 ? jkeys[k].key : "value"; }

static const char *const tarr_names[TA__COUNT] = {
    "left_children", "right_children", "split_indices", "split_conditions",
    "default_left", "sum_hessian", "split_type",
};

static int jtree_is_int(int a) {
  return a != TA_SPLIT_COND && a != TA_SUM_HESS;
}

/* Numbers and the string-valued parameters ("num_class": "3"). */
enum jkind { JK_NUMBER, JK_STRING, JK_BOOL, JK_NULL };

static int text_int(const char *s, size_t n, int64_t *out) {
  char buf[32];
  if (n == 0 || n >= sizeof buf)
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  long long v;
  if (parse_int_range(buf, INT64_MIN, INT64_MAX, &v) < 0)
    return -1;
  *out = v;
  return 0;
}

static int text_float(const char *s, size_t n, float *out) {
  char buf[64];
  if (n == 0 || n >= sizeof buf)
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  float v = strtof(buf, &end);
  if (*end || end == buf || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

/* An element of an integer array: a number, or a boolean (default_left
 * was written as booleans before XGBoost 1.6). */
static int jint(enum jkind kind, const char *s, size_t n, int b, int64_t *out) {
  if (kind == JK_BOOL) {
    *out = b;
    return 0;
  }
  return kind == JK_NUMBER ? text_int(s, n, out) : -1;
}

static int jset_field(struct jparse *j, int k, enum jkind kind, const char *s,
                      size_t n) {
  int64_t *ip = NULL;
  char *sp = NULL;
  size_t cap = 0;
  switch ((enum jfield)jkeys[k].field) {
  case JF_NONE:
    return 1;
  case JF_BOOSTER_NAME:
    sp = j->booster, cap = sizeof j->booster;
    break;
  case JF_OBJECTIVE_NAME:
    sp = j->objective, cap = sizeof j->objective;
    break;
  case JF_BASE_SCORE:
    if ((kind != JK_STRING && kind != JK_NUMBER) ||
        text_float(s, n, &j->base_score) != 0)
      return jfail(j, "base_score is not a finite number");
    j->have_base_score = 1;
    return 1;
  case JF_NUM_TREES: ip = &j->num_trees_param; break;
  case JF_SIZE_LEAF_VECTOR: ip = &j->size_leaf_vector; break;
  case JF_TREE_ID: ip = &j->tree_id; break;
  case JF_TREE_NUM_NODES: ip = &j->tree_num_nodes; break;
  case JF_TREE_SIZE_LEAF_VECTOR: ip = &j->tree_size_leaf_vector; break;
  case JF_NUM_CLASS: ip = &j->num_class; break;
  case JF_NUM_FEATURE: ip = &j->num_feature; break;
  case JF_NUM_TARGET: ip = &j->num_target; break;
  }
  if (sp) {
    if (kind != JK_STRING || n >= cap || memchr(s, '\0', n))
      return jfail(j, "%s is not a short string", jkeys[k].key);
    memcpy(sp, s, n);
    sp[n] = '\0';
    return 1;
  }
  if ((kind != JK_STRING && kind != JK_NUMBER) || text_int(s, n, ip) != 0 ||
      *ip < 0 || *ip > INT32_MAX)
    return jfail(j, "%s is not a count", jkeys[k].key);
  return 1;
}

static int jtree_value(struct jparse *j, int a, enum jkind kind, const char *s,
                       size_t n, int b) {
  union tval v;
  if (jtree_is_int(a)) {
    if (jint(kind, s, n, b, &v.i) != 0)
      return jfail(j, "tree %u: %s holds a non-integer", j->num_trees,
                   tarr_names[a]);
    if (a == TA_SPLIT_TYPE && v.i != 0)
      return jfail(j, "tree %u: categorical splits are not supported", j->num_trees);
  } else if (kind != JK_NUMBER || text_float(s, n, &v.f) != 0) {
    return jfail(j, "tree %u: %s holds a non-finite number", j->num_trees,
                 tarr_names[a]);
  }
  union tval *slot = vec_push(&j->tarr[a], sizeof *slot);
  if (!slot)
    return jno_room(j, tarr_names[a]);
  *slot = v;
  return 1;
}

static int jscalar(struct jparse *j, enum jkind kind, const char *s, size_t n, int b) {
  if (j->depth == 0)
    return jfail(j, "the model is not a JSON object");
  struct jframe *fr = &j->stack[j->depth - 1];
  switch (fr->ctx) {
  case JC_SKIP:
    return 1;
  case JC_VERSION: {
    int64_t v;
    if (kind != JK_NUMBER || text_int(s, n, &v) != 0)
      return jfail(j, "version is not a list of integers");
    if (j->version_len < 3)
      j->version[j->version_len++] = v;
    return 1;
  }
  case JC_TREE_INFO: {
    int64_t v, *slot;
    if (kind != JK_NUMBER || text_int(s, n, &v) != 0)
      return jfail(j, "tree_info holds a non-integer");
    if (!(slot = vec_push(&j->tree_info, sizeof *slot)))
      return jno_room(j, "tree_info");
    *slot = v;
    return 1;
  }
  case JC_TREE_ARRAY:
    return jtree_value(j, fr->array, kind, s, n, b);
  case JC_CATEGORIES:
    return jfail(j, "tree %u: categorical splits are not supported", j->num_trees);
  case JC_TREES:
    return jfail(j, "a tree is not an object");
  default:
    break;
  }
  int k = fr->key; /* an object's member */
  fr->key = -1;
  if (k < 0)
    return 1;
  if (jkeys[k].ctx != JC_SKIP)
    return jfail(j, "%s is not an %s", jkeys[k].key,
                 jctx_is_map[jkeys[k].ctx] ? "object" : "array");
  return jset_field(j, k, kind, s, n);
}

static int cb_null(void *c) { return jscalar(c, JK_NULL, NULL, 0, 0); }
static int cb_bool(void *c, int b) { return jscalar(c, JK_BOOL, NULL, 0, b); }
static int cb_number(void *c, const char *s, size_t n) {
  return jscalar(c, JK_NUMBER, s, n, 0);
}
static int cb_string(void *c, const unsigned char *s, size_t n) {
  return jscalar(c, JK_STRING, (const char *)s, n, 0);
}

static void jtree_begin(struct jparse *j) {
  for (int a = 0; a < TA__COUNT; a++)
    j->tarr[a].n = 0;
  j->tarr_seen = 0;
  j->tree_id = j->tree_num_nodes = -1;
  j->tree_size_leaf_vector = 0;
}

/* Appends the staged tree, renumbered breadth-first from its root. Only
 * nodes reachable from the root are kept (XGBoost leaves pruned nodes in
 * the arrays); a child index out of range, a node reached twice (a cycle
 * or a shared child) or a half leaf is refused. */
static int jtree_end(struct jparse *j) {
  uint32_t t = j->num_trees;
  if (j->tree_id != (int64_t)t)
    return jfail(j, "tree %u: id is %lld", t, (long long)j->tree_id);
  if (j->tree_size_leaf_vector != 0)
    return jfail(j, "tree %u: vector leaves are not supported", t);
  int64_t n = j->tree_num_nodes;
  if (n < 1 || n > (int64_t)FOREST_MAX_NODES)
    return jfail(j, "tree %u: num_nodes is missing or out of range", t);
  for (int a = 0; a < TA__COUNT; a++) {
    if (!(j->tarr_seen & (1u << a)) && (TA_REQUIRED & (1u << a)))
      return jfail(j, "tree %u: %s is missing", t, tarr_names[a]);
    if ((j->tarr_seen & (1u << a)) && j->tarr[a].n != (size_t)n)
      return jfail(j, "tree %u: %zu %s for %lld nodes", t, j->tarr[a].n,
                   tarr_names[a], (long long)n);
  }
  const union tval *left = j->tarr[TA_LEFT].p, *right = j->tarr[TA_RIGHT].p,
                   *split = j->tarr[TA_SPLIT_INDEX].p,
                   *cond = j->tarr[TA_SPLIT_COND].p,
                   *dleft = j->tarr[TA_DEFAULT_LEFT].p,
                   *hess = j->tarr[TA_SUM_HESS].p;
  if (vec_room(&j->queue, (size_t)n, sizeof(uint32_t)) ||
      vec_room(&j->seen_node, (size_t)n, 1)) {
    errno = ENOMEM;
    return jno_room(j, "a tree");
  }
  uint32_t *q = j->queue.p;
  uint8_t *seen = j->seen_node.p;
  memset(seen, 0, (size_t)n);
  size_t m = 1;
  q[0] = 0;
  seen[0] = 1;
  for (size_t k = 0; k < m; k++) {
    uint32_t u = q[k];
    int64_t l = left[u].i, r = right[u].i;
    if (l == -1) {
      if (r != -1)
        return jfail(j, "tree %u: node %u has only a right child", t, u);
      continue;
    }
    if (l < 0 || l >= n || r < 0 || r >= n || l == r)
      return jfail(j, "tree %u: node %u has children %lld, %lld of %lld nodes",
                   t, u, (long long)l, (long long)r, (long long)n);
    if (seen[l] || seen[r])
      return jfail(j, "tree %u: node %u's children are reached twice", t, u);
    if (r != l + 1) /* XGBoost's predictor takes the right child as left + 1 */
      return jfail(j, "tree %u: node %u's children %lld, %lld are not side by "
                   "side", t, u, (long long)l, (long long)r);
    if (split[u].i < 0 || split[u].i > (int64_t)NODE_FEATURE_MASK)
      return jfail(j, "tree %u: node %u splits on feature %lld", t, u,
                   (long long)split[u].i);
    if (dleft[u].i != 0 && dleft[u].i != 1)
      return jfail(j, "tree %u: node %u default_left is not 0 or 1", t, u);
    seen[l] = seen[r] = 1;
    q[m++] = (uint32_t)l;
    q[m++] = (uint32_t)r;
  }
  size_t base = j->nodes.n;
  if (base + m > FOREST_MAX_NODES)
    return jfail(j, "more than %u nodes", FOREST_MAX_NODES);
  uint32_t *root = vec_push(&j->roots, sizeof *root);
  if (!root)
    return jno_room(j, "trees");
  *root = (uint32_t)base;
  size_t next_child = base + 1;
  for (size_t k = 0; k < m; k++) {
    uint32_t u = q[k];
    struct fnode *nd = vec_push(&j->nodes, sizeof *nd);
    if (!nd)
      return jno_room(j, "the forest");
    nd->value = cond[u].f;
    nd->cover = hess[u].f;
    if (left[u].i == -1) {
      nd->info = 0;
      nd->left = 0;
    } else {
      nd->info = (uint32_t)split[u].i | (dleft[u].i ? NODE_DEFAULT_LEFT : 0);
      nd->left = (uint32_t)next_child;
      next_child += 2;
    }
  }
  j->num_trees++;
  return 1;
}

static int jopen(struct jparse *j, int is_map) {
  if (j->depth == JSON_MAX_DEPTH)
    return jfail(j, "the model nests deeper than %d levels", JSON_MAX_DEPTH);
  enum jctx ctx = JC_ROOT;
  int array = 0;
  if (j->depth == 0) {
    if (!is_map)
      return jfail(j, "the model is not a JSON object");
  } else {
    struct jframe *fr = &j->stack[j->depth - 1];
    switch (fr->ctx) {
    case JC_SKIP:
      ctx = JC_SKIP;
      break;
    case JC_TREES:
      if (!is_map)
        return jfail(j, "a tree is not an object");
      ctx = JC_TREE;
      jtree_begin(j);
      break;
    case JC_VERSION:
    case JC_TREE_INFO:
    case JC_TREE_ARRAY:
      return jfail(j, "an array of numbers holds a container");
    case JC_CATEGORIES:
      return jfail(j, "tree %u: categorical splits are not supported", j->num_trees);
    default: {
      int k = fr->key;
      fr->key = -1;
      if (k < 0) {
        ctx = JC_SKIP;
        break;
      }
      ctx = jkeys[k].ctx;
      if (ctx == JC_SKIP || jctx_is_map[ctx] != is_map)
        return jfail(j, "%s is not %s", jkey_name(k),
                     ctx == JC_SKIP ? "a scalar" : is_map ? "an array" : "an object");
      array = jkeys[k].field;
      if (ctx == JC_TREE_ARRAY)
        j->tarr_seen |= 1u << array;
      if (ctx == JC_TREES)
        j->have_trees = 1;
      if (ctx == JC_TREE_INFO)
        j->have_tree_info = 1;
    }
    }
  }
  j->stack[j->depth++] = (struct jframe){ctx, -1, array, 0, 0};
  return 1;
}

static int jclose(struct jparse *j) {
  struct jframe *fr = &j->stack[--j->depth];
  if (fr->ctx == JC_TREE)
    return jtree_end(j);
  return 1;
}

static int cb_start_map(void *c) { return jopen(c, 1); }
static int cb_start_array(void *c) { return jopen(c, 0); }
static int cb_end(void *c) { return jclose(c); }

static int cb_key(void *c, const unsigned char *s, size_t n) {
  struct jparse *j = c;
  struct jframe *fr = &j->stack[j->depth - 1];
  fr->key = -1;
  if (fr->ctx == JC_SKIP)
    return 1;
  for (size_t k = 0; k < JKEY_COUNT; k++) {
    if (jkeys[k].in == fr->ctx && strlen(jkeys[k].key) == n &&
        memcmp(jkeys[k].key, s, n) == 0) {
      if (fr->seen & (1ull << k))
        return jfail(j, "%s is given twice", jkeys[k].key);
      fr->seen |= 1ull << k;
      fr->key = (int)k;
      break;
    }
  }
  return 1;
}

static const yajl_callbacks jcallbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

static void jparse_release(struct jparse *j) {
  free(j->tree_info.p);
  for (int a = 0; a < TA__COUNT; a++)
    free(j->tarr[a].p);
  free(j->nodes.p);
  free(j->roots.p);
  free(j->queue.p);
  free(j->seen_node.p);
}

/* The model-level checks once the text is read; moves the arrays into f. */
static int jparse_finish(struct jparse *j, struct forest *f, struct gerr *err) {
  if (j->version_len < 1 || j->version[0] != 1)
    return gerr_set(err, GERR_INVALID_INPUT, "not an XGBoost 1.x model "
                    "(version %lld)", j->version_len ? (long long)j->version[0] : -1LL);
  if (strcmp(j->booster, "gbtree") != 0)
    return gerr_set(err, GERR_INVALID_INPUT, "booster \"%s\" is not supported "
                    "(only gbtree)", j->booster);
  if (!(f->obj = objective_find(j->objective)))
    return gerr_set(err, GERR_INVALID_INPUT, "objective \"%s\" is not supported",
                    j->objective);
  if (!j->have_base_score || j->num_feature < 0 || !j->have_trees ||
      !j->have_tree_info)
    return gerr_set(err, GERR_INVALID_INPUT, "the model lacks base_score, "
                    "num_feature, trees or tree_info");
  if (j->num_target > 1 || j->size_leaf_vector > 0)
    return gerr_set(err, GERR_INVALID_INPUT, "multi-target models are not supported");
  if (f->obj->multi ? j->num_class < 1 : j->num_class != 0)
    return gerr_set(err, GERR_INVALID_INPUT, "num_class %lld with %s",
                    (long long)j->num_class, f->obj->name);
  if (j->tree_info.n != j->num_trees ||
      (j->num_trees_param >= 0 && j->num_trees_param != (int64_t)j->num_trees))
    return gerr_set(err, GERR_INVALID_INPUT, "%u trees, %zu in tree_info, "
                    "num_trees %lld", j->num_trees, j->tree_info.n,
                    (long long)j->num_trees_param);
  f->num_features = (uint32_t)j->num_feature;
  f->num_groups = f->obj->multi ? (uint32_t)j->num_class : 1;
  f->num_trees = j->num_trees;
  f->num_nodes = (uint32_t)j->nodes.n;
  f->base_margin = link_margin(f->obj->link, j->base_score);
  if (!isfinite(f->base_margin))
    return gerr_set(err, GERR_INVALID_INPUT, "base_score %g is out of range "
                    "for %s", (double)j->base_score, f->obj->name);
  if (!(f->groups = malloc((j->num_trees ? j->num_trees : 1) * sizeof *f->groups)))
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  const int64_t *info = j->tree_info.p;
  for (uint32_t t = 0; t < j->num_trees; t++) {
    if (info[t] < 0 || info[t] >= (int64_t)f->num_groups)
      return gerr_set(err, GERR_INVALID_INPUT, "tree %u is in group %lld of %u",
                      t, (long long)info[t], f->num_groups);
    f->groups[t] = (uint32_t)info[t];
  }
  f->roots = j->roots.p;
  f->nodes = j->nodes.p;
  j->roots.p = j->nodes.p = NULL;
  return forest_check(f, err);
}

int forest_load_json(const char *json, size_t len, struct forest **out,
                     struct gerr *err) {
  int rc = -1;
  struct forest *f = NULL;
  yajl_handle h = NULL;
  struct jparse *j = calloc(1, sizeof *j);
  *out = NULL;
  if (!j || !(f = calloc(1, sizeof *f))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  j->num_class = 0; /* absent in models without classes */
  j->num_target = 1;
  j->num_trees_param = j->num_feature = -1;
  if (!(h = yajl_alloc(&jcallbacks, NULL, j))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
  if (st == yajl_status_ok)
    st = yajl_complete_parse(h);
  if (st != yajl_status_ok) {
    if (j->error[0]) {
      gerr_set(err, j->oom ? GERR_INTERNAL : GERR_INVALID_INPUT, "%s", j->error);
    } else {
      unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
      gerr_set(err, GERR_INVALID_INPUT, "not JSON: %s",
               msg ? (const char *)msg : "parse error");
      yajl_free_error(h, msg);
    }
    goto out;
  }
  if (jparse_finish(j, f, err) != 0)
    goto out;
  *out = f;
  f = NULL;
  rc = 0;
out:
  if (h)
    yajl_free(h);
  if (j)
    jparse_release(j);
  free(j);
  forest_free(f);
  if (rc != 0 && err)
    gerr_prefix(err, "model");
  return rc;
}

/* ---- the blob -----------------------------------------------------------
 * Little-endian, fixed layout (docs/forest.md):
 *   0  8  magic "GRFOREST"        8  4  format version (1)
 *  12  4  header size (80)       16  8  blob size, checksum included
 *  24 32  objective, NUL-padded  56  4  features   60  4  groups
 *  64  4  trees   68  4  nodes   72  8  base margin (IEEE 754 double)
 *  80     trees x (u32 root, u32 group)
 *   .     nodes x (f32 value, u32 info, u32 left, f32 cover)
 *   .  8  FNV-1a 64 of every byte before it */

#define BLOB_MAGIC "GRFOREST"
#define BLOB_VERSION 1u
#define BLOB_HEADER 80u
#define BLOB_TREE 8u
#define BLOB_NODE 16u
#define BLOB_SUM 8u


int forest_save(const struct forest *f, unsigned char **buf, size_t *len,
                struct gerr *err) {
  size_t n = BLOB_HEADER + (size_t)f->num_trees * BLOB_TREE +
             (size_t)f->num_nodes * BLOB_NODE + BLOB_SUM;
  unsigned char *b = calloc(1, n), *p;
  *buf = NULL;
  *len = 0;
  if (!b)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  memcpy(b, BLOB_MAGIC, 8);
  wire_put32(b + 8, BLOB_VERSION);
  wire_put32(b + 12, BLOB_HEADER);
  wire_put64(b + 16, n);
  memcpy(b + 24, f->obj->name, strlen(f->obj->name)); /* < 32, zero-padded */
  wire_put32(b + 56, f->num_features);
  wire_put32(b + 60, f->num_groups);
  wire_put32(b + 64, f->num_trees);
  wire_put32(b + 68, f->num_nodes);
  uint64_t bm;
  memcpy(&bm, &f->base_margin, sizeof bm);
  wire_put64(b + 72, bm);
  p = b + BLOB_HEADER;
  for (uint32_t t = 0; t < f->num_trees; t++, p += BLOB_TREE) {
    wire_put32(p, f->roots[t]);
    wire_put32(p + 4, f->groups[t]);
  }
  for (uint32_t i = 0; i < f->num_nodes; i++, p += BLOB_NODE) {
    const struct fnode *nd = &f->nodes[i];
    wire_put_f32(p, nd->value);
    wire_put32(p + 4, nd->info);
    wire_put32(p + 8, nd->left);
    wire_put_f32(p + 12, nd->cover);
  }
  wire_put64(p, wire_fnv1a64(b, n - BLOB_SUM));
  *buf = b;
  *len = n;
  return 0;
}

int forest_load_blob(const unsigned char *buf, size_t len, struct forest **out,
                     struct gerr *err) {
  *out = NULL;
  if (len < BLOB_HEADER + BLOB_SUM || memcmp(buf, BLOB_MAGIC, 8) != 0)
    return gerr_set(err, GERR_INVALID_INPUT, "not a forest blob");
  if (wire_get32(buf + 8) != BLOB_VERSION || wire_get32(buf + 12) != BLOB_HEADER)
    return gerr_set(err, GERR_INVALID_INPUT, "forest blob version %u is not "
                    "supported", wire_get32(buf + 8));
  uint32_t nt = wire_get32(buf + 64), nn = wire_get32(buf + 68);
  if (nn > FOREST_MAX_NODES || nt > nn)
    return gerr_set(err, GERR_INVALID_INPUT, "forest blob: %u trees, %u nodes",
                    nt, nn);
  uint64_t want = (uint64_t)BLOB_HEADER + (uint64_t)nt * BLOB_TREE +
                  (uint64_t)nn * BLOB_NODE + BLOB_SUM;
  if (wire_get64(buf + 16) != want || (uint64_t)len != want)
    return gerr_set(err, GERR_INVALID_INPUT, "forest blob: %zu bytes, %llu "
                    "expected", len, (unsigned long long)want);
  if (wire_get64(buf + len - BLOB_SUM) != wire_fnv1a64(buf, len - BLOB_SUM))
    return gerr_set(err, GERR_INVALID_INPUT, "forest blob: bad checksum");
  char name[OBJECTIVE_NAME_MAX];
  memcpy(name, buf + 24, sizeof name);
  if (name[sizeof name - 1] != '\0')
    return gerr_set(err, GERR_INVALID_INPUT, "forest blob: bad objective");

  struct forest *f = calloc(1, sizeof *f);
  if (!f)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  f->obj = objective_find(name);
  f->num_features = wire_get32(buf + 56);
  f->num_groups = wire_get32(buf + 60);
  f->num_trees = nt;
  f->num_nodes = nn;
  uint64_t bm = wire_get64(buf + 72);
  memcpy(&f->base_margin, &bm, sizeof bm);
  f->roots = malloc((nt ? nt : 1) * sizeof *f->roots);
  f->groups = malloc((nt ? nt : 1) * sizeof *f->groups);
  f->nodes = malloc((nn ? nn : 1) * sizeof *f->nodes);
  if (!f->roots || !f->groups || !f->nodes) {
    forest_free(f);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  const unsigned char *p = buf + BLOB_HEADER;
  for (uint32_t t = 0; t < nt; t++, p += BLOB_TREE) {
    f->roots[t] = wire_get32(p);
    f->groups[t] = wire_get32(p + 4);
  }
  for (uint32_t i = 0; i < nn; i++, p += BLOB_NODE) {
    struct fnode *nd = &f->nodes[i];
    nd->value = wire_get_f32(p);
    nd->info = wire_get32(p + 4);
    nd->left = wire_get32(p + 8);
    nd->cover = wire_get_f32(p + 12);
  }
  if (forest_check(f, err) != 0) {
    gerr_prefix(err, "forest blob");
    forest_free(f);
    return -1;
  }
  *out = f;
  return 0;
}
