/* gromo predict demand|demand-rise|top-product: one prediction from the
 * serving model version, read straight from the store. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gromo/answer_json.h"
#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/parse.h"
#include "gromo/record.h"
#include "gromo/shares.h"
#include "gromo/store.h"

static const char predict_help[] =
    "usage: gromo predict demand|demand-rise|top-product --pincode P --channel C\n"
    "                     [--product X] [--age A --income I] [--horizon H]\n"
    "                     [--explain] [--json]\n\n"
    "Answers one query with the serving model version, as POST /predict/... does:\n"
    "  demand       the expected number of sales of the product in the next\n"
    "               period, with a prediction interval and a confidence\n"
    "  demand-rise  the probability that demand rises over the last period\n"
    "  top-product  each product's probability of being the customer's next\n"
    "               purchase (no --product)\n"
    "With --age and --income (both or neither) the answer is for that customer's\n"
    "segment; without, for the whole pincode. A pincode, product or channel never\n"
    "seen in training still gets an answer, marked as a fallback with the reason.\n\n"
    "  -d, --db URI        store (env GROMO_DB, default gromo.db)\n"
    "      --pincode P     6-digit India Post PIN\n"
    "      --product X     product (demand, demand-rise)\n"
    "      --channel C     channel, e.g. online or offline\n"
    "      --age A         customer age, 18-100\n"
    "      --income I      customer monthly income in INR\n"
    "      --horizon H     periods ahead, 1-3 (demand, demand-rise; default 1: the\n"
    "                      next period)\n"
    "      --explain       list the answer's top drivers\n"
    "      --json          the answer as the API's JSON object\n"
    "  -h, --help          this help\n";

static const struct {
  const char *name;
  enum predict_kind kind;
} kinds[] = {
    {"demand", PREDICT_DEMAND},
    {"demand-rise", PREDICT_RISE},
    {"top-product", PREDICT_TOP_PRODUCT},
};

/* Applies one flag through the sales record's rules; -1 with a message. */
static int set_field(struct sale *s, enum sale_field f, const char *v) {
  struct sale_problems pr;
  sale_problems_clear(&pr);
  static const struct sale_rules rules = {0};
  if (sale_text_set(s, f, v, strlen(v), &rules, &pr) == 0 && pr.count == 0)
    return 0;
  cli_usage_error("predict", "--%s %s",
                  f == SF_CUSTOMER_AGE      ? "age"
                  : f == SF_CUSTOMER_INCOME ? "income"
                                            : sale_field_name(f),
                  pr.count ? pr.p[0].problem : "is not valid");
  return -1;
}

static void print_drivers(const struct predict_answer *a) {
  if (!a->ndrivers) {
    printf("  drivers: none to show (a baseline or a fallback answered)\n");
    return;
  }
  printf("  drivers (contribution to the model's log-scale score, then the feature's value):\n");
  for (size_t i = 0; i < a->ndrivers && i < PREDICT_MAX_DRIVERS; i++) {
    const struct predict_driver *d = &a->drivers[i];
    if (isnan(d->value))
      printf("    %+8.4f  %s = missing\n", d->contribution, d->feature);
    else
      printf("    %+8.4f  %s = %g\n", d->contribution, d->feature, d->value);
  }
}

static void print_answer(enum predict_kind kind, const struct predict_query *q,
                         const struct predict_answer *a, int64_t version, int explain) {
  char who[96] = "";
  if (q->has_customer)
    snprintf(who, sizeof who, " for a customer aged %d with income %.0f", (int)q->customer_age,
             q->customer_income);
  switch (kind) {
  case PREDICT_DEMAND:
    printf("demand for %s by %s at %06d%s\n", q->product, q->channel, (int)q->pincode, who);
    printf("  period                        %s to %s (%d ahead)\n", a->period_from, a->period_to,
           a->horizon);
    printf("  predicted demand              %.2f sales\n", a->predicted_demand);
    printf("  %2.0f%% interval                  %.0f to %.0f sales\n", a->level * 100, a->low,
           a->high);
    printf("  confidence                    %.1f%% (within 25%%, at least 1 sale)\n",
           a->confidence * 100);
    printf("  last period                   %.2f sales\n", a->last_period_demand);
    break;
  case PREDICT_RISE:
    printf("demand rise for %s by %s at %06d%s\n", q->product, q->channel, (int)q->pincode, who);
    printf("  period                        %s to %s (%d ahead)\n", a->period_from, a->period_to,
           a->horizon);
    printf("  rises over the last period    %s (probability %.1f%%)\n",
           a->demand_rise ? "yes" : "no", a->probability * 100);
    printf("  last period                   %.2f sales\n", a->last_period_demand);
    break;
  default: {
    /* tenths of a percent that add up to 100.0% (none without a positive
     * probability) */
    size_t np = a->nproducts < PREDICT_MAX_PRODUCTS ? a->nproducts : PREDICT_MAX_PRODUCTS;
    long units[PREDICT_MAX_PRODUCTS];
    int shared = shares_round(a->product_prob, np, 1000, units) == 0;
    printf("next product by %s at %06d%s\n", q->channel, (int)q->pincode, who);
    for (size_t k = 0; k < np; k++) {
      long u = shared ? units[k] : 0;
      printf("  %s %-28s %3ld.%ld%%\n", k == a->top ? "*" : " ", a->products[k], u / 10,
             u % 10);
    }
  }
  }
  printf("  model version %lld, answered by %s\n", (long long)version,
         a->source ? a->source : "the model");
  if (a->fallback)
    printf("  fallback: %.*s\n", (int)sizeof a->fallback_reason, a->fallback_reason);
  if (explain)
    print_drivers(a);
}

int cmd_predict(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  const char *pin = NULL, *product = NULL, *channel = NULL, *age = NULL, *income = NULL;
  int explain = 0, as_json = 0;
  long long hv = 0; /* --horizon; 0: not given */
  enum { O_PIN = 256, O_PROD, O_CHAN, O_AGE, O_INCOME, O_EXPLAIN, O_JSON, O_HORIZON };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"pincode", required_argument, 0, O_PIN},
                                       {"product", required_argument, 0, O_PROD},
                                       {"channel", required_argument, 0, O_CHAN},
                                       {"age", required_argument, 0, O_AGE},
                                       {"income", required_argument, 0, O_INCOME},
                                       {"explain", no_argument, 0, O_EXPLAIN},
                                       {"horizon", required_argument, 0, O_HORIZON},
                                       {"json", no_argument, 0, O_JSON},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_PIN: pin = optarg; break;
    case O_PROD: product = optarg; break;
    case O_CHAN: channel = optarg; break;
    case O_AGE: age = optarg; break;
    case O_INCOME: income = optarg; break;
    case O_EXPLAIN: explain = 1; break;
    case O_HORIZON:
      if (parse_int_range(optarg, 1, PREDICT_MAX_HORIZON, &hv) < 0)
        return cli_usage_error("predict", "--horizon must be an integer from 1 to %d",
                               PREDICT_MAX_HORIZON);
      break;
    case O_JSON: as_json = 1; break;
    case 'h': fputs(predict_help, stdout); return EXIT_OK;
    default: return cli_usage_error("predict", "unknown option");
    }
  }
  if (optind + 1 != argc)
    return cli_usage_error("predict", "say demand, demand-rise or top-product");
  int k = -1;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (!strcmp(argv[optind], kinds[i].name))
      k = (int)i;
  if (k < 0)
    return cli_usage_error("predict", "unknown prediction '%s'", argv[optind]);
  enum predict_kind kind = kinds[k].kind;
  if (!pin || !channel)
    return cli_usage_error("predict", "--pincode and --channel are required");
  if (kind != PREDICT_TOP_PRODUCT && !product)
    return cli_usage_error("predict", "--product is required for %s", kinds[k].name);
  if (kind == PREDICT_TOP_PRODUCT && product)
    return cli_usage_error("predict", "top-product takes no --product");
  if (!age != !income)
    return cli_usage_error("predict", "--age and --income go together");
  if (kind == PREDICT_TOP_PRODUCT && hv)
    return cli_usage_error("predict", "top-product takes no --horizon");
  struct sale s;
  struct sale_problems pr;
  sale_text_begin(&s, &pr);
  if (set_field(&s, SF_PINCODE, pin) < 0 || set_field(&s, SF_CHANNEL, channel) < 0 ||
      (product && set_field(&s, SF_PRODUCT, product) < 0) ||
      (age && set_field(&s, SF_CUSTOMER_AGE, age) < 0) ||
      (income && set_field(&s, SF_CUSTOMER_INCOME, income) < 0))
    return EXIT_USAGE;
  if (!s.pincode || !s.channel[0] || (product && !s.product[0]))
    return cli_usage_error("predict", "--pincode, --channel and --product may not be blank");
  struct predict_query q = {.pincode = s.pincode, .has_customer = age != NULL,
                            .customer_age = s.customer_age,
                            .customer_income = s.customer_income,
                            .horizon = hv ? (int)hv : 1};
  memcpy(q.product, s.product, sizeof q.product);
  memcpy(q.channel, s.channel, sizeof q.channel);

  struct gerr err;
  struct gaz *gaz = NULL;
  struct store *st = NULL;
  struct suite *suite = NULL;
  struct buf out;
  buf_init(&out, 1 << 20);
  int rc = EXIT_FAIL;
  if (gaz_load_default(&gaz, &err) < 0 || cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("predict", "%s", err.msg);
    goto done;
  }
  int lr = suite_load(st, gaz, 0, &suite, &err);
  if (lr == 1) {
    rc = cli_fail("predict", "models are not trained yet: gromo train");
    goto done;
  }
  if (lr < 0) {
    rc = cli_fail("predict", "%s", err.msg);
    goto done;
  }
  struct predict_answer a;
  suite_predict(suite, kind, &q, explain, &a);
  if (as_json) {
    if (predict_render(&out, 0, kind, &q, &a, suite_version(suite), explain) < 0) {
      rc = cli_fail("predict", "out of memory");
      goto done;
    }
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
  } else {
    print_answer(kind, &q, &a, suite_version(suite), explain);
  }
  rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
done:
  buf_release(&out);
  suite_free(suite);
  store_close(st);
  gaz_free(gaz);
  return rc;
}
