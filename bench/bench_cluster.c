/* Regions clustering (src/ml/cluster.c, docs/regions.md) with the weights
 * the service uses (src/ml/regions.c).
 *
 * 1. Every pincode of the embedded gazetteer (18,747), with synthetic
 *    demand patterns: a product mix of 6 shares and a channel mix of 2 that
 *    drift smoothly across the country (24 random centres of influence), a
 *    log level that grows with how urban the pincode is, and a trend; each
 *    with per-pincode noise. Times the run that chooses k, the run given
 *    that k and one at the top of the range (3 sqrt(n)); prints k, the
 *    silhouette, the median km to the centroid against random partitions,
 *    the mix ratio (and that of the noise-free mix the patterns were drawn
 *    from), and how many pincodes keep their region id when 5% of them join
 *    later.
 * 2. Sales-like data at 100, 1,000 and 18,000 pincodes with sales (as in
 *    tests/unit/test_cluster.c: pincodes drawn from the gazetteer, product
 *    preferences by region, state, district and pincode, shares counted
 *    from sales): k, both ratios against random partitions and the time,
 *    then the same pincodes with 5% more sales and 5% more pincodes
 *    clustered from the first run's regions: how many keep their id.
 *   bench_cluster [RUNS] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "gromo/cluster.h"
#include "gromo/gazetteer.h"

#define PRODUCTS 6
#define CHANNELS 2
#define NF (PRODUCTS + CHANNELS + 2)
#define CENTRES 24
#define INFLUENCE_KM 350.0
/* the service's weights (src/ml/regions.c) */
#define PLACE_WEIGHT 1.5
#define SIDE_WEIGHT 0.35

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rng_normal(uint64_t *s) {
  double u = rng_unit_open(s), v = rng_unit_open(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Patterns of the n pincodes: feat is n x NF (product shares, channel
 * shares, log level, trend). */
static void make_patterns(const struct gaz *g, size_t n, double *feat, double *clean,
                          uint64_t seed) {
  double clat[CENTRES], clng[CENTRES], prod[CENTRES][PRODUCTS], online[CENTRES],
      trend[CENTRES];
  for (int c = 0; c < CENTRES; c++) {
    const struct gaz_entry *e = gaz_at(g, (size_t)(splitmix64(&seed) % n));
    clat[c] = e->lat;
    clng[c] = e->lng;
    for (int p = 0; p < PRODUCTS; p++)
      prod[c][p] = 1.2 * rng_normal(&seed);
    online[c] = 0.8 * rng_normal(&seed);
    trend[c] = 0.1 * rng_normal(&seed);
  }
  for (size_t i = 0; i < n; i++) {
    const struct gaz_entry *e = gaz_at(g, i);
    double w[CENTRES], wsum = 0.0;
    for (int c = 0; c < CENTRES; c++) {
      double km = gaz_km(e->lat, e->lng, clat[c], clng[c]);
      w[c] = exp(-0.5 * (km / INFLUENCE_KM) * (km / INFLUENCE_KM)) + 1e-9;
      wsum += w[c];
    }
    double z[PRODUCTS], zc[PRODUCTS], zmax = -INFINITY, zcmax = -INFINITY, on = 0.0, tr = 0.0;
    for (int p = 0; p < PRODUCTS; p++) {
      z[p] = 0.0;
      for (int c = 0; c < CENTRES; c++)
        z[p] += w[c] * prod[c][p];
      zc[p] = z[p] / wsum;
      z[p] = zc[p] + 0.35 * rng_normal(&seed);
      zmax = fmax(zmax, z[p]);
      zcmax = fmax(zcmax, zc[p]);
    }
    double *fc = clean + i * PRODUCTS, zcs = 0.0;
    for (int p = 0; p < PRODUCTS; p++)
      zcs += fc[p] = exp(zc[p] - zcmax);
    for (int p = 0; p < PRODUCTS; p++)
      fc[p] /= zcs;
    for (int c = 0; c < CENTRES; c++) {
      on += w[c] * online[c];
      tr += w[c] * trend[c];
    }
    double *f = feat + i * NF, zs = 0.0;
    for (int p = 0; p < PRODUCTS; p++)
      zs += f[p] = exp(z[p] - zmax);
    for (int p = 0; p < PRODUCTS; p++)
      f[p] /= zs;
    double o = 1.0 / (1.0 + exp(-(on / wsum + 0.6 * ((double)e->tier - 1.0) +
                                  0.4 * rng_normal(&seed))));
    f[PRODUCTS] = o;
    f[PRODUCTS + 1] = 1.0 - o;
    f[PRODUCTS + 2] = 1.0 + 0.8 * (double)e->tier + 0.3 * log1p(e->offices) +
                      0.4 * rng_normal(&seed);
    f[PRODUCTS + 3] = tr / wsum + 0.05 * rng_normal(&seed);
  }
}

/* Within-cluster sum of squares of in's mix columns over that of random
 * partitions of the same sizes (8 of them). */
static double within(const struct cluster_input *in, const int32_t *label, int k) {
  size_t ml = in->mix_len;
  double *mean = calloc((size_t)k * ml, sizeof *mean), w = 0.0;
  size_t *cnt = calloc((size_t)k, sizeof *cnt);
  if (!mean || !cnt)
    exit(1);
  for (size_t i = 0; i < in->n; i++) {
    cnt[label[i]]++;
    for (size_t t = 0; t < ml; t++)
      mean[(size_t)label[i] * ml + t] += in->feat[i * in->nf + in->mix_off + t];
  }
  for (int c = 0; c < k; c++)
    for (size_t t = 0; t < ml; t++)
      mean[(size_t)c * ml + t] /= (double)cnt[c];
  for (size_t i = 0; i < in->n; i++)
    for (size_t t = 0; t < ml; t++) {
      double e = in->feat[i * in->nf + in->mix_off + t] - mean[(size_t)label[i] * ml + t];
      w += e * e;
    }
  free(mean);
  free(cnt);
  return w;
}

static double mix_ratio_of(const struct cluster_input *in, const int32_t *label, int k,
                           uint64_t seed) {
  int32_t *perm = malloc(in->n * sizeof *perm);
  if (!perm)
    exit(1);
  memcpy(perm, label, in->n * sizeof *perm);
  double wr = 0.0;
  for (int t = 0; t < 8; t++) {
    for (size_t i = in->n - 1; i > 0; i--) {
      size_t j = (size_t)(splitmix64(&seed) % (i + 1));
      int32_t x = perm[i];
      perm[i] = perm[j];
      perm[j] = x;
    }
    wr += within(in, perm, k) / 8.0;
  }
  free(perm);
  return within(in, label, k) / wr;
}

/* ---- Sales-like data (as tests/unit/test_cluster.c makes it) ---------- */

#define SP 4
#define SC 2
#define SNF (SP + SC + 2)

static uint64_t mix64(uint64_t z) { return rng_mix64(z + RNG_GOLDEN); }
static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return mix64(mix64(mix64(a) ^ b) ^ c); }
static double hash_unit(uint64_t h) { return ((double)(h >> 11) + 0.5) * 0x1.0p-53; }
static double hash_normal(uint64_t a, uint64_t b, uint64_t c) {
  double u = hash_unit(hash3(a, b, c)), v = hash_unit(hash3(a, b, c ^ 0x55555555ULL));
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static uint64_t hash_str(const char *t) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *t; t++)
    h = (h ^ (unsigned char)*t) * 0x100000001b3ULL;
  return h;
}
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
static int count_draws(uint64_t *s, int m, double p) {
  int c = 0;
  for (int i = 0; i < m; i++) {
    *s = mix64(*s);
    c += hash_unit(*s) < p;
  }
  return c;
}

static void sales_pattern(const struct gaz_entry *e, uint64_t seed, double more, double *f) {
  static const double base[SP] = {0.3, 0.0, -0.2, -0.6};
  static const double per_tier[SP] = {-0.25, 0.35, 0.1, -0.3};
  uint64_t pin = (uint64_t)e->pincode, st = hash_str(e->state);
  uint64_t di = hash_str(e->district) ^ st;
  double logit[SP], top = -INFINITY, share[SP], total = 0.0;
  for (int p = 0; p < SP; p++) {
    logit[p] = base[p] + per_tier[p] * ((double)e->tier - 1.5) +
               0.8 * smooth_field(seed, 100 + (uint64_t)p, e->lat, e->lng) +
               0.5 * hash_normal(seed, st, 200 + (uint64_t)p) +
               0.2 * hash_normal(seed, di, 300 + (uint64_t)p) +
               0.1 * hash_normal(seed, pin, 400 + (uint64_t)p);
    top = fmax(top, logit[p]);
  }
  for (int p = 0; p < SP; p++)
    total += share[p] = exp(logit[p] - top);
  double sales = 150.0 * (0.6 + 0.4 * (double)e->tier) * exp(0.6 * hash_normal(seed, pin, 1));
  int m = (int)fmax(3.0, round(sales)), m2 = (int)round((double)m * more);
  uint64_t s = hash3(seed, pin, 2), s2 = hash3(seed, pin, 22);
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
  f[SP + 2] = log1p((double)(m + m2) / 13.0);
  double trend = 0.2 * smooth_field(seed, 600, e->lat, e->lng) + 0.1 * hash_normal(seed, di, 601);
  int half = m / 2, recent = count_draws(&s, half, 0.5 + 0.25 * tanh(trend));
  f[SP + 3] = half ? (double)(2 * recent - half) / (double)half : 0.0;
}

struct sales {
  size_t n;
  double *lat, *lng, *feat;
  int32_t *pin;
};

static uint64_t *pick_key;
static int cmp_pick(const void *a, const void *b) {
  uint64_t x = pick_key[*(const size_t *)a], y = pick_key[*(const size_t *)b];
  return (x > y) - (x < y);
}
static int cmp_index(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

static void sales_make(const struct gaz *g, struct sales *p, size_t n, uint64_t seed, double more,
                       size_t extra) {
  size_t all = gaz_count(g), m = n + extra < all ? n + extra : all;
  size_t *idx = malloc(all * sizeof *idx);
  pick_key = malloc(all * sizeof *pick_key);
  if (!idx || !pick_key)
    exit(1);
  for (size_t i = 0; i < all; i++) {
    idx[i] = i;
    pick_key[i] = hash3(seed, 7, (uint64_t)gaz_at(g, i)->pincode);
  }
  qsort(idx, all, sizeof *idx, cmp_pick);
  qsort(idx, m, sizeof *idx, cmp_index);
  p->n = m;
  p->lat = malloc(m * sizeof *p->lat);
  p->lng = malloc(m * sizeof *p->lng);
  p->feat = malloc(m * SNF * sizeof *p->feat);
  p->pin = malloc(m * sizeof *p->pin);
  if (!p->lat || !p->lng || !p->feat || !p->pin)
    exit(1);
  for (size_t j = 0; j < m; j++) {
    const struct gaz_entry *e = gaz_at(g, idx[j]);
    p->lat[j] = e->lat;
    p->lng[j] = e->lng;
    p->pin[j] = e->pincode;
    sales_pattern(e, seed, more, p->feat + j * SNF);
  }
  free(idx);
  free(pick_key);
}

static void sales_release(struct sales *p) {
  free(p->lat);
  free(p->lng);
  free(p->feat);
  free(p->pin);
}

/* The weights of the service: product mix 1 a column, channel mix, level
 * and trend SIDE_WEIGHT each (the channel columns together). */
static void service_weights(double *w, size_t nprod, size_t nchan) {
  for (size_t j = 0; j < nprod + nchan + 2; j++)
    w[j] = j < nprod ? 1.0 : j < nprod + nchan ? SIDE_WEIGHT / sqrt((double)nchan) : SIDE_WEIGHT;
}

static void bench_sales_scale(const struct gaz *g, size_t n, uint64_t seed) {
  struct sales a, b;
  struct gerr err;
  double w[SNF];
  service_weights(w, SP, SC);
  sales_make(g, &a, n, seed, 0.0, 0);
  sales_make(g, &b, n, seed, 0.05, n / 20);
  struct cluster_input in = {.n = a.n, .lat = a.lat, .lng = a.lng, .nf = SNF, .feat = a.feat,
                             .feat_weight = w, .mix_off = 0, .mix_len = SP};
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.spatial_weight = PLACE_WEIGHT;
  cfg.seed = seed;
  struct cluster_result ra = {0}, rb = {0};
  double t0 = now_s();
  if (cluster_run(&in, &cfg, &ra, &err) < 0) {
    fprintf(stderr, "cluster_run: %s\n", err.msg);
    exit(1);
  }
  double ta = now_s() - t0;
  int32_t *prev = calloc(b.n, sizeof *prev);
  if (!prev)
    exit(1);
  for (size_t i = 0, j = 0; j < b.n; j++) {
    while (i < a.n && a.pin[i] < b.pin[j])
      i++;
    if (i < a.n && a.pin[i] == b.pin[j])
      prev[j] = ra.id[ra.label[i]];
  }
  struct cluster_input inb = {.n = b.n, .lat = b.lat, .lng = b.lng, .nf = SNF, .feat = b.feat,
                              .feat_weight = w, .mix_off = 0, .mix_len = SP, .prev_id = prev};
  cfg.seed = seed + 1000;
  t0 = now_s();
  if (cluster_run(&inb, &cfg, &rb, &err) < 0) {
    fprintf(stderr, "cluster_run: %s\n", err.msg);
    exit(1);
  }
  double tb = now_s() - t0;
  printf("%6zu pincodes (seed %llu): k %3d of %d-%d, median km %.1f against %.1f random: %.3f, "
         "mix ratio %.3f, %.2f s; with 5%% more sales and %zu more pincodes, from these "
         "regions: k %d, %.3f, %.3f, %zu of %zu (%.1f%%) keep their id, %.2f s\n",
         a.n, (unsigned long long)seed, ra.k, ra.cand_k[0], ra.cand_k[ra.ncand - 1],
         ra.median_km, ra.median_km_random, ra.median_km_ratio, ra.mix_variance_ratio, ta,
         b.n - a.n, rb.k, rb.median_km_ratio, rb.mix_variance_ratio, rb.prev_kept, rb.prev_points,
         100.0 * (double)rb.prev_kept / (double)rb.prev_points, tb);
  free(prev);
  cluster_result_free(&ra);
  cluster_result_free(&rb);
  sales_release(&a);
  sales_release(&b);
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 3;
  if (runs < 1)
    runs = 1;
  struct gerr err;
  struct gaz *g = NULL;
  if (gaz_load_default(&g, &err) < 0) {
    fprintf(stderr, "gaz_load_default: %s\n", err.msg);
    return 1;
  }
  size_t n = gaz_count(g);
  double *lat = malloc(n * sizeof *lat), *lng = malloc(n * sizeof *lng);
  double *feat = malloc(n * NF * sizeof *feat), *clean = malloc(n * PRODUCTS * sizeof *clean);
  if (!lat || !lng || !feat || !clean)
    return 1;
  for (size_t i = 0; i < n; i++) {
    lat[i] = gaz_at(g, i)->lat;
    lng[i] = gaz_at(g, i)->lng;
  }
  make_patterns(g, n, feat, clean, 7);
  double w[NF];
  service_weights(w, PRODUCTS, CHANNELS);
  struct cluster_input in = {.n = n, .lat = lat, .lng = lng, .nf = NF, .feat = feat,
                             .feat_weight = w, .mix_off = 0, .mix_len = PRODUCTS};
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);
  cfg.spatial_weight = PLACE_WEIGHT;

  printf("machine: %ld cores\n", sysconf(_SC_NPROCESSORS_ONLN));
  printf("%zu pincodes (gazetteer coordinates), %d pattern features (synthetic: %d product "
         "shares, %d channel shares, log level, trend); restarts %d, max_iter %d, "
         "spatial_weight %g, channel mix, level and trend weighing %g; restarts and "
         "silhouettes on 2 threads\n\n", n, NF, PRODUCTS, CHANNELS, cfg.restarts, cfg.max_iter,
         cfg.spatial_weight, SIDE_WEIGHT);

  struct cluster_result r = {0}, rk = {0};
  for (int run = 1; run <= runs; run++) {
    cluster_result_free(&r);
    cluster_result_free(&rk);
    cfg.k = 0;
    double t0 = now_s();
    if (cluster_run(&in, &cfg, &r, &err) < 0) {
      fprintf(stderr, "cluster_run: %s\n", err.msg);
      return 1;
    }
    double t_auto = now_s() - t0;
    cfg.k = r.k;
    t0 = now_s();
    if (cluster_run(&in, &cfg, &rk, &err) < 0) {
      fprintf(stderr, "cluster_run: %s\n", err.msg);
      return 1;
    }
    double t_given = now_s() - t0;
    printf("run %d: k = 0 (choose k, then cluster) %.2f s; k = %d given %.2f s; "
           "so choosing k took %.2f s; same labels: %s\n", run, t_auto, r.k, t_given,
           t_auto - t_given, memcmp(r.label, rk.label, n * sizeof *r.label) ? "no" : "yes");
  }
  printf("\nk chosen: %d of %d-%d; silhouette %.3f; median km to centroid %.1f (random "
         "partitions of the same sizes %.1f: %.3f); mix variance ratio %.3f\n", r.k,
         r.cand_k[0], r.cand_k[r.ncand - 1], r.silhouette, r.median_km, r.median_km_random,
         r.median_km_ratio, r.mix_variance_ratio);
  {
    struct cluster_input ci = {.n = n, .lat = lat, .lng = lng, .nf = PRODUCTS, .feat = clean,
                               .mix_off = 0, .mix_len = PRODUCTS};
    printf("mix ratio of the noise-free product mix under these labels: %.3f\n",
           mix_ratio_of(&ci, r.label, r.k, 5));
  }
  printf("candidates (k: score, lower is better):");
  for (int c = 0; c < r.ncand; c++)
    printf("%s %d: %.4f", c ? "," : "", r.cand_k[c], r.cand_score[c]);
  printf("\n");
  {
    struct cluster_result big = {0};
    struct cluster_config cb = cfg;
    cb.k = r.cand_k[r.ncand - 1]; /* the top of the range searched */
    double t0 = now_s();
    if (cluster_run(&in, &cb, &big, &err) < 0)
      return 1;
    printf("k = %d given (the top of the range): %.2f s; silhouette %.3f; median km %.1f "
           "(%.3f of random); mix variance ratio %.3f\n", cb.k, now_s() - t0, big.silhouette,
           big.median_km, big.median_km_ratio, big.mix_variance_ratio);
    cluster_result_free(&big);
  }
  size_t smallest = n, largest = 0, *size = calloc((size_t)r.k, sizeof *size);
  if (!size)
    return 1;
  for (size_t i = 0; i < n; i++)
    size[r.label[i]]++;
  for (int c = 0; c < r.k; c++) {
    smallest = size[c] < smallest ? size[c] : smallest;
    largest = size[c] > largest ? size[c] : largest;
  }
  printf("region sizes: %zu to %zu pincodes\n", smallest, largest);
  free(size);

  /* Stable ids: 95% of the pincodes first (seed 1), then all (seed 2)
   * from the first run's regions. */
  size_t n0 = 0;
  uint64_t s = 11;
  unsigned char *first = malloc(n);
  double *lat0 = malloc(n * sizeof *lat0), *lng0 = malloc(n * sizeof *lng0);
  double *feat0 = malloc(n * NF * sizeof *feat0);
  int32_t *prev = calloc(n, sizeof *prev);
  if (!first || !lat0 || !lng0 || !feat0 || !prev)
    return 1;
  for (size_t i = 0; i < n; i++) {
    first[i] = rng_unit_open(&s) < 0.95;
    if (first[i]) {
      lat0[n0] = lat[i];
      lng0[n0] = lng[i];
      memcpy(feat0 + n0 * NF, feat + i * NF, NF * sizeof *feat0);
      n0++;
    }
  }
  struct cluster_input in0 = in;
  in0.n = n0;
  in0.lat = lat0;
  in0.lng = lng0;
  in0.feat = feat0;
  cfg.k = 0;
  cfg.seed = 1;
  struct cluster_result a = {0}, b = {0};
  double t0 = now_s();
  if (cluster_run(&in0, &cfg, &a, &err) < 0)
    return 1;
  double ta = now_s() - t0;
  for (size_t i = 0, j = 0; i < n; i++)
    prev[i] = first[i] ? a.id[a.label[j++]] : 0;
  in.prev_id = prev;
  cfg.seed = 2;
  t0 = now_s();
  if (cluster_run(&in, &cfg, &b, &err) < 0)
    return 1;
  printf("stable ids: %zu pincodes (seed 1, k %d chosen, %.2f s), then all %zu from those "
         "regions (seed 2, k %d, criterion's best %d, warm start %s, %.2f s): %zu of %zu "
         "(%.1f%%) keep their region id\n", n0, a.k, ta, n, b.k, b.k_best, b.warm ? "yes" : "no",
         now_s() - t0, b.prev_kept, b.prev_points,
         100.0 * (double)b.prev_kept / (double)b.prev_points);
  cluster_result_free(&a);
  cluster_result_free(&b);

  printf("\nsales-like data (tests/unit/test_cluster.c):\n");
  static const size_t scale[] = {100, 1000, 18000};
  for (size_t t = 0; t < sizeof scale / sizeof scale[0]; t++)
    for (uint64_t seed = 1; seed <= (scale[t] < 18000 ? 3u : 1u); seed++)
      bench_sales_scale(g, scale[t], seed);

  cluster_result_free(&r);
  cluster_result_free(&rk);
  free(first);
  free(prev);
  free(lat0);
  free(lng0);
  free(feat0);
  free(lat);
  free(lng);
  free(feat);
  free(clean);
  gaz_free(g);
  return 0;
}
