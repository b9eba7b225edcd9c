/* End-to-end: training, the model registry and predictions, on the real
 * server and through the command line.
 * Data are small (20,000 generated sales) and training short (few rounds),
 * so the whole file runs in well under a minute. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "gromo/gazetteer.h"
#include "gromo/timeutil.h"

/* The last day of every generated data set: fixed, so that the data, and
 * with them the models and regions, are the same on any day and hour the
 * tests run (make check-clock runs them under other dates). */
#define DATA_END "2026-06-30"
#define DATA_LAST_MONTH "2026-06-01"

static struct srv S;
static char analyst[128], viewer[128];
/* A cell present in the data, found after generating it. */
static char known_pin[8], known_product[40], known_channel[40];
static char unseen_pin[8];
static long long trained_version;
static char cli_db[400]; /* the command line tests' store */


static void post_as(const char *key, const char *path, const char *body, struct http_res *r) {
  assert_int_equal(http_do_as(&S, key, NULL, "POST", path, "application/json", body,
                              body ? strlen(body) : 0, r),
                   0);
}

static void expect_error(struct http_res *r, long status, const char *code) {
  if (r->status != status)
    fail_msg("expected %ld, got %ld: %.300s", status, r->status, r->body);
  assert_string_equal(jstr(r->json, "status"), "error");
  assert_string_equal(jstr(r->json, "error.code"), code);
  assert_non_null(jstr(r->json, "error.message"));
}

/* details[] holds a problem with this index and field. */
static int has_detail(struct http_res *r, long index, const char *field) {
  json_t *d = jget(r->json, "error.details");
  for (size_t i = 0; i < json_array_size(d); i++) {
    json_t *p = json_array_get(d, i);
    if (json_integer_value(json_object_get(p, "index")) == index &&
        !strcmp(json_string_value(json_object_get(p, "field")), field) &&
        json_string_value(json_object_get(p, "problem")))
      return 1;
  }
  return 0;
}

static int group_setup(void **state) {
  static const char *const extra[] = {"--max-body", "33554432", NULL};
  if (srv_start(&S, extra) < 0)
    return -1;
  snprintf(cli_db, sizeof cli_db, "%s/cli.db", S.dir); /* removed with the server's */
  if (make_key(&S, "analyst", "e2e-analyst", analyst, sizeof analyst) < 0 ||
      make_key(&S, "viewer", "e2e-viewer", viewer, sizeof viewer) < 0)
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  /* A training run is going on (the last test started one): the server
   * finishes it, then exits 0. */
  return srv_stop(&S) == 0 ? 0 : -1;
}

static const char ONE_QUERY[] =
    "{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
    "\"customer_age\":35,\"customer_income\":75000}";

static void test_models__cold_start(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/health", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(jstr(r.json, "checks.models"), "not_trained");
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/version", NULL, NULL, 0, &r), 0);
  assert_true(json_is_null(jget(r.json, "data.models_last_trained")));
  http_res_free(&r);
  static const char *const kinds[] = {"/predict/demand", "/predict/demand-rise",
                                      "/predict/top-product"};
  for (int i = 0; i < 3; i++) {
    post_as(analyst, kinds[i], ONE_QUERY, &r);
    expect_error(&r, 503, "unavailable");
    assert_non_null(strstr(jstr(r.json, "error.message"), "POST /models/train"));
    http_res_free(&r);
  }
  /* GET /models answers (the service is up), saying nothing is trained. */
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_object_size(jget(r.json, "data.models")), 0);
  assert_int_equal(json_array_size(jget(r.json, "data.versions")), 0);
  assert_true(json_is_null(jget(r.json, "data.version")));
  assert_non_null(strstr(jstr(r.json, "message"), "no model is trained"));
  http_res_free(&r);
  /* Regions come from training: none yet, and the answer says so. */
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/regions", NULL, NULL, 0, &r), 0);
  expect_error(&r, 503, "unavailable");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/regions/1", NULL, NULL, 0, &r), 0);
  expect_error(&r, 503, "unavailable");
  http_res_free(&r);
  /* Too little data: the job fails and says why. */
  post_as(S.key, "/models/train?wait=true&rounds=5", NULL, &r);
  expect_error(&r, 409, "conflict");
  http_res_free(&r);
}

static void test_models__roles(void **state) {
  struct http_res r;
  post_as(NULL, "/predict/demand", ONE_QUERY, &r);
  expect_error(&r, 401, "unauthorized");
  http_res_free(&r);
  post_as(viewer, "/predict/demand", ONE_QUERY, &r);
  expect_error(&r, 403, "forbidden");
  http_res_free(&r);
  post_as(analyst, "/models/train", NULL, &r);
  expect_error(&r, 403, "forbidden");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, analyst, NULL, "GET", "/models/train/0123456789abcdef", NULL,
                              NULL, 0, &r),
                   0);
  expect_error(&r, 403, "forbidden");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, NULL, NULL, "GET", "/models", NULL, NULL, 0, &r), 0);
  expect_error(&r, 401, "unauthorized");
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/models/train/0123456789abcdef", NULL, NULL, 0, &r), 0);
  expect_error(&r, 404, "not_found");
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/predict/demand", NULL, NULL, 0, &r), 0);
  expect_error(&r, 405, "method_not_allowed");
  http_res_free(&r);
  post_as(S.key, "/models/train?rounds=0", NULL, &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  post_as(S.key, "/models/train?origins=1", NULL, &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  post_as(S.key, "/models/train?origins=x", NULL, &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
}

static int pin_in_data(const char *pin) {
  char path[96];
  snprintf(path, sizeof path, "/sales?pincode=%s&limit=1", pin);
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, &r), 0);
  int n = (int)json_integer_value(jget(r.json, "data.count"));
  http_res_free(&r);
  return n > 0;
}

static void test_models__train_and_wait(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/generate-sample-data/20000?seed=1&end=" DATA_END, NULL,
                           NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  /* A cell of the data's last month: training keeps the newest periods, so
   * the oldest days' pincodes may not be in it. */
  assert_int_equal(http_do(&S, "GET", "/sales?from=" DATA_LAST_MONTH "&limit=1", NULL, NULL, 0, &r), 0);
  snprintf(known_pin, sizeof known_pin, "%s", jstr(r.json, "data.sales.0.pincode"));
  snprintf(known_product, sizeof known_product, "%s", jstr(r.json, "data.sales.0.product"));
  snprintf(known_channel, sizeof known_channel, "%s", jstr(r.json, "data.sales.0.channel"));
  http_res_free(&r);
  static const char *const candidates[] = {"110001", "400001", "560001", "600001", "700001",
                                           "500001", "380001", "302001", "226001", "999999"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !unseen_pin[0]; i++)
    if (!pin_in_data(candidates[i]))
      snprintf(unseen_pin, sizeof unseen_pin, "%s", candidates[i]);
  assert_true(unseen_pin[0]);

  post_as(S.key, "/models/train?wait=true&rounds=20&origins=3", NULL, &r);
  if (r.status != 200)
    fail_msg("train: %ld %.400s", r.status, r.body);
  assert_string_equal(jstr(r.json, "data.status"), "succeeded");
  trained_version = (long long)jnum(r.json, "data.summary.version");
  assert_true(trained_version >= 1);
  assert_true(jnum(r.json, "data.progress") == 1.0);
  assert_true(json_is_boolean(jget(r.json, "data.summary.models.demand.promoted")));
  assert_true(json_is_boolean(jget(r.json, "data.summary.models.demand_rise.promoted")));
  assert_true(json_is_boolean(jget(r.json, "data.summary.models.top_product.promoted")));
  assert_true(jnum(r.json, "data.summary.duration_ms") > 0);
  const char *job = jstr(r.json, "data.job_id");
  assert_non_null(job);
  char path[96];
  snprintf(path, sizeof path, "/models/train/%s", job);
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(jstr(r.json, "data.status"), "succeeded");
  assert_string_equal(jstr(r.json, "data.stage"), "done");
  assert_int_equal((long long)jnum(r.json, "data.summary.version"), trained_version);
  http_res_free(&r);

  assert_int_equal(http_do(&S, "GET", "/health", NULL, NULL, 0, &r), 0);
  const char *m = jstr(r.json, "checks.models");
  assert_true(!strcmp(m, "available") || !strcmp(m, "degraded"));
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/version", NULL, NULL, 0, &r), 0);
  assert_non_null(jstr(r.json, "data.models_last_trained"));
  http_res_free(&r);
}

static void test_models__background_job(void **state) {
  struct http_res r, r2;
  post_as(S.key, "/models/train?rounds=10&origins=3&promote=always", NULL, &r);
  assert_int_equal(r.status, 202);
  assert_string_equal(jstr(r.json, "data.status"), "running");
  assert_true(json_is_true(jget(r.json, "data.started")));
  char job[40], loc[128], want[128];
  snprintf(job, sizeof job, "%s", jstr(r.json, "data.job_id"));
  snprintf(want, sizeof want, "/models/train/%s", job);
  assert_int_equal(http_header(&r, "Location", loc, sizeof loc), 0);
  assert_string_equal(loc, want);
  /* A second request while it runs gets the same job (or, if the first
   * has just ended, starts the next). */
  post_as(S.key, "/models/train?rounds=5&origins=2&promote=always", NULL, &r2);
  assert_int_equal(r2.status, 202);
  char job2[40];
  snprintf(job2, sizeof job2, "%s", jstr(r2.json, "data.job_id"));
  if (json_is_false(jget(r2.json, "data.started")))
    assert_string_equal(job2, job);
  http_res_free(&r2);
  http_res_free(&r);
  const char *jobs[2] = {job, job2};
  for (int k = 0; k < 2; k++) {
    snprintf(want, sizeof want, "/models/train/%s", jobs[k]);
    const char *status = NULL;
    for (int i = 0; i < 1200; i++) {
      assert_int_equal(http_do(&S, "GET", want, NULL, NULL, 0, &r), 0);
      assert_int_equal(r.status, 200);
      double p = jnum(r.json, "data.progress");
      assert_true(p >= 0 && p <= 1);
      assert_non_null(jstr(r.json, "data.stage"));
      status = jstr(r.json, "data.status");
      if (strcmp(status, "running") != 0)
        break;
      http_res_free(&r);
      sleep_ms(50);
    }
    assert_string_equal(status, "succeeded");
    long long v = (long long)jnum(r.json, "data.summary.version");
    assert_true(v > trained_version || (k == 1 && v == trained_version));
    trained_version = v;
    http_res_free(&r);
  }
}

static void test_models__report_keeps_seed_keys(void **state) {
  struct http_res r;
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  json_t *j = r.json;
  double acc = jnum(j, "data.evaluation.binary_classification_metrics.accuracy");
  assert_true(acc >= 0 && acc <= 1);
  jnum(j, "data.evaluation.binary_classification_metrics.report.0.f1-score");
  jnum(j, "data.evaluation.binary_classification_metrics.report.1.f1-score");
  acc = jnum(j, "data.evaluation.multi_classification_metrics.accuracy");
  assert_true(acc >= 0 && acc <= 1);
  assert_true(jnum(j, "data.evaluation.dataset_size") >= 20000);
  assert_int_equal((long long)jnum(j, "data.version"), trained_version);
  static const char *const models[] = {"demand", "demand_rise", "top_product"};
  for (int i = 0; i < 3; i++) {
    char p[96];
    snprintf(p, sizeof p, "data.models.%s.algorithm", models[i]);
    assert_non_null(jstr(j, p));
    snprintf(p, sizeof p, "data.models.%s.promoted", models[i]);
    assert_true(json_is_boolean(jget(j, p)));
    snprintf(p, sizeof p, "data.models.%s.baselines", models[i]);
    assert_true(json_object_size(jget(j, p)) >= 1);
  }
  /* the seasonal-naive baseline, and the rolling-origin backtest */
  assert_non_null(jget(j, "data.models.demand.baselines.seasonal_naive.poisson_deviance"));
  json_t *months = jget(j, "data.backtest.by_month");
  assert_true(json_array_size(months) >= 1);
  for (size_t i = 0; i < json_array_size(months); i++) {
    json_t *m = json_array_get(months, i);
    assert_non_null(jstr(m, "as_of"));
    assert_non_null(jstr(m, "period_from"));
    long long h = json_integer_value(jget(m, "horizon"));
    assert_true(h >= 1 && h <= 3);
    assert_true(jnum(m, "all.cells") > 0);
    assert_true(json_is_number(jget(m, "all.baselines.seasonal_naive.poisson_deviance")));
    assert_true(json_object_size(jget(m, "products")) >= 1);
  }
  for (int h = 1; h <= 3; h++) {
    char p[64];
    snprintf(p, sizeof p, "data.backtest.horizons.%d.cold_pincodes", h);
    assert_non_null(jget(j, p));
  }
  json_t *versions = jget(j, "data.versions");
  assert_true(json_array_size(versions) >= 2);
  int serving = 0;
  long long prev = -1;
  for (size_t i = 0; i < json_array_size(versions); i++) {
    json_t *v = json_array_get(versions, i);
    long long n = (long long)json_integer_value(json_object_get(v, "version"));
    assert_true(prev < 0 || n < prev); /* newest first */
    prev = n;
    assert_non_null(json_string_value(json_object_get(v, "trained_at")));
    assert_non_null(json_string_value(json_object_get(v, "data_from")));
    assert_non_null(json_string_value(json_object_get(v, "data_to")));
    assert_true(json_integer_value(json_object_get(v, "rows")) > 0);
    if (json_is_true(json_object_get(v, "serving"))) {
      serving++;
      assert_int_equal(n, trained_version);
    }
  }
  assert_int_equal(serving, 1);
  http_res_free(&r);
}

/* A probability as the response's text has it, in units of 1e-4: digits, and
 * at most 4 decimals. *end is set past it; -1 if it is no such number. */
static long text_units(const char *s, const char **end) {
  long whole = 0, frac = 0;
  int digits = 0, decimals = 0;
  for (; *s >= '0' && *s <= '9'; s++, digits++)
    whole = whole * 10 + (*s - '0');
  if (*s == '.')
    for (s++; *s >= '0' && *s <= '9'; s++)
      if (++decimals <= 4)
        frac = frac * 10 + (*s - '0');
  *end = s;
  if (!digits || decimals > 4 || digits > 6)
    return -1;
  while (decimals++ < 4)
    frac *= 10;
  return whole * 10000 + frac;
}

/* In each top-product answer of the text, as sent: all_products add up to
 * exactly 1 (10,000 units of 1e-4) and probability is the largest of them.
 * Returns the number of answers seen. */
static size_t check_shares_text(const char *text) {
  size_t answers = 0;
  for (const char *p = strstr(text, "\"probability\":"); p;
       p = strstr(p, "\"probability\":")) {
    const char *q;
    long prob = text_units(p + strlen("\"probability\":"), &q);
    assert_true(prob >= 0);
    static const char all[] = ",\"all_products\":{";
    if (strncmp(q, all, sizeof all - 1) != 0)
      fail_msg("no all_products after the probability: %.80s", q);
    q += sizeof all - 1;
    long sum = 0, best = -1;
    while (*q == '"') {
      const char *colon = strstr(q, "\":");
      assert_non_null(colon);
      long u = text_units(colon + 2, &q);
      if (u < 0)
        fail_msg("not a 4-decimal share: %.40s", colon + 2);
      sum += u;
      best = u > best ? u : best;
      if (*q == ',')
        q++;
    }
    assert_true(*q == '}');
    if (sum != 10000)
      fail_msg("answer %zu: all_products sum to %ld.%04ld", answers, sum / 10000, sum % 10000);
    assert_int_equal(prob, best);
    answers++;
    p = q;
  }
  return answers;
}

static void test_models__predictions(void **state) {
  char body[1024];
  struct http_res r;
  /* Known cell, one object, segment given. */
  snprintf(body, sizeof body,
           "{\"pincode\":%s,\"product\":\"%s\",\"channel\":\"%s\",\"customer_age\":35,"
           "\"customer_income\":75000}",
           known_pin, known_product, known_channel);
  post_as(analyst, "/predict/demand", body, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(jstr(r.json, "status"), "success");
  json_t *a = jget(r.json, "data.0");
  assert_non_null(a);
  assert_string_equal(jstr(a, "pincode"), known_pin); /* a string, as given */
  assert_string_equal(jstr(a, "product"), known_product);
  assert_string_equal(jstr(a, "channel"), known_channel);
  assert_true(jnum(a, "predicted_demand") >= 0);
  double conf = jnum(a, "confidence");
  assert_true(conf >= 0 && conf <= 1);
  assert_true(jnum(a, "interval.low") <= jnum(a, "interval.high"));
  assert_true(jnum(a, "interval.level") > 0 && jnum(a, "interval.level") < 1);
  assert_true(jnum(a, "last_period_demand") >= 0);
  assert_int_equal((long long)jnum(a, "model_version"), trained_version);
  assert_non_null(jstr(a, "source"));
  if (!json_is_false(jget(a, "fallback")))
    fail_msg("%s/%s/%s: %s", known_pin, known_product, known_channel,
             jstr(a, "fallback_reason"));
  assert_null(jget(a, "drivers"));
  http_res_free(&r);

  /* Horizons: ?horizon= for the whole request, "horizon" per query; each
   * answer names its period, consecutive 30-day periods after the as-of
   * date. */
  for (int k = 0; k < 2; k++) {
    const char *path = k ? "/predict/demand-rise?horizon=2" : "/predict/demand?horizon=2";
    snprintf(body, sizeof body,
             "[{\"pincode\":%s,\"product\":\"%s\",\"channel\":\"%s\",\"horizon\":1},"
             "{\"pincode\":%s,\"product\":\"%s\",\"channel\":\"%s\"},"
             "{\"pincode\":%s,\"product\":\"%s\",\"channel\":\"%s\",\"horizon\":3}]",
             known_pin, known_product, known_channel, known_pin, known_product, known_channel,
             known_pin, known_product, known_channel);
    post_as(analyst, path, body, &r);
    assert_int_equal(r.status, 200);
    char prev_to[11] = "";
    for (int h = 1; h <= 3; h++) {
      json_t *x = json_array_get(jget(r.json, "data"), (size_t)h - 1);
      assert_int_equal(json_integer_value(jget(x, "horizon")), h);
      const char *from = jstr(x, "period.from"), *to = jstr(x, "period.to");
      assert_non_null(from);
      assert_non_null(to);
      assert_int_equal(strlen(from), 10);
      assert_true(strcmp(from, to) < 0);
      if (prev_to[0]) { /* the day after the previous period's last */
        int y, m, d;
        assert_int_equal(sscanf(prev_to, "%d-%d-%d", &y, &m, &d), 3);
        int64_t next = days_from_civil(y, (unsigned)m, (unsigned)d) + 1;
        assert_int_equal(sscanf(from, "%d-%d-%d", &y, &m, &d), 3);
        assert_int_equal(days_from_civil(y, (unsigned)m, (unsigned)d), next);
      }
      snprintf(prev_to, sizeof prev_to, "%s", to);
      if (!k)
        assert_true(jnum(x, "interval.low") <= jnum(x, "interval.high"));
      else
        assert_true(jnum(x, "probability") >= 0 && jnum(x, "probability") <= 1);
    }
    http_res_free(&r);
  }

  /* The example body of docs/api.md, as is. */
  post_as(analyst, "/predict/demand",
          "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
          "\"customer_age\":35,\"customer_income\":75000}]",
          &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_array_size(jget(r.json, "data")), 1);
  http_res_free(&r);

  /* Unseen pincode, product and channel: answers, marked as fallbacks. */
  snprintf(body, sizeof body,
           "[{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"},"
           "{\"pincode\":\"%s\",\"product\":\"gold_bond\",\"channel\":\"%s\"},"
           "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"kiosk\"}]",
           unseen_pin, known_product, known_channel, known_pin, known_channel, known_pin,
           known_product);
  static const char *const why[] = {"pincode", "product", "channel"};
  static const char *const kinds[] = {"/predict/demand", "/predict/demand-rise"};
  for (int k = 0; k < 2; k++) {
    post_as(analyst, kinds[k], body, &r);
    assert_int_equal(r.status, 200);
    for (int i = 0; i < 3; i++) {
      json_t *x = json_array_get(jget(r.json, "data"), (size_t)i);
      assert_true(json_is_true(jget(x, "fallback")));
      const char *reason = jstr(x, "fallback_reason");
      assert_non_null(reason);
      assert_non_null(strstr(reason, why[i]));
      assert_int_equal((long long)jnum(x, "model_version"), trained_version);
    }
    http_res_free(&r);
  }

  /* demand-rise: a probability, and the flag agrees with it. */
  snprintf(body, sizeof body, "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"}",
           known_pin, known_product, known_channel);
  post_as(analyst, "/predict/demand-rise", body, &r);
  assert_int_equal(r.status, 200);
  a = jget(r.json, "data.0");
  double p = jnum(a, "probability");
  assert_true(p >= 0 && p <= 1);
  assert_int_equal(json_is_true(jget(a, "demand_rise")), p > 0.5);
  http_res_free(&r);

  /* top-product: probabilities summing to 1, the top is the largest. */
  snprintf(body, sizeof body,
           "{\"pincode\":\"%s\",\"channel\":\"%s\",\"customer_age\":30,"
           "\"customer_income\":40000}",
           known_pin, known_channel);
  post_as(analyst, "/predict/top-product", body, &r);
  assert_int_equal(r.status, 200);
  a = jget(r.json, "data.0");
  json_t *all = jget(a, "all_products");
  assert_true(json_object_size(all) >= 2);
  double sum = 0, best = -1;
  const char *key;
  json_t *v;
  json_object_foreach(all, key, v) {
    sum += json_number_value(v);
    if (json_number_value(v) > best)
      best = json_number_value(v);
  }
  assert_true(sum > 0.99 && sum < 1.01);
  assert_true(jnum(a, "probability") == best);
  assert_true(jnum(all, jstr(a, "top_product")) == best);
  assert_null(jget(a, "product"));
  assert_int_equal(check_shares_text(r.body), 1); /* exactly 1 as sent */
  http_res_free(&r);

  /* ?explain=true: drivers with plain names. */
  snprintf(body, sizeof body, "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"}",
           known_pin, known_product, known_channel);
  post_as(analyst, "/predict/demand?explain=true", body, &r);
  assert_int_equal(r.status, 200);
  a = jget(r.json, "data.0");
  json_t *drivers = jget(a, "drivers");
  assert_true(json_is_array(drivers));
  if (!strcmp(jstr(a, "source"), "model"))
    assert_true(json_array_size(drivers) >= 1);
  for (size_t i = 0; i < json_array_size(drivers); i++) {
    json_t *d = json_array_get(drivers, i);
    assert_true(strlen(jstr(d, "feature")) > 3);
    assert_true(json_is_number(jget(d, "contribution")));
    assert_true(json_is_number(jget(d, "value")) || json_is_null(jget(d, "value")));
  }
  http_res_free(&r);
  post_as(analyst, "/predict/demand?explain=maybe", body, &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
}

/* Pincodes with sales (fallbacks are answered too, but cost more: the
 * batches are about order and size). */
static char pins[64][8];
static size_t npins;

static void collect_pins(void) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/sales?limit=1000", NULL, NULL, 0, &r), 0);
  json_t *sales = jget(r.json, "data.sales");
  for (size_t i = 0; i < json_array_size(sales) && npins < 64; i++) {
    const char *p = jstr(json_array_get(sales, i), "pincode");
    int dup = 0;
    for (size_t k = 0; k < npins && !dup; k++)
      dup = !strcmp(pins[k], p);
    if (!dup)
      snprintf(pins[npins++], sizeof pins[0], "%s", p);
  }
  http_res_free(&r);
  assert_true(npins >= 8);
}

static const char *batch_pin(size_t i) { return pins[(i * 7) % npins]; }

/* A batch of n queries over many pincodes, products and channels. */
static char *batch_body(size_t n, size_t *len) {
  static const char *const products[] = {"loan", "insurance", "credit_card"};
  static const char *const channels[] = {"online", "offline"};
  size_t cap = n * 160 + 16, off = 0;
  char *b = malloc(cap);
  assert_non_null(b);
  b[off++] = '[';
  for (size_t i = 0; i < n; i++) {
    const char *pin = batch_pin(i);
    if (i % 3 == 0) /* the pincode as an integer */
      off += (size_t)snprintf(b + off, cap - off,
                              "%s{\"pincode\":%s,\"product\":\"%s\",\"channel\":\"%s\"}",
                              i ? "," : "", pin, products[i % 3], channels[i % 2]);
    else
      off += (size_t)snprintf(b + off, cap - off,
                              "%s{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\","
                              "\"customer_age\":%d,\"customer_income\":%zu}",
                              i ? "," : "", pin, products[i % 3], channels[i % 2],
                              18 + (int)(i % 80), (i * 131) % 400000);
  }
  b[off++] = ']';
  b[off] = '\0';
  *len = off;
  return b;
}

/* A gazetteer pincode without sales: a fallback, a finite forecast within
 * its interval (of the count: its whole part), answered at each horizon by
 * what the backtest's cold pincodes chose (`serves`); the model's answer
 * is a single cell, with drivers under ?explain=true. */
static void test_models__pincode_without_sales(void **state) {
  struct http_res r;
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  char serves[3][24];
  for (int h = 1; h <= 3; h++) {
    char p[96];
    snprintf(p, sizeof p, "data.backtest.horizons.%d.cold_pincodes.serves", h);
    const char *sv = jstr(r.json, p);
    assert_non_null(sv);
    assert_true(!strcmp(sv, "model") || !strcmp(sv, "nearest_average"));
    snprintf(serves[h - 1], sizeof serves[h - 1], "%s", sv);
    snprintf(p, sizeof p, "data.backtest.horizons.%d.cold_pincodes.model", h);
    assert_true(json_is_object(jget(r.json, p)));
    snprintf(p, sizeof p, "data.backtest.horizons.%d.cold_pincodes.baseline_nearest_average", h);
    assert_true(json_is_object(jget(r.json, p)));
  }
  http_res_free(&r);
  /* a pincode of the gazetteer without sales */
  struct gaz *gz = NULL;
  struct gerr err;
  assert_int_equal(gaz_load_default(&gz, &err), 0);
  char cold_pin[8] = "";
  for (size_t i = 101; i < gaz_count(gz) && !cold_pin[0]; i += 1009) {
    char pin[8];
    snprintf(pin, sizeof pin, "%06d", (int)gaz_at(gz, i)->pincode);
    if (!pin_in_data(pin))
      snprintf(cold_pin, sizeof cold_pin, "%s", pin);
  }
  gaz_free(gz);
  assert_true(cold_pin[0]);
  char body[512];
  snprintf(body, sizeof body,
           "[{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\",\"horizon\":1},"
           "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\",\"horizon\":2},"
           "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\",\"horizon\":3}]",
           cold_pin, known_product, known_channel, cold_pin, known_product, known_channel,
           cold_pin, known_product, known_channel);
  post_as(analyst, "/predict/demand?explain=true", body, &r);
  assert_int_equal(r.status, 200);
  for (int h = 1; h <= 3; h++) {
    json_t *a = json_array_get(jget(r.json, "data"), (size_t)h - 1);
    assert_true(json_is_true(jget(a, "fallback")));
    const char *why = jstr(a, "fallback_reason");
    assert_non_null(why);
    double mu = jnum(a, "predicted_demand");
    assert_true(isfinite(mu) && mu >= 0);
    assert_true(jnum(a, "interval.low") <= mu && floor(mu) <= jnum(a, "interval.high"));
    printf("pincode %s without sales, horizon %d (%s serves): %.4f [%g, %g]\n", cold_pin, h,
           serves[h - 1], mu, jnum(a, "interval.low"), jnum(a, "interval.high"));
    if (!strcmp(serves[h - 1], "model")) {
      assert_non_null(strstr(why, "the model answers"));
      assert_string_equal(jstr(a, "source"), "model");
      assert_true(json_array_size(jget(a, "drivers")) >= 1);
    } else {
      assert_non_null(strstr(why, "nearest pincodes"));
    }
  }
  http_res_free(&r);
}

static void test_models__batches_in_order(void **state) {
  collect_pins();
  static const char *const products[] = {"loan", "insurance", "credit_card"};
  static const char *const channels[] = {"online", "offline"};
  size_t len;
  char *body = batch_body(10000, &len);
  struct http_res r;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(http_do_as(&S, analyst, NULL, "POST", "/predict/demand", "application/json",
                              body, len, &r),
                   0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(r.status, 200);
  printf("batch of 10,000 demand queries: %.1f ms round trip\n",
         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  json_t *data = jget(r.json, "data");
  assert_int_equal(json_array_size(data), 10000);
  for (size_t i = 0; i < 10000; i++) {
    json_t *a = json_array_get(data, i);
    assert_string_equal(jstr(a, "pincode"), batch_pin(i));
    assert_string_equal(jstr(a, "product"), products[i % 3]);
    assert_string_equal(jstr(a, "channel"), channels[i % 2]);
    assert_int_equal(json_object_get(a, "customer_age") != NULL, i % 3 != 0);
    assert_int_equal((long long)jnum(a, "model_version"), trained_version);
  }
  http_res_free(&r);
  free(body);
  /* Top products over the same queries: in every answer the shares, as
   * printed, sum to exactly 1. */
  body = batch_body(3000, &len);
  assert_int_equal(http_do_as(&S, analyst, NULL, "POST", "/predict/top-product",
                              "application/json", body, len, &r),
                   0);
  assert_int_equal(r.status, 200);
  assert_int_equal(check_shares_text(r.body), 3000);
  http_res_free(&r);
  free(body);
  /* One more than allowed. */
  body = batch_body(10001, &len);
  assert_int_equal(http_do_as(&S, analyst, NULL, "POST", "/predict/top-product",
                              "application/json", body, len, &r),
                   0);
  expect_error(&r, 413, "payload_too_large");
  assert_non_null(strstr(jstr(r.json, "error.message"), "10000"));
  http_res_free(&r);
  free(body);
}


/* ---- regions (docs/rules.md §4) ---- */

/* region id of every pincode of the serving regions, by pincode */
struct region_map {
  size_t n;
  int32_t pin[20000], id[20000];
};

static void region_map_of(json_t *list, struct region_map *m) {
  m->n = 0;
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *reg = json_array_get(list, i);
    json_t *members = json_object_get(reg, "pincodes");
    for (size_t j = 0; j < json_array_size(members) && m->n < 20000; j++) {
      m->pin[m->n] = (int32_t)atol(json_string_value(json_array_get(members, j)));
      m->id[m->n++] = (int32_t)json_integer_value(json_object_get(reg, "region_id"));
    }
  }
}

static int32_t region_in(const struct region_map *m, int32_t pin) {
  for (size_t i = 0; i < m->n; i++)
    if (m->pin[i] == pin)
      return m->id[i];
  return 0;
}

static struct region_map first_regions;

static void test_models__regions(void **state) {
  struct http_res r;
  assert_int_equal(http_do_as(&S, NULL, NULL, "GET", "/regions", NULL, NULL, 0, &r), 0);
  expect_error(&r, 401, "unauthorized");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/regions", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal((long long)jnum(r.json, "data.model_version"), trained_version);
  json_t *list = jget(r.json, "data.regions");
  size_t k = json_array_size(list);
  assert_true(k >= 1);
  assert_int_equal((size_t)jnum(r.json, "data.count"), k);
  /* every region whole and coherent; no pincode in two */
  size_t smallest = 0;
  long long prev_id = 0, pins_total = 0;
  for (size_t i = 0; i < k; i++) {
    json_t *g = json_array_get(list, i);
    long long id = (long long)jnum(g, "region_id");
    assert_true(id > prev_id); /* ascending, distinct, from 1 */
    prev_id = id;
    size_t n = json_array_size(jget(g, "pincodes"));
    assert_true(n >= 1);
    assert_int_equal((size_t)jnum(g, "pincode_count"), n);
    pins_total += (long long)n;
    double total = jnum(g, "total_demand"), pred = jnum(g, "predicted_demand");
    assert_true(total >= 0 && pred >= 0 && total == (double)(long long)total);
    /* docs/rules.md §3: the flag is the probability of the total's rise
     * above 1/2; far above its last period, a region rises */
    double rise = jnum(g, "demand_rise_probability");
    assert_true(rise >= 0 && rise <= 1);
    assert_true(json_is_true(jget(g, "demand_rise_flag")) == (rise > 0.5));
    if (pred > total + 3 * sqrt(pred) + 1)
      assert_true(rise > 0.5);
    assert_true(fabs(jnum(g, "avg_demand_per_pincode") - total / (double)n) < 1e-3);
    double sum = 0;
    const char *key;
    json_t *v;
    json_object_foreach(jget(g, "products.distribution"), key, v) sum += json_number_value(v);
    assert_true(total == 0 || fabs(sum - 1) < 1e-3);
    assert_non_null(jstr(g, "products.top_product"));
    assert_non_null(jstr(g, "channels.top_channel"));
    assert_true(jnum(g, "bounding_box.min_lat") <= jnum(g, "centroid.lat") + 1e-6);
    assert_true(jnum(g, "centroid.lat") <= jnum(g, "bounding_box.max_lat") + 1e-6);
    assert_true(json_array_size(jget(g, "states")) >= 1);
    assert_true(json_array_size(jget(g, "districts")) >= 1);
    assert_non_null(jstr(g, "districts.0.name"));
    if (n < json_array_size(jget(json_array_get(list, smallest), "pincodes")))
      smallest = i;
  }
  region_map_of(list, &first_regions);
  assert_int_equal((size_t)pins_total, first_regions.n);
  for (size_t i = 1; i < first_regions.n; i++)
    for (size_t j = 0; j < i && j < 64; j++) /* a sample: pincodes listed once */
      assert_true(first_regions.pin[i] != first_regions.pin[j]);

  /* The smallest region's predicted demand is the sum of its pincodes'
   * predictions, over every product and channel (in batches of at most
   * 10,000 queries). */
  json_t *g = json_array_get(list, smallest);
  long long gid = (long long)jnum(g, "region_id");
  json_t *members = jget(g, "pincodes");
  size_t n = json_array_size(members);
  const char *prod[16], *chan[16];
  size_t np = 0, nc = 0;
  const char *key;
  json_t *v;
  json_object_foreach(jget(g, "products.distribution"), key, v) if (np < 16) prod[np++] = key;
  json_object_foreach(jget(g, "channels.distribution"), key, v) if (nc < 16) chan[nc++] = key;
  assert_true(np >= 1 && nc >= 1);
  size_t per = 10000 / (np * nc); /* pincodes a batch */
  double sum = 0;
  for (size_t from = 0; from < n; from += per) {
    size_t to = from + per < n ? from + per : n;
    size_t cap = (to - from) * np * nc * 96 + 16, len = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    body[len++] = '[';
    for (size_t i = from; i < to; i++)
      for (size_t a = 0; a < np; a++)
        for (size_t c = 0; c < nc; c++)
          len += (size_t)snprintf(body + len, cap - len,
                                  "%s{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"}",
                                  len > 1 ? "," : "",
                                  json_string_value(json_array_get(members, i)), prod[a], chan[c]);
    body[len++] = ']';
    body[len] = '\0';
    struct http_res p;
    assert_int_equal(http_do_as(&S, analyst, NULL, "POST", "/predict/demand",
                                "application/json", body, len, &p),
                     0);
    free(body);
    assert_int_equal(p.status, 200);
    json_t *ans = jget(p.json, "data");
    assert_int_equal(json_array_size(ans), (to - from) * np * nc);
    for (size_t i = 0; i < json_array_size(ans); i++) {
      json_t *a = json_array_get(ans, i);
      assert_int_equal((long long)jnum(a, "region_id"), gid); /* predictions carry it */
      /* a member without a sale in the last 12 periods may be answered by
       * its nearest pincodes, and says so */
      if (!json_is_false(jget(a, "fallback")))
        assert_non_null(strstr(jstr(a, "fallback_reason"), "no sale in the last 12 periods"));
      sum += jnum(a, "predicted_demand");
    }
    http_res_free(&p);
  }
  printf("%zu regions; region %lld: predicted %.4f, sum over its %zu cells %.4f\n", k, gid,
         jnum(g, "predicted_demand"), n * np * nc, sum);
  /* each answer and the region's figure are rounded to 4 decimals */
  assert_true(fabs(sum - jnum(g, "predicted_demand")) <= 5e-5 * (double)(n * np * nc) + 1e-4);

  /* One region, by id and by pincode, is the listed one. */
  char path[128];
  snprintf(path, sizeof path, "/regions/%lld", gid);
  struct http_res one;
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", path, NULL, NULL, 0, &one), 0);
  assert_int_equal(one.status, 200);
  assert_int_equal((long long)jnum(one.json, "data.region_id"), gid);
  assert_int_equal((long long)jnum(one.json, "data.model_version"), trained_version);
  assert_true(jnum(one.json, "data.predicted_demand") == jnum(g, "predicted_demand"));
  assert_true(jnum(one.json, "data.pincode_count") == jnum(g, "pincode_count"));
  http_res_free(&one);
  snprintf(path, sizeof path, "/regions?pincode=%s", jstr(g, "pincodes.0"));
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", path, NULL, NULL, 0, &one), 0);
  assert_int_equal(one.status, 200);
  assert_int_equal((long long)jnum(one.json, "data.region_id"), gid);
  http_res_free(&one);
  http_res_free(&r);

  /* Ids that name no region: 404, never 500. */
  static const char *const bad_ids[] = {"0", "-1", "abc", "1.5", "99999999999999999999",
                                        "2147483647", "%00", "1%20"};
  for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
    snprintf(path, sizeof path, "/regions/%s", bad_ids[i]);
    assert_int_equal(http_do_as(&S, viewer, NULL, "GET", path, NULL, NULL, 0, &one), 0);
    if (one.status != 404)
      fail_msg("GET %s: %ld %.200s", path, one.status, one.body);
    expect_error(&one, 404, "not_found");
    http_res_free(&one);
  }
  snprintf(path, sizeof path, "/regions?pincode=%s", unseen_pin);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", path, NULL, NULL, 0, &one), 0);
  expect_error(&one, 404, "not_found");
  http_res_free(&one);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/regions?pincode=12ab", NULL, NULL, 0,
                              &one),
                   0);
  expect_error(&one, 400, "invalid_input");
  http_res_free(&one);

  /* /models reports the clustering. */
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models", NULL, NULL, 0, &one), 0);
  assert_int_equal((size_t)jnum(one.json, "data.regions.regions"), k);
  double sil = jnum(one.json, "data.regions.silhouette");
  assert_true(sil >= -1 && sil <= 1);
  assert_true(jnum(one.json, "data.regions.median_km_to_centroid") >= 0);
  assert_true(jnum(one.json, "data.regions.product_mix_variance_vs_random") < 1);
  http_res_free(&one);
}

/* Retraining on the same sales plus 5% more keeps the region ids of the
 * pincodes whose region stayed. */
static void test_models__region_ids_stable(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/generate-sample-data/1000?seed=77&end=" DATA_END, NULL,
                           NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  post_as(S.key, "/models/train?wait=true&rounds=20&origins=3&promote=always", NULL, &r);
  assert_int_equal(r.status, 200);
  trained_version = (long long)jnum(r.json, "data.summary.version");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/regions", NULL, NULL, 0, &r), 0);
  assert_int_equal((long long)jnum(r.json, "data.model_version"), trained_version);
  static struct region_map now;
  region_map_of(jget(r.json, "data.regions"), &now);
  http_res_free(&r);
  size_t both = 0, kept = 0;
  for (size_t i = 0; i < first_regions.n; i++) {
    int32_t id = region_in(&now, first_regions.pin[i]);
    if (!id)
      continue;
    both++;
    kept += id == first_regions.id[i];
  }
  printf("region ids after 5%% more data: %zu of %zu pincodes kept theirs\n", kept, both);
  assert_true(both > 0);
  assert_true((double)kept >= 0.95 * (double)both);
}

static void test_models__bad_bodies(void **state) {
  struct http_res r;
  struct {
    const char *path, *body;
    long status;
    const char *code;
    long index;        /* -1: no detail checked */
    const char *field;
  } cases[] = {
      {"/predict/demand", "[{\"pincode\":\"400001\",", 400, "invalid_input", -1, NULL},
      {"/predict/demand", "{\"pincode\":\"400001\"} x", 400, "invalid_input", -1, NULL},
      {"/predict/demand", "\"400001\"", 400, "invalid_input", -1, NULL},
      {"/predict/demand", "[1,{\"pincode\":\"400001\",\"product\":\"loan\","
                          "\"channel\":\"online\"}]",
       422, "invalid_records", 0, "record"},
      {"/predict/demand", "[{\"pincode\":true,\"product\":\"loan\",\"channel\":\"online\"}]",
       422, "invalid_records", 0, "pincode"},
      {"/predict/demand", "[{\"pincode\":\"400001\",\"product\":7,\"channel\":\"online\"}]",
       422, "invalid_records", 0, "product"},
      {"/predict/demand",
       "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\"},"
       "{\"pincode\":\"012345\",\"product\":\"loan\",\"channel\":\"online\"}]",
       422, "invalid_records", 1, "pincode"},
      {"/predict/demand", "[{\"pincode\":\"40001\",\"product\":\"loan\",\"channel\":\"online\"}]",
       422, "invalid_records", 0, "pincode"},
      {"/predict/demand",
       "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
       "\"customer_age\":35}]",
       422, "invalid_records", 0, "customer_income"},
      {"/predict/demand-rise",
       "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
       "\"customer_income\":5000}]",
       422, "invalid_records", 0, "customer_age"},
      {"/predict/demand",
       "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
       "\"customer_age\":17,\"customer_income\":5000}]",
       422, "invalid_records", 0, "customer_age"},
      {"/predict/demand",
       "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
       "\"customer_age\":30,\"customer_income\":\"5000\"}]",
       422, "invalid_records", 0, "customer_income"},
      {"/predict/demand", "[{\"pincode\":\"400001\",\"channel\":\"online\"}]", 422,
       "invalid_records", 0, "product"},
      {"/predict/top-product", "[{\"pincode\":\"400001\"}]", 422, "invalid_records", 0,
       "channel"},
      {"/predict/demand", "[{\"pincode\":\"400001\",\"product\":\"Loan Plus\","
                          "\"channel\":\"online\"}]",
       422, "invalid_records", 0, "product"},
      {"/predict/demand", "[{\"pincode\":\"400001\",\"product\":\"loan\","
                          "\"channel\":\"online\",\"channel\":\"offline\"}]",
       422, "invalid_records", 0, "channel"},
      {"/predict/demand", "[{\"pincode\":\"400001\",\"product\":\"loan\","
                          "\"channel\":\"online\",\"horizon\":4}]",
       422, "invalid_records", 0, "horizon"},
      {"/predict/demand-rise", "[{\"pincode\":\"400001\",\"product\":\"loan\","
                               "\"channel\":\"online\",\"horizon\":\"2\"}]",
       422, "invalid_records", 0, "horizon"},
      {"/predict/demand", "[{\"pincode\":\"400001\",\"product\":\"loan\","
                          "\"channel\":\"online\",\"horizon\":1.5}]",
       422, "invalid_records", 0, "horizon"},
      {"/predict/demand?horizon=0", ONE_QUERY, 400, "invalid_input", -1, NULL},
      {"/predict/demand?horizon=4", ONE_QUERY, 400, "invalid_input", -1, NULL},
      {"/predict/demand-rise?horizon=x", ONE_QUERY, 400, "invalid_input", -1, NULL},
      {"/predict/top-product?horizon=2", "[{\"pincode\":\"400001\",\"channel\":\"online\"}]",
       400, "invalid_input", -1, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    post_as(analyst, cases[i].path, cases[i].body, &r);
    expect_error(&r, cases[i].status, cases[i].code);
    if (cases[i].index >= 0 && !has_detail(&r, cases[i].index, cases[i].field))
      fail_msg("case %zu: no detail for index %ld field %s: %s", i, cases[i].index,
               cases[i].field, r.body);
    http_res_free(&r);
  }
  /* Empty body, another media type. */
  post_as(analyst, "/predict/demand", NULL, &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, analyst, NULL, "POST", "/predict/demand", "text/plain",
                              ONE_QUERY, strlen(ONE_QUERY), &r),
                   0);
  expect_error(&r, 415, "unsupported_media_type");
  http_res_free(&r);
  /* Unknown members are ignored; product is not an input of top-product. */
  post_as(analyst, "/predict/top-product",
          "{\"pincode\":\"400001\",\"channel\":\"online\",\"product\":\"Not Valid!\","
          "\"note\":{\"x\":[1,2]}}",
          &r);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
}

/* ---- retraining under load ---- */

struct loader {
  pthread_t t;
  volatile int *stop;
  long requests, errors, mixed;
  long long first, last; /* versions seen */
  int went_back;
};

static void *load_loop(void *arg) {
  struct loader *l = arg;
  char body[4096];
  size_t off = 0;
  off += (size_t)snprintf(body + off, sizeof body - off, "[");
  for (int i = 0; i < 20; i++)
    off += (size_t)snprintf(body + off, sizeof body - off,
                            "%s{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"}",
                            i ? "," : "", i % 2 ? known_pin : unseen_pin, known_product,
                            known_channel);
  snprintf(body + off, sizeof body - off, "]");
  while (!*l->stop) {
    struct http_res r;
    if (http_do_as(&S, analyst, NULL, "POST", "/predict/demand", "application/json", body,
                   strlen(body), &r) < 0 ||
        r.status != 200) {
      l->errors++;
      http_res_free(&r);
      continue;
    }
    l->requests++;
    json_t *data = json_object_get(r.json, "data");
    long long v0 = json_integer_value(jget(json_array_get(data, 0), "model_version"));
    for (size_t i = 1; i < json_array_size(data); i++)
      if (json_integer_value(jget(json_array_get(data, i), "model_version")) != v0)
        l->mixed++;
    if (!l->first)
      l->first = v0;
    if (v0 < l->last)
      l->went_back = 1;
    l->last = v0;
    http_res_free(&r);
    sleep_ms(2); /* leave the training a core */
  }
  return NULL;
}

static void test_models__retrain_under_load(void **state) {
  volatile int stop = 0;
  struct loader l[3];
  memset(l, 0, sizeof l);
  for (int i = 0; i < 3; i++) {
    l[i].stop = &stop;
    assert_int_equal(pthread_create(&l[i].t, NULL, load_loop, &l[i]), 0);
  }
  sleep_ms(300);
  struct http_res r;
  post_as(S.key, "/models/train?wait=true&rounds=20&origins=3&promote=always", NULL, &r);
  assert_int_equal(r.status, 200);
  long long v = (long long)jnum(r.json, "data.summary.version");
  assert_int_equal(v, trained_version + 1);
  http_res_free(&r);
  sleep_ms(500);
  stop = 1;
  long total = 0;
  for (int i = 0; i < 3; i++) {
    pthread_join(l[i].t, NULL);
    assert_int_equal(l[i].errors, 0);
    assert_int_equal(l[i].mixed, 0); /* one version per answer set */
    assert_int_equal(l[i].went_back, 0);
    assert_true(l[i].first == trained_version || l[i].first == v);
    assert_int_equal(l[i].last, v); /* all moved to the new version */
    total += l[i].requests;
  }
  printf("%ld prediction requests during retraining, none failed\n", total);
  trained_version = v;
}

/* A version neither serving nor a candidate, from GET /models; 0: none. */
static long long former_version(json_t *versions) {
  size_t i;
  json_t *v;
  json_array_foreach(versions, i, v) {
    if (json_is_false(json_object_get(v, "serving")) &&
        json_is_false(json_object_get(v, "candidate")))
      return (long long)json_integer_value(json_object_get(v, "version"));
  }
  return 0;
}

/* Champion and challenger: a retrain on the same data with one boosting
 * round is worse than the serving version, so it is kept as a candidate
 * with the comparison; POST /models/promote serves it later (admins only,
 * recorded); promote=always overrides at training time. */
static void test_models__champion_challenger(void **state) {
  struct http_res r;
  long long champ = trained_version;
  post_as(S.key, "/models/train?wait=true&rounds=1&origins=3", NULL, &r);
  if (r.status != 200)
    fail_msg("train: %ld %.400s", r.status, r.body);
  long long cand = (long long)jnum(r.json, "data.summary.version");
  assert_true(cand > champ);
  assert_true(json_is_false(jget(r.json, "data.summary.serving")));
  assert_string_equal(jstr(r.json, "data.summary.promotion.decision"), "candidate");
  assert_string_equal(jstr(r.json, "data.summary.promotion.policy"), "if_better");
  assert_int_equal((long long)jnum(r.json, "data.summary.promotion.champion"), champ);
  assert_true(json_is_false(jget(r.json, "data.summary.promotion.models.demand.no_worse")));
  assert_true(jnum(r.json, "data.summary.promotion.models.demand.challenger") >
              jnum(r.json, "data.summary.promotion.models.demand.champion"));
  assert_string_equal(jstr(r.json, "data.summary.promotion.models.demand_rise.metric"),
                      "log_loss");
  assert_non_null(strstr(jstr(r.json, "message"), "candidate"));
  http_res_free(&r);

  /* The champion serves on; the registry shows the candidate and why. */
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal((long long)jnum(r.json, "data.version"), champ);
  assert_int_equal((long long)jnum(r.json, "data.versions.0.version"), cand);
  assert_true(json_is_true(jget(r.json, "data.versions.0.candidate")));
  assert_true(json_is_false(jget(r.json, "data.versions.0.serving")));
  assert_string_equal(jstr(r.json, "data.versions.0.promotion.decision"), "candidate");
  assert_true(jnum(r.json, "data.versions.0.promotion.models.top_product.champion") > 0);
  assert_true(json_is_true(jget(r.json, "data.versions.1.serving")));
  long long former = former_version(jget(r.json, "data.versions"));
  http_res_free(&r);
  char path[96];
  snprintf(path, sizeof path, "/models?version=%lld", cand);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", path, NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal((long long)jnum(r.json, "data.version"), cand);
  assert_true(json_is_false(jget(r.json, "data.serving")));
  assert_string_equal(jstr(r.json, "data.promotion.decision"), "candidate");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models?version=99999", NULL, NULL, 0,
                              &r), 0);
  expect_error(&r, 404, "not_found");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, viewer, NULL, "GET", "/models?version=x", NULL, NULL, 0, &r),
                   0);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);

  /* Promoting: admins only, a candidate only. */
  char body[160];
  snprintf(body, sizeof body, "{\"version\":%lld,\"reason\":\"checked by hand\"}", cand);
  post_as(analyst, "/models/promote", body, &r);
  expect_error(&r, 403, "forbidden");
  http_res_free(&r);
  post_as(viewer, "/models/promote", body, &r);
  expect_error(&r, 403, "forbidden");
  http_res_free(&r);
  post_as(S.key, "/models/promote", "{\"version\":\"x\"}", &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  post_as(S.key, "/models/promote", "{\"version\":99999}", &r);
  expect_error(&r, 404, "not_found");
  http_res_free(&r);
  char other[64];
  snprintf(other, sizeof other, "{\"version\":%lld}", champ);
  post_as(S.key, "/models/promote", other, &r);
  expect_error(&r, 409, "conflict");
  http_res_free(&r);
  if (former) { /* served before: not a candidate, roll back to it instead */
    snprintf(other, sizeof other, "{\"version\":%lld}", former);
    post_as(S.key, "/models/promote", other, &r);
    expect_error(&r, 422, "invalid_records");
    assert_non_null(strstr(jstr(r.json, "error.message"), "/models/rollback"));
    http_res_free(&r);
  }
  post_as(S.key, "/models/promote", body, &r);
  if (r.status != 200)
    fail_msg("promote: %ld %.400s", r.status, r.body);
  assert_string_equal(jstr(r.json, "data.promotion.decision"), "promoted");
  assert_string_equal(jstr(r.json, "data.promotion.policy"), "manual");
  assert_non_null(strstr(jstr(r.json, "data.promotion.override.by"), "key "));
  assert_string_equal(jstr(r.json, "data.promotion.override.reason"), "checked by hand");
  assert_int_equal((long long)jnum(r.json, "data.promotion.champion"), champ);
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal((long long)jnum(r.json, "data.version"), cand);
  assert_string_equal(jstr(r.json, "data.promotion.policy"), "manual");
  http_res_free(&r);
  post_as(S.key, "/models/promote", body, &r); /* serves already */
  expect_error(&r, 409, "conflict");
  http_res_free(&r);

  /* Bad policies; then the override at training time, recorded. */
  post_as(S.key, "/models/train?promote=sometimes", NULL, &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  post_as(S.key, "/models/train", "{\"promote\":5}", &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  post_as(S.key, "/models/train", "[1]", &r);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  post_as(S.key, "/models/train?wait=true&rounds=20&origins=3",
          "{\"promote\":\"always\",\"reason\":\"new data checked\"}", &r);
  if (r.status != 200)
    fail_msg("train: %ld %.400s", r.status, r.body);
  assert_true(json_is_true(jget(r.json, "data.summary.serving")));
  assert_string_equal(jstr(r.json, "data.summary.promotion.decision"), "promoted");
  assert_string_equal(jstr(r.json, "data.summary.promotion.policy"), "always");
  assert_string_equal(jstr(r.json, "data.summary.promotion.override.reason"),
                      "new data checked");
  assert_string_equal(jstr(r.json, "data.options.promote"), "always");
  trained_version = (long long)jnum(r.json, "data.summary.version");
  http_res_free(&r);
}

static void test_models__rollback_through_cli(void **state) {
  char out[4096], err[4096];
  char ver[24];
  snprintf(ver, sizeof ver, "%lld", trained_version - 1);
  const char *const roll[] = {"models", "rollback", ver, "--db", S.db, NULL};
  assert_int_equal(run_cli(roll, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "now serves"));
  /* The running server picks the change up by itself. */
  char body[256];
  snprintf(body, sizeof body, "{\"pincode\":\"%s\",\"product\":\"%s\",\"channel\":\"%s\"}",
           known_pin, known_product, known_channel);
  long long seen = 0;
  for (int i = 0; i < 200 && seen != trained_version - 1; i++) {
    struct http_res r;
    post_as(analyst, "/predict/demand", body, &r);
    assert_int_equal(r.status, 200);
    seen = (long long)jnum(r.json, "data.0.model_version");
    http_res_free(&r);
    if (seen != trained_version - 1)
      sleep_ms(50);
  }
  assert_int_equal(seen, trained_version - 1);
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal((long long)jnum(r.json, "data.version"), trained_version - 1);
  http_res_free(&r);
  const char *const list[] = {"models", "list", "--db", S.db, NULL};
  assert_int_equal(run_cli(list, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "VERSION"));
  assert_non_null(strstr(out, "serving"));
  const char *const bad[] = {"models", "rollback", "999", "--db", S.db, NULL};
  assert_int_equal(run_cli(bad, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no model version 999"));
}

/* The last test: a training runs while the server is told to stop; the
 * group teardown checks that it still exits cleanly. */
static void test_models__stop_during_training(void **state) {
  struct http_res r;
  post_as(S.key, "/models/train?rounds=20&origins=3&promote=always", NULL, &r);
  assert_int_equal(r.status, 202);
  http_res_free(&r);
}

/* ---- the command line, on a store of its own ---- */

static void test_models_cli__help(void **state) {
  static const char *const cmds[] = {"train", "models", "predict"};
  char out[8192];
  for (size_t i = 0; i < 3; i++) {
    const char *const a[] = {cmds[i], "--help", NULL};
    assert_int_equal(run_cli(a, out, sizeof out, NULL, 0), 0);
    assert_non_null(strstr(out, "usage: gromo"));
  }
}

static void test_models_cli__train_list_predict(void **state) {
  static char out[1 << 20], err[8192];
  const char *const pred[] = {"predict", "demand", "--pincode", "400001", "--product", "loan",
                              "--channel", "online", "--db", cli_db, NULL};
  assert_int_equal(run_cli(pred, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "not trained"));
  const char *const empty[] = {"models", "list", "--db", cli_db, NULL};
  assert_int_equal(run_cli(empty, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "no model is trained yet"));

  const char *const gen[] = {"generate", "20000", "--seed", "1", "--end", DATA_END, "--quiet",
                             "--db", cli_db, NULL};
  assert_int_equal(run_cli(gen, NULL, 0, err, sizeof err), 0);
  const char *const train[] = {"train", "--rounds", "10", "--origins", "3", "--db", cli_db, NULL};
  assert_int_equal(run_cli(train, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "model version 1"));
  assert_non_null(strstr(out, "holdout metric"));
  assert_non_null(strstr(out, "poisson_deviance"));
  assert_non_null(strstr(out, "top_product"));
  const char *const tj[] = {"train",   "--rounds", "5",  "--origins", "2", "--promote",
                            "always",  "--json",   "--db", cli_db,     NULL};
  assert_int_equal(run_cli(tj, out, sizeof out, err, sizeof err), 0);
  json_t *sum = json_loads(out, 0, NULL);
  assert_non_null(sum);
  assert_int_equal(json_integer_value(json_object_get(sum, "version")), 2);
  assert_non_null(jget(sum, "evaluation.multi_classification_metrics.accuracy"));
  json_decref(sum);

  const char *const list[] = {"models", "list", "--json", "--db", cli_db, NULL};
  assert_int_equal(run_cli(list, out, sizeof out, err, sizeof err), 0);
  json_t *l = json_loads(out, 0, NULL);
  assert_int_equal(json_array_size(l), 2);
  assert_int_equal(json_integer_value(jget(l, "0.version")), 2);
  assert_true(json_is_true(jget(l, "0.serving")));
  assert_true(json_is_false(jget(l, "1.serving")));
  assert_true(json_is_boolean(jget(l, "0.promoted.demand")));
  json_decref(l);

  assert_int_equal(run_cli(pred, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "predicted demand"));
  assert_non_null(strstr(out, "model version 2"));
  const char *const p3[] = {"predict", "demand", "--pincode", "400001", "--product", "loan",
                            "--channel", "online", "--horizon", "3", "--json", "--db", cli_db,
                            NULL};
  assert_int_equal(run_cli(p3, out, sizeof out, err, sizeof err), 0);
  json_t *h3 = json_loads(out, 0, NULL);
  assert_int_equal(json_integer_value(jget(h3, "horizon")), 3);
  assert_non_null(jstr(h3, "period.from"));
  json_decref(h3);
  const char *const p4[] = {"predict", "demand", "--pincode", "400001", "--product", "loan",
                            "--channel", "online", "--horizon", "4", "--db", cli_db, NULL};
  assert_int_equal(run_cli(p4, out, sizeof out, err, sizeof err), 2);
  assert_non_null(strstr(err, "horizon"));
  /* the backtest of the serving version, as text and as JSON */
  const char *const bt[] = {"models", "backtest", "--db", cli_db, NULL};
  assert_int_equal(run_cli(bt, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "backtest of model version 2"));
  assert_non_null(strstr(out, "horizon 1"));
  const char *const btj[] = {"models", "backtest", "1", "--json", "--db", cli_db, NULL};
  assert_int_equal(run_cli(btj, out, sizeof out, err, sizeof err), 0);
  json_t *b = json_loads(out, 0, NULL);
  assert_true(json_array_size(jget(b, "by_month")) >= 1);
  json_decref(b);
  const char *const btx[] = {"models", "backtest", "99", "--db", cli_db, NULL};
  assert_int_equal(run_cli(btx, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no model version 99"));
  const char *const pj[] = {"predict", "top-product", "--pincode", "999999", "--channel",
                            "kiosk", "--age", "30", "--income", "45,000", "--json",
                            "--explain", "--db", cli_db, NULL};
  assert_int_equal(run_cli(pj, out, sizeof out, err, sizeof err), 0);
  assert_int_equal(check_shares_text(out), 1);
  json_t *a = json_loads(out, 0, NULL);
  assert_non_null(a);
  assert_string_equal(jstr(a, "pincode"), "999999");
  assert_true(json_is_true(jget(a, "fallback")));
  assert_non_null(jstr(a, "top_product"));
  assert_true(json_is_array(jget(a, "drivers")));
  assert_int_equal(json_integer_value(jget(a, "customer_age")), 30);
  json_decref(a);
  /* The table's percentages add up to 100.0 too. */
  const char *const top[] = {"predict", "top-product", "--pincode", "400001", "--channel",
                             "online", "--age", "30", "--income", "45000", "--db", cli_db, NULL};
  assert_int_equal(run_cli(top, out, sizeof out, err, sizeof err), 0);
  long tenths = 0;
  int shown = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    size_t n = strlen(line);
    long whole, tenth;
    char *num = strrchr(line, ' ');
    if (n && line[n - 1] == '%' && num && sscanf(num, " %ld.%1ld%%", &whole, &tenth) == 2) {
      tenths += whole * 10 + tenth;
      shown++;
    }
  }
  assert_true(shown >= 2);
  assert_int_equal(tenths, 1000);
  const char *const rise[] = {"predict", "demand-rise", "--pincode", "400001", "--product",
                              "loan", "--channel", "online", "--explain", "--db", cli_db, NULL};
  assert_int_equal(run_cli(rise, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "probability"));

  /* regions: the table, one region, the region of a pincode, as JSON */
  const char *const regs[] = {"regions", "--db", cli_db, NULL};
  assert_int_equal(run_cli(regs, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "regions of model version 2"));
  assert_non_null(strstr(out, "TOP PRODUCT"));
  const char *const rj[] = {"regions", "--json", "--db", cli_db, NULL};
  assert_int_equal(run_cli(rj, out, sizeof out, err, sizeof err), 0);
  json_t *rl = json_loads(out, 0, NULL);
  assert_true(json_array_size(rl) >= 1);
  char first_id[16], first_pin[8];
  snprintf(first_id, sizeof first_id, "%lld", (long long)json_integer_value(jget(rl, "0.region_id")));
  snprintf(first_pin, sizeof first_pin, "%s", jstr(rl, "0.pincodes.0"));
  json_decref(rl);
  const char *const one[] = {"regions", first_id, "--db", cli_db, NULL};
  assert_int_equal(run_cli(one, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "predicted for the next"));
  assert_non_null(strstr(out, first_pin));
  const char *const bypin[] = {"regions", "--pincode", first_pin, "--json", "--db", cli_db, NULL};
  assert_int_equal(run_cli(bypin, out, sizeof out, err, sizeof err), 0);
  json_t *rp = json_loads(out, 0, NULL);
  assert_int_equal(json_integer_value(jget(rp, "region_id")), atoll(first_id));
  assert_int_equal(json_integer_value(jget(rp, "model_version")), 2);
  json_decref(rp);
  const char *const nope[] = {"regions", "99999", "--db", cli_db, NULL};
  assert_int_equal(run_cli(nope, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no region 99999"));

  const char *const roll[] = {"models", "rollback", "1", "--db", cli_db, NULL};
  assert_int_equal(run_cli(roll, out, sizeof out, err, sizeof err), 0);
  assert_int_equal(run_cli(pred, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "model version 1"));
}

/* The command line's champion and challenger, on the store of the test
 * before (two versions, the first serving after its rollback): a one-round retrain is kept as
 * a candidate and shown so; promote serves it; importance lists features. */
static void test_models_cli__promotion_and_importance(void **state) {
  char out[16384], err[4096];
  const char *const worse[] = {"train", "--rounds", "1", "--origins", "3", "--db", cli_db, NULL};
  assert_int_equal(run_cli(worse, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "promotion: candidate (if_better)"));
  assert_non_null(strstr(out, "kept as a candidate"));
  assert_non_null(strstr(out, "poisson_deviance"));
  const char *const list[] = {"models", "list", "--db", cli_db, NULL};
  assert_int_equal(run_cli(list, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "AGAINST SERVING"));
  assert_non_null(strstr(out, "candidate"));
  assert_non_null(strstr(out, "v1: demand "));
  assert_non_null(strstr(out, " NO"));
  const char *const lj[] = {"models", "list", "--json", "--db", cli_db, NULL};
  assert_int_equal(run_cli(lj, out, sizeof out, err, sizeof err), 0);
  json_t *l = json_loads(out, 0, NULL);
  assert_int_equal(json_integer_value(jget(l, "0.version")), 3);
  assert_true(json_is_true(jget(l, "0.candidate")));
  assert_true(json_is_false(jget(l, "0.serving")));
  assert_string_equal(jstr(l, "0.promotion.decision"), "candidate");
  assert_int_equal(json_integer_value(jget(l, "0.promotion.champion")), 1);
  json_decref(l);

  const char *const again[] = {"models", "promote", "1", "--db", cli_db, NULL};
  assert_int_equal(run_cli(again, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "serves already"));
  const char *const older[] = {"models", "promote", "2", "--db", cli_db, NULL};
  assert_int_equal(run_cli(older, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "not a candidate"));
  const char *const none[] = {"models", "promote", "99", "--db", cli_db, NULL};
  assert_int_equal(run_cli(none, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no model version 99"));
  const char *const prom[] = {"models", "promote", "3", "--reason", "one round on purpose",
                              "--db", cli_db, NULL};
  assert_int_equal(run_cli(prom, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "model version 3 now serves"));
  assert_int_equal(run_cli(lj, out, sizeof out, err, sizeof err), 0);
  l = json_loads(out, 0, NULL);
  assert_true(json_is_true(jget(l, "0.serving")));
  assert_string_equal(jstr(l, "0.promotion.policy"), "manual");
  assert_string_equal(jstr(l, "0.promotion.override.by"), "command line");
  assert_string_equal(jstr(l, "0.promotion.override.reason"), "one round on purpose");
  json_decref(l);

  const char *const imp[] = {"models", "importance", "--db", cli_db, NULL};
  assert_int_equal(run_cli(imp, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "feature importance of model version 3"));
  assert_non_null(strstr(out, "demand_rise"));
  const char *const ij[] = {"models", "importance", "2", "--json", "--db", cli_db, NULL};
  assert_int_equal(run_cli(ij, out, sizeof out, err, sizeof err), 0);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  json_t *feats = jget(j, "demand.features");
  assert_true(json_array_size(feats) > 3);
  double first = jnum(j, "demand.features.0.mean_abs_contribution");
  double second = jnum(j, "demand.features.1.mean_abs_contribution");
  assert_true(first >= second && second >= 0);
  assert_true(jnum(j, "top_product.rows") > 0);
  json_decref(j);

  /* serve version 1 again, as the tests after expect */
  const char *const back[] = {"models", "rollback", "1", "--db", cli_db, NULL};
  assert_int_equal(run_cli(back, out, sizeof out, err, sizeof err), 0);
}

static void test_models_cli__usage_errors(void **state) {
  char out[4096], err[4096];
  struct {
    const char *args[16];
  } bad[] = {
      {{"predict", "demand", "--pincode", "40001", "--product", "loan", "--channel", "online"}},
      {{"predict", "demand", "--pincode", "400001", "--channel", "online"}},
      {{"predict", "demand", "--pincode", "400001", "--product", "loan", "--channel", "online",
        "--age", "30"}},
      {{"predict", "demand", "--pincode", "400001", "--product", "loan", "--channel", "online",
        "--age", "12", "--income", "1000"}},
      {{"predict", "top-product", "--pincode", "400001", "--product", "loan", "--channel",
        "online"}},
      {{"predict", "demand-fall", "--pincode", "400001", "--channel", "online"}},
      {{"predict", "demand", "--pincode", "400001", "--product", "Loan Plus", "--channel",
        "online"}},
      {{"train", "--rounds", "0"}},
      {{"train", "--origins", "99"}},
      {{"models", "rollback"}},
      {{"regions", "abc"}},
      {{"regions", "0"}},
      {{"regions", "1", "2"}},
      {{"regions", "--pincode", "12ab"}},
      {{"regions", "1", "--pincode", "400001"}},
      {{"train", "--regions", "0"}},
      {{"train", "--promote", "sometimes"}},
      {{"models", "promote"}},
      {{"models", "promote", "x"}},
      {{"models", "importance", "1", "2"}},
      {{"models", "rollback", "x"}},
      {{"models", "frob"}},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *args[20];
    size_t n = 0;
    for (; bad[i].args[n]; n++)
      args[n] = bad[i].args[n];
    args[n++] = "--db";
    args[n++] = cli_db;
    args[n] = NULL;
    int rc = run_cli(args, out, sizeof out, err, sizeof err);
    if (rc != 2)
      fail_msg("case %zu (%s %s): exit %d, %s", i, args[0], args[1], rc, err);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_models__cold_start),
      cmocka_unit_test(test_models__roles),
      cmocka_unit_test(test_models__train_and_wait),
      cmocka_unit_test(test_models__background_job),
      cmocka_unit_test(test_models__report_keeps_seed_keys),
      cmocka_unit_test(test_models__predictions),
      cmocka_unit_test(test_models__pincode_without_sales),
      cmocka_unit_test(test_models__batches_in_order),
      cmocka_unit_test(test_models__regions),
      cmocka_unit_test(test_models__region_ids_stable),
      cmocka_unit_test(test_models__bad_bodies),
      cmocka_unit_test(test_models__champion_challenger),
      cmocka_unit_test(test_models__retrain_under_load),
      cmocka_unit_test(test_models__rollback_through_cli),
      cmocka_unit_test(test_models_cli__help),
      cmocka_unit_test(test_models_cli__train_list_predict),
      cmocka_unit_test(test_models_cli__promotion_and_importance),
      cmocka_unit_test(test_models_cli__usage_errors),
      cmocka_unit_test(test_models__stop_during_training), /* last */
  };
  return cmocka_run_group_tests_name("e2e_models", tests, group_setup, group_teardown);
}
