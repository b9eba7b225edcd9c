/* gromo models list|rollback: the model registry. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "gromo/log.h"
#include "gromo/store.h"

static const char models_help[] =
    "usage: gromo models list [--json] [--db URI]\n"
    "       gromo models rollback VERSION [--db URI]\n\n"
    "The registry of trained model versions (gromo train, POST /models/train).\n"
    "list shows each version, newest first: when it was trained, on how many\n"
    "rows and which dates, whether it serves, and which of its models beat\n"
    "their baselines (promoted) or answer from a baseline (-).\n"
    "rollback makes VERSION the serving one; a running server switches to it\n"
    "within a few seconds, without a restart.\n\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "      --json        list as one JSON array on standard output\n"
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
    return cli_usage_error("models", "say list or rollback");
  const char *verb = argv[optind++];
  long long version = 0;
  if (!strcmp(verb, "rollback")) {
    if (optind + 1 != argc)
      return cli_usage_error("models", "rollback takes one VERSION");
    char *end = NULL;
    errno = 0;
    version = strtoll(argv[optind], &end, 10);
    if (errno || end == argv[optind] || *end || version <= 0)
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
