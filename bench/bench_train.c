/* Full training (all models, holdout evaluation, calibration and refit) on
 * the sales of a store, timed by stage; prints the holdout metrics beside
 * the baselines.
 *   bench_train DB [--save] [--rounds N]
 * scripts/bench.sh train makes a store of 1,000,000 sample sales first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

struct clock_ctx {
  int64_t t0, last;
  char stage[64];
};

static void on_stage(void *ctx, const char *stage, double frac) {
  struct clock_ctx *c = ctx;
  int64_t now = mono_us();
  if (strcmp(stage, c->stage)) {
    if (c->stage[0])
      printf("  %-28s %7.2f s\n", c->stage, (double)(now - c->last) / 1e6);
    snprintf(c->stage, sizeof c->stage, "%s", stage);
    c->last = now;
  }
  (void)frac;
}

static void metric(json_t *o, const char *path) {
  json_t *v = o;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
    v = json_object_get(v, tok);
  if (json_is_number(v))
    printf("  %-60s %.4f\n", path, json_number_value(v));
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_train DB [--save] [--rounds N]\n");
    return 2;
  }
  int save = 0;
  struct train_config cfg;
  train_config_defaults(&cfg);
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--save"))
      save = 1;
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      cfg.rounds = atoi(argv[++i]);
  }
  struct gerr err;
  struct gaz *gaz = NULL;
  struct store *db = NULL;
  struct suite *s = NULL;
  if (gaz_load_default(&gaz, &err) < 0 || store_open(argv[1], &db, &err) < 0) {
    fprintf(stderr, "bench_train: %s\n", err.msg);
    return 1;
  }
  int64_t n = 0;
  if (store_sales_count(db, &n, &err) < 0) {
    fprintf(stderr, "bench_train: %s\n", err.msg);
    return 1;
  }
  printf("== training on %lld sales (%d rounds at most, 2 threads)\n", (long long)n, cfg.rounds);
  struct clock_ctx c = {mono_us(), mono_us(), ""};
  if (suite_train(db, gaz, &cfg, on_stage, &c, &s, &err) < 0) {
    fprintf(stderr, "bench_train: %s\n", err.msg);
    return 1;
  }
  double total = (double)(mono_us() - c.t0) / 1e6;
  /* CPU time of every thread: steadier than wall time on a shared machine */
  struct rusage ru;
  double cpu = getrusage(RUSAGE_SELF, &ru) == 0
                   ? (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6
                   : NAN;
  printf("train: total %.2f s (CPU %.2f s, the whole process)\n", total, cpu);
  json_t *r = suite_report(s);
  static const char *const paths[] = {
      "models.demand.holdout.r2", "models.demand.holdout.mae",
      "models.demand.holdout.poisson_deviance", "models.demand.holdout.interval_coverage",
      "models.demand.holdout.interval_coverage_expected_1_or_more",
      "models.demand.holdout.confidence_calibration_error",
      "models.demand.baselines.last_period.poisson_deviance",
      "models.demand.baselines.moving_average_3.poisson_deviance",
      "models.demand.baselines.moving_average_6.poisson_deviance",
      "models.demand.baselines.moving_average_3.mae",
      "models.demand_rise.holdout.accuracy", "models.demand_rise.holdout.roc_auc",
      "models.demand_rise.holdout.log_loss", "models.demand_rise.holdout.brier",
      "models.demand_rise.holdout.calibration_error",
      "models.demand_rise.baselines.rise_rate_by_last_period.log_loss",
      "models.demand_rise.baselines.rise_rate_by_last_period.roc_auc",
      "models.top_product.holdout.accuracy", "models.top_product.holdout.top2_accuracy",
      "models.top_product.holdout.log_loss",
      "models.top_product.holdout.top_probability_calibration_error",
      "models.top_product.baselines.pincode_product_shares.accuracy",
      "models.top_product.baselines.pincode_product_shares.log_loss", "regions.regions",
      "regions.pincodes", "regions.silhouette", "regions.median_km_to_centroid",
      "regions.product_mix_variance_vs_random"};
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
    metric(r, paths[i]);
  const char *kinds[3] = {"demand", "demand_rise", "top_product"};
  for (int k = 0; k < 3; k++) {
    json_t *m = json_object_get(json_object_get(r, "models"), kinds[k]);
    printf("  %s: %s\n", kinds[k], json_string_value(json_object_get(m, "reason")));
  }
  if (getenv("BENCH_TRAIN_JSON")) {
    char *txt = json_dumps(r, JSON_INDENT(1));
    if (txt)
      puts(txt);
    free(txt);
  }
  json_decref(r);
  if (save && suite_save(db, s, 5, &err) < 0) {
    fprintf(stderr, "bench_train: %s\n", err.msg);
    return 1;
  }
  suite_free(s);
  store_close(db);
  gaz_free(gaz);
  return 0;
}
