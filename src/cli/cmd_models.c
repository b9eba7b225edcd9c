/* gromo models list|backtest|rollback: the model registry. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "gromo/log.h"
#include "gromo/store.h"

static const char models_help[] =
    "usage: gromo models list [--json] [--db URI]\n"
    "       gromo models backtest [VERSION] [--json] [--db URI]\n"
    "       gromo models rollback VERSION [--db URI]\n\n"
    "The registry of trained model versions (gromo train, POST /models/train).\n"
    "list shows each version, newest first: when it was trained, on how many\n"
    "rows and which dates, whether it serves, and which of its models beat\n"
    "their baselines (promoted) or answer from a baseline (-).\n"
    "backtest shows how the demand model of VERSION (default: the serving one)\n"
    "did when its training forecast each month of the last year from what was\n"
    "known then, 1-3 periods ahead: bias, Poisson deviance beside the best\n"
    "baseline, interval coverage and score, per month and product\n"
    "(docs/evaluation.md).\n"
    "rollback makes VERSION the serving one; a running server switches to it\n"
    "within a few seconds, without a restart.\n\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "      --json        list as one JSON array, or the backtest as the JSON\n"
    "                    object /models serves, on standard output\n"
    "  -h, --help        this help\n";

/* "demand rise top" marks from a stored report: the model's initial when
 * promoted, '-' when a baseline answers, '?' when unknown. */
static void promotion_marks(const char *metrics, char out[16]) {
  static const char *const names[] = {"demand", "demand_rise", "top_product"};
  static const char initials[] = "drt";
  json_t *rep = metrics ? json_loads(metrics, 0, NULL) : NULL;
  json_t *models = json_object_get(rep, "models");
  for (int i = 0; i < 3; i++) {
    json_t *p = json_object_get(json_object_get(models, names[i]), "promoted");
    out[i] = json_is_true(p) ? initials[i] : json_is_false(p) ? '-' : '?';
  }
  out[3] = '\0';
  json_decref(rep);
}

struct list_ctx {
  int n;
  json_t *json; /* --json: the rows */
};

static int print_version(void *ctx, const struct model_row *r) {
  struct list_ctx *l = ctx;
  if (l->json) {
    json_t *rep = r->metrics ? json_loads(r->metrics, 0, NULL) : NULL;
    json_t *prom = json_object();
    const char *name;
    json_t *m;
    json_object_foreach(json_object_get(rep, "models"), name, m) {
      json_t *p = json_object_get(m, "promoted");
      if (json_is_boolean(p))
        json_object_set(prom, name, p);
    }
    json_decref(rep);
    json_array_append_new(
        l->json, json_pack("{s:I,s:s,s:I,s:s,s:s,s:I,s:b,s:o}", "version",
                           (json_int_t)r->version, "trained_at", r->trained_at, "rows",
                           (json_int_t)r->rows, "data_from", r->data_from, "data_to",
                           r->data_to, "duration_ms", (json_int_t)r->duration_ms, "serving",
                           r->serving, "promoted", prom));
    l->n++;
    return 0;
  }
  if (l->n++ == 0)
    printf("%-8s %-27s %10s %-23s %-8s %-9s %s\n", "VERSION", "TRAINED", "ROWS", "DATA",
           "SERVING", "PROMOTED", "TOOK");
  char range[64], marks[16];
  snprintf(range, sizeof range, "%s..%s", r->data_from[0] ? r->data_from : "?",
           r->data_to[0] ? r->data_to : "?");
  promotion_marks(r->metrics, marks);
  printf("%-8lld %-27s %10lld %-23s %-8s %-9s %.1fs\n", (long long)r->version, r->trained_at,
         (long long)r->rows, range, r->serving ? "yes" : "", marks,
         (double)r->duration_ms / 1000.0);
  return 0;
}

static double jnum(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The backtest of a report as text: per horizon its summary, then each
 * month. */
static void print_backtest(json_t *bt, long long version) {
  printf("backtest of model version %lld: %s\n", version,
         json_string_value(json_object_get(bt, "method")));
  printf("interval level %.2f; a model every %lld periods\n", jnum(bt, "interval_level"),
         (long long)jnum(bt, "refit_every_periods"));
  json_t *hz = json_object_get(bt, "horizons");
  const char *key;
  json_t *h;
  json_object_foreach(hz, key, h) {
    printf("\nhorizon %s: %lld months, %lld cells: bias %+.3f (largest by product %+.3f), "
           "WAPE %.3f, deviance %.4f, skill %.3f against %s, coverage (expecting >= 1) %.3f "
           "(months %.3f to %.3f), interval score %.3f\n",
           key, (long long)jnum(h, "months"), (long long)jnum(h, "cells"), jnum(h, "bias"),
           jnum(h, "largest_product_bias"), jnum(h, "wape"), jnum(h, "poisson_deviance"),
           jnum(h, "skill"), json_string_value(json_object_get(h, "best_baseline")),
           jnum(h, "interval_coverage_expected_1_or_more"),
           jnum(h, "interval_coverage_expected_1_or_more_lowest_month"),
           jnum(h, "interval_coverage_expected_1_or_more_highest_month"), jnum(h, "interval_score"));
    /* the sums by place, beside each baseline's */
    static const char *const levels[] = {"pincode", "region", "state"};
    printf("  %-8s %6s %7s %7s %9s", "sums by", "units", "bias", "WAPE", "deviance");
    json_t *bl = json_object_get(json_object_get(json_object_get(h, "levels"), "pincode"),
                                 "baselines");
    const char *bk;
    json_t *bv;
    json_object_foreach(bl, bk, bv) printf("  %s bias/WAPE", bk);
    printf("\n");
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
      json_t *lv = json_object_get(json_object_get(h, "levels"), levels[l]);
      if (!lv)
        continue;
      printf("  %-8s %6lld %+7.3f %7.3f %9.4f", levels[l], (long long)jnum(lv, "units"),
             jnum(lv, "bias"), jnum(lv, "wape"), jnum(lv, "poisson_deviance"));
      json_object_foreach(json_object_get(lv, "baselines"), bk, bv)
          printf("  %+.3f/%.3f", jnum(bv, "bias"), jnum(bv, "wape"));
      printf("\n");
    }
    json_t *cold = json_object_get(h, "cold_pincodes");
    printf("  cold pincodes: %lld cells, bias %+.3f, deviance %.4f, skill %.3f against the "
           "national average\n",
           (long long)jnum(cold, "cells"), jnum(cold, "bias"), jnum(cold, "poisson_deviance"),
           jnum(cold, "skill"));
    printf("  %-10s %-23s %7s %9s %9s %7s %6s %6s %7s  %s\n", "as of", "period", "bias",
           "deviance", "baseline", "skill", "cov>=1", "y>=1", "iscore", "bias by product");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(bt, "by_month"), i, m) {
      if ((long long)jnum(m, "horizon") != atoll(key))
        continue;
      json_t *a = json_object_get(m, "all");
      const char *best = json_string_value(json_object_get(a, "best_baseline"));
      json_t *bb = json_object_get(json_object_get(a, "baselines"), best ? best : "");
      printf("  %-10s %s..%s %+7.3f %9.4f %9.4f %7.3f %6.3f %6.3f %7.3f ",
             json_string_value(json_object_get(m, "as_of")),
             json_string_value(json_object_get(m, "period_from")),
             json_string_value(json_object_get(m, "period_to")), jnum(a, "bias"),
             jnum(a, "poisson_deviance"), jnum(bb, "poisson_deviance"), jnum(a, "skill"),
             jnum(a, "interval_coverage_expected_1_or_more"),
             jnum(a, "interval_coverage_realized_1_or_more"), jnum(a, "interval_score"));
      const char *pk;
      json_t *pv;
      json_object_foreach(json_object_get(m, "products"), pk, pv) printf(" %s %+.3f", pk,
                                                                         jnum(pv, "bias"));
      printf("\n");
    }
  }
}

/* gromo models backtest [VERSION]. */
static int show_backtest(struct store *st, long long version, int as_json) {
  struct model_row row;
  struct gerr err;
  memset(&row, 0, sizeof row);
  int r = store_model_get(st, version, &row, &err);
  if (r < 0)
    return cli_fail("models", "%s", err.msg);
  if (r == 1)
    return version ? cli_fail("models", "no model version %lld (see gromo models list)", version)
                   : cli_fail("models", "no model is trained yet: gromo train");
  json_error_t je;
  json_t *rep = row.metrics ? json_loads(row.metrics, 0, &je) : NULL;
  json_t *bt = json_object_get(rep, "backtest");
  int rc = EXIT_OK;
  if (!bt) {
    rc = cli_fail("models", "model version %lld has no backtest (trained by an earlier "
                            "release): train again",
                  (long long)row.version);
  } else if (as_json) {
    char *text = json_dumps(bt, JSON_COMPACT);
    if (text)
      puts(text);
    free(text);
  } else {
    print_backtest(bt, (long long)row.version);
  }
  json_decref(rep);
  model_row_release(&row);
  if (rc == EXIT_OK && fflush(stdout) != 0)
    rc = EXIT_FAIL;
  return rc;
}

int cmd_models(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  int as_json = 0;
  enum { O_JSON = 256 };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"json", no_argument, 0, O_JSON},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_JSON: as_json = 1; break;
    case 'h': fputs(models_help, stdout); return EXIT_OK;
    default: return cli_usage_error("models", "unknown option");
    }
  }
  if (optind >= argc)
    return cli_usage_error("models", "say list, backtest or rollback");
  const char *verb = argv[optind++];
  long long version = 0;
  int backtest = !strcmp(verb, "backtest");
  if (!strcmp(verb, "rollback") || backtest) {
    if (backtest ? optind + 1 < argc : optind + 1 != argc)
      return cli_usage_error("models", backtest ? "backtest takes at most one VERSION"
                                                : "rollback takes one VERSION");
    char *end = NULL;
    errno = 0;
    if (optind < argc)
      version = strtoll(argv[optind], &end, 10);
    if (optind < argc && (errno || end == argv[optind] || *end || version <= 0))
      return cli_usage_error("models", "VERSION must be a positive integer, not '%s'",
                             argv[optind]);
  } else if (strcmp(verb, "list") != 0 || optind != argc) {
    return cli_usage_error("models", "unknown models command '%s'", verb);
  }

  struct gerr err;
  struct store *st = NULL;
  int rc = EXIT_FAIL;
  if (cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("models", "%s", err.msg);
    goto out;
  }
  if (backtest) {
    rc = show_backtest(st, version, as_json);
    goto out;
  }
  if (!strcmp(verb, "list")) {
    struct list_ctx l = {0, as_json ? json_array() : NULL};
    if (store_model_scan(st, print_version, &l, &err) < 0) {
      json_decref(l.json);
      rc = cli_fail("models", "%s", err.msg);
      goto out;
    }
    if (l.json) {
      char *text = json_dumps(l.json, JSON_COMPACT);
      if (text)
        puts(text);
      free(text);
      json_decref(l.json);
    } else if (l.n == 0) {
      printf("no model is trained yet: gromo train (or POST /models/train)\n");
    }
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
    goto out;
  }
  int64_t was = 0;
  if (store_model_serving_version(st, &was, &err) < 0) {
    rc = cli_fail("models", "%s", err.msg);
    goto out;
  }
  int r = store_model_set_serving(st, version, &err);
  if (r < 0) {
    rc = cli_fail("models", "%s", err.msg);
  } else if (r == 1) {
    rc = cli_fail("models", "no model version %lld (see gromo models list)", version);
  } else {
    char line[128];
    int n = snprintf(line, sizeof line, "\"action\":\"models_rollback\",\"version\":%lld,"
                                        "\"previous\":%lld",
                     version, (long long)was);
    if (n > 0 && (size_t)n < sizeof line)
      log_fields(LOG_INFO, "audit", line, (size_t)n);
    printf("model version %lld now serves (was %lld); a running server switches within a "
           "few seconds\n",
           version, (long long)was);
    rc = EXIT_OK;
  }
out:
  store_close(st);
  return rc;
}
