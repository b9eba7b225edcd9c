/* gromo train: train the model suite on the stored sales, save it (as the
 * serving version when it is no worse than the serving one, else as a
 * candidate), and show its holdout metrics beside the baselines and the
 * comparison with the serving version. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/parse.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

static const char train_help[] =
    "usage: gromo train [OPTIONS]\n\n"
    "Trains the demand, demand-rise and top-product models on every stored\n"
    "sale, judges each on a time-based holdout (the last period) beside simple\n"
    "baselines, and saves them as a new model version (the newest 5 versions\n"
    "are kept). The new version serves only when no model of it is worse than\n"
    "the serving version's on the same evaluation (within 1%); otherwise it is\n"
    "kept as a candidate (gromo models promote N serves it later). A running\n"
    "server switches to a new serving version within a few seconds. A model\n"
    "that does worse than its baseline is not promoted: the baseline answers\n"
    "in its place. On a PostgreSQL database one training runs at a time, this\n"
    "command's or any server's on it.\n\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "      --rounds N    boosting rounds per model, 1-2000 (default 120)\n"
    "      --origins N   rolling as-of dates to learn from, 2-24 (default 6)\n"
    "      --regions K   group the pincodes into K regions, 1-5000 (default:\n"
    "                    chosen from the data; see docs/regions.md)\n"
    "      --threads N   training threads, 1-64 (default 1: idle OpenMP threads\n"
    "                    spin, which slows a busy machine more than it helps)\n"
    "      --promote P   if_better (default): serve only when no worse than the\n"
    "                    serving version; always: serve in any case (recorded as\n"
    "                    an override)\n"
    "      --reason TEXT why, for an override (kept in the registry; at most 200\n"
    "                    characters)\n"
    "      --json        print the training summary as JSON on standard output\n"
    "  -q, --quiet       no progress bar or table\n"
    "  -h, --help        this help\n";

static int parse_bounded(const char *s, long lo, long hi, int *out) {
  long long v;
  if (parse_int_range(s, lo, hi, &v) < 0)
    return -1;
  *out = (int)v;
  return 0;
}

static void on_progress(void *ctx, const char *stage, double frac) {
  progress_stage(ctx, stage, frac);
}

static void print_num(json_t *v, int width) {
  if (json_is_integer(v))
    printf(" %*lld", width, (long long)json_integer_value(v));
  else if (json_is_real(v))
    printf(" %*.4f", width, json_real_value(v));
  else
    printf(" %*s", width, "-");
}

static int col_width(const char *name) {
  int n = (int)strlen(name);
  return n < 10 ? 10 : n > 40 ? 40 : n;
}

/* One model's holdout metrics in a table, a column per baseline: the rows
 * are the numeric metrics that the model and a baseline both report. */
static void print_model(const char *name, json_t *m) {
  json_t *hold = json_object_get(m, "holdout");
  json_t *bases = json_object_get(m, "baselines");
  int promoted = json_is_true(json_object_get(m, "promoted"));
  const char *serving = json_string_value(json_object_get(m, "serving"));
  const char *reason = json_string_value(json_object_get(m, "reason"));
  printf("\n%s: %s\n", name,
         promoted ? "promoted, the model answers" : "not promoted, a baseline answers");
  if (serving && !promoted)
    printf("  serving: %s\n", serving);
  if (reason)
    printf("  %s\n", reason);
  printf("  %-24s %10s", "holdout metric", "model");
  const char *bname;
  json_t *b;
  json_object_foreach(bases, bname, b) printf(" %*.40s", col_width(bname), bname);
  printf("\n");
  const char *key;
  json_t *v;
  json_object_foreach(hold, key, v) {
    if (!json_is_number(v) || !strcmp(key, "n"))
      continue;
    int in_base = 0;
    json_object_foreach(bases, bname, b) in_base |= json_is_number(json_object_get(b, key));
    if (!in_base)
      continue;
    printf("  %-24.24s", key);
    print_num(v, 10);
    json_object_foreach(bases, bname, b) print_num(json_object_get(b, key), col_width(bname));
    printf("\n");
  }
}

/* The comparison with the serving version and the decision. */
static void print_promotion(json_t *sum) {
  json_t *p = json_object_get(sum, "promotion");
  if (!json_is_object(p))
    return;
  printf("\npromotion: %s (%s)\n", json_string_value(json_object_get(p, "decision")),
         json_string_value(json_object_get(p, "policy")));
  const char *why = json_string_value(json_object_get(p, "reason"));
  if (why)
    printf("  %s\n", why);
  json_t *models = json_object_get(p, "models");
  if (json_object_size(models) == 0)
    return;
  printf("  %-12s %-17s %12s %12s  %s\n", "model", "metric", "new", "serving", "no worse");
  const char *name;
  json_t *m;
  json_object_foreach(models, name, m) {
    printf("  %-12s %-17s", name, json_string_value(json_object_get(m, "metric")));
    print_num(json_object_get(m, "challenger"), 12);
    print_num(json_object_get(m, "champion"), 12);
    printf("  %s\n", json_is_true(json_object_get(m, "no_worse")) ? "yes" : "NO");
  }
}

static void print_summary(json_t *sum) {
  json_t *data = json_object_get(sum, "data");
  printf("model version %lld, trained %s in %.1f s\n",
         (long long)json_integer_value(json_object_get(sum, "version")),
         json_string_value(json_object_get(sum, "trained_at")),
         (double)json_integer_value(json_object_get(sum, "duration_ms")) / 1000.0);
  if (data)
    printf("data: %lld sales from %s to %s, %lld pincodes\n",
           (long long)json_integer_value(json_object_get(data, "sales")),
           json_string_value(json_object_get(data, "from")),
           json_string_value(json_object_get(data, "to")),
           (long long)json_integer_value(json_object_get(data, "pincodes")));
  const char *name;
  json_t *m;
  json_object_foreach(json_object_get(sum, "models"), name, m) print_model(name, m);
  json_t *rg = json_object_get(sum, "regions");
  if (rg)
    printf("\nregions: %lld (%s), silhouette %.3f, median %.1f km to the centroid, product-mix "
           "variance %.2f of a random grouping's\n",
           (long long)json_integer_value(json_object_get(rg, "regions")),
           json_string_value(json_object_get(rg, "chosen_by")),
           json_number_value(json_object_get(rg, "silhouette")),
           json_number_value(json_object_get(rg, "median_km_to_centroid")),
           json_number_value(json_object_get(rg, "product_mix_variance_vs_random")));
  print_promotion(sum);
}

int cmd_train(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  int quiet = 0, as_json = 0;
  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.threads = 1;
  struct promote_request promote;
  memset(&promote, 0, sizeof promote);
  snprintf(promote.by, sizeof promote.by, "command line");
  enum { O_ROUNDS = 256, O_ORIGINS, O_JSON, O_THREADS, O_REGIONS, O_PROMOTE, O_REASON };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"rounds", required_argument, 0, O_ROUNDS},
                                       {"origins", required_argument, 0, O_ORIGINS},
                                       {"regions", required_argument, 0, O_REGIONS},
                                       {"threads", required_argument, 0, O_THREADS},
                                       {"promote", required_argument, 0, O_PROMOTE},
                                       {"reason", required_argument, 0, O_REASON},
                                       {"json", no_argument, 0, O_JSON},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_ROUNDS:
      if (parse_bounded(optarg, 1, 2000, &cfg.rounds) < 0)
        return cli_usage_error("train", "rounds must be an integer from 1 to 2000");
      break;
    case O_ORIGINS:
      if (parse_bounded(optarg, 2, 24, &cfg.origins) < 0)
        return cli_usage_error("train", "origins must be an integer from 2 to 24");
      break;
    case O_REGIONS:
      if (parse_bounded(optarg, 1, 5000, &cfg.regions) < 0)
        return cli_usage_error("train", "regions must be an integer from 1 to 5000");
      break;
    case O_THREADS:
      if (parse_bounded(optarg, 1, 64, &cfg.threads) < 0)
        return cli_usage_error("train", "threads must be an integer from 1 to 64");
      break;
    case O_PROMOTE:
      if (promote_policy_parse(optarg, &promote.policy) < 0)
        return cli_usage_error("train", "promote must be if_better or always");
      break;
    case O_REASON:
      if (strlen(optarg) > PROMOTE_REASON_MAX)
        return cli_usage_error("train", "reason must be at most %d characters",
                               PROMOTE_REASON_MAX);
      snprintf(promote.reason, sizeof promote.reason, "%s", optarg);
      break;
    case O_JSON: as_json = 1; break;
    case 'q': quiet = 1; break;
    case 'h': fputs(train_help, stdout); return EXIT_OK;
    default: return cli_usage_error("train", "unknown option");
    }
  }
  if (optind < argc)
    return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);

  struct gerr err;
  struct gaz *gaz = NULL;
  struct store *st = NULL;
  struct suite *s = NULL;
  json_t *sum = NULL;
  int rc = EXIT_FAIL;
  if (gaz_load_default(&gaz, &err) < 0 || cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("train", "%s", err.msg);
    goto out;
  }
  /* One run at a time across every server and command on a shared
   * database; the lock goes with the connection. */
  int held = store_training_lock(st, &err);
  if (held != 0) {
    rc = held < 0 ? cli_fail("train", "%s", err.msg)
                  : cli_fail("train", "a training run is already in progress on this "
                                      "database (a server's or another gromo train); "
                                      "retry once it has finished");
    goto out;
  }
  struct progress pb;
  progress_start(&pb, "train", 0);
  if (quiet)
    pb.enabled = 0;
  int64_t t0 = mono_us();
  if (suite_train(st, gaz, &cfg, on_progress, &pb, &s, &err) < 0) {
    progress_finish(&pb);
    rc = cli_fail("train", "%s", err.msg);
    goto out;
  }
  progress_stage(&pb, "saving", 1);
  if (suite_save_as(st, s, SUITE_KEEP_VERSIONS, &promote, &err) < 0) {
    progress_finish(&pb);
    rc = cli_fail("train", "saving the models: %s", err.msg);
    goto out;
  }
  progress_finish(&pb);
  sum = suite_summary(s, (mono_us() - t0) / 1000);
  if (!sum) {
    rc = cli_fail("train", "out of memory");
    goto out;
  }
  if (as_json) {
    char *text = json_dumps(sum, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (text)
      puts(text);
    free(text);
  } else if (!quiet) {
    print_summary(sum);
  }
  rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
  json_decref(sum);
  suite_free(s);
  store_close(st);
  gaz_free(gaz);
  return rc;
}
