/* gromo models list|backtest|accuracy|rollback|promote|importance: the
 * model registry. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "gromo/accuracy.h"
#include "gromo/gazetteer.h"
#include "gromo/log.h"
#include "gromo/models.h"
#include "gromo/parse.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

static const char models_help[] =
    "usage: gromo models list [--json] [--db URI]\n"
    "       gromo models backtest [VERSION] [--json] [--db URI]\n"
    "       gromo models accuracy [VERSION] [--as-of DATE] [--json] [--db URI]\n"
    "       gromo models rollback VERSION [--db URI]\n"
    "       gromo models promote VERSION [--reason TEXT] [--db URI]\n"
    "       gromo models importance [VERSION] [--json] [--db URI]\n\n"
    "The registry of trained model versions (gromo train, POST /models/train).\n"
    "list shows each version, newest first: when it was trained, on how many\n"
    "rows and which dates, whether it serves or is a candidate (trained, but\n"
    "worse than the version serving then, so kept aside), which of its models\n"
    "beat their baselines (promoted) or answer from a baseline (-), and how it\n"
    "compared with the version serving when it was trained: each model's loss,\n"
    "new/serving (demand: Poisson deviance; rise, top: log loss), NO where\n"
    "it was worse (docs/models.md).\n"
    "backtest shows how the demand model of VERSION (default: the serving one)\n"
    "did when its training forecast each month of the last year from what was\n"
    "known then, 1-3 periods ahead: bias, Poisson deviance beside the best\n"
    "baseline, interval coverage and score, per month and product\n"
    "(docs/evaluation.md).\n"
    "accuracy compares what VERSION (default: the serving one) forecast for\n"
    "each complete period after its as-of date, 1-3 periods ahead, with the\n"
    "sales stored since: bias, Poisson deviance, MAE and interval coverage,\n"
    "overall and per product and region, and the drift alarm, on when a\n"
    "figure left the range of the version's backtest (docs/monitoring.md).\n"
    "rollback makes VERSION the serving one; a running server switches to it\n"
    "within a few seconds, without a restart.\n"
    "promote makes a candidate VERSION the serving one, recording the override\n"
    "(who: the command line, and --reason) with it.\n"
    "importance shows, per model of VERSION (default: the serving one), the\n"
    "mean absolute contribution of each feature over a sample of its training\n"
    "rows, largest first.\n\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "      --reason TEXT promote: why (kept in the registry; at most 200 characters)\n"
    "      --as-of DATE  accuracy: the current date, YYYY-MM-DD (default today,\n"
    "                    IST); a period is complete once its last day is before it\n"
    "      --json        list as one JSON array, or the backtest, importance or\n"
    "                    accuracy as the JSON object /models (/models/accuracy)\n"
    "                    serves, on standard output\n"
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

/* The comparison with the champion of a promotion record, as
 * "v3: demand 0.5121/0.4980 NO, rise 0.6100/0.6100, top 1.2000/1.2100"
 * (new/serving); "" when there was nothing to compare with. */
static void comparison_text(const json_t *rec, char *out, size_t cap) {
  static const char *const names[] = {"demand", "demand_rise", "top_product"};
  static const char *const shown[] = {"demand", "rise", "top"};
  json_t *champ = json_object_get(rec, "champion");
  out[0] = 0;
  if (!json_is_integer(champ))
    return;
  size_t n = (size_t)snprintf(out, cap, "v%lld:", (long long)json_integer_value(champ));
  for (int i = 0; i < 3 && n < cap; i++) {
    json_t *m = json_object_get(json_object_get(rec, "models"), names[i]);
    json_t *a = json_object_get(m, "challenger"), *b = json_object_get(m, "champion");
    if (!m)
      continue;
    char fa[16] = "-", fb[16] = "-";
    if (json_is_number(a))
      snprintf(fa, sizeof fa, "%.4f", json_number_value(a));
    if (json_is_number(b))
      snprintf(fb, sizeof fb, "%.4f", json_number_value(b));
    n += (size_t)snprintf(out + n, cap - n, "%s %s %s/%s%s", i ? "," : "", shown[i], fa, fb,
                          json_is_false(json_object_get(m, "no_worse")) ? " NO" : "");
  }
}

/* "serving", "candidate" or "" for a registry row. */
static const char *status_of(const struct model_row *r, const json_t *rec) {
  const char *d = json_string_value(json_object_get(rec, "decision"));
  return r->serving ? "serving" : d && !strcmp(d, "candidate") ? "candidate" : "";
}

struct list_ctx {
  int n;
  json_t *json; /* --json: the rows */
};

static int print_version(void *ctx, const struct model_row *r) {
  struct list_ctx *l = ctx;
  if (l->json) {
    json_array_append_new(l->json, model_row_json(r));
    l->n++;
    return 0;
  }
  if (l->n++ == 0)
    printf("%-8s %-27s %10s %-23s %-10s %-9s %-7s %s\n", "VERSION", "TRAINED", "ROWS", "DATA",
           "STATUS", "PROMOTED", "TOOK", "AGAINST SERVING (new/serving)");
  char range[64], marks[16], took[16], cmp[160];
  snprintf(range, sizeof range, "%s..%s", r->data_from[0] ? r->data_from : "?",
           r->data_to[0] ? r->data_to : "?");
  promotion_marks(r->metrics, marks);
  snprintf(took, sizeof took, "%.1fs", (double)r->duration_ms / 1000.0);
  json_t *rec = r->promotion ? json_loads(r->promotion, 0, NULL) : NULL;
  comparison_text(rec, cmp, sizeof cmp);
  printf("%-8lld %-27s %10lld %-23s %-10s %-9s %-7s %s\n", (long long)r->version,
         r->trained_at, (long long)r->rows, range, status_of(r, rec), marks, took, cmp);
  json_decref(rec);
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
    const char *serves = json_string_value(json_object_get(cold, "serves"));
    printf("  cold pincodes: %lld cells, %s serves\n", (long long)jnum(cold, "cells"),
           serves ? serves : "nearest_average");
    static const char *const cold_src[] = {"model", "baseline_nearest_average"};
    for (size_t q = 0; q < sizeof cold_src / sizeof *cold_src; q++) {
      json_t *c = json_object_get(cold, cold_src[q]);
      json_t *x = json_object_get(c, "scaled_cross_fitted");
      if (!c) /* a report of an earlier release: the nearest average alone */
        c = q ? cold : NULL;
      if (!c)
        continue;
      printf("    %-24s bias %+.3f, deviance %.4f; scaled (cross-fitted) bias %+.3f, deviance "
             "%.4f\n",
             cold_src[q], jnum(c, "bias"), jnum(c, "poisson_deviance"), jnum(x, "bias"),
             jnum(x, "poisson_deviance"));
    }
    json_t *nat = json_object_get(cold, "baseline_national_average");
    printf("    %-24s bias %+.3f, deviance %.4f\n", "baseline_national_average",
           jnum(nat, "bias"), jnum(nat, "poisson_deviance"));
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

static void print_importance(json_t *imp, long long version) {
  printf("feature importance of model version %lld: %s\n", version,
         json_string_value(json_object_get(imp, "method")));
  static const char *const names[] = {"demand", "demand_rise", "top_product"};
  for (int i = 0; i < 3; i++) {
    json_t *m = json_object_get(imp, names[i]);
    printf("\n%s (%lld rows):\n", names[i], (long long)jnum(m, "rows"));
    size_t k;
    json_t *f;
    json_array_foreach(json_object_get(m, "features"), k, f)
        printf("  %8.4f  %s\n", jnum(f, "mean_abs_contribution"),
               json_string_value(json_object_get(f, "feature")));
  }
}

/* gromo models backtest|importance [VERSION]: the member `member` of the
 * version's stored report (an object), as JSON or through print; `what`
 * names it in the message when an earlier release stored none. */
static int show_member(struct store *st, long long version, const char *member,
                       const char *what, int as_json, void (*print)(json_t *, long long)) {
  struct model_row row;
  struct gerr err;
  memset(&row, 0, sizeof row);
  int r = store_model_get(st, version, &row, &err);
  if (r < 0)
    return cli_fail("models", "%s", err.msg);
  if (r == 1)
    return version ? cli_fail("models", "no model version %lld (see gromo models list)", version)
                   : cli_fail("models", "no model is trained yet: gromo train");
  json_t *rep = row.metrics ? json_loads(row.metrics, 0, NULL) : NULL;
  json_t *m = json_object_get(rep, member);
  int rc = EXIT_OK;
  if (!json_is_object(m)) {
    rc = cli_fail("models", "model version %lld has no %s (trained by an earlier release): "
                            "train again",
                  (long long)row.version, what);
  } else if (as_json) {
    char *text = json_dumps(m, JSON_COMPACT);
    if (text)
      puts(text);
    free(text);
  } else {
    print(m, (long long)row.version);
  }
  json_decref(rep);
  model_row_release(&row);
  if (rc == EXIT_OK && fflush(stdout) != 0)
    rc = EXIT_FAIL;
  return rc;
}

/* gromo models promote VERSION: a stored candidate serves from now on. */
static int promote_candidate(struct store *st, long long version, const char *reason) {
  struct promote_request req;
  memset(&req, 0, sizeof req);
  snprintf(req.by, sizeof req.by, "command line");
  snprintf(req.reason, sizeof req.reason, "%s", reason ? reason : "");
  struct gerr err;
  int r = suite_promote_candidate(st, (int64_t)version, &req, NULL, &err);
  switch (r) {
  case 0: break;
  case 1: return cli_fail("models", "no model version %lld (see gromo models list)", version);
  case 2: return cli_fail("models", "model version %lld serves already", version);
  case 3:
    return cli_fail("models",
                    "model version %lld is not a candidate (it served before, or predates "
                    "promotion records): use gromo models rollback %lld",
                    version, version);
  default: return cli_fail("models", "%s", err.msg);
  }
  char line[128];
  int n = snprintf(line, sizeof line, "\"action\":\"models_promote\",\"version\":%lld",
                   version);
  if (n > 0 && (size_t)n < sizeof line)
    log_fields(LOG_INFO, "audit", line, (size_t)n);
  printf("model version %lld now serves (a candidate, promoted); a running server switches "
         "within a few seconds\n",
         version);
  return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

/* A figure into out, "-" when undefined. */
static const char *fmt_fig(char out[16], int sign, int prec, double v) {
  if (isnan(v))
    snprintf(out, 16, "-");
  else
    snprintf(out, 16, sign ? "%+.*f" : "%.*f", prec, v);
  return out;
}

/* One line of accuracy figures: the group's name, then its figures. */
static void print_figures(const char *name, json_t *f) {
  char b[4][16];
  printf("  %-22s %6lld %8.1f %8lld %7s %9s %7s %6s\n", name, (long long)jnum(f, "cells"),
         jnum(f, "predicted"), (long long)jnum(f, "realized"),
         fmt_fig(b[0], 1, 3, jnum(f, "bias")), fmt_fig(b[1], 0, 4, jnum(f, "poisson_deviance")),
         fmt_fig(b[2], 0, 3, jnum(f, "mae")),
         fmt_fig(b[3], 0, 3, jnum(f, "interval_coverage_expected_1_or_more")));
}

static void print_accuracy(json_t *rep) {
  printf("accuracy of model version %lld (as of %s, trained %s) on %s\n",
         (long long)jnum(rep, "version"), json_string_value(json_object_get(rep, "model_as_of")),
         json_string_value(json_object_get(rep, "trained_at")),
         json_string_value(json_object_get(rep, "as_of")));
  size_t i, j;
  json_t *p, *v;
  json_array_foreach(json_object_get(rep, "periods"), i, p) {
    printf("\nhorizon %lld, %s..%s:\n", (long long)jnum(p, "horizon"),
           json_string_value(json_object_get(p, "period_from")),
           json_string_value(json_object_get(p, "period_to")));
    printf("  %-22s %6s %8s %8s %7s %9s %7s %6s\n", "", "cells", "forecast", "sales", "bias",
           "deviance", "mae", "cov>=1");
    print_figures("all", json_object_get(p, "all"));
    const char *k;
    json_object_foreach(json_object_get(p, "products"), k, v) print_figures(k, v);
    json_array_foreach(json_object_get(p, "regions"), j, v) {
      char name[32];
      json_t *id = json_object_get(v, "region_id");
      if (json_is_integer(id))
        snprintf(name, sizeof name, "region %lld", (long long)json_integer_value(id));
      else
        snprintf(name, sizeof name, "in no region");
      print_figures(name, v);
    }
    json_t *cold = json_object_get(p, "cold_pincodes");
    if (jnum(cold, "cells") > 0)
      print_figures("new pincodes", cold);
    if (jnum(p, "sales_of_unknown_products_or_channels") > 0)
      printf("  and %lld sales of products or channels the version never saw\n",
             (long long)jnum(p, "sales_of_unknown_products_or_channels"));
    json_array_foreach(json_object_get(json_object_get(p, "drift"), "notes"), j, v)
      printf("  drift: %s\n", json_string_value(v));
  }
  json_array_foreach(json_object_get(rep, "pending"), i, p)
    printf("\nhorizon %lld, %s..%s: not complete yet\n", (long long)jnum(p, "horizon"),
           json_string_value(json_object_get(p, "period_from")),
           json_string_value(json_object_get(p, "period_to")));
  json_t *drift = json_object_get(rep, "drift");
  printf("\ndrift alarm: %s\n", accuracy_drift(rep) ? "ON" : "off");
  json_array_foreach(json_object_get(drift, "reasons"), i, v)
    printf("  %s\n", json_string_value(v));
}

/* gromo models accuracy [VERSION] [--as-of DATE]. */
static int show_accuracy(const char *db, long long version, const char *as_of, int as_json) {
  int64_t today = now_ist_ms() / DAY_MS, day = today;
  if (as_of && (accuracy_parse_day(as_of, &day) < 0 || day > today + 1))
    return cli_usage_error("models",
                           "--as-of must be a date YYYY-MM-DD from 2000-01-01 to tomorrow "
                           "(IST), not '%.40s'",
                           as_of);
  struct gerr err;
  struct store *st = NULL;
  struct gaz *gaz = NULL;
  struct suite *s = NULL;
  json_t *rep = NULL;
  int rc = EXIT_FAIL;
  if (cli_store_open(db, &st, &err) < 0 || gaz_load_default(&gaz, &err) < 0) {
    rc = cli_fail("models", "%s", err.msg);
    goto out;
  }
  int r = suite_load(st, gaz, version, &s, &err);
  if (r < 0) {
    rc = cli_fail("models", "%s", err.msg);
    goto out;
  }
  if (r == 1) {
    rc = version ? cli_fail("models", "no model version %lld (see gromo models list)", version)
                 : cli_fail("models", "no model is trained yet: gromo train");
    goto out;
  }
  if (accuracy_report(s, st, day, &rep, &err) < 0) {
    rc = cli_fail("models", "%s", err.msg);
    goto out;
  }
  if (as_json) {
    char *text = json_dumps(rep, JSON_COMPACT);
    if (text)
      puts(text);
    free(text);
  } else {
    print_accuracy(rep);
  }
  rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
  json_decref(rep);
  suite_free(s);
  gaz_free(gaz);
  store_close(st);
  return rc;
}

int cmd_models(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  const char *as_of = NULL;
  int as_json = 0;
  const char *reason = NULL;
  enum { O_JSON = 256, O_REASON, O_ASOF };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"json", no_argument, 0, O_JSON},
                                       {"reason", required_argument, 0, O_REASON},
                                       {"as-of", required_argument, 0, O_ASOF},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_JSON: as_json = 1; break;
    case O_REASON:
      if (strlen(optarg) > PROMOTE_REASON_MAX)
        return cli_usage_error("models", "reason must be at most %d characters",
                               PROMOTE_REASON_MAX);
      reason = optarg;
      break;
    case O_ASOF: as_of = optarg; break;
    case 'h': fputs(models_help, stdout); return EXIT_OK;
    default: return cli_usage_error("models", "unknown option");
    }
  }
  if (optind >= argc)
    return cli_usage_error("models", "say list, backtest, accuracy, rollback, promote or importance");
  const char *verb = argv[optind++];
  long long version = 0;
  /* verbs of an optional VERSION, and of exactly one */
  int backtest = !strcmp(verb, "backtest"), importance = !strcmp(verb, "importance");
  int accuracy = !strcmp(verb, "accuracy");
  int promote = !strcmp(verb, "promote"), optional = backtest || importance || accuracy;
  if (as_of && !accuracy)
    return cli_usage_error("models", "--as-of goes with accuracy only");
  if (!strcmp(verb, "rollback") || promote || optional) {
    if (optional ? optind + 1 < argc : optind + 1 != argc) {
      if (optional)
        return cli_usage_error("models", "%s takes at most one VERSION", verb);
      return cli_usage_error("models", "%s takes one VERSION", verb);
    }
    long long v = 0;
    if (optind < argc && parse_int_range(argv[optind], 1, INT64_MAX, &v) < 0)
      return cli_usage_error("models", "VERSION must be a positive integer, not '%s'",
                             argv[optind]);
    version = (int64_t)v;
  } else if (strcmp(verb, "list") != 0 || optind != argc) {
    return cli_usage_error("models", "unknown models command '%s'", verb);
  }

  if (accuracy)
    return show_accuracy(db, version, as_of, as_json);
  struct gerr err;
  struct store *st = NULL;
  int rc = EXIT_FAIL;
  if (cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("models", "%s", err.msg);
    goto out;
  }
  if (backtest) {
    rc = show_member(st, version, "backtest", "backtest", as_json, print_backtest);
    goto out;
  }
  if (importance) {
    rc = show_member(st, version, "importance", "feature importance", as_json, print_importance);
    goto out;
  }
  if (promote) {
    rc = promote_candidate(st, version, reason);
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
