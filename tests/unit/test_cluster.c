/* src/ml/cluster.c: the adjusted Rand index and stable ids against values
 * worked out by hand; clustering of real gazetteer coordinates carrying
 * planted regional patterns (recovered, compact, deterministic, with ids
 * that survive new points), pattern-free data, sales-like data at customer
 * scale (100, 1,000 and 18,000 pincodes: compact and alike against random
 * partitions, never two regions across several states, ids that stay when
 * data is added), warm starts, and refused input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "core/rng.h"
#include "gromo/cluster.h"
#include "gromo/gazetteer.h"

#define DEG (3.14159265358979323846 / 180.0)

static struct gaz *gz; /* loaded once by the group setup */

static int setup(void **state) {
  struct gerr err;
  if (gaz_load_default(&gz, &err) < 0) {
    fprintf(stderr, "gaz_load_default: %s\n", err.msg);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  gaz_free(gz);
  gz = NULL;
  return 0;
}

/* ---- A deterministic generator (splitmix64, core/rng.h) --------------- */

static double rng_uniform(uint64_t *s) { return rng_unit_open(s); } /* (0, 1) */

static double rng_normal(uint64_t *s) {
  double u = rng_uniform(s), v = rng_uniform(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- Data ------------------------------------------------------------ */

#define PRODUCTS 5
#define NF (PRODUCTS + 2 + 2) /* product mix, channel mix, log level, trend */

/* Points with coordinates, features and the group each was planted in. */
struct points {
  size_t n, cap;
  double *lat, *lng, *feat;
  int32_t *truth, *pin;
};

static void points_init(struct points *p, size_t cap) {
  p->n = 0;
  p->cap = cap;
  p->lat = malloc(cap * sizeof *p->lat);
  p->lng = malloc(cap * sizeof *p->lng);
  p->feat = malloc(cap * NF * sizeof *p->feat);
  p->truth = malloc(cap * sizeof *p->truth);
  p->pin = malloc(cap * sizeof *p->pin);
  assert_non_null(p->pin);
  assert_non_null(p->lat);
  assert_non_null(p->lng);
  assert_non_null(p->feat);
  assert_non_null(p->truth);
}

static void points_release(struct points *p) {
  free(p->lat);
  free(p->lng);
  free(p->feat);
  free(p->truth);
  free(p->pin);
}

static struct cluster_input points_input(const struct points *p) {
  return (struct cluster_input){.n = p->n, .lat = p->lat, .lng = p->lng, .nf = NF,
                                .feat = p->feat, .mix_off = 0, .mix_len = PRODUCTS};
}

/* A pattern of group g (g < 0: no pattern, every point drawn alike):
 * product g % PRODUCTS leads (0.4 against 0.15 each), and the online
 * share and the level differ by group; each with noise. */
static void pattern(int g, uint64_t *s, double *f) {
  double sum = 0.0;
  for (int j = 0; j < PRODUCTS; j++) {
    double base = g < 0 ? 0.2 : j == g % PRODUCTS ? 0.4 : 0.15;
    f[j] = fmax(0.005, base + 0.04 * rng_normal(s));
    sum += f[j];
  }
  for (int j = 0; j < PRODUCTS; j++)
    f[j] /= sum;
  double online = g < 0 ? 0.5 : 0.2 + 0.15 * (double)g;
  online = fmin(0.99, fmax(0.01, online + 0.05 * rng_normal(s)));
  f[PRODUCTS] = online;
  f[PRODUCTS + 1] = 1.0 - online;
  f[PRODUCTS + 2] = (g < 0 ? 2.0 : 1.5 + 0.25 * (double)g) + 0.2 * rng_normal(s);
  f[PRODUCTS + 3] = 0.05 * rng_normal(s);
}

/* A point's pattern draws depend on the seed and its key (the pincode)
 * alone, so the same pincode gets the same pattern in every data set of
 * that seed. */
static void add_at(struct points *p, double lat, double lng, int32_t key, int g,
                   uint64_t seed) {
  assert_true(p->n < p->cap);
  uint64_t s = seed ^ ((uint64_t)key * 0xd6e8feb86659fd93ULL);
  p->lat[p->n] = lat;
  p->lng[p->n] = lng;
  p->pin[p->n] = key;
  pattern(g, &s, p->feat + p->n * NF);
  p->truth[p->n] = g < 0 ? 0 : g;
  p->n++;
}

static void add_point(struct points *p, const struct gaz_entry *e, int g, uint64_t seed) {
  add_at(p, e->lat, e->lng, e->pincode, g, seed);
}

/* Five states far apart, each with its own pattern. */
static const char *const planted_states[] = {"Kerala", "Gujarat", "Punjab", "Assam",
                                             "Odisha"};
#define PER_STATE 120

/* Nine states, the first five far apart; planted() plants the first five. */
static const char *const nine_states[] = {"Kerala",    "Gujarat", "Punjab",
                                          "Assam",     "Odisha",  "Rajasthan",
                                          "Karnataka", "Bihar",   "Maharashtra"};

/* PER_STATE pincodes of each of the ns states (every stride-th of its
 * pincodes in gazetteer order), plus `extra` more of each from between
 * them, state g carrying pattern g. */
static void planted_in(struct points *p, const char *const *states, size_t ns, size_t extra,
                       uint64_t seed) {
  points_init(p, ns * (PER_STATE + extra));
  for (size_t g = 0; g < ns; g++) {
    size_t count = 0;
    for (size_t i = 0; i < gaz_count(gz); i++)
      count += strcmp(gaz_at(gz, i)->state, states[g]) == 0;
    size_t stride = count / PER_STATE;
    assert_true(stride >= 2);
    size_t taken = 0, more = 0, seen = 0;
    for (size_t i = 0; i < gaz_count(gz); i++) {
      const struct gaz_entry *e = gaz_at(gz, i);
      if (strcmp(e->state, states[g]) != 0)
        continue;
      if (seen % stride == 0 && taken < PER_STATE) {
        add_point(p, e, (int)g, seed);
        taken++;
      } else if (seen % stride == 1 && more < extra) {
        add_point(p, e, (int)g, seed);
        more++;
      }
      seen++;
    }
    assert_int_equal(taken, PER_STATE);
    assert_int_equal(more, extra);
  }
}

/* The five planted states: planted(p, extra, seed) holds every point of
 * planted(p, 0, seed), with the same pattern, and the extra ones among
 * them. */
static void planted(struct points *p, size_t extra, uint64_t seed) {
  planted_in(p, planted_states, N_OF(planted_states), extra, seed);
}

/* Every `stride`-th pincode of the country, patterns from group g (< 0:
 * none). */
static void country(struct points *p, size_t stride, int g, uint64_t seed) {
  points_init(p, gaz_count(gz) / stride + 1);
  for (size_t i = 0; i < gaz_count(gz); i += stride)
    add_point(p, gaz_at(gz, i), g, seed);
}

/* Eight synthetic blobs over India (normal, 0.6 degrees each way), 100
 * points each; blob g carries pattern g. */
static const double blob_centre[][2] = {{12, 77}, {19, 73}, {23, 88}, {28, 77},
                                        {26, 92}, {21, 79}, {15, 80}, {31, 75}};
#define PER_BLOB 100

static void blobs(struct points *p, uint64_t seed) {
  points_init(p, N_OF(blob_centre) * PER_BLOB);
  uint64_t s = seed;
  for (size_t g = 0; g < N_OF(blob_centre); g++)
    for (size_t i = 0; i < PER_BLOB; i++) {
      double lat = blob_centre[g][0] + 0.6 * rng_normal(&s);
      double lng = blob_centre[g][1] + 0.6 * rng_normal(&s);
      add_at(p, lat, lng, (int32_t)(g * PER_BLOB + i), (int)g, seed);
    }
}

/* ---- Sales-like data at customer scale ------------------------------- */

/* Pincodes drawn from the gazetteer, with patterns made the way
 * src/ml/regions.c makes them from sales (product shares, channel shares,
 * log of sales per period, trend) and sales drawn from regional product
 * preferences the way src/domain/generator.c makes them: a product's logit
 * moves with a smooth field over India (plane waves of 9-16 degrees), with
 * its state and its district, a little with the pincode itself, and with
 * how urban the pincode is (not regional: urban and rural pincodes sit side
 * by side). Each pincode has its own number of sales over the kept periods
 * (median SALES_MEDIAN x (0.6 + 0.4 tier), log-normal), and its shares are
 * counts of sales drawn from its preferences, with the noise of counting.
 * Everything about a pincode depends on the seed and its pincode alone. */
#define SP 4 /* products */
#define SC 2 /* channels */
#define SNF (SP + SC + 2)
#define FIELD_SD 0.8
#define STATE_SD 0.5
#define DISTRICT_SD 0.2
#define PINCODE_SD 0.1
#define SALES_MEDIAN 150.0
#define PERIODS 13
/* the weights the service clusters with (src/ml/regions.c) */
#define SERVICE_PLACE_WEIGHT 1.5
#define SERVICE_SIDE_WEIGHT 0.35

static uint64_t mix64(uint64_t z) { return rng_mix64(z + RNG_GOLDEN); }

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) {
  return mix64(mix64(mix64(a) ^ b) ^ c);
}

static double hash_unit(uint64_t h) { return ((double)(h >> 11) + 0.5) * 0x1.0p-53; }

static double hash_normal(uint64_t a, uint64_t b, uint64_t c) {
  double u = hash_unit(hash3(a, b, c)), v = hash_unit(hash3(a, b, c ^ 0x55555555ULL));
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static uint64_t hash_str(const char *t) { /* FNV-1a */
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *t; t++)
    h = (h ^ (unsigned char)*t) * 0x100000001b3ULL;
  return h;
}

/* A smooth field over India with unit variance: three plane waves whose
 * directions, wavelengths (9-16 degrees) and phases come from seed and salt. */
static double smooth_field(uint64_t seed, uint64_t salt, double lat, double lng) {
  double f = 0.0;
  for (uint64_t j = 0; j < 3; j++) {
    double dir = 6.283185307179586 * hash_unit(hash3(seed, salt, 3 * j));
    double len = 9.0 + 7.0 * hash_unit(hash3(seed, salt, 3 * j + 1));
    double phase = 6.283185307179586 * hash_unit(hash3(seed, salt, 3 * j + 2));
    f += sin(6.283185307179586 / len * (cos(dir) * lng + sin(dir) * lat) + phase);
  }
  return f / sqrt(1.5);
}

/* m draws of probability p, counted; *s steps. */
static int count_draws(uint64_t *s, int m, double p) {
  int c = 0;
  for (int i = 0; i < m; i++) {
    *s = mix64(*s);
    c += hash_unit(*s) < p;
  }
  return c;
}

/* The pattern of pincode e under seed into f[SNF]; `more` (0 or, say,
 * 0.05) adds that share of further sales drawn the same way. */
static void sales_pattern(const struct gaz_entry *e, uint64_t seed, double more, double *f) {
  static const double base[SP] = {0.3, 0.0, -0.2, -0.6};
  static const double per_tier[SP] = {-0.25, 0.35, 0.1, -0.3};
  uint64_t pin = (uint64_t)e->pincode, st = hash_str(e->state);
  uint64_t di = hash_str(e->district) ^ st;
  double logit[SP], top = -INFINITY, share[SP], total = 0.0;
  for (int p = 0; p < SP; p++) {
    logit[p] = base[p] + per_tier[p] * ((double)e->tier - 1.5) +
               FIELD_SD * smooth_field(seed, 100 + (uint64_t)p, e->lat, e->lng) +
               STATE_SD * hash_normal(seed, st, 200 + (uint64_t)p) +
               DISTRICT_SD * hash_normal(seed, di, 300 + (uint64_t)p) +
               PINCODE_SD * hash_normal(seed, pin, 400 + (uint64_t)p);
    top = fmax(top, logit[p]);
  }
  for (int p = 0; p < SP; p++)
    total += share[p] = exp(logit[p] - top);
  double sales = SALES_MEDIAN * (0.6 + 0.4 * (double)e->tier) * exp(0.6 * hash_normal(seed, pin, 1));
  int m = (int)fmax(3.0, round(sales)), m2 = (int)round((double)m * more);
  uint64_t s = hash3(seed, pin, 2), s2 = hash3(seed, pin, 22);
  /* the counts of each product: a multinomial as a chain of binomials */
  int left = m, left2 = m2, count[SP];
  double rest = 1.0;
  for (int p = 0; p < SP; p++) {
    double q = p == SP - 1 ? 1.0 : share[p] / total / rest;
    int c2 = p == SP - 1 ? left2 : count_draws(&s2, left2, q);
    count[p] = p == SP - 1 ? left : count_draws(&s, left, q);
    left -= count[p];
    left2 -= c2;
    count[p] += c2;
    rest -= share[p] / total;
  }
  for (int p = 0; p < SP; p++)
    f[p] = (double)count[p] / (double)(m + m2);
  double online = -0.35 + 0.55 * ((double)e->tier - 1.5) +
                  0.4 * smooth_field(seed, 500, e->lat, e->lng) + 0.2 * hash_normal(seed, di, 501);
  double po = 1.0 / (1.0 + exp(-online));
  int on = count_draws(&s, m, po) + count_draws(&s2, m2, po);
  f[SP] = (double)on / (double)(m + m2);
  f[SP + 1] = 1.0 - f[SP];
  f[SP + 2] = log1p((double)(m + m2) / PERIODS);
  double trend = 0.2 * smooth_field(seed, 600, e->lat, e->lng) + 0.1 * hash_normal(seed, di, 601);
  int half = m / 2, recent = count_draws(&s, half, 0.5 + 0.25 * tanh(trend));
  f[SP + 3] = half ? (double)(2 * recent - half) / (double)half : 0.0;
}

struct sales {
  size_t n;
  double *lat, *lng, *feat; /* feat: n x SNF */
  int32_t *pin;             /* ascending */
  double weight[SNF];
};

static uint64_t *pick_key; /* for cmp_pick */

static int cmp_pick(const void *a, const void *b) {
  uint64_t x = pick_key[*(const size_t *)a], y = pick_key[*(const size_t *)b];
  return (x > y) - (x < y);
}

static int cmp_index(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* n + extra pincodes (those whose hash under seed is smallest: the n of
 * sales_make(p, n, seed, x, 0) are among them) with `more` further sales
 * each. */
static void sales_make(struct sales *p, size_t n, uint64_t seed, double more, size_t extra) {
  size_t all = gaz_count(gz), m = n + extra < all ? n + extra : all;
  size_t *idx = malloc(all * sizeof *idx);
  pick_key = malloc(all * sizeof *pick_key);
  assert_non_null(idx);
  assert_non_null(pick_key);
  for (size_t i = 0; i < all; i++) {
    idx[i] = i;
    pick_key[i] = hash3(seed, 7, (uint64_t)gaz_at(gz, i)->pincode);
  }
  qsort(idx, all, sizeof *idx, cmp_pick);
  qsort(idx, m, sizeof *idx, cmp_index); /* back to gazetteer (pincode) order */
  p->n = m;
  p->lat = malloc(m * sizeof *p->lat);
  p->lng = malloc(m * sizeof *p->lng);
  p->feat = malloc(m * SNF * sizeof *p->feat);
  p->pin = malloc(m * sizeof *p->pin);
  assert_true(p->lat && p->lng && p->feat && p->pin);
  for (size_t j = 0; j < m; j++) {
    const struct gaz_entry *e = gaz_at(gz, idx[j]);
    p->lat[j] = e->lat;
    p->lng[j] = e->lng;
    p->pin[j] = e->pincode;
    sales_pattern(e, seed, more, p->feat + j * SNF);
  }
  for (size_t j = 0; j < SNF; j++)
    p->weight[j] = j < SP        ? 1.0
                   : j < SP + SC ? SERVICE_SIDE_WEIGHT / sqrt((double)SC)
                                 : SERVICE_SIDE_WEIGHT;
  free(idx);
  free(pick_key);
  pick_key = NULL;
}

static void sales_release(struct sales *p) {
  free(p->lat);
  free(p->lng);
  free(p->feat);
  free(p->pin);
}

static struct cluster_input sales_input(const struct sales *p, const int32_t *prev) {
  return (struct cluster_input){.n = p->n, .lat = p->lat, .lng = p->lng, .nf = SNF,
                                .feat = p->feat, .feat_weight = p->weight, .mix_off = 0,
                                .mix_len = SP, .prev_id = prev};
}

/* The config the service clusters with. */
static struct cluster_config service_config(uint64_t seed) {
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.spatial_weight = SERVICE_PLACE_WEIGHT;
  cfg.seed = seed;
  return cfg;
}

/* prev[j] for the points of b: the id of b's pincode in a's result r (0
 * when a does not have it). Both are in pincode order. */
static int32_t *ids_by_pincode(const struct sales *a, const struct cluster_result *r,
                               const struct sales *b) {
  int32_t *prev = calloc(b->n, sizeof *prev);
  assert_non_null(prev);
  for (size_t i = 0, j = 0; j < b->n; j++) {
    while (i < a->n && a->pin[i] < b->pin[j])
      i++;
    if (i < a->n && a->pin[i] == b->pin[j])
      prev[j] = r->id[r->label[i]];
  }
  return prev;
}

static size_t distinct_states(const struct sales *p) {
  size_t n = 0;
  const char *seen[64];
  for (size_t i = 0; i < p->n; i++) {
    const char *st = gaz_find(gz, p->pin[i])->state;
    size_t t = 0;
    while (t < n && strcmp(seen[t], st) != 0)
      t++;
    if (t == n && n < N_OF(seen))
      seen[n++] = st;
  }
  return n;
}

/* Median km from each point to the spherical centroid of its group in
 * `label`: the test's own computation, for random labellings. */
static double median_km_of(const struct points *p, const int32_t *label, int k) {
  double *v = calloc((size_t)k * 3, sizeof *v), *km = malloc(p->n * sizeof *km);
  assert_non_null(v);
  assert_non_null(km);
  for (size_t i = 0; i < p->n; i++) {
    double *w = v + (size_t)label[i] * 3;
    w[0] += cos(p->lat[i] * DEG) * cos(p->lng[i] * DEG);
    w[1] += cos(p->lat[i] * DEG) * sin(p->lng[i] * DEG);
    w[2] += sin(p->lat[i] * DEG);
  }
  for (size_t i = 0; i < p->n; i++) {
    const double *w = v + (size_t)label[i] * 3;
    double r = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    km[i] = gaz_km(p->lat[i], p->lng[i], asin(w[2] / r) / DEG, atan2(w[1], w[0]) / DEG);
  }
  for (size_t i = 1; i < p->n; i++) /* insertion sort: small n */
    for (size_t j = i; j > 0 && km[j - 1] > km[j]; j--) {
      double t = km[j];
      km[j] = km[j - 1];
      km[j - 1] = t;
    }
  double med = p->n % 2 ? km[p->n / 2] : 0.5 * (km[p->n / 2 - 1] + km[p->n / 2]);
  free(v);
  free(km);
  return med;
}

static void shuffle(int32_t *a, size_t n, uint64_t seed) {
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(splitmix64(&seed) % (i + 1));
    int32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

static void assert_labels_valid(const struct cluster_result *r, size_t n) {
  assert_true(r->k >= 1);
  size_t *size = calloc((size_t)r->k, sizeof *size);
  assert_non_null(size);
  for (size_t i = 0; i < n; i++) {
    assert_in_range(r->label[i], 0, r->k - 1);
    size[r->label[i]]++;
  }
  for (int c = 0; c < r->k; c++) {
    if (size[c] == 0)
      fail_msg("cluster %d of %d is empty", c, r->k);
    assert_true(r->centroid_lat[c] >= -90.0 && r->centroid_lat[c] <= 90.0);
    assert_true(r->centroid_lng[c] >= -180.0 && r->centroid_lng[c] <= 180.0);
  }
  free(size);
}

/* ---- Adjusted Rand index ----------------------------------------------- */

static void test_cluster__ari_by_hand(void **state) {
  static const struct {
    size_t n;
    int32_t a[8], b[8];
    double want;
  } rows[] = {
      /* identical */
      {6, {0, 0, 1, 1, 2, 2}, {0, 0, 1, 1, 2, 2}, 1.0},
      /* same partition, other names (any range >= 0) */
      {6, {0, 0, 1, 1, 2, 2}, {7, 7, 1000000, 1000000, 3, 3}, 1.0},
      /* contingency (0,0)=2 (1,1)=1 (1,2)=1: sum C(nij,2) = 1; rows 2,2 -> 2;
       * columns 2,1,1 -> 1; expected 2*1/C(4,2) = 1/3; max (2+1)/2 = 1.5;
       * ARI = (1 - 1/3) / (1.5 - 1/3) = 4/7 */
      {4, {0, 0, 1, 1}, {0, 0, 1, 2}, 4.0 / 7.0},
      /* (0,0)=2 (0,1)=1 (1,1)=1 (1,2)=2: sum C(nij,2) = 2; rows 3,3 -> 6;
       * columns 2,2,2 -> 3; expected 6*3/15 = 1.2; max 4.5;
       * ARI = 0.8 / 3.3 = 8/33 */
      {6, {0, 0, 0, 1, 1, 1}, {0, 0, 1, 1, 2, 2}, 8.0 / 33.0},
      /* crossed: no pair together in both; expected 2*2/6 = 2/3, max 2:
       * ARI = -2/3 / (4/3) = -1/2 */
      {4, {0, 0, 1, 1}, {0, 1, 0, 1}, -0.5},
      /* all together against all apart: expected 0, index 0 */
      {4, {5, 5, 5, 5}, {0, 1, 2, 3}, 0.0},
      /* both trivial and equal */
      {4, {2, 2, 2, 2}, {9, 9, 9, 9}, 1.0},
      {3, {0, 1, 2}, {4, 5, 6}, 1.0},
  };
  for (size_t r = 0; r < N_OF(rows); r++) {
    double got = cluster_ari(rows[r].n, rows[r].a, rows[r].b);
    if (!(fabs(got - rows[r].want) <= 1e-12))
      fail_msg("row %zu: ARI %.12g, want %.12g", r, got, rows[r].want);
    /* symmetric */
    assert_near(cluster_ari(rows[r].n, rows[r].b, rows[r].a), rows[r].want, 1e-12);
  }
  const int32_t neg[] = {0, -1, 1}, ok[] = {0, 1, 1};
  assert_true(isnan(cluster_ari(3, neg, ok)));
  assert_true(isnan(cluster_ari(3, ok, neg)));
}

static void test_cluster__ari_permuted_and_random(void **state) {
  enum { N = 20000, K = 10 };
  static int32_t a[N], b[N], c[N];
  static const int32_t rename[K] = {90, 3, 77, 0, 2147483647, 12, 5, 40000, 8, 1};
  uint64_t s = 5;
  for (size_t i = 0; i < N; i++) {
    a[i] = (int32_t)(splitmix64(&s) % K);
    b[i] = rename[a[i]]; /* the same partition under other labels */
    c[i] = (int32_t)(splitmix64(&s) % K);
  }
  assert_near(cluster_ari(N, a, b), 1.0, 1e-12);
  assert_near(cluster_ari(N, a, a), 1.0, 1e-12);
  /* independent labellings: expected index 0 */
  assert_near(cluster_ari(N, a, c), 0.0, 0.01);
  /* one point in ten moved to a random cluster: clearly between */
  memcpy(c, a, sizeof c);
  for (size_t i = 0; i < N; i += 10)
    c[i] = (int32_t)(splitmix64(&s) % K);
  double part = cluster_ari(N, a, c);
  assert_true(part > 0.7 && part < 0.95);
}

/* ---- Stable ids ---------------------------------------------------- */

static void test_cluster__stable_ids_by_hand(void **state) {
  static const struct {
    const char *what;
    size_t n;
    int k;
    int32_t label[12], old[12], want[3];
  } rows[] = {
      {"kept; newcomer-only cluster fresh above the largest old id", 9, 3,
       {1, 1, 1, 1, 0, 0, 0, 0, 2}, {3, 3, 3, 3, 5, 5, 5, 0, 0}, {5, 3, 6}},
      {"split: the larger half keeps the id", 6, 2,
       {0, 0, 0, 0, 1, 1}, {7, 7, 7, 7, 7, 7}, {7, 8}},
      {"merge: the larger old region gives its id", 7, 1,
       {0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 2, 2, 2, 2}, {2}},
      {"halves are not a majority: fresh ids", 12, 2,
       {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1}, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, {4, 5}},
      {"equal overlaps: the first cluster takes the id", 4, 2,
       {0, 0, 1, 1}, {4, 4, 4, 4}, {4, 5}},
      {"majority of the old region, minority of the new cluster", 10, 2,
       {0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, {9, 9, 0, 0, 0, 0, 0, 9, 0, 0}, {9, 10}},
      {"nothing old", 3, 3, {2, 0, 1}, {0, 0, 0}, {1, 2, 3}},
  };
  for (size_t r = 0; r < N_OF(rows); r++) {
    int32_t id_of[3] = {-1, -1, -1};
    struct gerr err;
    if (cluster_stable_ids(rows[r].n, rows[r].label, rows[r].k, rows[r].old, id_of, &err) != 0)
      fail_msg("%s: %s", rows[r].what, err.msg);
    for (int c = 0; c < rows[r].k; c++)
      if (id_of[c] != rows[r].want[c])
        fail_msg("%s: cluster %d got id %d, want %d", rows[r].what, c, id_of[c],
                 rows[r].want[c]);
  }
}

static void test_cluster__stable_ids_bad_input(void **state) {
  struct gerr err;
  int32_t id_of[2];
  const int32_t label[] = {0, 2}, okl[] = {0, 1}, old[] = {0, -3}, oko[] = {0, 0};
  assert_int_equal(cluster_stable_ids(2, label, 2, oko, id_of, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  assert_int_equal(cluster_stable_ids(2, okl, 2, old, id_of, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  assert_int_equal(cluster_stable_ids(2, okl, 0, oko, id_of, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  /* no fresh id left above the largest old one */
  const int32_t full[] = {INT32_MAX, 0};
  assert_int_equal(cluster_stable_ids(2, okl, 2, full, id_of, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
}

/* ---- Clustering ------------------------------------------------------ */

static void test_cluster__planted_regions_recovered(void **state) {
  struct points p;
  planted(&p, 0, 11);
  struct cluster_input in = points_input(&p);
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  struct cluster_result r;
  struct gerr err;
  if (cluster_run(&in, &cfg, &r, &err) != 0)
    fail_msg("cluster_run: %s", err.msg);
  assert_labels_valid(&r, p.n);
  double ari = cluster_ari(p.n, r.label, p.truth);
  printf("planted: %zu points, k chosen %d (of %d candidates), ARI %.3f, silhouette %.3f, "
         "median km %.1f, mix ratio %.3f\n", p.n, r.k, r.ncand, ari, r.silhouette,
         r.median_km, r.mix_variance_ratio);
  if (!(ari >= 0.8))
    fail_msg("ARI %.3f with k = %d, want >= 0.8", ari, r.k);
  /* the candidates: 600 points search k = 5 .. 74 (ceil(sqrt(600) / 2)
   * capped at 5, and ceil(3 sqrt(600))), ascending; 5 scores lowest */
  assert_true(r.ncand >= 10);
  assert_int_equal(r.cand_k[0], 5);
  assert_int_equal(r.cand_k[r.ncand - 1], 74);
  int best = 0;
  for (int c = 1; c < r.ncand; c++) {
    assert_true(r.cand_k[c] > r.cand_k[c - 1]);
    if (r.cand_score[c] < r.cand_score[best])
      best = c;
  }
  /* past 5 the score is flat (more regions only cut noise): 5, the
   * smallest within the tolerance, wins */
  assert_true(r.cand_score[0] <= r.cand_score[best] + 0.01);
  assert_int_equal(r.k_best, r.k);
  /* each recovered centroid sits inside its state: within 300 km of the
   * truth group's own centroid */
  for (int c = 0; c < r.k; c++) {
    size_t votes[N_OF(planted_states)] = {0};
    for (size_t i = 0; i < p.n; i++)
      if (r.label[i] == c)
        votes[p.truth[i]]++;
    size_t g = 0;
    for (size_t t = 1; t < N_OF(votes); t++)
      if (votes[t] > votes[g])
        g = t;
    double lat = 0, lng = 0;
    size_t m = 0;
    for (size_t i = 0; i < p.n; i++)
      if (p.truth[i] == (int32_t)g) {
        lat += p.lat[i];
        lng += p.lng[i];
        m++;
      }
    double km = gaz_km(r.centroid_lat[c], r.centroid_lng[c], lat / (double)m, lng / (double)m);
    if (!(km < 300.0))
      fail_msg("cluster %d centroid %.2f,%.2f is %.0f km from %s", c, r.centroid_lat[c],
               r.centroid_lng[c], km, planted_states[g]);
  }
  /* the product mix is far more alike within regions than by chance */
  assert_true(r.mix_variance_ratio < 0.5);
  cluster_result_free(&r);
  points_release(&p);
}

/* Nine states, some of them neighbours (Kerala and Karnataka, Rajasthan
 * and Gujarat, ...), each with its own pattern: 1,080 points search k from
 * 8, below the truth, and find 9. */
static void test_cluster__planted_nine_states(void **state) {
  struct points p;
  planted_in(&p, nine_states, N_OF(nine_states), 0, 18);
  struct cluster_input in = points_input(&p);
  struct cluster_result r;
  struct gerr err;
  if (cluster_run(&in, NULL, &r, &err) != 0)
    fail_msg("cluster_run: %s", err.msg);
  double ari = cluster_ari(p.n, r.label, p.truth);
  printf("nine states: %zu points, k chosen %d (candidates %d to %d), ARI %.3f\n", p.n, r.k,
         r.cand_k[0], r.cand_k[r.ncand - 1], ari);
  assert_true(r.cand_k[0] < (int)N_OF(nine_states));
  assert_int_equal(r.k, (int)N_OF(nine_states));
  assert_true(ari >= 0.95);
  cluster_result_free(&r);
  points_release(&p);
}

static void test_cluster__planted_blobs_recovered(void **state) {
  /* eight groups, some patterns alike in product (g and g + 5 share the
   * leading product) and told apart by channel, level and place */
  struct points p;
  blobs(&p, 21);
  struct cluster_input in = points_input(&p);
  struct cluster_result r;
  struct gerr err;
  if (cluster_run(&in, NULL, &r, &err) != 0)
    fail_msg("cluster_run: %s", err.msg);
  assert_labels_valid(&r, p.n);
  double ari = cluster_ari(p.n, r.label, p.truth);
  printf("blobs: %zu points, k chosen %d (candidates %d to %d), ARI %.3f, silhouette %.3f\n",
         p.n, r.k, r.cand_k[0], r.cand_k[r.ncand - 1], ari, r.silhouette);
  if (!(ari >= 0.8))
    fail_msg("ARI %.3f with k = %d, want >= 0.8", ari, r.k);
  assert_int_equal(r.k, (int)N_OF(blob_centre));
  assert_true(r.mix_variance_ratio < 0.5);
  /* place alone finds them as well; pattern alone too */
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.spatial_weight = 0.0;
  struct cluster_result q;
  assert_int_equal(cluster_run(&in, &cfg, &q, &err), 0);
  printf("blobs: pattern alone: k %d, ARI %.3f\n", q.k, cluster_ari(p.n, q.label, p.truth));
  assert_true(cluster_ari(p.n, q.label, p.truth) >= 0.8);
  cluster_result_free(&q);
  cluster_result_free(&r);
  points_release(&p);
}

static void test_cluster__deterministic(void **state) {
  struct points p;
  planted(&p, 0, 12);
  struct cluster_input in = points_input(&p);
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.seed = 42;
  struct cluster_result a, b, c, other;
  struct gerr err;
  assert_int_equal(cluster_run(&in, &cfg, &a, &err), 0);
  /* something else in between: no state carried over */
  struct cluster_config cfg2 = cfg;
  cfg2.seed = 7;
  cfg2.k = 9;
  assert_int_equal(cluster_run(&in, &cfg2, &other, &err), 0);
  assert_int_equal(other.k, 9);
  assert_labels_valid(&other, p.n);
  assert_int_equal(cluster_run(&in, &cfg, &b, &err), 0);
  assert_int_equal(a.k, b.k);
  assert_memory_equal(a.label, b.label, p.n * sizeof *a.label);
  assert_memory_equal(a.centroid_lat, b.centroid_lat, (size_t)a.k * sizeof(double));
  assert_true(a.silhouette == b.silhouette);
  assert_true(a.median_km == b.median_km);
  assert_true(a.mix_variance_ratio == b.mix_variance_ratio);
  assert_int_equal(a.ncand, b.ncand);
  assert_memory_equal(a.cand_score, b.cand_score, (size_t)a.ncand * sizeof(double));
  /* given the chosen k, the same clustering: the choice does not disturb
   * the final run */
  cfg.k = a.k;
  assert_int_equal(cluster_run(&in, &cfg, &c, &err), 0);
  assert_int_equal(c.ncand, 0);
  assert_memory_equal(a.label, c.label, p.n * sizeof *a.label);
  /* labels are numbered in order of first appearance */
  int32_t next = 0;
  for (size_t i = 0; i < p.n; i++) {
    assert_true(a.label[i] <= next);
    if (a.label[i] == next)
      next++;
  }
  cluster_result_free(&a);
  cluster_result_free(&b);
  cluster_result_free(&c);
  cluster_result_free(&other);
  points_release(&p);

  /* big enough for the restarts to run on two threads: still the same */
  country(&p, 3, -1, 17);
  in = points_input(&p);
  cluster_config_defaults(&cfg);
  cfg.k = 40;
  assert_int_equal(cluster_run(&in, &cfg, &a, &err), 0);
  assert_int_equal(cluster_run(&in, &cfg, &b, &err), 0);
  assert_labels_valid(&a, p.n);
  assert_memory_equal(a.label, b.label, p.n * sizeof *a.label);
  assert_true(a.silhouette == b.silhouette);
  cluster_result_free(&a);
  cluster_result_free(&b);
  points_release(&p);
}

static void test_cluster__compact_on_the_sphere(void **state) {
  /* 1 pincode in 6 of the whole country, no pattern at all, 30 regions */
  struct points p;
  country(&p, 6, -1, 13);
  struct cluster_input in = points_input(&p);
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.k = 30;
  struct cluster_result r;
  struct gerr err;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  assert_labels_valid(&r, p.n);
  int32_t *perm = malloc(p.n * sizeof *perm);
  assert_non_null(perm);
  memcpy(perm, r.label, p.n * sizeof *perm);
  shuffle(perm, p.n, 99);
  double random_km = median_km_of(&p, perm, r.k), own_km = median_km_of(&p, r.label, r.k);
  printf("compact: %zu points, k = 30: median km %.1f (random partition %.1f), "
         "mix ratio %.3f\n", p.n, r.median_km, random_km, r.mix_variance_ratio);
  assert_near(r.median_km, own_km, 1e-6); /* the figure is what it says */
  assert_true(r.median_km < 0.5 * random_km);
  /* and with place alone (no pattern columns) tighter still */
  struct cluster_input place = in;
  place.nf = 0;
  place.feat = NULL;
  place.mix_len = 0;
  struct cluster_result q;
  assert_int_equal(cluster_run(&place, &cfg, &q, &err), 0);
  printf("compact: place alone: median km %.1f\n", q.median_km);
  assert_true(q.median_km < 0.35 * random_km);
  assert_true(q.median_km <= r.median_km);
  assert_true(isnan(q.mix_variance_ratio)); /* no mix columns */
  free(perm);
  cluster_result_free(&r);
  cluster_result_free(&q);
  points_release(&p);
}

static void test_cluster__mix_ratio_patterned_and_not(void **state) {
  /* pattern-free: the mix is noise, whatever the place. The clustering
   * still uses the pattern columns, so k-means finds a little "structure"
   * in noise; it must stay near 1. */
  struct points p;
  country(&p, 6, -1, 14);
  struct cluster_input in = points_input(&p);
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.k = 30;
  struct cluster_result r;
  struct gerr err;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  /* mostly by place: closer to 1 still */
  cfg.spatial_weight = 4.0;
  struct cluster_result w;
  assert_int_equal(cluster_run(&in, &cfg, &w, &err), 0);
  printf("mix ratio, pattern-free: %.3f (spatial_weight 1), %.3f (spatial_weight 4)\n",
         r.mix_variance_ratio, w.mix_variance_ratio);
  assert_true(r.mix_variance_ratio > 0.85 && r.mix_variance_ratio < 1.05);
  assert_true(w.mix_variance_ratio > 0.95 && w.mix_variance_ratio < 1.05);
  cluster_result_free(&r);
  cluster_result_free(&w);
  points_release(&p);

  /* patterned: the planted states */
  planted(&p, 0, 15);
  in = points_input(&p);
  cluster_config_defaults(&cfg);
  cfg.k = 5;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  printf("mix ratio, planted: %.3f\n", r.mix_variance_ratio);
  assert_true(r.mix_variance_ratio < 0.5);
  /* k = 1: one cluster is every partition of its size */
  cfg.k = 1;
  assert_int_equal(cluster_run(&in, &cfg, &w, &err), 0);
  assert_near(w.mix_variance_ratio, 1.0, 1e-9);
  assert_near(w.silhouette, 0.0, 0.0);
  cluster_result_free(&r);
  cluster_result_free(&w);
  points_release(&p);
}

static void test_cluster__stable_ids_survive_new_points(void **state) {
  struct points a, b;
  planted(&a, 0, 16);
  planted(&b, PER_STATE / 20, 16); /* the same points and patterns, 5% more */
  struct cluster_input ina = points_input(&a), inb = points_input(&b);
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  struct cluster_result ra, rb;
  struct gerr err;
  cfg.seed = 1;
  assert_int_equal(cluster_run(&ina, &cfg, &ra, &err), 0);
  cfg.seed = 2;
  assert_int_equal(cluster_run(&inb, &cfg, &rb, &err), 0);

  int32_t *old = calloc(b.n, sizeof *old), *first_id = calloc(a.n, sizeof *first_id);
  int32_t *ida = malloc((size_t)ra.k * sizeof *ida), *idb = malloc((size_t)rb.k * sizeof *idb);
  assert_true(old && first_id && ida && idb);
  assert_int_equal(cluster_stable_ids(a.n, ra.label, ra.k, old, ida, &err), 0);
  for (int c = 0; c < ra.k; c++)
    assert_int_equal(ida[c], c + 1); /* nothing old: 1 .. k */
  /* b holds a's points and the newcomers, in gazetteer order per state */
  size_t matched = 0;
  for (size_t j = 0; j < b.n; j++)
    for (size_t i = 0; i < a.n; i++)
      if (a.pin[i] == b.pin[j]) {
        old[j] = first_id[i] = ida[ra.label[i]];
        matched++;
        break;
      }
  assert_int_equal(matched, a.n);
  assert_int_equal(cluster_stable_ids(b.n, rb.label, rb.k, old, idb, &err), 0);
  for (int c = 0; c < rb.k; c++) {
    assert_true(idb[c] >= 1);
    for (int t = 0; t < c; t++)
      assert_true(idb[t] != idb[c]);
  }
  size_t kept = 0;
  for (size_t j = 0; j < b.n; j++)
    kept += old[j] != 0 && idb[rb.label[j]] == old[j];
  printf("stable ids: k %d then %d, %zu of %zu points keep their id\n", ra.k, rb.k, kept, a.n);
  assert_true(kept * 10 >= a.n * 9);
  free(old);
  free(first_id);
  free(ida);
  free(idb);
  cluster_result_free(&ra);
  cluster_result_free(&rb);
  points_release(&a);
  points_release(&b);
}

/* ---- At customer scale (sales-like data) ------------------------------- */

static void assert_ids_valid(const struct cluster_result *r) {
  for (int c = 0; c < r->k; c++) {
    assert_true(r->id[c] >= 1);
    for (int t = 0; t < c; t++)
      if (r->id[t] == r->id[c])
        fail_msg("clusters %d and %d share id %d", t, c, r->id[c]);
  }
}

/* docs/rules.md §4's goal at the three scales: the median distance to the centroid
 * and the product-mix variance within regions each at most 0.35 of a random
 * partition's with the same k, k chosen from the data. */
static void test_cluster__customer_scales(void **state) {
  static const struct {
    size_t n;
    uint64_t seed;
  } rows[] = {{100, 1}, {100, 2}, {100, 3}, {1000, 1}, {1000, 2}, {1000, 3}, {18000, 1}};
  for (size_t t = 0; t < N_OF(rows); t++) {
    struct sales p;
    sales_make(&p, rows[t].n, rows[t].seed, 0.0, 0);
    struct cluster_input in = sales_input(&p, NULL);
    struct cluster_config cfg = service_config(rows[t].seed);
    struct cluster_result r;
    struct gerr err;
    if (cluster_run(&in, &cfg, &r, &err) != 0)
      fail_msg("cluster_run: %s", err.msg);
    assert_labels_valid(&r, p.n);
    assert_ids_valid(&r);
    printf("%zu pincodes in %zu states (seed %llu): k %d of %d-%d, median km %.1f / random "
           "%.1f = %.3f, mix ratio %.3f, silhouette %.3f\n",
           p.n, distinct_states(&p), (unsigned long long)rows[t].seed, r.k, r.cand_k[0],
           r.cand_k[r.ncand - 1], r.median_km, r.median_km_random, r.median_km_ratio,
           r.mix_variance_ratio, r.silhouette);
    if (!(r.median_km_ratio <= 0.35) || !(r.mix_variance_ratio <= 0.35))
      fail_msg("%zu pincodes, seed %llu: distance ratio %.3f, mix ratio %.3f, want <= 0.35",
               p.n, (unsigned long long)rows[t].seed, r.median_km_ratio, r.mix_variance_ratio);
    assert_true(r.k >= 5);
    /* the figures are what they say: the random partitions' median km is
     * near that of one shuffle of the labels, measured here */
    int32_t *perm = malloc(p.n * sizeof *perm);
    assert_non_null(perm);
    memcpy(perm, r.label, p.n * sizeof *perm);
    shuffle(perm, p.n, 99 + t);
    struct points q = {.n = p.n, .lat = p.lat, .lng = p.lng};
    double mine = median_km_of(&q, perm, r.k);
    assert_true(fabs(mine - r.median_km_random) <= 0.15 * mine);
    assert_near(r.median_km_ratio, r.median_km / r.median_km_random, 1e-12);
    free(perm);
    cluster_result_free(&r);
    sales_release(&p);
  }
}

/* docs/rules.md §4: ids stay. The same pincodes with 5% more sales each and 5% more
 * pincodes, clustered from the first run's regions under another seed:
 * at least 95% of the first run's pincodes keep their id. */
static void test_cluster__ids_stay_with_more_data(void **state) {
  static const struct {
    size_t n;
    uint64_t seed;
  } rows[] = {{100, 1}, {100, 2}, {100, 3}, {1000, 1}, {1000, 2}, {1000, 3}};
  for (size_t t = 0; t < N_OF(rows); t++) {
    struct sales a, b;
    sales_make(&a, rows[t].n, rows[t].seed, 0.0, 0);
    sales_make(&b, rows[t].n, rows[t].seed, 0.05, rows[t].n / 20);
    struct cluster_input ina = sales_input(&a, NULL);
    struct cluster_config cfg = service_config(rows[t].seed);
    struct cluster_result ra, rb;
    struct gerr err;
    assert_int_equal(cluster_run(&ina, &cfg, &ra, &err), 0);
    assert_int_equal(ra.warm, 0);
    assert_int_equal(ra.k_prev, 0);
    for (int c = 0; c < ra.k; c++)
      assert_int_equal(ra.id[c], c + 1); /* nothing before: 1 .. k */
    int32_t *prev = ids_by_pincode(&a, &ra, &b);
    struct cluster_input inb = sales_input(&b, prev);
    cfg.seed = rows[t].seed + 1000;
    assert_int_equal(cluster_run(&inb, &cfg, &rb, &err), 0);
    assert_labels_valid(&rb, b.n);
    assert_ids_valid(&rb);
    size_t kept = 0;
    for (size_t j = 0; j < b.n; j++)
      kept += prev[j] != 0 && rb.id[rb.label[j]] == prev[j];
    printf("%zu then %zu pincodes (seed %llu): k %d then %d (criterion's best %d), warm %d, "
           "%zu of %zu keep their id (%.1f%%); ratios %.3f, %.3f then %.3f, %.3f\n",
           a.n, b.n, (unsigned long long)rows[t].seed, ra.k, rb.k, rb.k_best, rb.warm, kept, a.n,
           100.0 * (double)kept / (double)a.n, ra.median_km_ratio, ra.mix_variance_ratio,
           rb.median_km_ratio, rb.mix_variance_ratio);
    assert_true(rb.median_km_ratio <= 0.35 && rb.mix_variance_ratio <= 0.35);
    assert_int_equal(rb.warm, 1);
    assert_int_equal(rb.k_prev, ra.k);
    assert_int_equal(rb.prev_points, a.n);
    assert_int_equal(rb.prev_kept, kept);
    if (!(kept * 100 >= a.n * 95))
      fail_msg("%zu pincodes, seed %llu: %zu of %zu keep their id, want 95%%", a.n,
               (unsigned long long)rows[t].seed, kept, a.n);
    free(prev);
    cluster_result_free(&ra);
    cluster_result_free(&rb);
    sales_release(&a);
    sales_release(&b);
  }
}

/* docs/rules.md §4: a few dozen pincodes across several states still get several
 * regions; with a demand pattern and without one. */
static void test_cluster__never_two_across_states(void **state) {
  static const size_t sizes[] = {30, 50, 100, 300, 1236};
  for (size_t t = 0; t < N_OF(sizes); t++)
    for (uint64_t seed = 1; seed <= 3; seed++) {
      struct sales p;
      sales_make(&p, sizes[t], seed, 0.0, 0);
      assert_true(distinct_states(&p) >= 5);
      struct cluster_input in = sales_input(&p, NULL);
      struct cluster_config cfg = service_config(seed);
      struct cluster_result r, q;
      struct gerr err;
      assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
      in.nf = 0; /* place alone */
      in.feat = NULL;
      in.feat_weight = NULL;
      in.mix_len = 0;
      assert_int_equal(cluster_run(&in, &cfg, &q, &err), 0);
      printf("%zu pincodes in %zu states (seed %llu): k %d; place alone %d\n", p.n,
             distinct_states(&p), (unsigned long long)seed, r.k, q.k);
      assert_true(r.k >= 3);
      assert_true(q.k >= 3);
      cluster_result_free(&r);
      cluster_result_free(&q);
      sales_release(&p);
    }
}

/* Warm starts: from the same data the same regions; with k given above or
 * below the previous one, splits and merges that keep most ids; previous
 * regions that no longer fit, or too little of them present: a cold start
 * with ids still matched; and the same result for the same input and
 * seed. */
static void test_cluster__warm_start(void **state) {
  struct sales p;
  sales_make(&p, 1000, 4, 0.0, 0);
  struct cluster_input in = sales_input(&p, NULL);
  struct cluster_config cfg = service_config(4);
  struct cluster_result r0, r;
  struct gerr err;
  assert_int_equal(cluster_run(&in, &cfg, &r0, &err), 0);
  int32_t *prev = ids_by_pincode(&p, &r0, &p);
  in.prev_id = prev;
  cfg.seed = 5;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  printf("warm, same data: k %d then %d, %zu of %zu keep their id\n", r0.k, r.k, r.prev_kept,
         p.n);
  assert_int_equal(r.warm, 1);
  assert_int_equal(r.k, r0.k);
  assert_true(r.prev_kept * 100 >= p.n * 99);
  assert_true(cluster_ari(p.n, r.label, r0.label) > 0.97);
  cluster_result_free(&r);

  static const int dk[] = {+6, -6};
  for (size_t t = 0; t < N_OF(dk); t++) {
    struct cluster_result a, b;
    cfg.k = r0.k + dk[t];
    assert_int_equal(cluster_run(&in, &cfg, &a, &err), 0);
    assert_int_equal(cluster_run(&in, &cfg, &b, &err), 0); /* deterministic */
    assert_memory_equal(a.label, b.label, p.n * sizeof *a.label);
    assert_memory_equal(a.id, b.id, (size_t)a.k * sizeof *a.id);
    assert_labels_valid(&a, p.n);
    assert_ids_valid(&a);
    int fresh = 0;
    for (int c = 0; c < a.k; c++)
      fresh += a.id[c] > r0.k;
    printf("warm, k %d given: %zu of %zu keep their id, %d fresh ids\n", cfg.k, a.prev_kept,
           p.n, fresh);
    assert_int_equal(a.k, cfg.k);
    assert_true(a.prev_kept * 100 >= p.n * 75);
    if (dk[t] > 0)
      assert_true(fresh >= dk[t]); /* the new regions have new ids */
    else
      assert_int_equal(fresh, 0);
    cluster_result_free(&a);
    cluster_result_free(&b);
  }

  /* previous regions that no longer fit (drawn at random): the warm run's
   * sum of squares is far above a cold run's, and the cold run wins */
  uint64_t rs = 77;
  for (size_t i = 0; i < p.n; i++)
    prev[i] = 1 + (int32_t)(splitmix64(&rs) % (uint64_t)r0.k);
  cfg.k = 0;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  printf("random previous regions: warm %d, k %d, ratios %.3f, %.3f\n", r.warm, r.k,
         r.median_km_ratio, r.mix_variance_ratio);
  assert_int_equal(r.warm, 0);
  assert_true(r.median_km_ratio <= 0.35 && r.mix_variance_ratio <= 0.35);
  assert_ids_valid(&r);
  cluster_result_free(&r);

  /* a third of the points with a previous region: no warm start, but the
   * ids of the regions that stayed are matched */
  for (size_t i = 0; i < p.n; i++)
    if (i % 3)
      prev[i] = 0;
  cfg.k = 0;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  assert_int_equal(r.warm, 0);
  assert_int_equal(r.prev_points, (p.n + 2) / 3);
  assert_ids_valid(&r);
  printf("a third with previous regions: cold, %zu of %zu keep their id\n", r.prev_kept,
         r.prev_points);
  cluster_result_free(&r);
  free(prev);
  cluster_result_free(&r0);
  sales_release(&p);
}

static void test_cluster__spherical_centroid_and_median(void **state) {
  /* two pairs, one astride the antimeridian: its centroid is at 180°, not
   * at 0° as a mean of the longitudes would put it */
  const double lat[] = {0.0, 0.0, 10.0, 10.0}, lng[] = {179.5, -179.5, 0.0, 1.0};
  struct cluster_input in = {.n = 4, .lat = lat, .lng = lng};
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.k = 2;
  struct cluster_result r;
  struct gerr err;
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  assert_int_equal(r.label[0], 0);
  assert_int_equal(r.label[1], 0);
  assert_int_equal(r.label[2], 1);
  assert_int_equal(r.label[3], 1);
  assert_near(r.centroid_lat[0], 0.0, 1e-9);
  assert_near(fabs(r.centroid_lng[0]), 180.0, 1e-9);
  assert_near(r.centroid_lng[1], 0.5, 1e-9);
  assert_true(r.centroid_lat[1] > 10.0 && r.centroid_lat[1] < 10.01); /* a great circle bows */
  double d0 = gaz_km(0.0, 179.5, 0.0, 180.0);
  double d2 = gaz_km(10.0, 0.0, r.centroid_lat[1], 0.5);
  assert_near(d0, 55.597, 0.01);
  assert_near(r.median_km, 0.5 * (d0 + d2), 1e-9);
  assert_true(isnan(r.mix_variance_ratio));
  cluster_result_free(&r);
}

static void test_cluster__edge_sizes(void **state) {
  /* k = n: every point alone; n = 2 chosen automatically; duplicates */
  const double lat[] = {12.0, 12.0, 12.0, 13.0, 13.0}, lng[] = {77.0, 77.0, 77.0, 78.0, 78.0};
  struct cluster_input in = {.n = 5, .lat = lat, .lng = lng};
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  struct cluster_result r;
  struct gerr err;
  cfg.k = 5; /* more clusters than distinct places: none left empty */
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  assert_labels_valid(&r, 5);
  assert_near(r.median_km, 0.0, 1e-9);
  cluster_result_free(&r);
  cfg.k = 0; /* no pattern: the criterion is flat, the smallest k wins */
  assert_int_equal(cluster_run(&in, &cfg, &r, &err), 0);
  assert_int_equal(r.k, 2);
  assert_int_equal(r.ncand, 4); /* 2 .. 5 */
  assert_true(r.label[0] == r.label[2] && r.label[3] == r.label[4] &&
              r.label[0] != r.label[3]);
  assert_near(r.silhouette, 1.0, 1e-9); /* clusters of identical points, apart */
  cluster_result_free(&r);
  in.n = 2;
  in.lat = lat + 2;
  in.lng = lng + 2;
  assert_int_equal(cluster_run(&in, NULL, &r, &err), 0); /* NULL: the defaults */
  assert_int_equal(r.k, 2);
  cluster_result_free(&r);
}

static void test_cluster__bad_input(void **state) {
  const double lat[] = {12.0, 13.0, 14.0}, lng[] = {77.0, 78.0, 79.0};
  const double nanlat[] = {12.0, NAN, 14.0}, nanlng[] = {77.0, 78.0, NAN},
               far[] = {12.0, 91.0, 14.0};
  double feat[3 * 2] = {0.5, 0.5, 0.2, 0.8, 0.9, 0.1};
  double badfeat[3 * 2] = {0.5, 0.5, 0.2, INFINITY, 0.9, 0.1};
  const struct cluster_input good = {.n = 3, .lat = lat, .lng = lng, .nf = 2, .feat = feat,
                                     .mix_off = 0, .mix_len = 2};
  struct cluster_config defaults;
  cluster_config_defaults(&defaults);
  static const struct {
    const char *what;
    int field, value;
  } cfg_rows[] = {
      {"k > n", 0, 4}, {"k < 0", 0, -1}, {"kmax > n", 1, 4}, {"kmin > kmax", 2, 3},
      {"restarts 0", 3, 0}, {"max_iter 0", 4, 0},
  };
  struct cluster_result r;
  struct gerr err;
  for (size_t t = 0; t < N_OF(cfg_rows); t++) {
    struct cluster_config cfg = defaults;
    switch (cfg_rows[t].field) {
    case 0: cfg.k = cfg_rows[t].value; break;
    case 1: cfg.kmax = cfg_rows[t].value; break;
    case 2: cfg.kmin = cfg_rows[t].value; cfg.kmax = 2; break;
    case 3: cfg.restarts = cfg_rows[t].value; break;
    default: cfg.max_iter = cfg_rows[t].value; break;
    }
    err.code = GERR_OK;
    if (cluster_run(&good, &cfg, &r, &err) != -1 || err.code != GERR_INVALID_INPUT)
      fail_msg("%s: accepted", cfg_rows[t].what);
    assert_null(r.label);
  }
  const double weights[] = {-1.0, NAN, INFINITY};
  for (size_t t = 0; t < N_OF(weights); t++) {
    struct cluster_config cfg = defaults;
    cfg.spatial_weight = weights[t];
    assert_int_equal(cluster_run(&good, &cfg, &r, &err), -1);
    assert_int_equal(err.code, GERR_INVALID_INPUT);
    const double fw[2] = {1.0, weights[t]}; /* a column's weight */
    struct cluster_input wi = good;
    wi.feat_weight = fw;
    assert_int_equal(cluster_run(&wi, &defaults, &r, &err), -1);
    assert_int_equal(err.code, GERR_INVALID_INPUT);
  }
  const int32_t bad_prev[] = {1, -2, 0};
  struct cluster_input pi = good;
  pi.prev_id = bad_prev;
  assert_int_equal(cluster_run(&pi, &defaults, &r, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  assert_null(r.id);

  struct cluster_input in[9];
  for (size_t t = 0; t < N_OF(in); t++)
    in[t] = good;
  in[0].n = 1;
  in[1].n = 0;
  in[2].lat = nanlat;
  in[3].lng = nanlng;
  in[4].lat = far;
  in[5].feat = badfeat;
  in[6].mix_len = 3; /* beyond nf */
  in[7].mix_off = 1;
  in[7].mix_len = 2;
  in[8].lat = NULL;
  for (size_t t = 0; t < N_OF(in); t++) {
    err.code = GERR_OK;
    if (cluster_run(&in[t], &defaults, &r, &err) != -1 || err.code != GERR_INVALID_INPUT)
      fail_msg("input %zu: accepted", t);
    assert_null(r.label);
    assert_null(r.centroid_lat);
  }
  /* and the good one is fine */
  assert_int_equal(cluster_run(&good, &defaults, &r, &err), 0);
  cluster_result_free(&r);
  cluster_result_free(&r); /* twice is harmless */
  cluster_result_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cluster__ari_by_hand),
      cmocka_unit_test(test_cluster__ari_permuted_and_random),
      cmocka_unit_test(test_cluster__stable_ids_by_hand),
      cmocka_unit_test(test_cluster__stable_ids_bad_input),
      cmocka_unit_test(test_cluster__planted_regions_recovered),
      cmocka_unit_test(test_cluster__planted_nine_states),
      cmocka_unit_test(test_cluster__planted_blobs_recovered),
      cmocka_unit_test(test_cluster__deterministic),
      cmocka_unit_test(test_cluster__compact_on_the_sphere),
      cmocka_unit_test(test_cluster__mix_ratio_patterned_and_not),
      cmocka_unit_test(test_cluster__stable_ids_survive_new_points),
      cmocka_unit_test(test_cluster__customer_scales),
      cmocka_unit_test(test_cluster__ids_stay_with_more_data),
      cmocka_unit_test(test_cluster__never_two_across_states),
      cmocka_unit_test(test_cluster__warm_start),
      cmocka_unit_test(test_cluster__spherical_centroid_and_median),
      cmocka_unit_test(test_cluster__edge_sizes),
      cmocka_unit_test(test_cluster__bad_input),
  };
  return cmocka_run_group_tests_name("cluster", tests, setup, teardown);
}
