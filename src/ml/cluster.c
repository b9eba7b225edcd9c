/* Regions as an algorithm (SPEC §4): points on the sphere with a demand
 * pattern (averaged over each point's nearest neighbours), embedded in one
 * Euclidean space where place and pattern weigh alike, grouped by greedy
 * k-means++ with restarts (Lloyd's iterations; Hamerly's bounds and the
 * distances between centres skip most distance computations), k chosen by
 * the mean silhouette over a range derived from the number of points.
 * Restarts and silhouettes split over two threads, the same way whether or
 * not a thread is had, so results depend on the input and config alone.
 * Stable ids by shared members, and the adjusted Rand index.
 * docs/regions.md "Clustering" has the method and the figures. */
#include "gromo/cluster.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/gazetteer.h"

#define DEG (3.14159265358979323846 / 180.0)

/* The range of k searched when the caller gives none: regions of about
 * REGION_MAX_POINTS down to REGION_MIN_POINTS points. */
#define REGION_MIN_POINTS 50
#define REGION_MAX_POINTS 1000
#define SELECT_POINTS 3000   /* k is chosen on a subsample of this many */
#define SELECT_RESTARTS 2    /* restarts per candidate k (at most) */
#define SELECT_COARSE 16     /* candidates spread over the range first */
#define SELECT_FINE 8        /* then as many more around the best */
#define SIL_SAMPLE 2000      /* points whose silhouette is averaged */
/* Scores closer than this to the best are taken as equal (on the bench's
 * data a candidate's score moves by 0.003-0.01 from seed to seed): the
 * smallest such k wins, so that k does not flip between near-equals. */
#define SIL_TOLERANCE 0.01
#define MIX_PERMUTATIONS 8   /* random partitions behind the mix ratio */
/* Each point's pattern is the mean over it and this many nearest others
 * before it is standardised: per-pincode patterns are noisy, and k-means
 * on raw noise cuts regions apart by it (docs/regions.md). */
#define NEAR_POINTS 8
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

/* Streams of the generator, so that each use draws its own numbers and a
 * run with k given reproduces the final run of one that chose k. */
enum { STREAM_SUBSAMPLE = 1, STREAM_SIL_SELECT, STREAM_SIL_FINAL, STREAM_MIX,
       STREAM_SELECT_KMEANS, STREAM_FINAL_KMEANS };

/* ---- Generator: splitmix64 ---------------------------------------------- */

struct rng {
  uint64_t s;
};

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r) { return mix64(r->s += 0x9e3779b97f4a7c15ULL); }

/* The generator of stream (what, a, b) under seed: distinct for distinct
 * triples, whatever the seed. */
static struct rng rng_stream(uint64_t seed, uint64_t what, uint64_t a, uint64_t b) {
  uint64_t h = mix64(seed ^ 0x5851f42d4c957f2dULL);
  h = mix64(h ^ (what * 0x9e3779b97f4a7c15ULL));
  h = mix64(h ^ (a * 0xd6e8feb86659fd93ULL));
  h = mix64(h ^ (b * 0xa0761d6478bd642fULL));
  return (struct rng){h};
}

static double rng_unit(struct rng *r) { /* [0, 1) */
  return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static size_t rng_below(struct rng *r, size_t m) { /* [0, m), m >= 1 */
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
static int sample_indices(size_t n, size_t m, struct rng *r, size_t *out) {
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
 * reads) becomes the mean of the raw features over the point and its
 * NEAR_POINTS nearest others on the sphere (fewer when n is small; the
 * nearer index first on equal distances). Points are swept in latitude
 * order: a latitude gap alone bounds the distance from below. */
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
    double nd[NEAR_POINTS];
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
    double *row = x + i * d + 3;
    const double *fi = in->feat + i * nf;
    for (size_t t = 0; t < nf; t++) {
      double s = fi[t];
      for (size_t h = 0; h < have; h++)
        s += in->feat[ni[h] * nf + t];
      row[t] = s / (double)(have + 1);
    }
  }
  free(o);
  return 0;
}

/* ---- Embedding ------------------------------------------------------- */

/* Row i of the n x d embedding (d = 3 + nf): the unit vector of the point
 * times s, then its neighbourhood-mean pattern standardised (constant
 * columns 0); every column centred.
 * s makes the spatial block's total variance spatial_weight^2 times that
 * of the pattern block (the number of non-constant columns). */
static double *embed(const struct cluster_input *in, double spatial_weight, size_t d) {
  size_t n = in->n, nf = in->nf;
  double *x = malloc(n * d * sizeof *x);
  double *mean = calloc(d, sizeof *mean), *scale = calloc(d, sizeof *scale);
  double *lo = malloc(d * sizeof *lo), *hi = malloc(d * sizeof *hi);
  if (!x || !mean || !scale || !lo || !hi)
    goto fail;
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
  if (nf && smooth_patterns(in, x, d) < 0)
    goto fail;
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
  /* pattern: standardised; constant columns carry nothing */
  double pattern_var = 0.0;
  for (size_t j = 3; j < d; j++) {
    if (hi[j] > lo[j] && scale[j] > 0.0) {
      scale[j] = 1.0 / sqrt(scale[j] / (double)n);
      pattern_var += 1.0;
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
  free(mean);
  free(scale);
  free(lo);
  free(hi);
  return x;
fail:
  free(x);
  free(mean);
  free(scale);
  free(lo);
  free(hi);
  return NULL;
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
static size_t km_draw(const struct km *m, double total, struct rng *r) {
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
    dp[i] = sqrt(dist2(m->x + i * d, xp, d));
    pot += fmin(dp[i] * dp[i], u * u);
  }
  return pot;
}

/* Greedy k-means++ seeding: the first centre uniform, then at each step
 * 2 + floor(ln k) candidates drawn by D^2 and the one that lowers the sum
 * of squared distances most kept (the first on ties). Leaves a and u (the
 * exact nearest centre and distance) and l (a lower bound on the distance
 * to the others) set for km_assign. */
static void km_seed(struct km *m, struct rng *r) {
  size_t n = m->n, d = m->d;
  const double *x = m->x;
  int trials = 2 + (int)floor(log((double)m->k));
  size_t first = rng_below(r, n);
  memcpy(m->c, x + first * d, d * sizeof *m->c);
  for (size_t i = 0; i < n; i++) {
    m->a[i] = 0;
    m->u[i] = sqrt(dist2(x + i * d, m->c, d));
    m->l[i] = INFINITY;
  }
  for (int j = 1; j < m->k; j++) {
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
    double bound = fmax(m->half[a], m->l[i]);
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
    struct rng g = rng_stream(j->seed, (uint64_t)j->what, (uint64_t)j->k, (uint64_t)r);
    km_seed(&m, &g);
    for (int it = 0; it < j->max_iter; it++) {
      km_update(&m);
      if (km_assign(&m) == 0)
        break;
    }
    km_update(&m); /* centres are the means of the final assignment */
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

/* The searched range: the caller's, or regions of REGION_MAX_POINTS down to
 * REGION_MIN_POINTS points, clipped to [2, n] (k = n when n = 2). */
static void k_range(size_t n, const struct cluster_config *cfg, int *kmin, int *kmax) {
  size_t lo = (n + REGION_MAX_POINTS - 1) / REGION_MAX_POINTS;
  size_t hi = n / REGION_MIN_POINTS;
  if (lo < 2)
    lo = 2;
  if (lo > n)
    lo = n;
  if (hi < lo)
    hi = lo;
  if (hi > n)
    hi = n;
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

struct scored_k {
  int k;
  double score;
};

static int cmp_scored_k(const void *p, const void *q) {
  const struct scored_k *x = p, *y = q;
  return (x->k > y->k) - (x->k < y->k);
}

/* Scores the candidates cand[from .. nc) on the subsample. */
static int score_candidates(const double *xs, size_t m, size_t d, const int *cand, int from,
                            int nc, const struct cluster_config *cfg, const size_t *sil,
                            size_t nsil, int32_t *lab, double *score) {
  int restarts = cfg->restarts < SELECT_RESTARTS ? cfg->restarts : SELECT_RESTARTS;
  for (int c = from; c < nc; c++) {
    double sse;
    if (kmeans(xs, m, d, cand[c], restarts, cfg->max_iter, cfg->seed, STREAM_SELECT_KMEANS,
               lab, &sse) < 0)
      return -1;
    if (silhouette(xs, m, d, lab, cand[c], sil, nsil, &score[c]) < 0)
      return -1;
  }
  return 0;
}

/* Chooses k by the mean silhouette: k-means of a subsample for
 * SELECT_COARSE values spread geometrically over [kmin, kmax] (all of them
 * when there are no more), then up to SELECT_FINE more between the best
 * one's neighbours; the smallest k whose score is within SIL_TOLERANCE of
 * the best wins. */
static int choose_k(const double *x, size_t n, size_t d, const struct cluster_config *cfg,
                    struct cluster_result *out, struct gerr *err) {
  int kmin, kmax;
  k_range(n, cfg, &kmin, &kmax);
  int cand[CLUSTER_MAX_CANDIDATES], nc = 0;
  double score[CLUSTER_MAX_CANDIDATES];
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

  size_t m = (size_t)kmax * 8 > SELECT_POINTS ? (size_t)kmax * 8 : SELECT_POINTS;
  if (m > n)
    m = n;
  size_t nsil = m < SIL_SAMPLE ? m : SIL_SAMPLE;
  size_t *sub = malloc(m * sizeof *sub), *sil = malloc(nsil * sizeof *sil);
  double *xs = malloc(m * d * sizeof *xs);
  int32_t *lab = malloc(m * sizeof *lab);
  int rc = -1;
  if (!sub || !sil || !xs || !lab)
    goto done;
  struct rng g = rng_stream(cfg->seed, STREAM_SUBSAMPLE, 0, 0);
  if (sample_indices(n, m, &g, sub) < 0)
    goto done;
  for (size_t i = 0; i < m; i++)
    memcpy(xs + i * d, x + sub[i] * d, d * sizeof *xs);
  g = rng_stream(cfg->seed, STREAM_SIL_SELECT, 0, 0);
  if (sample_indices(m, nsil, &g, sil) < 0)
    goto done;

  if (score_candidates(xs, m, d, cand, 0, nc, cfg, sil, nsil, lab, score) < 0)
    goto done;
  int best = 0;
  for (int c = 1; c < nc; c++)
    if (score[c] > score[best])
      best = c;
  /* finer: between the neighbours of the best coarse value */
  int lo = best > 0 ? cand[best - 1] : cand[best];
  int hi = best + 1 < nc ? cand[best + 1] : cand[best];
  int from = nc;
  if (hi - lo > 2) {
    for (int t = 1; t <= SELECT_FINE; t++) {
      int k = lo + (int)lround((double)(hi - lo) * t / (SELECT_FINE + 1));
      if (k > lo && k < hi)
        add_candidate(cand, &nc, k);
    }
  }
  if (score_candidates(xs, m, d, cand, from, nc, cfg, sil, nsil, lab, score) < 0)
    goto done;

  struct scored_k sk[CLUSTER_MAX_CANDIDATES];
  for (int c = 0; c < nc; c++)
    sk[c] = (struct scored_k){cand[c], score[c]};
  qsort(sk, (size_t)nc, sizeof *sk, cmp_scored_k);
  double top = -INFINITY;
  for (int c = 0; c < nc; c++) {
    out->cand_k[c] = sk[c].k;
    out->cand_score[c] = sk[c].score;
    top = fmax(top, sk[c].score);
  }
  int pick = 0; /* the smallest k within SIL_TOLERANCE of the best */
  while (sk[pick].score < top - SIL_TOLERANCE)
    pick++;
  out->ncand = nc;
  out->k = sk[pick].k;
  rc = 0;
done:
  if (rc < 0)
    gerr_set(err, GERR_INTERNAL, "out of memory choosing the number of clusters");
  free(sub);
  free(sil);
  free(xs);
  free(lab);
  return rc;
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
 * unit vectors (a member's own place when the mean is 0). */
static int centroids(const struct cluster_input *in, const int32_t *lab, int k, double *clat,
                     double *clng) {
  double *v = calloc((size_t)k * 3, sizeof *v);
  if (!v)
    return -1;
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
  free(v);
  return 0;
}

static double median_km(const struct cluster_input *in, const int32_t *lab, const double *clat,
                        const double *clng, int *oom) {
  size_t n = in->n;
  double *km = malloc(n * sizeof *km);
  if (!km) {
    *oom = 1;
    return NAN;
  }
  for (size_t i = 0; i < n; i++)
    km[i] = gaz_km(in->lat[i], in->lng[i], clat[lab[i]], clng[lab[i]]);
  qsort(km, n, sizeof *km, cmp_double);
  double med = n % 2 ? km[n / 2] : 0.5 * (km[n / 2 - 1] + km[n / 2]);
  free(km);
  return med;
}

/* Within-cluster sum of squares of the mix columns. */
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

/* W(labels) / mean W(random permutations of the labels); NaN without mix
 * columns or when the mix never varies. */
static double mix_ratio(const struct cluster_input *in, const int32_t *lab, int k,
                        uint64_t seed, int *oom) {
  size_t n = in->n;
  if (in->mix_len == 0)
    return NAN;
  double *sum = malloc((size_t)k * in->mix_len * sizeof *sum);
  size_t *cnt = malloc((size_t)k * sizeof *cnt);
  int32_t *perm = malloc(n * sizeof *perm);
  double ratio = NAN;
  if (!sum || !cnt || !perm) {
    *oom = 1;
    goto done;
  }
  double w = mix_within(in, lab, k, sum, cnt), wr = 0.0;
  memcpy(perm, lab, n * sizeof *perm);
  for (int p = 0; p < MIX_PERMUTATIONS; p++) {
    struct rng g = rng_stream(seed, STREAM_MIX, (uint64_t)p, 0);
    for (size_t i = n - 1; i > 0; i--) {
      size_t j = rng_below(&g, i + 1);
      int32_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    wr += mix_within(in, perm, k, sum, cnt);
  }
  wr /= MIX_PERMUTATIONS;
  if (wr > 0.0)
    ratio = w / wr;
done:
  free(sum);
  free(cnt);
  free(perm);
  return ratio;
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
  if (n > INT32_MAX || nf > 4096 || n > SIZE_MAX / sizeof(double) / (nf + 3))
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
  for (size_t i = 0; i < n; i++) {
    if (!(in->lat[i] >= -90.0 && in->lat[i] <= 90.0) ||
        !(in->lng[i] >= -180.0 && in->lng[i] <= 180.0))
      return gerr_set(err, GERR_INVALID_INPUT, "point %zu: coordinates (%g, %g) out of range",
                      i, in->lat[i], in->lng[i]);
    for (size_t j = 0; j < nf; j++)
      if (!isfinite(in->feat[i * nf + j]))
        return gerr_set(err, GERR_INVALID_INPUT, "point %zu: feature %zu is not finite", i, j);
  }
  return 0;
}

int cluster_run(const struct cluster_input *in, const struct cluster_config *cfg_in,
                struct cluster_result *out, struct gerr *err) {
  if (!out)
    return gerr_set(err, GERR_INVALID_INPUT, "no result");
  memset(out, 0, sizeof *out);
  out->silhouette = out->median_km = out->mix_variance_ratio = NAN;
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
  double *x = embed(in, cfg.spatial_weight, d);
  size_t *sil = NULL;
  double sse;
  int oom = 0;
  if (!x)
    goto oom;
  if (cfg.k > 0) {
    out->k = cfg.k;
  } else if (choose_k(x, n, d, &cfg, out, err) < 0) {
    goto fail;
  }
  int k = out->k;
  size_t kk = (size_t)k, nsil = n < SIL_SAMPLE ? n : SIL_SAMPLE;
  out->label = malloc(n * sizeof *out->label);
  out->centroid_lat = malloc(kk * sizeof *out->centroid_lat);
  out->centroid_lng = malloc(kk * sizeof *out->centroid_lng);
  sil = malloc(nsil * sizeof *sil);
  if (!out->label || !out->centroid_lat || !out->centroid_lng || !sil)
    goto oom;
  if (kmeans(x, n, d, k, cfg.restarts, cfg.max_iter, cfg.seed, STREAM_FINAL_KMEANS,
             out->label, &sse) < 0 ||
      relabel(out->label, n, k) < 0 ||
      centroids(in, out->label, k, out->centroid_lat, out->centroid_lng) < 0)
    goto oom;
  struct rng g = rng_stream(cfg.seed, STREAM_SIL_FINAL, 0, 0);
  if (sample_indices(n, nsil, &g, sil) < 0 ||
      silhouette(x, n, d, out->label, k, sil, nsil, &out->silhouette) < 0)
    goto oom;
  out->median_km = median_km(in, out->label, out->centroid_lat, out->centroid_lng, &oom);
  out->mix_variance_ratio = mix_ratio(in, out->label, k, cfg.seed, &oom);
  if (oom)
    goto oom;
  free(x);
  free(sil);
  return 0;
oom:
  gerr_set(err, GERR_INTERNAL, "out of memory clustering %zu points", n);
fail:
  free(x);
  free(sil);
  cluster_result_free(out);
  return -1;
}

void cluster_result_free(struct cluster_result *r) {
  if (!r)
    return;
  free(r->label);
  free(r->centroid_lat);
  free(r->centroid_lng);
  r->label = NULL;
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
