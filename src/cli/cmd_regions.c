/* gromo regions [ID]: the serving model version's regions (docs/rules.md §4) as a
 * table, or one region in full, read straight from the store. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/parse.h"
#include "gromo/record.h"
#include "gromo/store.h"

static const char regions_help[] =
    "usage: gromo regions [ID] [--pincode P] [--json] [--db URI]\n\n"
    "The regions of the serving model version: pincodes grouped by place and\n"
    "demand pattern when the models were trained (gromo train). Without ID, a\n"
    "table of every region; with ID (or --pincode, the region of that pincode),\n"
    "that region in full: demand in the last period and predicted for the next,\n"
    "product and channel mix, centroid, bounding box, states, districts and\n"
    "pincodes. The same figures as GET /regions and GET /regions/{id}.\n\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "      --pincode P   the region of this 6-digit PIN\n"
    "      --json        the API's JSON instead of a table\n"
    "  -h, --help        this help\n";

static const char *top_of(json_t *r, const char *group, const char *key) {
  const char *v = json_string_value(json_object_get(json_object_get(r, group), key));
  return v ? v : "-";
}

static double num(json_t *r, const char *key) {
  return json_number_value(json_object_get(r, key));
}

static void print_table(json_t *list) {
  printf("%6s %8s %12s %12s %8s %-14s %-10s %s\n", "REGION", "PINCODES", "LAST PERIOD",
         "NEXT (PRED)", "RISE", "TOP PRODUCT", "CHANNEL", "STATES");
  size_t i;
  json_t *r;
  json_array_foreach(list, i, r) {
    json_t *states = json_object_get(r, "states");
    char st[96] = "";
    size_t len = 0, j;
    json_t *s;
    json_array_foreach(states, j, s) {
      const char *name = json_string_value(s);
      int n = snprintf(st + len, sizeof st - len, "%s%s", j ? ", " : "", name ? name : "?");
      if (n < 0 || (size_t)n >= sizeof st - len) {
        snprintf(st + (sizeof st > 4 ? sizeof st - 4 : 0), 4, "...");
        break;
      }
      len += (size_t)n;
    }
    printf("%6lld %8lld %12.0f %12.1f %8s %-14.14s %-10.10s %s\n",
           (long long)json_integer_value(json_object_get(r, "region_id")),
           (long long)json_integer_value(json_object_get(r, "pincode_count")),
           num(r, "total_demand"), num(r, "predicted_demand"),
           json_is_true(json_object_get(r, "demand_rise_flag")) ? "yes" : "no",
           top_of(r, "products", "top_product"), top_of(r, "channels", "top_channel"), st);
  }
}

static void print_mix(const char *title, json_t *group) {
  printf("%s:", title);
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(group, "distribution"), k, v)
    printf("  %s %.1f%%", k, 100 * json_number_value(v));
  printf("\n");
}

static void print_region(json_t *r) {
  json_t *c = json_object_get(r, "centroid"), *b = json_object_get(r, "bounding_box");
  printf("region %lld of model version %lld: %lld pincodes\n",
         (long long)json_integer_value(json_object_get(r, "region_id")),
         (long long)json_integer_value(json_object_get(r, "model_version")),
         (long long)json_integer_value(json_object_get(r, "pincode_count")));
  printf("demand: %.0f in the last period, %.1f predicted for the next (%s), %.2f per pincode\n",
         num(r, "total_demand"), num(r, "predicted_demand"),
         json_is_true(json_object_get(r, "demand_rise_flag")) ? "rising" : "not rising",
         num(r, "avg_demand_per_pincode"));
  print_mix("products", json_object_get(r, "products"));
  print_mix("channels", json_object_get(r, "channels"));
  if (json_is_object(c) && json_is_object(b))
    printf("centroid: %.4f, %.4f; bounding box: %.4f..%.4f N, %.4f..%.4f E\n", num(c, "lat"),
           num(c, "lng"), num(b, "min_lat"), num(b, "max_lat"), num(b, "min_lng"),
           num(b, "max_lng"));
  size_t i;
  json_t *v;
  printf("states:");
  json_array_foreach(json_object_get(r, "states"), i, v)
    printf("%s %s", i ? "," : "", json_string_value(v));
  printf("\ndistricts:");
  json_array_foreach(json_object_get(r, "districts"), i, v)
    printf("%s %s (%s)", i ? "," : "", json_string_value(json_object_get(v, "name")),
           json_string_value(json_object_get(v, "state")));
  printf("\npincodes:");
  json_array_foreach(json_object_get(r, "pincodes"), i, v)
    printf("%s%s", i % 12 ? " " : "\n  ", json_string_value(v));
  printf("\n");
}

int cmd_regions(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db"), *pin = NULL;
  int as_json = 0;
  enum { O_JSON = 256, O_PINCODE };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"pincode", required_argument, 0, O_PINCODE},
                                       {"json", no_argument, 0, O_JSON},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_PINCODE: pin = optarg; break;
    case O_JSON: as_json = 1; break;
    case 'h': fputs(regions_help, stdout); return EXIT_OK;
    default: return cli_usage_error("regions", "unknown option");
    }
  }
  long long id = 0;
  int32_t pincode = 0;
  if (optind < argc) {
    if (parse_int_range(argv[optind], 1, INT32_MAX, &id) < 0)
      return cli_usage_error("regions", "ID must be a positive integer, not '%s'",
                             argv[optind]);
    if (++optind != argc)
      return cli_usage_error("regions", "one ID at most");
  }
  if (pin && (id || sale_parse_pincode(pin, strlen(pin), &pincode) < 0))
    return cli_usage_error("regions", id ? "give an ID or --pincode, not both"
                                         : "--pincode must be 6 digits, the first 1-9");

  struct gerr err;
  struct gaz *gaz = NULL;
  struct store *st = NULL;
  struct suite *s = NULL;
  json_t *doc = NULL;
  int rc = EXIT_FAIL;
  if (gaz_load_default(&gaz, &err) < 0 || cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("regions", "%s", err.msg);
    goto done;
  }
  int lr = suite_load(st, gaz, 0, &s, &err);
  if (lr != 0) {
    rc = cli_fail("regions", "%s", lr == 1 ? "models are not trained yet: gromo train" : err.msg);
    goto done;
  }
  if (pincode && !(id = suite_region_of(s, pincode))) {
    rc = cli_fail("regions", "pincode %06d is in no region of model version %lld", (int)pincode,
                  (long long)suite_version(s));
    goto done;
  }
  const char *text = id ? suite_region_json(s, (int32_t)id) : suite_regions_json(s);
  if (!text) {
    rc = id ? cli_fail("regions", "no region %lld in model version %lld (gromo regions lists them)",
                       id, (long long)suite_version(s))
            : cli_fail("regions", "model version %lld has no regions: retrain (gromo train)",
                       (long long)suite_version(s));
    goto done;
  }
  json_error_t je;
  doc = json_loads(text, 0, &je);
  if (!doc) {
    rc = cli_fail("regions", "the stored regions are damaged");
    goto done;
  }
  if (id)
    json_object_set_new(doc, "model_version", json_integer((json_int_t)suite_version(s)));
  if (as_json) {
    json_dumpf(doc, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
    fputc('\n', stdout);
  } else if (id) {
    print_region(doc);
  } else {
    printf("%zu regions of model version %lld\n", suite_region_count(s),
           (long long)suite_version(s));
    print_table(doc);
  }
  rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
done:
  json_decref(doc);
  suite_free(s);
  store_close(st);
  gaz_free(gaz);
  return rc;
}
