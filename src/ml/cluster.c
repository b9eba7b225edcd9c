/* Regions as an algorithm (docs/rules.md §4): points on the sphere with a demand
 * pattern (averaged over each point's near neighbours), embedded in one
 * Euclidean space where place and pattern both weigh, grouped by greedy
 * k-means++ with restarts (Lloyd's iterations; Hamerly's bounds and the
 * distances between centres skip most distance computations). k is chosen
 * by a penalised criterion: how much more alike in pattern the clusters are
 * than random ones, against a cost per cluster. Given the previous
 * clustering, the new one starts from its centres (a warm start) so that
 * ids stay by construction. Restarts and silhouettes split over two
 * threads, the same way whether or not a thread is had, so results depend
 * on the input and config alone. Stable ids by shared members, and the
 * adjusted Rand index. docs/regions.md "Clustering" has the method and the
 * figures. */
#include "gromo/cluster.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "gromo/gazetteer.h"

#define DEG (3.14159265358979323846 / 180.0)
#define EARTH_KM 6371.0

/* The range of k searched when the caller gives none (docs/regions.md):
 * from max(2, n / REGION_MAX_POINTS, min(KMIN_FEW, sqrt(n) / 2)) up to
 * KMAX_PER_SQRT sqrt(n), within [2, n]. */
#define REGION_MAX_POINTS 150
#define KMIN_FEW 5
#define KMAX_PER_SQRT 3.0
/* The criterion: pattern ratio(k) + K_PENALTY k / n, the ratio made
 * non-increasing in k; the smallest k within SCORE_TOLERANCE of the lowest
 * wins (scores of neighbouring k differ by less than their noise). On
 * retraining the previous k stays unless the best candidate scores lower
 * by more than KEEP_MARGIN, or it lies outside the range widened by
 * KEEP_RANGE_SLACK each way (the data grew or shrank by that much). */
#define K_PENALTY 1.0
#define SCORE_TOLERANCE 0.01
#define KEEP_MARGIN 0.06
#define KEEP_RANGE_SLACK 1.25
/* A warm start needs at least this share of the points to have had a
 * region; with fewer the previous clustering says too little. In it a point
 * leaves its previous region only for a centre nearer in squared distance
 * by WARM_STICK times the mean squared distance of a point to its centre in
 * a cold run (WARM_COLD_RESTARTS restarts) with the same k; and the cold
 * run wins when the warm one's sum of squares is more than WARM_STALE above
 * its own: the previous regions no longer fit the data. */
#define WARM_MIN_SHARE 0.5
#define WARM_STICK 1.0
#define WARM_COLD_RESTARTS 2
#define WARM_STALE 0.1
#define SELECT_POINTS 3000   /* k is chosen on a subsample of this many */
/* Restarts per candidate k: as many as SELECT_WORK / (points x k) allow,
 * at least SELECT_RESTARTS (at most the config's): small inputs can afford
 * the restarts that steady their scores, large ones need none. */
#define SELECT_RESTARTS 2
#define SELECT_WORK 1e6
#define SELECT_COARSE 10     /* candidates spread over the range first */
#define SELECT_FINE 4        /* then as many more around the best */
#define SIL_SAMPLE 2000      /* points whose silhouette is averaged */
#define RANDOM_PARTITIONS 8  /* random partitions behind the ratios */
/* Each point's pattern is a weighted mean over it and its NEAR_POINTS
 * nearest others before it is standardised, a neighbour weighing
 * exp(-(km / NEAR_KM)^2 / 2): per-pincode patterns are noisy, and k-means on
 * raw noise cuts regions apart by it; neighbours far away are another
 * region, not a second opinion (docs/regions.md). */
#define NEAR_POINTS 8
#define NEAR_KM 50.0
/* Up to this many clusters k-means keeps the k x k distances between
 * centres (8 MiB at most, per thread) to skip distance computations; past
 * it every point that may move is compared with every centre (slow: k that
 * large means regions of a handful of pincodes). */
#define KM_MATRIX_MAX 1024
/* Work (points x clusters, or sample x points) below which a second
 * thread is not worth starting. */
#define THREAD_MIN_WORK 200000.0
#define MAX_RESTARTS 1000
#define MAX_ITER 10000
#define MAX_FEATURES 4096

/* Streams of the generator, so that each use draws its own numbers and a
 * run with k given reproduces the final run of one that chose k. */
enum { STREAM_SUBSAMPLE = 1, STREAM_SIL_FINAL = 3, STREAM_RANDOM, STREAM_SELECT_KMEANS,
       STREAM_FINAL_KMEANS, STREAM_WARM };

/* ---- Generator: splitmix64 (core/rng.h), one stream per job ------------ */

/* The generator state of stream (what, a, b) under seed: distinct for
 * distinct triples, whatever the seed. */
static uint64_t rng_stream(uint64_t seed, uint64_t what, uint64_t a, uint64_t b) {
  uint64_t h = rng_mix64(seed ^ 0x5851f42d4c957f2dULL);
  h = rng_mix64(h ^ (what * RNG_GOLDEN));
  h = rng_mix64(h ^ (a * 0xd6e8feb86659fd93ULL));
  return rng_mix64(h ^ (b * 0xa0761d6478bd642fULL));
}

static size_t rng_below(uint64_t *r, size_t m) { /* [0, m), m >= 1 */
  size_t i = (size_t)(rng_unit(r) * (double)m);
  return i < m ? i : m - 1;
}

/* ---- Small helpers --------------------------------------------------- */

static double dist2(const double *a, const double *b, size_t d) {
  double s = 0.0;
  for (size_t j = 0; j < d; j++) {
    double t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

static void unit_vector(double lat, double lng, double u[3]) {
  double la = lat * DEG, lo = lng * DEG;
  u[0] = cos(la) * cos(lo);
  u[1] = cos(la) * sin(lo);
  u[2] = sin(la);
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* m distinct indices of 0 .. n-1 drawn by r, ascending, into out (m <= n).
 * -1 when out of memory. */
static int sample_indices(size_t n, size_t m, uint64_t *r, size_t *out) {
  if (m == n) {
    for (size_t i = 0; i < n; i++)
      out[i] = i;
    return 0;
  }
  size_t *perm = malloc(n * sizeof *perm);
  if (!perm)
    return -1;
  for (size_t i = 0; i < n; i++)
    perm[i] = i;
  for (size_t i = 0; i < m; i++) { /* partial Fisher-Yates */
    size_t j = i + rng_below(r, n - i), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  memcpy(out, perm, m * sizeof *out);
  free(perm);
  qsort(out, m, sizeof *out, cmp_size);
  return 0;
}

/* ---- Neighbourhood means ----------------------------------------------- */

struct by_lat {
  double lat;
  size_t i;
};

static int cmp_by_lat(const void *a, const void *b) {
  const struct by_lat *x = a, *y = b;
  if (x->lat != y->lat)
    return x->lat < y->lat ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* Keeps the `want` nearest (chord^2, index) seen so far, ascending. */
static void near_offer(double *nd, size_t *ni, size_t *have, size_t want, double dd, size_t j) {
  if (*have == want && (dd > nd[want - 1] || (dd == nd[want - 1] && j > ni[want - 1])))
    return;
  size_t at = *have < want ? (*have)++ : want - 1;
  while (at > 0 && (nd[at - 1] > dd || (nd[at - 1] == dd && ni[at - 1] > j))) {
    nd[at] = nd[at - 1];
    ni[at] = ni[at - 1];
    at--;
  }
  nd[at] = dd;
  ni[at] = j;
}

/* The pattern part of each row of x (after the unit vector, which it
 * reads) becomes the weighted mean of the raw features over the point
 * (weight 1) and its NEAR_POINTS nearest others on the sphere (fewer when n
 * is small; the nearer index first on equal distances), each weighing
 * exp(-(km / NEAR_KM)^2 / 2). Points are swept in latitude order: a
 * latitude gap alone bounds the distance from below. */
static int smooth_patterns(const struct cluster_input *in, double *x, size_t d) {
  size_t n = in->n, nf = in->nf, near = n - 1 < NEAR_POINTS ? n - 1 : NEAR_POINTS;
  struct by_lat *o = malloc(n * sizeof *o);
  if (!o)
    return -1;
  for (size_t i = 0; i < n; i++)
    o[i] = (struct by_lat){in->lat[i], i};
  qsort(o, n, sizeof *o, cmp_by_lat);
  for (size_t p = 0; p < n; p++) {
    size_t i = o[p].i, have = 0, ni[NEAR_POINTS];
    double nd[NEAR_POINTS], w[NEAR_POINTS], wsum = 1.0;
    const double *ui = x + i * d;
    /* outwards in latitude, each way until the gap alone is too far */
    for (size_t q = p; q-- > 0;) {
      double lb = 2.0 * sin(0.5 * (o[p].lat - o[q].lat) * DEG);
      if (have == near && lb * lb > nd[near - 1])
        break;
      near_offer(nd, ni, &have, near, dist2(ui, x + o[q].i * d, 3), o[q].i);
    }
    for (size_t q = p + 1; q < n; q++) {
      double lb = 2.0 * sin(0.5 * (o[q].lat - o[p].lat) * DEG);
      if (have == near && lb * lb > nd[near - 1])
        break;
      near_offer(nd, ni, &have, near, dist2(ui, x + o[q].i * d, 3), o[q].i);
    }
    for (size_t h = 0; h < have; h++) {
      double km = 2.0 * EARTH_KM * asin(fmin(1.0, 0.5 * sqrt(nd[h]))) / NEAR_KM;
      wsum += w[h] = exp(-0.5 * km * km);
    }
    double *row = x + i * d + 3;
    const double *fi = in->feat + i * nf;
    for (size_t t = 0; t < nf; t++) {
      double s = fi[t];
      for (size_t h = 0; h < have; h++)
        s += w[h] * in->feat[ni[h] * nf + t];
      row[t] = s / wsum;
    }
  }
  free(o);
  return 0;
}

/* ---- Embedding ------------------------------------------------------- */

/* The points as k-means sees them, and the raw pattern as the criterion
 * for k weighs it. */
struct embedding {
  double *x;      /* n x d (d = 3 + nf): the unit vector of the point times
                     the place scale, then its neighbourhood-mean pattern,
                     standardised and weighted (constant columns 0); every
                     column centred */
  size_t d;
  double *rmean;  /* nf: mean of each raw pattern column */
  double *rscale; /* nf: weight / standard deviation of each raw column (0
                     for a constant column or a weight of 0) */
};

static void embedding_release(struct embedding *e) {
  free(e->x);
  free(e->rmean);
  free(e->rscale);
  e->x = e->rmean = e->rscale = NULL;
}

static double feat_weight(const struct cluster_input *in, size_t j) {
  return in->feat_weight ? in->feat_weight[j] : 1.0;
}

/* The place scale makes the spatial block's total variance spatial_weight^2
 * times that of the pattern block (the sum of the squared weights of its
 * non-constant columns). -1 when out of memory. */
static int embed(const struct cluster_input *in, double spatial_weight, struct embedding *e) {
  size_t n = in->n, nf = in->nf, d = nf + 3;
  *e = (struct embedding){.d = d};
  double *x = e->x = malloc(n * d * sizeof *x);
  double *mean = calloc(d, sizeof *mean), *scale = calloc(d, sizeof *scale);
  double *lo = malloc(d * sizeof *lo), *hi = malloc(d * sizeof *hi);
  e->rmean = calloc(nf ? nf : 1, sizeof *e->rmean);
  e->rscale = calloc(nf ? nf : 1, sizeof *e->rscale);
  int rc = -1;
  if (!x || !mean || !scale || !lo || !hi || !e->rmean || !e->rscale)
    goto done;
  for (size_t j = 0; j < d; j++) {
    lo[j] = INFINITY;
    hi[j] = -INFINITY;
  }
  /* lo, hi: the range of the raw values, so that a constant column is
   * known to be one whatever rounding the means leave in it */
  for (size_t i = 0; i < n; i++) {
    double *row = x + i * d;
    unit_vector(in->lat[i], in->lng[i], row);
    if (nf)
      memcpy(row + 3, in->feat + i * nf, nf * sizeof *row);
    for (size_t j = 0; j < d; j++) {
      lo[j] = fmin(lo[j], row[j]);
      hi[j] = fmax(hi[j], row[j]);
    }
  }
  /* the raw pattern: mean and weight over standard deviation */
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < nf; j++)
      e->rmean[j] += in->feat[i * nf + j];
  for (size_t j = 0; j < nf; j++)
    e->rmean[j] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < nf; j++) {
      double t = in->feat[i * nf + j] - e->rmean[j];
      e->rscale[j] += t * t;
    }
  for (size_t j = 0; j < nf; j++)
    e->rscale[j] = hi[j + 3] > lo[j + 3] && e->rscale[j] > 0.0
                       ? feat_weight(in, j) / sqrt(e->rscale[j] / (double)n)
                       : 0.0;
  if (nf && smooth_patterns(in, x, d) < 0)
    goto done;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++)
      mean[j] += x[i * d + j];
  for (size_t j = 0; j < d; j++)
    mean[j] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) {
      double t = x[i * d + j] - mean[j];
      scale[j] += t * t; /* sum of squares, for now */
    }
  /* pattern: standardised and weighted; constant columns carry nothing */
  double pattern_var = 0.0;
  for (size_t j = 3; j < d; j++) {
    double w = feat_weight(in, j - 3);
    if (hi[j] > lo[j] && scale[j] > 0.0 && w > 0.0) {
      scale[j] = w / sqrt(scale[j] / (double)n);
      pattern_var += w * w;
    } else {
      scale[j] = 0.0;
    }
  }
  double spatial_var = 0.0;
  int spread = 0;
  for (size_t j = 0; j < 3; j++) {
    spatial_var += scale[j] / (double)n;
    spread |= hi[j] > lo[j];
  }
  double s = 0.0;
  if (spread && spatial_var > 0.0)
    s = spatial_weight * sqrt((pattern_var > 0.0 ? pattern_var : 1.0) / spatial_var);
  for (size_t j = 0; j < 3; j++)
    scale[j] = s;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++)
      x[i * d + j] = (x[i * d + j] - mean[j]) * scale[j];
  rc = 0;
done:
  free(mean);
  free(scale);
  free(lo);
  free(hi);
  if (rc < 0)
    embedding_release(e);
  return rc;
}

/* ---- k-means++ with Lloyd's iterations (Hamerly's bounds) ---------------- */

/* Work space of one k-means of n points in d dimensions into k clusters,
 * reused by the restarts. */
struct km {
  const double *x;
  size_t n, d;
  int k;
  double *c;     /* k x d centres */
  double *sum;   /* k x d member sums */
  size_t *cnt;   /* k member counts */
  double *move;  /* k: how far each centre moved */
  double *half;  /* k: half the distance to the nearest other centre */
  int32_t *a;    /* n: assigned centre */
  double *u;     /* n: upper bound on the distance to c[a] */
  double *l;     /* n: lower bound on the distance to any other centre */
  double *dbest, *dcand; /* n: distances to seeding candidates */
  double *cbest, *ccand; /* k: their distances to the centres */
  double *cdist; /* k x k distances between centres; NULL past KM_MATRIX_MAX */
};

static void km_release(struct km *m) {
  free(m->c);
  free(m->sum);
  free(m->cnt);
  free(m->move);
  free(m->half);
  free(m->a);
  free(m->u);
  free(m->l);
  free(m->dbest);
  free(m->dcand);
  free(m->cbest);
  free(m->ccand);
  free(m->cdist);
}

static int km_init(struct km *m, const double *x, size_t n, size_t d, int k) {
  size_t kk = (size_t)k;
  *m = (struct km){.x = x, .n = n, .d = d, .k = k};
  m->c = malloc(kk * d * sizeof *m->c);
  m->sum = malloc(kk * d * sizeof *m->sum);
  m->cnt = malloc(kk * sizeof *m->cnt);
  m->move = malloc(kk * sizeof *m->move);
  m->half = malloc(kk * sizeof *m->half);
  m->a = malloc(n * sizeof *m->a);
  m->u = malloc(n * sizeof *m->u);
  m->l = malloc(n * sizeof *m->l);
  m->dbest = malloc(n * sizeof *m->dbest);
  m->dcand = malloc(n * sizeof *m->dcand);
  m->cbest = malloc(kk * sizeof *m->cbest);
  m->ccand = malloc(kk * sizeof *m->ccand);
  if (kk <= KM_MATRIX_MAX && !(m->cdist = malloc(kk * kk * sizeof *m->cdist))) {
    km_release(m);
    return -1;
  }
  if (!m->c || !m->sum || !m->cnt || !m->move || !m->half || !m->a || !m->u || !m->l ||
      !m->dbest || !m->dcand || !m->cbest || !m->ccand) {
    km_release(m);
    return -1;
  }
  return 0;
}

/* One D^2 draw: a point with probability proportional to its squared
 * distance to the nearest centre so far (total, > 0, their sum). */
static size_t km_draw(const struct km *m, double total, uint64_t *r) {
  double target = rng_unit(r) * total, acc = 0.0;
  size_t last = 0;
  for (size_t i = 0; i < m->n; i++) {
    double w = m->u[i] * m->u[i];
    if (w <= 0.0)
      continue;
    last = i;
    acc += w;
    if (acc > target)
      return i;
  }
  return last; /* rounding left target at the very end */
}

/* Distances from the candidate centre x[cand] to the first j centres
 * (cc) and to the points (dp; -1 where the triangle inequality shows the
 * candidate no nearer than the point's centre: 2 u <= |c_a - cand|).
 * Returns the sum of squared distances with the candidate added. */
static double km_try(struct km *m, int j, size_t cand, double *cc, double *dp) {
  size_t n = m->n, d = m->d;
  const double *xp = m->x + cand * d;
  for (int t = 0; t < j; t++)
    cc[t] = sqrt(dist2(m->c + (size_t)t * d, xp, d));
  double pot = 0.0;
  for (size_t i = 0; i < n; i++) {
    double u = m->u[i];
    if (2.0 * u <= cc[m->a[i]]) {
      dp[i] = -1.0;
      pot += u * u;
      continue;
    }
    double dd = dist2(m->x + i * d, xp, d);
    dp[i] = sqrt(dd);
    pot += dd < u * u ? dd : u * u; /* not fmin: a call in this loop */
  }
  return pot;
}

/* The exact nearest of the first j centres for every point (a, u) and the
 * distance to the second nearest (l; infinite when j = 1). */
static void km_assign_all(struct km *m, int j) {
  size_t n = m->n, d = m->d;
  for (size_t i = 0; i < n; i++) {
    const double *xi = m->x + i * d;
    double b1 = INFINITY, b2 = INFINITY;
    int32_t best = 0;
    for (int t = 0; t < j; t++) {
      double dd = dist2(xi, m->c + (size_t)t * d, d);
      if (dd < b1) {
        b2 = b1;
        b1 = dd;
        best = t;
      } else if (dd < b2) {
        b2 = dd;
      }
    }
    m->a[i] = best;
    m->u[i] = sqrt(b1);
    m->l[i] = sqrt(b2);
  }
}

/* Greedy k-means++ seeding after the j0 centres already in m->c (none: the
 * first one uniform): at each step 2 + floor(ln k) candidates drawn by D^2
 * and the one that lowers the sum of squared distances most kept (the
 * first on ties). Leaves a and u (the exact nearest centre and distance)
 * and l (a lower bound on the distance to the others) set for km_assign. */
static void km_seed(struct km *m, int j0, uint64_t *r) {
  size_t n = m->n, d = m->d;
  const double *x = m->x;
  int trials = 2 + (int)floor(log((double)m->k));
  if (j0 == 0) {
    size_t first = rng_below(r, n);
    memcpy(m->c, x + first * d, d * sizeof *m->c);
    j0 = 1;
  }
  km_assign_all(m, j0);
  for (int j = j0; j < m->k; j++) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
      total += m->u[i] * m->u[i];
    size_t pick;
    if (total > 0.0) {
      double best_pot = INFINITY;
      pick = 0;
      for (int t = 0; t < trials; t++) {
        size_t cand = km_draw(m, total, r);
        double pot = km_try(m, j, cand, m->ccand, m->dcand);
        if (pot < best_pot) {
          best_pot = pot;
          pick = cand;
          double *swap = m->dbest;
          m->dbest = m->dcand;
          m->dcand = swap;
          swap = m->cbest;
          m->cbest = m->ccand;
          m->ccand = swap;
        }
      }
    } else {
      pick = rng_below(r, n); /* every point sits on a centre */
      km_try(m, j, pick, m->cbest, m->dbest);
    }
    memcpy(m->c + (size_t)j * d, x + pick * d, d * sizeof *m->c);
    for (size_t i = 0; i < n; i++) {
      double dd = m->dbest[i];
      if (dd < 0.0) { /* at least |c_a - c_j| - u away, which is >= u */
        m->l[i] = fmin(m->l[i], m->cbest[m->a[i]] - m->u[i]);
      } else if (dd < m->u[i]) {
        m->l[i] = fmin(m->l[i], m->u[i]);
        m->u[i] = dd;
        m->a[i] = j;
      } else if (dd < m->l[i]) {
        m->l[i] = dd;
      }
    }
  }
}

/* Member sums and counts of the assignment; a cluster left empty takes the
 * point farthest from its centre among clusters of two or more (the first
 * such on ties), so that every cluster keeps a member (n >= k). */
static void km_sums(struct km *m) {
  size_t n = m->n, d = m->d, kk = (size_t)m->k;
  memset(m->sum, 0, kk * d * sizeof *m->sum);
  memset(m->cnt, 0, kk * sizeof *m->cnt);
  for (size_t i = 0; i < n; i++) {
    double *s = m->sum + (size_t)m->a[i] * d;
    const double *xi = m->x + i * d;
    for (size_t t = 0; t < d; t++)
      s[t] += xi[t];
    m->cnt[m->a[i]]++;
  }
  for (size_t j = 0; j < kk; j++) {
    if (m->cnt[j])
      continue;
    size_t far = n;
    double far_d = -1.0;
    for (size_t i = 0; i < n; i++) {
      if (m->cnt[m->a[i]] < 2)
        continue;
      double dd = dist2(m->x + i * d, m->c + (size_t)m->a[i] * d, d);
      if (dd > far_d) {
        far_d = dd;
        far = i;
      }
    }
    if (far == n)
      continue; /* cannot happen with n >= k */
    size_t from = (size_t)m->a[far];
    const double *xi = m->x + far * d;
    for (size_t t = 0; t < d; t++) {
      m->sum[from * d + t] -= xi[t];
      m->sum[j * d + t] = xi[t];
    }
    m->cnt[from]--;
    m->cnt[j] = 1;
    m->a[far] = (int32_t)j;
    m->u[far] = 0.0;
    m->l[far] = 0.0; /* unknown: check it next time */
  }
}

/* Centres to the means of their members; how far each moved. */
static void km_update(struct km *m) {
  size_t d = m->d, kk = (size_t)m->k;
  km_sums(m);
  for (size_t j = 0; j < kk; j++) {
    double *cj = m->c + j * d, moved = 0.0;
    for (size_t t = 0; t < d; t++) {
      double v = m->sum[j * d + t] / (double)m->cnt[j];
      moved += (v - cj[t]) * (v - cj[t]);
      cj[t] = v;
    }
    m->move[j] = sqrt(moved);
  }
}

/* Reassigns the points to their nearest centre, skipping those whose
 * bounds prove it unchanged (Hamerly: a point stays when its distance to
 * its centre is at most half the distance from that centre to any other,
 * or at most its lower bound on the others). A point moves only to a
 * strictly nearer centre, the first of equals. Returns how many moved. */
static size_t km_assign(struct km *m) {
  size_t n = m->n, d = m->d, kk = (size_t)m->k;
  const double *x = m->x, *c = m->c;
  size_t far1 = 0;
  double move1 = 0.0, move2 = 0.0; /* largest two movements */
  for (size_t j = 0; j < kk; j++) {
    if (m->move[j] > move1) {
      move2 = move1;
      move1 = m->move[j];
      far1 = j;
    } else if (m->move[j] > move2) {
      move2 = m->move[j];
    }
  }
  double *cd = m->cdist;
  for (size_t j = 0; j < kk; j++) {
    m->half[j] = INFINITY;
    if (cd)
      cd[j * kk + j] = INFINITY;
  }
  for (size_t j = 0; j < kk; j++)
    for (size_t t = j + 1; t < kk; t++) {
      double e = sqrt(dist2(c + j * d, c + t * d, d)), h = 0.5 * e;
      if (cd)
        cd[j * kk + t] = cd[t * kk + j] = e;
      if (h < m->half[j])
        m->half[j] = h;
      if (h < m->half[t])
        m->half[t] = h;
    }
  size_t changed = 0;
  for (size_t i = 0; i < n; i++) {
    size_t a = (size_t)m->a[i];
    m->u[i] += m->move[a];
    m->l[i] -= a == far1 ? move2 : move1;
    double bound = m->half[a] > m->l[i] ? m->half[a] : m->l[i];
    if (m->u[i] <= bound)
      continue;
    const double *xi = x + i * d;
    double da = dist2(xi, c + a * d, d), u = sqrt(da);
    m->u[i] = u;
    if (u <= bound)
      continue;
    /* every centre, but with the centre distances a centre j is skipped
     * when |c_a - c_j| - u, a lower bound on its distance, is no nearer
     * than the best so far: |c_a - c_j| >= thr; skipped, it still bounds
     * l (the diagonal of cd is infinite: a is never computed again) */
    size_t best = a;
    double b1 = da, b2 = INFINITY, skipped = INFINITY;
    if (cd) {
      const double *row = cd + a * kk;
      double thr = INFINITY, near_skip = INFINITY;
      for (size_t j = 0; j < kk; j++) {
        if (row[j] >= thr) {
          if (row[j] < near_skip)
            near_skip = row[j];
          continue;
        }
        double dd = dist2(xi, c + j * d, d);
        if (dd < b1) { /* strictly nearer: a tie keeps a, or the first */
          b2 = b1;
          b1 = dd;
          best = j;
          thr = u + sqrt(b2);
        } else if (dd < b2) {
          b2 = dd;
          thr = u + sqrt(b2);
        }
      }
      skipped = near_skip - u;
    } else {
      for (size_t j = 0; j < kk; j++) {
        if (j == a)
          continue;
        double dd = dist2(xi, c + j * d, d);
        if (dd < b1) {
          b2 = b1;
          b1 = dd;
          best = j;
        } else if (dd < b2) {
          b2 = dd;
        }
      }
    }
    m->u[i] = sqrt(b1);
    m->l[i] = fmin(sqrt(b2), skipped);
    if (best != a) {
      m->a[i] = (int32_t)best;
      changed++;
    }
  }
  return changed;
}

/* Lloyd's iterations from the seeded centres, up to max_iter or until no
 * point moves; the centres end as the means of the final assignment. */
static void km_lloyd(struct km *m, int max_iter) {
  for (int it = 0; it < max_iter; it++) {
    km_update(m);
    if (km_assign(m) == 0)
      break;
  }
  km_update(m);
}

/* Sum of squared distances to the centres. */
static double km_sse(const struct km *m) {
  double s = 0.0;
  for (size_t i = 0; i < m->n; i++)
    s += dist2(m->x + i * m->d, m->c + (size_t)m->a[i] * m->d, m->d);
  return s;
}

/* ---- Two threads --------------------------------------------------------- */

/* Runs fn(b) on a second thread while fn(a) runs on this one when `thread`
 * is set and a thread can be had, else both here, a first. The work is
 * split the same way either way, so no result depends on it. */
static void run_pair(void *(*fn)(void *), void *a, void *b, int thread) {
  pthread_t t;
  int threaded = thread && pthread_create(&t, NULL, fn, b) == 0;
  fn(a);
  if (threaded)
    pthread_join(t, NULL);
  else
    fn(b);
}

/* Restarts first, first + stride, ... of one k-means. */
struct km_job {
  const double *x;
  size_t n, d;
  int k, max_iter, restarts, first, stride, what;
  uint64_t seed;
  int32_t *best;  /* OUT: labels of the best of these restarts */
  double sse;     /* OUT: its sum of squares */
  int best_r;     /* OUT: which restart it was; -1: none ran */
  int rc;         /* OUT: -1 out of memory */
};

static void *km_job_run(void *arg) {
  struct km_job *j = arg;
  j->best_r = -1;
  j->sse = INFINITY;
  j->rc = 0;
  if (j->first >= j->restarts)
    return NULL;
  struct km m;
  if (km_init(&m, j->x, j->n, j->d, j->k) < 0) {
    j->rc = -1;
    return NULL;
  }
  for (int r = j->first; r < j->restarts; r += j->stride) {
    uint64_t g = rng_stream(j->seed, (uint64_t)j->what, (uint64_t)j->k, (uint64_t)r);
    km_seed(&m, 0, &g);
    km_lloyd(&m, j->max_iter);
    double sse = km_sse(&m);
    if (j->best_r < 0 || sse < j->sse) {
      j->sse = sse;
      j->best_r = r;
      memcpy(j->best, m.a, j->n * sizeof *j->best);
    }
  }
  km_release(&m);
  return NULL;
}

/* The best of `restarts` k-means++ runs (lowest sum of squares, the
 * earliest restart on ties) into best[n]; stream (what, k, restart) seeds
 * each run. The even and the odd restarts run on two threads when the
 * work is worth one. */
static int kmeans(const double *x, size_t n, size_t d, int k, int restarts, int max_iter,
                  uint64_t seed, int what, int32_t *best, double *best_sse) {
  int two = restarts > 1;
  struct km_job job[2];
  for (int t = 0; t < 2; t++)
    job[t] = (struct km_job){.x = x, .n = n, .d = d, .k = k, .max_iter = max_iter,
                             .restarts = restarts, .first = t, .stride = two ? 2 : 1,
                             .what = what, .seed = seed, .best = best};
  if (!two) {
    km_job_run(&job[0]);
    *best_sse = job[0].sse;
    return job[0].rc;
  }
  if (!(job[1].best = malloc(n * sizeof *job[1].best)))
    return -1;
  run_pair(km_job_run, &job[0], &job[1], (double)n * k >= THREAD_MIN_WORK);
  int rc = job[0].rc < 0 || job[1].rc < 0 ? -1 : 0;
  if (rc == 0 && job[1].best_r >= 0 &&
      (job[1].sse < job[0].sse || (job[1].sse == job[0].sse && job[1].best_r < job[0].best_r))) {
    memcpy(best, job[1].best, n * sizeof *best);
    *best_sse = job[1].sse;
  } else {
    *best_sse = job[0].sse;
  }
  free(job[1].best);
  return rc;
}

/* ---- Silhouette -------------------------------------------------------- */

/* Silhouettes of the points sample[0 .. ns) summed. */
struct sil_job {
  const double *x;
  size_t n, d, kk;
  const int32_t *lab;
  const size_t *cnt; /* cluster sizes */
  const size_t *sample;
  size_t ns;
  double total; /* OUT */
  int rc;       /* OUT: -1 out of memory */
};

static void *sil_job_run(void *arg) {
  struct sil_job *j = arg;
  size_t kk = j->kk, d = j->d;
  const double *x = j->x;
  double *sums = malloc(kk * sizeof *sums);
  j->total = 0.0;
  j->rc = sums ? 0 : -1;
  for (size_t s = 0; sums && s < j->ns; s++) {
    size_t i = j->sample[s], own = (size_t)j->lab[i];
    const double *xi = x + i * d;
    if (j->cnt[own] < 2)
      continue;
    memset(sums, 0, kk * sizeof *sums);
    for (size_t t = 0; t < j->n; t++)
      sums[j->lab[t]] += sqrt(dist2(xi, x + t * d, d));
    double a = sums[own] / (double)(j->cnt[own] - 1), b = INFINITY;
    for (size_t c = 0; c < kk; c++)
      if (c != own && j->cnt[c] && sums[c] / (double)j->cnt[c] < b)
        b = sums[c] / (double)j->cnt[c];
    if (isinf(b))
      continue;
    double mx = fmax(a, b);
    if (mx > 0.0)
      j->total += (b - a) / mx;
  }
  free(sums);
  return NULL;
}

/* Mean silhouette of the points sample[0..ns) against all n points of the
 * labelling into *out: for point i, a = mean distance to the other members
 * of its cluster, b = the least mean distance to another cluster, s = (b -
 * a) / max(a, b); 0 for a point alone in its cluster (and when k = 1). The
 * two halves of the sample on two threads. -1 when out of memory. */
static int silhouette(const double *x, size_t n, size_t d, const int32_t *lab, int k,
                      const size_t *sample, size_t ns, double *out) {
  size_t kk = (size_t)k, *cnt = calloc(kk, sizeof *cnt);
  if (!cnt)
    return -1;
  for (size_t i = 0; i < n; i++)
    cnt[lab[i]]++;
  struct sil_job job[2];
  for (int t = 0; t < 2; t++)
    job[t] = (struct sil_job){.x = x, .n = n, .d = d, .kk = kk, .lab = lab, .cnt = cnt,
                              .sample = sample + (t ? ns / 2 : 0),
                              .ns = t ? ns - ns / 2 : ns / 2};
  run_pair(sil_job_run, &job[0], &job[1], (double)ns * (double)n >= THREAD_MIN_WORK);
  free(cnt);
  if (job[0].rc < 0 || job[1].rc < 0)
    return -1;
  *out = ns ? (job[0].total + job[1].total) / (double)ns : 0.0;
  return 0;
}

/* ---- Choosing k -------------------------------------------------------- */

static int add_candidate(int *cand, int *nc, int k) {
  for (int i = 0; i < *nc; i++)
    if (cand[i] == k)
      return 0;
  if (*nc >= CLUSTER_MAX_CANDIDATES)
    return 0;
  cand[(*nc)++] = k;
  return 1;
}

/* The searched range: the caller's ends where given, else from
 * max(2, n / REGION_MAX_POINTS, min(KMIN_FEW, sqrt(n) / 2)) up to
 * KMAX_PER_SQRT sqrt(n) (both rounded up), within [2, n] (k = n when n = 2). */
static void k_range(size_t n, const struct cluster_config *cfg, int *kmin, int *kmax) {
  double root = sqrt((double)n);
  size_t lo = (n + REGION_MAX_POINTS - 1) / REGION_MAX_POINTS;
  size_t few = (size_t)ceil(0.5 * root);
  if (few > KMIN_FEW)
    few = KMIN_FEW;
  if (lo < few)
    lo = few;
  if (lo < 2)
    lo = 2;
  size_t hi = (size_t)ceil(KMAX_PER_SQRT * root);
  if (lo > n)
    lo = n;
  if (hi > n)
    hi = n;
  if (hi < lo)
    hi = lo;
  if (hi > INT32_MAX)
    hi = INT32_MAX;
  if (lo > hi)
    lo = hi;
  int a = cfg->kmin > 0 ? cfg->kmin : (int)lo;
  int b = cfg->kmax > 0 ? cfg->kmax : (int)hi;
  if (a > b) { /* one side was given: the derived one yields */
    if (cfg->kmin > 0)
      b = a;
    else
      a = b;
  }
  *kmin = a;
  *kmax = b;
}

/* Within-cluster sum of squares of the rows xr (m x nf) under lab, over
 * what a random partition with the same sizes has on average, (m - k) /
 * (m - 1) of the total; 1 when the rows never vary. sum (k x nf) and cnt
 * (k) are work space. */
static double pattern_ratio(const double *xr, size_t m, size_t nf, const int32_t *lab, int k,
                            double *sum, size_t *cnt) {
  size_t kk = (size_t)k;
  if (nf == 0 || m <= kk)
    return 1.0;
  memset(sum, 0, kk * nf * sizeof *sum);
  memset(cnt, 0, kk * sizeof *cnt);
  double grand[MAX_FEATURES];
  memset(grand, 0, nf * sizeof *grand);
  for (size_t i = 0; i < m; i++) {
    const double *r = xr + i * nf;
    double *s = sum + (size_t)lab[i] * nf;
    for (size_t t = 0; t < nf; t++) {
      s[t] += r[t];
      grand[t] += r[t];
    }
    cnt[lab[i]]++;
  }
  for (size_t t = 0; t < nf; t++)
    grand[t] /= (double)m;
  for (size_t j = 0; j < kk; j++)
    for (size_t t = 0; t < nf; t++)
      if (cnt[j])
        sum[j * nf + t] /= (double)cnt[j]; /* now the means */
  double within = 0.0, total = 0.0;
  for (size_t i = 0; i < m; i++) {
    within += dist2(xr + i * nf, sum + (size_t)lab[i] * nf, nf);
    total += dist2(xr + i * nf, grand, nf);
  }
  if (!(total > 0.0))
    return 1.0;
  return within * (double)(m - 1) / ((double)(m - kk) * total);
}

/* What scoring a candidate needs: the subsample in the embedding (xs, m x
 * d) and its raw weighted pattern (xr, m x nf), work space for labels and
 * the ratio, and n, the number of points the penalty is for. */
struct select {
  const double *xs, *xr;
  size_t m, d, nf, n;
  const struct cluster_config *cfg;
  int32_t *lab;
  double *sum;
  size_t *cnt;
};

/* The pattern ratio of a k-means of the subsample into *ratio. -1 when
 * out of memory. */
static int ratio_of_k(const struct select *s, int k, double *ratio) {
  double work = (double)s->m * (double)k, sse;
  int restarts = work * SELECT_RESTARTS < SELECT_WORK ? (int)(SELECT_WORK / work)
                                                      : SELECT_RESTARTS;
  if (restarts > s->cfg->restarts)
    restarts = s->cfg->restarts;
  if (kmeans(s->xs, s->m, s->d, k, restarts, s->cfg->max_iter, s->cfg->seed,
             STREAM_SELECT_KMEANS, s->lab, &sse) < 0)
    return -1;
  *ratio = pattern_ratio(s->xr, s->m, s->nf, s->lab, k, s->sum, s->cnt);
  return 0;
}

struct scored_k {
  int k;
  double ratio; /* as measured */
  double score; /* the ratio made non-increasing in k, plus the penalty */
};

static int cmp_scored_k(const void *p, const void *q) {
  const struct scored_k *x = p, *y = q;
  return (x->k > y->k) - (x->k < y->k);
}

/* Sorts sk[0..nc) by k and scores them: the best partition's ratio cannot
 * rise with k, so the measured ratios (each from one k-means, with its
 * luck) are replaced by their closest non-increasing sequence in least
 * squares (pool adjacent violators), and K_PENALTY k / n added. */
static void score_candidates(struct scored_k *sk, int nc, size_t n) {
  double mean[CLUSTER_MAX_CANDIDATES];
  int len[CLUSTER_MAX_CANDIDATES], nb = 0;
  qsort(sk, (size_t)nc, sizeof *sk, cmp_scored_k);
  for (int c = 0; c < nc; c++) {
    mean[nb] = sk[c].ratio;
    len[nb++] = 1;
    while (nb > 1 && mean[nb - 2] < mean[nb - 1]) { /* a rise: pool the two */
      mean[nb - 2] = (mean[nb - 2] * len[nb - 2] + mean[nb - 1] * len[nb - 1]) /
                     (double)(len[nb - 2] + len[nb - 1]);
      len[nb - 2] += len[nb - 1];
      nb--;
    }
  }
  for (int b = 0, c = 0; b < nb; b++)
    for (int t = 0; t < len[b]; t++, c++)
      sk[c].score = mean[b] + K_PENALTY * (double)sk[c].k / (double)n;
}

/* The index of the smallest k whose score is within SCORE_TOLERANCE of the
 * lowest (sk ascending by k). Past the k the data support the score is
 * flat, as more clusters only cut noise: this is where it flattens. */
static int pick_candidate(const struct scored_k *sk, int nc) {
  double low = INFINITY;
  for (int c = 0; c < nc; c++)
    low = fmin(low, sk[c].score);
  int pick = 0;
  while (sk[pick].score > low + SCORE_TOLERANCE)
    pick++;
  return pick;
}

/* Chooses k by the criterion: k-means of a subsample for SELECT_COARSE
 * values spread geometrically over [kmin, kmax] (all of them when there are
 * no more), then up to SELECT_FINE more between the neighbours of the one
 * picked; the pick among them all is out->k_best. k_also (the previous k;
 * 0: none) is scored too when within the range widened by KEEP_RANGE_SLACK
 * each way, and picked only when in the range. The candidates go to out,
 * ascending. -1 when out of memory. */
static int choose_k(const struct embedding *e, const struct cluster_input *in,
                    const struct cluster_config *cfg, int k_also, struct cluster_result *out) {
  size_t n = in->n, d = e->d, nf = in->nf;
  int kmin, kmax;
  k_range(n, cfg, &kmin, &kmax);
  if ((double)k_also * KEEP_RANGE_SLACK < (double)kmin ||
      (double)k_also > (double)kmax * KEEP_RANGE_SLACK)
    k_also = 0;
  int cand[CLUSTER_MAX_CANDIDATES], nc = 0;
  struct scored_k sk[CLUSTER_MAX_CANDIDATES];
  if (kmax - kmin + 1 <= SELECT_COARSE) {
    for (int k = kmin; k <= kmax; k++)
      add_candidate(cand, &nc, k);
  } else {
    double ratio = (double)kmax / (double)kmin;
    for (int t = 0; t < SELECT_COARSE; t++) {
      int k = (int)lround((double)kmin * pow(ratio, (double)t / (SELECT_COARSE - 1)));
      add_candidate(cand, &nc, k < kmin ? kmin : k > kmax ? kmax : k);
    }
  }

  size_t ktop = (size_t)(k_also > kmax ? k_also : kmax);
  size_t m = ktop * 8 > SELECT_POINTS ? ktop * 8 : SELECT_POINTS;
  if (m > n)
    m = n;
  size_t *sub = malloc(m * sizeof *sub);
  double *xs = malloc(m * d * sizeof *xs), *xr = malloc(m * (nf ? nf : 1) * sizeof *xr);
  double *sum = malloc(ktop * (nf ? nf : 1) * sizeof *sum);
  size_t *cnt = malloc(ktop * sizeof *cnt);
  int32_t *lab = malloc(m * sizeof *lab);
  int rc = -1;
  if (!sub || !xs || !xr || !sum || !cnt || !lab)
    goto done;
  uint64_t g = rng_stream(cfg->seed, STREAM_SUBSAMPLE, 0, 0);
  if (sample_indices(n, m, &g, sub) < 0)
    goto done;
  for (size_t i = 0; i < m; i++) {
    memcpy(xs + i * d, e->x + sub[i] * d, d * sizeof *xs);
    for (size_t t = 0; t < nf; t++)
      xr[i * nf + t] = (in->feat[sub[i] * nf + t] - e->rmean[t]) * e->rscale[t];
  }
  struct select s = {xs, xr, m, d, nf, n, cfg, lab, sum, cnt};
  for (int c = 0; c < nc; c++) {
    sk[c].k = cand[c];
    if (ratio_of_k(&s, cand[c], &sk[c].ratio) < 0)
      goto done;
  }
  score_candidates(sk, nc, n);
  int best = pick_candidate(sk, nc);
  /* finer: between the neighbours of the coarse pick */
  int lo = best > 0 ? sk[best - 1].k : sk[best].k;
  int hi = best + 1 < nc ? sk[best + 1].k : sk[best].k;
  int from = nc;
  if (hi - lo > 2) {
    for (int t = 1; t <= SELECT_FINE; t++) {
      int k = lo + (int)lround((double)(hi - lo) * t / (SELECT_FINE + 1));
      if (k > lo && k < hi)
        add_candidate(cand, &nc, k);
    }
  }
  int also = k_also > 0 && add_candidate(cand, &nc, k_also) && (k_also < kmin || k_also > kmax);
  for (int c = from; c < nc; c++) {
    sk[c].k = cand[c];
    if (ratio_of_k(&s, cand[c], &sk[c].ratio) < 0)
      goto done;
  }
  score_candidates(sk, nc, n);
  for (int c = 0; c < nc; c++) {
    out->cand_k[c] = sk[c].k;
    out->cand_score[c] = sk[c].score;
  }
  out->ncand = nc;
  /* the pick among the range's candidates: k_also, outside it, is scored
   * for the comparison alone */
  if (also) {
    struct scored_k in_range[CLUSTER_MAX_CANDIDATES];
    int ni = 0;
    for (int c = 0; c < nc; c++)
      if (sk[c].k != k_also)
        in_range[ni++] = sk[c];
    out->k_best = in_range[pick_candidate(in_range, ni)].k;
  } else {
    out->k_best = sk[pick_candidate(sk, nc)].k;
  }
  rc = 0;
done:
  free(sub);
  free(xs);
  free(xr);
  free(sum);
  free(cnt);
  free(lab);
  return rc;
}

/* ---- Warm start -------------------------------------------------------- */

/* The previous regions present: their number into *g, the centre of each
 * in the embedding (the mean of its points' rows; ascending id) into
 * *centre (g x d), and each point's region among them into *home (n; -1
 * for none). The caller frees both (NULL when g = 0). -1 when out of
 * memory. */
static int prev_centres(const struct embedding *e, size_t n, const int32_t *prev, int *g,
                        double **centre, int32_t **home) {
  size_t d = e->d, np = 0, groups = 0;
  *g = 0;
  *centre = NULL;
  *home = NULL;
  for (size_t i = 0; i < n; i++)
    np += prev[i] > 0;
  if (np == 0)
    return 0;
  uint64_t *key = malloc(np * sizeof *key);
  int32_t *h = malloc(n * sizeof *h);
  if (!key || !h) {
    free(key);
    free(h);
    return -1;
  }
  for (size_t i = 0, p = 0; i < n; i++) {
    h[i] = -1;
    if (prev[i] > 0)
      key[p++] = (uint64_t)(uint32_t)prev[i] << 32 | (uint64_t)i;
  }
  qsort(key, np, sizeof *key, cmp_u64);
  for (size_t p = 0; p < np; p++)
    groups += p == 0 || key[p] >> 32 != key[p - 1] >> 32;
  double *c = calloc(groups * d, sizeof *c);
  if (!c) {
    free(key);
    free(h);
    return -1;
  }
  for (size_t p = 0, j = 0; p < np; j++) {
    size_t q = p;
    double *cj = c + j * d;
    while (q < np && key[q] >> 32 == key[p] >> 32) {
      size_t i = (size_t)(uint32_t)key[q];
      const double *xi = e->x + i * d;
      for (size_t t = 0; t < d; t++)
        cj[t] += xi[t];
      h[i] = (int32_t)j;
      q++;
    }
    for (size_t t = 0; t < d; t++)
      cj[t] /= (double)(q - p);
    p = q;
  }
  free(key);
  *g = (int)groups;
  *centre = c;
  *home = h;
  return 0;
}

struct costed {
  double cost;
  int j;
};

static int cmp_costed(const void *p, const void *q) { /* dearest first, then lower j */
  const struct costed *x = p, *y = q;
  if (x->cost != y->cost)
    return x->cost > y->cost ? -1 : 1;
  return (x->j > y->j) - (x->j < y->j);
}

static int cmp_int(const void *p, const void *q) {
  int x = *(const int *)p, y = *(const int *)q;
  return (x > y) - (x < y);
}

/* Keeps k of the g centres (k < g), in their order: those whose loss costs
 * most. A centre's cost is what its points would add to the sum of squares
 * by going to their second-nearest centre. home[i] (n) follows: the kept
 * index of its centre, -1 when dropped. -1 when out of memory. */
static int drop_centres(const double *x, size_t n, size_t d, double *centre, int g, int k,
                        int32_t *home) {
  struct costed *c = malloc((size_t)g * sizeof *c);
  int *keep = malloc((size_t)k * sizeof *keep);
  int32_t *to = malloc((size_t)g * sizeof *to);
  if (!c || !keep || !to) {
    free(c);
    free(keep);
    free(to);
    return -1;
  }
  for (int j = 0; j < g; j++) {
    c[j] = (struct costed){0.0, j};
    to[j] = -1;
  }
  for (size_t i = 0; i < n; i++) {
    double b1 = INFINITY, b2 = INFINITY;
    int best = 0;
    for (int j = 0; j < g; j++) {
      double dd = dist2(x + i * d, centre + (size_t)j * d, d);
      if (dd < b1) {
        b2 = b1;
        b1 = dd;
        best = j;
      } else if (dd < b2) {
        b2 = dd;
      }
    }
    c[best].cost += b2 - b1;
  }
  qsort(c, (size_t)g, sizeof *c, cmp_costed);
  for (int t = 0; t < k; t++)
    keep[t] = c[t].j;
  qsort(keep, (size_t)k, sizeof *keep, cmp_int);
  for (int t = 0; t < k; t++) {
    to[keep[t]] = t;
    if (keep[t] != t)
      memcpy(centre + (size_t)t * d, centre + (size_t)keep[t] * d, d * sizeof *centre);
  }
  for (size_t i = 0; i < n; i++)
    if (home[i] >= 0)
      home[i] = to[home[i]];
  free(c);
  free(keep);
  free(to);
  return 0;
}

/* One pass of the warm start's assignment: each point to the centre of
 * least squared distance, less `stick` for its home centre; a point moves
 * only for a strictly lower cost. Returns how many moved. */
static size_t km_assign_sticky(struct km *m, const int32_t *home, double stick) {
  size_t n = m->n, d = m->d, changed = 0;
  for (size_t i = 0; i < n; i++) {
    const double *xi = m->x + i * d;
    int32_t a = m->a[i];
    double best = dist2(xi, m->c + (size_t)a * d, d) - (home[i] == a ? stick : 0.0);
    for (int j = 0; j < m->k; j++) {
      if (j == a)
        continue;
      double cost = dist2(xi, m->c + (size_t)j * d, d) - (home[i] == j ? stick : 0.0);
      if (cost < best) {
        best = cost;
        a = j;
      }
    }
    if (a != m->a[i]) {
      m->a[i] = a;
      changed++;
    }
  }
  return changed;
}

/* A warm start: from the previous partition itself (each point with a
 * previous region in it, home[i], the others at their nearest centre) and
 * the g <= k previous centres given, k - g more added by the greedy
 * k-means++ seeding (stream (STREAM_WARM, k)), Lloyd's iterations in which
 * a point leaves its previous region only for a centre nearer in squared
 * distance by more than `stick`: they lower the sum of squares less stick
 * for every point that stays. Into lab[n], the plain sum of squares into
 * *sse. -1 when out of memory. */
static int kmeans_warm(const double *x, size_t n, size_t d, int k, const double *start, int g,
                       const int32_t *home, double stick, int max_iter, uint64_t seed,
                       int32_t *lab, double *sse) {
  struct km m;
  if (km_init(&m, x, n, d, k) < 0)
    return -1;
  memcpy(m.c, start, (size_t)g * d * sizeof *m.c);
  uint64_t r = rng_stream(seed, STREAM_WARM, (uint64_t)k, 0);
  km_seed(&m, g, &r);
  for (size_t i = 0; i < n; i++)
    if (home[i] >= 0)
      m.a[i] = home[i];
  for (int it = 0; it < max_iter; it++)
    if (km_assign_sticky(&m, home, stick) == 0 && it > 0)
      break;
    else
      km_update(&m);
  km_update(&m);
  *sse = km_sse(&m);
  memcpy(lab, m.a, n * sizeof *lab);
  km_release(&m);
  return 0;
}

/* ---- Figures of the result --------------------------------------------- */

/* Labels renumbered in order of first appearance, so that the numbering
 * depends on the grouping alone. */
static int relabel(int32_t *lab, size_t n, int k) {
  int32_t *map = malloc((size_t)k * sizeof *map);
  if (!map)
    return -1;
  for (int j = 0; j < k; j++)
    map[j] = -1;
  int32_t next = 0;
  for (size_t i = 0; i < n; i++) {
    if (map[lab[i]] < 0)
      map[lab[i]] = next++;
    lab[i] = map[lab[i]];
  }
  free(map);
  return 0;
}

/* Spherical centroid of each cluster: the normalised mean of the members'
 * unit vectors (a member's own place when the mean is 0). v: k x 3 work
 * space. */
static void centroids(const struct cluster_input *in, const int32_t *lab, int k, double *v,
                      double *clat, double *clng) {
  memset(v, 0, (size_t)k * 3 * sizeof *v);
  for (size_t i = 0; i < in->n; i++) {
    double u[3];
    unit_vector(in->lat[i], in->lng[i], u);
    for (int t = 0; t < 3; t++)
      v[(size_t)lab[i] * 3 + t] += u[t];
  }
  for (int j = 0; j < k; j++)
    clat[j] = NAN;
  for (size_t i = 0; i < in->n; i++) { /* a member of each, for the fallback */
    if (isnan(clat[lab[i]])) {
      clat[lab[i]] = in->lat[i];
      clng[lab[i]] = in->lng[i];
    }
  }
  for (int j = 0; j < k; j++) {
    const double *w = v + (size_t)j * 3;
    double r = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    if (r > 1e-12) {
      clat[j] = asin(fmax(-1.0, fmin(1.0, w[2] / r))) / DEG;
      clng[j] = atan2(w[1], w[0]) / DEG;
    }
  }
}

/* Median over the points of the great-circle km to their cluster's
 * centroid; km: n work space. */
static double median_km(const struct cluster_input *in, const int32_t *lab, const double *clat,
                        const double *clng, double *km) {
  size_t n = in->n;
  for (size_t i = 0; i < n; i++)
    km[i] = gaz_km(in->lat[i], in->lng[i], clat[lab[i]], clng[lab[i]]);
  qsort(km, n, sizeof *km, cmp_double);
  return n % 2 ? km[n / 2] : 0.5 * (km[n / 2 - 1] + km[n / 2]);
}

/* Within-cluster sum of squares of the mix columns. sum (k x mix_len) and
 * cnt (k) are work space. */
static double mix_within(const struct cluster_input *in, const int32_t *lab, int k,
                         double *sum, size_t *cnt) {
  size_t n = in->n, nf = in->nf, ml = in->mix_len, kk = (size_t)k;
  const double *f = in->feat + in->mix_off;
  memset(sum, 0, kk * ml * sizeof *sum);
  memset(cnt, 0, kk * sizeof *cnt);
  for (size_t i = 0; i < n; i++) {
    for (size_t t = 0; t < ml; t++)
      sum[(size_t)lab[i] * ml + t] += f[i * nf + t];
    cnt[lab[i]]++;
  }
  for (size_t j = 0; j < kk; j++)
    for (size_t t = 0; t < ml; t++)
      if (cnt[j])
        sum[j * ml + t] /= (double)cnt[j]; /* now the means */
  double w = 0.0;
  for (size_t i = 0; i < n; i++)
    for (size_t t = 0; t < ml; t++) {
      double e = f[i * nf + t] - sum[(size_t)lab[i] * ml + t];
      w += e * e;
    }
  return w;
}

/* The figures of labels lab into out: centroids, median km, and against
 * RANDOM_PARTITIONS random permutations of the labels (random partitions
 * with the same sizes) the mean of their median km and the mix ratio
 * (W / mean W of the permutations; NaN without mix columns or when the mix
 * never varies). -1 when out of memory. */
static int figures(const struct cluster_input *in, const int32_t *lab, int k, uint64_t seed,
                   struct cluster_result *out) {
  size_t n = in->n, kk = (size_t)k, ml = in->mix_len;
  int32_t *perm = malloc(n * sizeof *perm);
  double *km = malloc(n * sizeof *km), *v = malloc(kk * 3 * sizeof *v);
  double *rlat = malloc(kk * sizeof *rlat), *rlng = malloc(kk * sizeof *rlng);
  double *sum = malloc(kk * (ml ? ml : 1) * sizeof *sum);
  size_t *cnt = malloc(kk * sizeof *cnt);
  int rc = -1;
  if (!perm || !km || !v || !rlat || !rlng || !sum || !cnt)
    goto done;
  centroids(in, lab, k, v, out->centroid_lat, out->centroid_lng);
  out->median_km = median_km(in, lab, out->centroid_lat, out->centroid_lng, km);
  double w = ml ? mix_within(in, lab, k, sum, cnt) : 0.0, wr = 0.0, kmr = 0.0;
  memcpy(perm, lab, n * sizeof *perm);
  for (int p = 0; p < RANDOM_PARTITIONS; p++) {
    uint64_t g = rng_stream(seed, STREAM_RANDOM, (uint64_t)p, 0);
    for (size_t i = n - 1; i > 0; i--) {
      size_t j = rng_below(&g, i + 1);
      int32_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    centroids(in, perm, k, v, rlat, rlng);
    kmr += median_km(in, perm, rlat, rlng, km);
    if (ml)
      wr += mix_within(in, perm, k, sum, cnt);
  }
  out->median_km_random = kmr / RANDOM_PARTITIONS;
  out->median_km_ratio =
      out->median_km_random > 0.0 ? out->median_km / out->median_km_random : NAN;
  wr /= RANDOM_PARTITIONS;
  out->mix_variance_ratio = ml && wr > 0.0 ? w / wr : NAN;
  rc = 0;
done:
  free(perm);
  free(km);
  free(v);
  free(rlat);
  free(rlng);
  free(sum);
  free(cnt);
  return rc;
}

/* ---- cluster_run ------------------------------------------------------- */

void cluster_config_defaults(struct cluster_config *c) {
  *c = (struct cluster_config){.k = 0, .kmin = 0, .kmax = 0, .restarts = 8,
                               .max_iter = 50, .spatial_weight = 1.0, .seed = 1};
}

static int check_input(const struct cluster_input *in, const struct cluster_config *cfg,
                       struct gerr *err) {
  size_t n = in->n, nf = in->nf;
  if (n < 2)
    return gerr_set(err, GERR_INVALID_INPUT, "clustering needs at least 2 points, got %zu", n);
  if (n > INT32_MAX || nf > MAX_FEATURES || n > SIZE_MAX / sizeof(double) / (nf + 3))
    return gerr_set(err, GERR_INVALID_INPUT, "too many points or features (%zu x %zu)", n, nf);
  if (!in->lat || !in->lng || (nf && !in->feat))
    return gerr_set(err, GERR_INVALID_INPUT, "missing coordinates or features");
  if (in->mix_len > nf || in->mix_off > nf - in->mix_len)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "product mix columns [%zu, %zu + %zu) outside the %zu features",
                    in->mix_off, in->mix_off, in->mix_len, nf);
  if (cfg->k < 0 || (size_t)cfg->k > n)
    return gerr_set(err, GERR_INVALID_INPUT, "k = %d for %zu points", cfg->k, n);
  if (cfg->kmin < 0 || cfg->kmax < 0 || (size_t)cfg->kmin > n || (size_t)cfg->kmax > n ||
      (cfg->kmin > 0 && cfg->kmax > 0 && cfg->kmin > cfg->kmax))
    return gerr_set(err, GERR_INVALID_INPUT, "k range [%d, %d] for %zu points", cfg->kmin,
                    cfg->kmax, n);
  if (cfg->restarts < 1 || cfg->restarts > MAX_RESTARTS)
    return gerr_set(err, GERR_INVALID_INPUT, "restarts = %d, want 1-%d", cfg->restarts,
                    MAX_RESTARTS);
  if (cfg->max_iter < 1 || cfg->max_iter > MAX_ITER)
    return gerr_set(err, GERR_INVALID_INPUT, "max_iter = %d, want 1-%d", cfg->max_iter,
                    MAX_ITER);
  if (!(cfg->spatial_weight >= 0.0) || !isfinite(cfg->spatial_weight))
    return gerr_set(err, GERR_INVALID_INPUT, "spatial_weight must be finite and >= 0");
  for (size_t j = 0; in->feat_weight && j < nf; j++)
    if (!(in->feat_weight[j] >= 0.0) || !isfinite(in->feat_weight[j]))
      return gerr_set(err, GERR_INVALID_INPUT, "feature %zu: weight must be finite and >= 0",
                      j);
  for (size_t i = 0; i < n; i++) {
    if (!(in->lat[i] >= -90.0 && in->lat[i] <= 90.0) ||
        !(in->lng[i] >= -180.0 && in->lng[i] <= 180.0))
      return gerr_set(err, GERR_INVALID_INPUT, "point %zu: coordinates (%g, %g) out of range",
                      i, in->lat[i], in->lng[i]);
    for (size_t j = 0; j < nf; j++)
      if (!isfinite(in->feat[i * nf + j]))
        return gerr_set(err, GERR_INVALID_INPUT, "point %zu: feature %zu is not finite", i, j);
    if (in->prev_id && in->prev_id[i] < 0)
      return gerr_set(err, GERR_INVALID_INPUT, "point %zu: previous id %d", i, in->prev_id[i]);
  }
  return 0;
}

/* The score of candidate k in out, +infinity when it was not scored. */
static double score_of(const struct cluster_result *out, int k) {
  for (int c = 0; c < out->ncand; c++)
    if (out->cand_k[c] == k)
      return out->cand_score[c];
  return INFINITY;
}

int cluster_run(const struct cluster_input *in, const struct cluster_config *cfg_in,
                struct cluster_result *out, struct gerr *err) {
  if (!out)
    return gerr_set(err, GERR_INVALID_INPUT, "no result");
  memset(out, 0, sizeof *out);
  out->silhouette = out->median_km = out->median_km_random = out->median_km_ratio =
      out->mix_variance_ratio = NAN;
  if (!in)
    return gerr_set(err, GERR_INVALID_INPUT, "no input");
  struct cluster_config cfg;
  if (cfg_in)
    cfg = *cfg_in;
  else
    cluster_config_defaults(&cfg);
  if (check_input(in, &cfg, err) < 0)
    return -1;

  size_t n = in->n, d = in->nf + 3;
  struct embedding e = {0};
  size_t *sil = NULL;
  double *start = NULL;
  int32_t *home = NULL, *cold = NULL;
  int g = 0;
  if (embed(in, cfg.spatial_weight, &e) < 0)
    goto oom;
  /* the previous clustering: a warm start when enough of it is here */
  for (size_t i = 0; in->prev_id && i < n; i++)
    out->prev_points += in->prev_id[i] > 0;
  if (in->prev_id && prev_centres(&e, n, in->prev_id, &g, &start, &home) < 0)
    goto oom;
  out->k_prev = g;
  out->warm = g > 0 && (double)out->prev_points >= WARM_MIN_SHARE * (double)n;
  if (cfg.k > 0) {
    out->k = out->k_best = cfg.k;
  } else {
    if (choose_k(&e, in, &cfg, out->warm ? g : 0, out) < 0)
      goto oom;
    out->k = out->k_best;
    /* on retraining the previous k stays unless clearly beaten (it was
     * scored when near enough the range) */
    if (out->warm && score_of(out, g) <= score_of(out, out->k_best) + KEEP_MARGIN)
      out->k = g;
  }
  int k = out->k;
  size_t kk = (size_t)k, nsil = n < SIL_SAMPLE ? n : SIL_SAMPLE;
  out->label = malloc(n * sizeof *out->label);
  out->id = malloc(kk * sizeof *out->id);
  out->centroid_lat = malloc(kk * sizeof *out->centroid_lat);
  out->centroid_lng = malloc(kk * sizeof *out->centroid_lng);
  sil = malloc(nsil * sizeof *sil);
  if (!out->label || !out->id || !out->centroid_lat || !out->centroid_lng || !sil)
    goto oom;
  if (out->warm) {
    /* the cold run of this k: the yardstick of the warm one */
    double cold_sse, warm_sse;
    int restarts = cfg.restarts < WARM_COLD_RESTARTS ? cfg.restarts : WARM_COLD_RESTARTS;
    if (!(cold = malloc(n * sizeof *cold)) ||
        kmeans(e.x, n, d, k, restarts, cfg.max_iter, cfg.seed, STREAM_FINAL_KMEANS, cold,
               &cold_sse) < 0)
      goto oom;
    if (g > k && drop_centres(e.x, n, d, start, g, k, home) < 0)
      goto oom;
    if (kmeans_warm(e.x, n, d, k, start, g < k ? g : k, home,
                    WARM_STICK * cold_sse / (double)n, cfg.max_iter, cfg.seed, out->label,
                    &warm_sse) < 0)
      goto oom;
    if (warm_sse > (1.0 + WARM_STALE) * cold_sse) { /* stale: start afresh */
      memcpy(out->label, cold, n * sizeof *cold);
      out->warm = 0;
    }
  } else {
    double sse;
    if (kmeans(e.x, n, d, k, cfg.restarts, cfg.max_iter, cfg.seed, STREAM_FINAL_KMEANS,
               out->label, &sse) < 0)
      goto oom;
  }
  if (relabel(out->label, n, k) < 0)
    goto oom;
  if (in->prev_id) {
    if (cluster_stable_ids(n, out->label, k, in->prev_id, out->id, err) < 0)
      goto fail;
    for (size_t i = 0; i < n; i++)
      out->prev_kept += in->prev_id[i] > 0 && out->id[out->label[i]] == in->prev_id[i];
  } else {
    for (int c = 0; c < k; c++)
      out->id[c] = c + 1;
  }
  uint64_t r = rng_stream(cfg.seed, STREAM_SIL_FINAL, 0, 0);
  if (sample_indices(n, nsil, &r, sil) < 0 ||
      silhouette(e.x, n, d, out->label, k, sil, nsil, &out->silhouette) < 0 ||
      figures(in, out->label, k, cfg.seed, out) < 0)
    goto oom;
  embedding_release(&e);
  free(start);
  free(home);
  free(cold);
  free(sil);
  return 0;
oom:
  gerr_set(err, GERR_INTERNAL, "out of memory clustering %zu points", n);
fail:
  embedding_release(&e);
  free(start);
  free(home);
  free(cold);
  free(sil);
  cluster_result_free(out);
  return -1;
}

void cluster_result_free(struct cluster_result *r) {
  if (!r)
    return;
  free(r->label);
  free(r->id);
  free(r->centroid_lat);
  free(r->centroid_lng);
  r->label = r->id = NULL;
  r->centroid_lat = r->centroid_lng = NULL;
}

/* ---- Stable ids -------------------------------------------------------- */

struct overlap {
  int32_t old;   /* old id */
  int32_t c;     /* new cluster */
  size_t shared; /* points with both */
  size_t group;  /* index of the old id among those seen */
};

static int cmp_overlap(const void *p, const void *q) {
  const struct overlap *x = p, *y = q;
  if (x->shared != y->shared)
    return x->shared > y->shared ? -1 : 1;
  if (x->old != y->old)
    return x->old < y->old ? -1 : 1;
  return (x->c > y->c) - (x->c < y->c);
}

int cluster_stable_ids(size_t n, const int32_t *label, int k, const int32_t *old_id,
                       int32_t *id_of, struct gerr *err) {
  if (k < 1 || !id_of || (n && (!label || !old_id)))
    return gerr_set(err, GERR_INVALID_INPUT, "stable ids: bad arguments (k = %d)", k);
  size_t kk = (size_t)k, npair = 0;
  int32_t max_old = 0;
  for (size_t i = 0; i < n; i++) {
    if (label[i] < 0 || label[i] >= k || old_id[i] < 0)
      return gerr_set(err, GERR_INVALID_INPUT, "stable ids: point %zu has label %d, old id %d",
                      i, label[i], old_id[i]);
    if (old_id[i] > 0)
      npair++;
    if (old_id[i] > max_old)
      max_old = old_id[i];
  }
  size_t *size = calloc(kk, sizeof *size);
  unsigned char *taken = calloc(kk, 1);
  uint64_t *key = malloc((npair ? npair : 1) * sizeof *key);
  struct overlap *ov = malloc((npair ? npair : 1) * sizeof *ov);
  size_t *old_size = malloc((npair ? npair : 1) * sizeof *old_size);
  unsigned char *old_used = calloc(npair ? npair : 1, 1);
  int rc = -1;
  if (!size || !taken || !key || !ov || !old_size || !old_used) {
    gerr_set(err, GERR_INTERNAL, "stable ids: out of memory");
    goto done;
  }
  for (size_t i = 0, p = 0; i < n; i++) {
    size[label[i]]++;
    if (old_id[i] > 0)
      key[p++] = (uint64_t)(uint32_t)old_id[i] << 32 | (uint32_t)label[i];
  }
  qsort(key, npair, sizeof *key, cmp_u64);
  /* runs of equal (old, c) are the overlaps; runs of equal old the regions */
  size_t nov = 0, ngroup = 0;
  for (size_t p = 0; p < npair;) {
    size_t q = p;
    while (q < npair && key[q] == key[p])
      q++;
    int32_t old = (int32_t)(key[p] >> 32);
    if (nov == 0 || ov[nov - 1].old != old)
      old_size[ngroup++] = 0;
    ov[nov++] = (struct overlap){old, (int32_t)(uint32_t)key[p], q - p, ngroup - 1};
    old_size[ngroup - 1] += q - p;
    p = q;
  }
  /* real overlaps only: a strict majority of the new cluster or of the old
   * region's points present here */
  size_t nreal = 0;
  for (size_t o = 0; o < nov; o++)
    if (2 * ov[o].shared > size[ov[o].c] || 2 * ov[o].shared > old_size[ov[o].group])
      ov[nreal++] = ov[o];
  qsort(ov, nreal, sizeof *ov, cmp_overlap);
  for (size_t j = 0; j < kk; j++)
    id_of[j] = 0;
  for (size_t o = 0; o < nreal; o++) {
    if (taken[ov[o].c] || old_used[ov[o].group])
      continue;
    taken[ov[o].c] = 1;
    old_used[ov[o].group] = 1;
    id_of[ov[o].c] = ov[o].old;
  }
  /* fresh ids above every old id present, in cluster order */
  int64_t next = (int64_t)max_old + 1;
  for (size_t j = 0; j < kk; j++) {
    if (id_of[j])
      continue;
    if (next > INT32_MAX) {
      gerr_set(err, GERR_INVALID_INPUT, "stable ids: no fresh id above %d", max_old);
      goto done;
    }
    id_of[j] = (int32_t)next++;
  }
  rc = 0;
done:
  free(size);
  free(taken);
  free(key);
  free(ov);
  free(old_size);
  free(old_used);
  return rc;
}

/* ---- Adjusted Rand index --------------------------------------------- */

static double pairs_of(size_t m) { return 0.5 * (double)m * ((double)m - 1.0); }

/* Sum over runs of equal values of C(run, 2); v is sorted in place. */
static double run_pairs(uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_u64);
  double s = 0.0;
  for (size_t p = 0; p < n;) {
    size_t q = p;
    while (q < n && v[q] == v[p])
      q++;
    s += pairs_of(q - p);
    p = q;
  }
  return s;
}

double cluster_ari(size_t n, const int32_t *a, const int32_t *b) {
  if (n < 2)
    return 1.0;
  if (!a || !b)
    return NAN;
  for (size_t i = 0; i < n; i++)
    if (a[i] < 0 || b[i] < 0)
      return NAN;
  uint64_t *v = malloc(n * sizeof *v);
  if (!v)
    return NAN;
  for (size_t i = 0; i < n; i++)
    v[i] = (uint64_t)(uint32_t)a[i] << 32 | (uint32_t)b[i];
  double sum_ij = run_pairs(v, n);
  for (size_t i = 0; i < n; i++)
    v[i] = (uint32_t)a[i];
  double sum_a = run_pairs(v, n);
  for (size_t i = 0; i < n; i++)
    v[i] = (uint32_t)b[i];
  double sum_b = run_pairs(v, n);
  free(v);
  double expected = sum_a * sum_b / pairs_of(n), max = 0.5 * (sum_a + sum_b);
  if (max == expected) /* both all in one cluster, or both all apart */
    return 1.0;
  return (sum_ij - expected) / (max - expected);
}
