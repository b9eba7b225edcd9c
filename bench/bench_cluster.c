/* Regions clustering (src/ml/cluster.c, docs/regions.md) on every pincode
 * of the embedded gazetteer, with synthetic demand patterns: a product mix
 * of 6 shares and a channel mix of 2 that drift smoothly across the
 * country (24 random centres of influence), a log level that grows with
 * how urban the pincode is, and a trend; each with per-pincode noise.
 * Times the run that chooses k, the run given that k and one at the top
 * of the range (k = n/50); prints k, the silhouette, the median km to the
 * centroid (and that of a random partition), the mix ratio (and that of
 * the noise-free mix the patterns were drawn from), and how many pincodes
 * keep their region id when 5% of them join later.
 *   bench_cluster [RUNS] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gromo/cluster.h"
#include "gromo/gazetteer.h"

#define PRODUCTS 6
#define CHANNELS 2
#define NF (PRODUCTS + CHANNELS + 2)
#define CENTRES 24
#define INFLUENCE_KM 350.0

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return ((double)(rng_next(s) >> 11) + 0.5) * 0x1p-53; }
static double rng_normal(uint64_t *s) {
  double u = rng_unit(s), v = rng_unit(s);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Patterns of the n pincodes: feat is n x NF (product shares, channel
 * shares, log level, trend). */
static void make_patterns(const struct gaz *g, size_t n, double *feat, double *clean,
                          uint64_t seed) {
  double clat[CENTRES], clng[CENTRES], prod[CENTRES][PRODUCTS], online[CENTRES],
      trend[CENTRES];
  for (int c = 0; c < CENTRES; c++) {
    const struct gaz_entry *e = gaz_at(g, (size_t)(rng_next(&seed) % n));
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

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median km from each point to the spherical centroid of a random
 * partition with the clustering's sizes: the figure without any
 * compactness. */
static double random_median_km(const double *lat, const double *lng, size_t n,
                               const int32_t *label, int k, uint64_t seed) {
  int32_t *perm = malloc(n * sizeof *perm);
  double *v = calloc((size_t)k * 3, sizeof *v), *km = malloc(n * sizeof *km);
  if (!perm || !v || !km)
    exit(1);
  memcpy(perm, label, n * sizeof *perm);
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(&seed) % (i + 1));
    int32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const double r = 3.14159265358979323846 / 180.0;
  for (size_t i = 0; i < n; i++) {
    double *w = v + (size_t)perm[i] * 3;
    w[0] += cos(lat[i] * r) * cos(lng[i] * r);
    w[1] += cos(lat[i] * r) * sin(lng[i] * r);
    w[2] += sin(lat[i] * r);
  }
  for (size_t i = 0; i < n; i++) {
    double *w = v + (size_t)perm[i] * 3, nr = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    km[i] = gaz_km(lat[i], lng[i], asin(w[2] / nr) / r, atan2(w[1], w[0]) / r);
  }
  free(perm);
  free(v);
  qsort(km, n, sizeof *km, cmp_double);
  double med = km[n / 2];
  free(km);
  return med;
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
      size_t j = (size_t)(rng_next(&seed) % (i + 1));
      int32_t x = perm[i];
      perm[i] = perm[j];
      perm[j] = x;
    }
    wr += within(in, perm, k) / 8.0;
  }
  free(perm);
  return within(in, label, k) / wr;
}

/* Ids of a first clustering (labels of the points of in0, which are the
 * points of `in` with first[i] set, in order) carried to a clustering of
 * `in` under cfg: the percentage of in0's points that keep their id. */
static double stable_share(const struct cluster_input *in0, const int32_t *label0, int k0,
                           const unsigned char *first, const struct cluster_input *in,
                           const struct cluster_config *cfg) {
  size_t n = in->n;
  struct gerr err;
  struct cluster_result b = {0};
  int32_t *id0 = malloc((size_t)k0 * sizeof *id0), *none = calloc(in0->n, sizeof *none);
  int32_t *old = malloc(n * sizeof *old), *id_of = malloc(n * sizeof *id_of);
  if (!id0 || !none || !old || !id_of ||
      cluster_stable_ids(in0->n, label0, k0, none, id0, &err) < 0 ||
      cluster_run(in, cfg, &b, &err) < 0)
    exit(1);
  for (size_t i = 0, j = 0; i < n; i++)
    old[i] = first[i] ? id0[label0[j++]] : 0;
  if (cluster_stable_ids(n, b.label, b.k, old, id_of, &err) < 0)
    exit(1);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    kept += old[i] != 0 && id_of[b.label[i]] == old[i];
  cluster_result_free(&b);
  free(id0);
  free(none);
  free(old);
  free(id_of);
  return 100.0 * (double)kept / (double)in0->n;
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
  double *feat = malloc(n * NF * sizeof *feat);
  if (!lat || !lng || !feat)
    return 1;
  for (size_t i = 0; i < n; i++) {
    lat[i] = gaz_at(g, i)->lat;
    lng[i] = gaz_at(g, i)->lng;
  }
  double *clean = malloc(n * PRODUCTS * sizeof *clean);
  if (!clean)
    return 1;
  make_patterns(g, n, feat, clean, 7);
  struct cluster_input in = {.n = n, .lat = lat, .lng = lng, .nf = NF, .feat = feat,
                             .mix_off = 0, .mix_len = PRODUCTS};
  struct cluster_config cfg;
  cluster_config_defaults(&cfg);

  printf("machine: %ld cores\n", sysconf(_SC_NPROCESSORS_ONLN));
  printf("%zu pincodes (gazetteer coordinates), %d pattern features (synthetic: %d product "
         "shares, %d channel shares, log level, trend); restarts %d, max_iter %d, "
         "spatial_weight %g; restarts and silhouettes on 2 threads\n\n", n, NF, PRODUCTS,
         CHANNELS, cfg.restarts, cfg.max_iter, cfg.spatial_weight);

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
  printf("\nk chosen: %d; silhouette %.3f; median km to centroid %.1f (random partition of "
         "the same sizes %.1f); mix variance ratio %.3f\n", r.k, r.silhouette, r.median_km,
         random_median_km(lat, lng, n, r.label, r.k, 3), r.mix_variance_ratio);
  {
    struct cluster_input ci = {.n = n, .lat = lat, .lng = lng, .nf = PRODUCTS, .feat = clean,
                               .mix_off = 0, .mix_len = PRODUCTS};
    printf("mix ratio of the noise-free product mix under these labels: %.3f\n",
           mix_ratio_of(&ci, r.label, r.k, 5));
  }
  printf("candidates (k: mean silhouette on the subsample):");
  for (int c = 0; c < r.ncand; c++)
    printf("%s %d: %.3f", c ? "," : "", r.cand_k[c], r.cand_score[c]);
  printf("\n");
  {
    struct cluster_result big = {0};
    struct cluster_config cb = cfg;
    cb.k = (int)(n / 50); /* the top of the range searched: regions of ~50 */
    double t0 = now_s();
    if (cluster_run(&in, &cb, &big, &err) < 0)
      return 1;
    printf("k = %d given (regions of ~50): %.2f s; silhouette %.3f; median km %.1f; mix "
           "variance ratio %.3f\n", cb.k, now_s() - t0, big.silhouette, big.median_km,
           big.mix_variance_ratio);
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

  /* Stable ids: 95% of the pincodes first (seed 1), then all (seed 2),
   * choosing k again and given the first run's k. */
  size_t n0 = 0;
  uint64_t s = 11;
  unsigned char *first = malloc(n);
  double *lat0 = malloc(n * sizeof *lat0), *lng0 = malloc(n * sizeof *lng0);
  double *feat0 = malloc(n * NF * sizeof *feat0);
  if (!first || !lat0 || !lng0 || !feat0)
    return 1;
  for (size_t i = 0; i < n; i++) {
    first[i] = rng_unit(&s) < 0.95;
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
  struct cluster_result a = {0};
  if (cluster_run(&in0, &cfg, &a, &err) < 0)
    return 1;
  for (int again = 0; again < 2; again++) {
    struct cluster_config cfg2 = cfg;
    cfg2.seed = 2;
    cfg2.k = again ? a.k : 0;
    double kept = stable_share(&in0, a.label, a.k, first, &in, &cfg2);
    printf("stable ids: %zu pincodes (seed 1, k = %d chosen), then all %zu (seed 2, k %s): "
           "%.1f%% of the first run's pincodes keep their region id\n", n0, a.k, n,
           again ? "given the same" : "chosen again", kept);
  }
  cluster_result_free(&a);
  cluster_result_free(&r);
  cluster_result_free(&rk);
  free(first);
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
