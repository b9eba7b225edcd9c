/* Per-row prediction cost of the native forest against XGBoost's own
 * predict calls, on a model shaped like the demand one: count:poisson,
 * 200 rounds of depth 6 on 200,000 rows of 30 features (some missing),
 * hist, nthread 2. One row per call, as a request asks (docs/forest.md).
 *   bench_forest [TRAIN_ROWS] [ROUNDS] */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

#include "core/rng.h"
#include "gromo/forest.h"

#define FEATURES 30
#define QUERY_ROWS 20000

#define XGB_CHECK(call)                                                      \
  do {                                                                       \
    if ((call) != 0) {                                                       \
      fprintf(stderr, "%s: %s\n", #call, XGBGetLastError());                 \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


/* Demand-like rows: calendar codes, prices, lags with gaps, counts. */
static void make_rows(float *x, float *y, size_t rows, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = 0; i < rows; i++) {
    float *r = x + i * FEATURES;
    for (int j = 0; j < FEATURES; j++) {
      if (j < 3)
        r[j] = (float)(splitmix64(&s) % (j == 0 ? 7 : j == 1 ? 12 : 31));
      else if (j % 5 == 0)
        r[j] = (float)(-log(rng_unit(&s) + 1e-12) * 20.0);
      else
        r[j] = (float)(100.0 * rng_unit(&s));
      if (j >= 10 && j % 3 == 1 && rng_unit(&s) < 0.15)
        r[j] = NAN;
    }
    double eta = 0.6 + 0.3 * (r[0] >= 5) + 0.2 * sin(r[1]) - 0.01 * r[3] +
                 0.008 * (isnan(r[10]) ? 50.0 : r[10]) + 0.02 * log1p(r[5]);
    double l = exp(-exp(eta)), p = 1.0;
    int k = 0;
    do {
      k++;
      p *= rng_unit(&s);
    } while (p > l && k < 1000);
    if (y)
      y[i] = (float)(k - 1);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

struct figure {
  double mean_us, p50_us, p99_us;
};

/* Per-call times (seconds) into mean, median and 99th percentile in µs. */
static struct figure summarise(double *t, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += t[i];
  qsort(t, n, sizeof *t, cmp_double);
  return (struct figure){sum / (double)n * 1e6, t[n / 2] * 1e6, t[n * 99 / 100] * 1e6};
}

static void print_figure(const char *what, struct figure f) {
  printf("  %-52s %9.2f %9.2f %9.2f  %10.0f\n", what, f.mean_us, f.p50_us,
         f.p99_us, 1e6 / f.mean_us);
}

/* ---- the calls measured ---------------------------------------------- */

static const char *inplace_config =
    "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
    "\"iteration_end\": 0, \"strict_shape\": false, \"cache_id\": 0, "
    "\"missing\": NaN}";

static float xgb_inplace_one(BoosterHandle b, const float *row) {
  char arr[160];
  snprintf(arr, sizeof arr,
           "{\"data\": [%llu, true], \"shape\": [1, %d], \"typestr\": \"<f4\", "
           "\"version\": 3}",
           (unsigned long long)(uintptr_t)row, FEATURES);
  const bst_ulong *shape;
  bst_ulong dim;
  const float *res;
  XGB_CHECK(XGBoosterPredictFromDense(b, arr, inplace_config, NULL, &shape, &dim, &res));
  return res[0];
}

/* One row through a fresh DMatrix; type 0 value, 2 contributions. */
static float xgb_dmatrix_one(BoosterHandle b, const float *row, int type, float *out,
                             size_t n_out) {
  DMatrixHandle m;
  XGB_CHECK(XGDMatrixCreateFromMat(row, 1, FEATURES, NAN, &m));
  char config[128];
  snprintf(config, sizeof config,
           "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
           "\"iteration_end\": 0, \"strict_shape\": false}", type);
  const bst_ulong *shape;
  bst_ulong dim;
  const float *res;
  XGB_CHECK(XGBoosterPredictFromDMatrix(b, m, config, &shape, &dim, &res));
  float first = res[0];
  if (out)
    memcpy(out, res, n_out * sizeof *out);
  XGB_CHECK(XGDMatrixFree(m));
  return first;
}

struct native_job {
  const struct forest *f;
  const float *x;
  size_t rows, reps;
  double sink;
};

static void *native_predict_run(void *arg) {
  struct native_job *j = arg;
  double out, sum = 0;
  for (size_t r = 0; r < j->reps; r++)
    for (size_t i = 0; i < j->rows; i++) {
      forest_predict(j->f, j->x + i * FEATURES, &out);
      sum += out;
    }
  j->sink = sum;
  return NULL;
}

int main(int argc, char **argv) {
  size_t train_rows = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
  int rounds = argc > 2 ? atoi(argv[2]) : 200;
  XGBSetGlobalConfig("{\"verbosity\": 0}");

  float *x = malloc(train_rows * FEATURES * sizeof *x), *y = malloc(train_rows * sizeof *y);
  float *q = malloc((size_t)QUERY_ROWS * FEATURES * sizeof *q);
  double *times = malloc(QUERY_ROWS * sizeof *times);
  double *phi = malloc((FEATURES + 1) * sizeof *phi);
  float *xphi = malloc((FEATURES + 1) * sizeof *xphi);
  if (!x || !y || !q || !times || !phi || !xphi)
    return 1;
  make_rows(x, y, train_rows, 1);
  make_rows(q, NULL, QUERY_ROWS, 2);

  DMatrixHandle dtrain;
  BoosterHandle b;
  XGB_CHECK(XGDMatrixCreateFromMat(x, train_rows, FEATURES, NAN, &dtrain));
  XGB_CHECK(XGDMatrixSetFloatInfo(dtrain, "label", y, train_rows));
  XGB_CHECK(XGBoosterCreate(&dtrain, 1, &b));
  const char *params[][2] = {{"objective", "count:poisson"}, {"max_depth", "6"},
                             {"eta", "0.1"}, {"tree_method", "hist"},
                             {"nthread", "2"}, {"seed", "0"}};
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
    XGB_CHECK(XGBoosterSetParam(b, params[i][0], params[i][1]));
  double t0 = now_s();
  for (int it = 0; it < rounds; it++)
    XGB_CHECK(XGBoosterUpdateOneIter(b, it, dtrain));
  double train_s = now_s() - t0;

  bst_ulong json_len;
  const char *json;
  XGB_CHECK(XGBoosterSaveModelToBuffer(b, "{\"format\":\"json\"}", &json_len, &json));
  struct forest *f = NULL;
  struct gerr err;
  t0 = now_s();
  if (forest_load_json(json, json_len, &f, &err) != 0) {
    fprintf(stderr, "forest_load_json: %s\n", err.msg);
    return 1;
  }
  double load_s = now_s() - t0;
  unsigned char *blob;
  size_t blob_len;
  if (forest_save(f, &blob, &blob_len, &err) != 0)
    return 1;
  struct forest *g = NULL;
  t0 = now_s();
  if (forest_load_blob(blob, blob_len, &g, &err) != 0)
    return 1;
  double blob_s = now_s() - t0;
  forest_free(g);

  printf("model: count:poisson, %d rounds, depth 6, %d features, %zu training rows, "
         "hist, nthread 2\n", rounds, FEATURES, train_rows);
  printf("  trained in %.2f s; %zu trees, %zu nodes; JSON %.1f MB loaded in %.1f ms; "
         "blob %.0f kB loaded in %.2f ms\n", train_s, forest_num_trees(f),
         forest_num_nodes(f), (double)json_len / 1e6, load_s * 1e3,
         (double)blob_len / 1e3, blob_s * 1e3);

  /* agreement with XGBoost */
  double worst = 0;
  for (size_t i = 0; i < 2000; i++) {
    double mine;
    forest_predict(f, q + i * FEATURES, &mine);
    float theirs = xgb_inplace_one(b, q + i * FEATURES);
    worst = fmax(worst, fabs(mine - theirs) / fabs((double)theirs));
  }
  printf("  native vs XGBoost in-place, 2,000 rows: worst relative difference %.2g\n\n",
         worst);

  printf("  %-52s %9s %9s %9s  %10s\n", "one row per call (µs)", "mean", "p50", "p99",
         "rows/s");
  double out, sink = 0;
  for (size_t i = 0; i < QUERY_ROWS; i++) { /* warm */
    forest_predict(f, q + i * FEATURES, &out);
    sink += out;
  }
  for (size_t i = 0; i < QUERY_ROWS; i++) {
    double a = now_s();
    forest_predict(f, q + i * FEATURES, &out);
    times[i] = now_s() - a;
    sink += out;
  }
  print_figure("native forest_predict", summarise(times, QUERY_ROWS));

  for (int nthread = 2; nthread >= 1; nthread--) {
    char nt[4], label[80];
    snprintf(nt, sizeof nt, "%d", nthread);
    XGB_CHECK(XGBoosterSetParam(b, "nthread", nt));
    size_t n = 5000;
    for (size_t i = 0; i < 200; i++)
      sink += xgb_inplace_one(b, q + i * FEATURES);
    for (size_t i = 0; i < n; i++) {
      double a = now_s();
      sink += xgb_inplace_one(b, q + i * FEATURES);
      times[i] = now_s() - a;
    }
    snprintf(label, sizeof label, "XGBoosterPredictFromDense in-place, nthread %d", nthread);
    print_figure(label, summarise(times, n));
    n = 2000;
    for (size_t i = 0; i < n; i++) {
      double a = now_s();
      sink += xgb_dmatrix_one(b, q + i * FEATURES, 0, NULL, 0);
      times[i] = now_s() - a;
    }
    snprintf(label, sizeof label, "XGBoosterPredictFromDMatrix (+ DMatrix), nthread %d",
             nthread);
    print_figure(label, summarise(times, n));
  }
  XGB_CHECK(XGBoosterSetParam(b, "nthread", "2"));

  size_t nc = 5000;
  for (size_t i = 0; i < nc; i++) {
    double a = now_s();
    if (forest_contribs(f, q + i * FEATURES, phi) != 0)
      return 1;
    times[i] = now_s() - a;
    sink += phi[0];
  }
  print_figure("native forest_contribs", summarise(times, nc));
  double worst_c = 0;
  for (int nthread = 2; nthread >= 1; nthread--) {
    char nt[4], label[80];
    snprintf(nt, sizeof nt, "%d", nthread);
    XGB_CHECK(XGBoosterSetParam(b, "nthread", nt));
    size_t n = nthread == 2 ? 300 : 1000; /* with 2 threads it is slow */
    for (size_t i = 0; i < n; i++) {
      double a = now_s();
      sink += xgb_dmatrix_one(b, q + i * FEATURES, 2, xphi, FEATURES + 1);
      times[i] = now_s() - a;
      if (forest_contribs(f, q + i * FEATURES, phi) != 0)
        return 1;
      for (int j = 0; j <= FEATURES; j++)
        worst_c = fmax(worst_c, fabs(phi[j] - xphi[j]));
    }
    snprintf(label, sizeof label, "XGBoost contribs (DMatrix, type 2), nthread %d", nthread);
    print_figure(label, summarise(times, n));
  }
  XGB_CHECK(XGBoosterSetParam(b, "nthread", "2"));
  printf("  native vs XGBoost contributions, 1,300 rows: worst difference %.2g\n\n", worst_c);

  /* throughput: the native forest from 1 and 2 threads, XGBoost in batch */
  printf("  %-52s %12s\n", "throughput", "rows/s");
  for (int threads = 1; threads <= 2; threads++) {
    struct native_job jobs[2];
    pthread_t th[2];
    t0 = now_s();
    for (int k = 0; k < threads; k++) {
      jobs[k] = (struct native_job){f, q, QUERY_ROWS, 10, 0};
      pthread_create(&th[k], NULL, native_predict_run, &jobs[k]);
    }
    for (int k = 0; k < threads; k++) {
      pthread_join(th[k], NULL);
      sink += jobs[k].sink;
    }
    double s = now_s() - t0;
    char label[80];
    snprintf(label, sizeof label, "native forest_predict, %d thread%s, one row a call",
             threads, threads > 1 ? "s" : "");
    printf("  %-52s %12.0f\n", label, (double)threads * 10 * QUERY_ROWS / s);
  }
  DMatrixHandle dq;
  XGB_CHECK(XGDMatrixCreateFromMat(q, QUERY_ROWS, FEATURES, NAN, &dq));
  t0 = now_s();
  for (int r = 0; r < 5; r++) {
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    XGB_CHECK(XGBoosterPredictFromDMatrix(
        b, dq, "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
        "\"iteration_end\": 0, \"strict_shape\": false}", &shape, &dim, &res));
    sink += res[0];
  }
  printf("  %-52s %12.0f\n", "XGBoost, 20,000-row DMatrix a call, nthread 2",
         5.0 * QUERY_ROWS / (now_s() - t0));
  t0 = now_s();
  for (size_t i = 0; i < 2000; i++) {
    if (forest_contribs(f, q + i * FEATURES, phi) != 0)
      return 1;
    sink += phi[0];
  }
  printf("  %-52s %12.0f\n", "native forest_contribs, 1 thread", 2000 / (now_s() - t0));
  t0 = now_s();
  {
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    XGB_CHECK(XGBoosterPredictFromDMatrix(
        b, dq, "{\"type\": 2, \"training\": false, \"iteration_begin\": 0, "
        "\"iteration_end\": 0, \"strict_shape\": false}", &shape, &dim, &res));
    sink += res[0];
  }
  printf("  %-52s %12.0f\n", "XGBoost contribs, 20,000-row DMatrix, nthread 2",
         QUERY_ROWS / (now_s() - t0));
  printf("(checksum %g)\n", sink);

  XGB_CHECK(XGDMatrixFree(dq));
  XGB_CHECK(XGDMatrixFree(dtrain));
  XGB_CHECK(XGBoosterFree(b));
  forest_free(f);
  free(blob);
  free(x);
  free(y);
  free(q);
  free(times);
  free(phi);
  free(xphi);
  return 0;
}
