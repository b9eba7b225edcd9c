/* End-to-end: the accuracy of served model versions (GET /models/accuracy,
 * the /metrics gauges, gromo models accuracy) and the retraining schedule
 * (gromo serve --retrain-every), on the real server.
 * A version is trained on generated sales up to a fixed day; sales added
 * after it are what its forecasts are judged against. Every date is
 * explicit, so nothing here depends on the day the tests run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "e2e.h"
#include "gromo/accuracy.h"
#include "gromo/timeutil.h"

#define DATA_END "2026-03-31"

static struct srv S;
static char analyst[128], viewer[128];
static long long version;
static int64_t T; /* the version's as-of date, days */

static void day_str(int64_t day, char out[11]) { ist_format_date(day * DAY_MS, out); }

static void get_as(const char *key, const char *path, struct http_res *r) {
  assert_int_equal(http_do_as(&S, key, NULL, "GET", path, NULL, NULL, 0, r), 0);
}

static void expect_error(struct http_res *r, long status, const char *code) {
  if (r->status != status)
    fail_msg("expected %ld, got %ld: %.300s", status, r->status, r->body);
  assert_string_equal(jstr(r->json, "error.code"), code);
}

static int group_setup(void **state) {
  if (srv_start(&S, NULL) < 0)
    return -1;
  if (make_key(&S, "analyst", "e2e-analyst", analyst, sizeof analyst) < 0 ||
      make_key(&S, "viewer", "e2e-viewer", viewer, sizeof viewer) < 0)
    return -1;
  return 0;
}

static int group_teardown(void **state) { return srv_stop(&S) == 0 ? 0 : -1; }

static void test_accuracy__before_training(void **state) {
  struct http_res r;
  get_as(viewer, "/models/accuracy?as_of=2026-06-01", &r);
  expect_error(&r, 503, "unavailable");
  assert_non_null(strstr(jstr(r.json, "error.message"), "POST /models/train"));
  http_res_free(&r);
}

/* n sales of one cell on `day`, through POST /sales/add. */
static void add_sales(int64_t day, const char *pin, const char *product, int n) {
  char date[11];
  day_str(day, date);
  size_t cap = (size_t)n * 200 + 8;
  char *body = malloc(cap);
  size_t len = 0;
  body[len++] = '[';
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(body + len, cap - len,
                            "%s{\"date\":\"%sT11:00:00\",\"pincode\":\"%s\",\"product\":\"%s\","
                            "\"channel\":\"online\",\"customer_age\":40,"
                            "\"customer_income\":60000}",
                            i ? "," : "", date, pin, product);
  body[len++] = ']';
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", body, len, &r), 0);
  if (r.status != 200)
    fail_msg("sales/add: %ld %.300s", r.status, r.body);
  http_res_free(&r);
  free(body);
}

static void test_accuracy__periods_after_training(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/generate-sample-data/6000?seed=5&end=" DATA_END, NULL,
                           NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  assert_int_equal(http_do(&S, "POST", "/models/train?wait=true&rounds=10&origins=3", NULL,
                           NULL, 0, &r),
                   0);
  if (r.status != 200)
    fail_msg("train: %ld %.300s", r.status, r.body);
  version = (long long)jnum(r.json, "data.summary.version");
  http_res_free(&r);

  /* Nothing after the as-of date is complete yet: no periods, no error. */
  get_as(viewer, "/models/accuracy?as_of=2026-04-15", &r);
  if (r.status != 200)
    fail_msg("accuracy: %ld %.300s", r.status, r.body);
  assert_int_equal((long long)jnum(r.json, "data.version"), version);
  assert_true(json_is_true(jget(r.json, "data.serving")));
  assert_string_equal(jstr(r.json, "data.as_of"), "2026-04-15");
  assert_int_equal(json_array_size(jget(r.json, "data.periods")), 0);
  assert_int_equal(json_array_size(jget(r.json, "data.pending")), 3);
  assert_false(json_is_true(jget(r.json, "data.drift.alarm")));
  assert_int_equal(accuracy_parse_day(jstr(r.json, "data.model_as_of"), &T), 0);
  assert_true(T <= days_from_civil(2026, 3, 31) && T > days_from_civil(2026, 3, 20));
  http_res_free(&r);

  /* Later sales: 40 of a loan in period 1, 10 in period 2, 5 in period 3,
   * 1 of a product the version never saw. */
  add_sales(T + 10, "400001", "loan", 40);
  add_sales(T + 40, "400001", "loan", 10);
  add_sales(T + 70, "400001", "loan", 5);
  add_sales(T + 11, "400001", "pension", 1);

  char path[128], asof[11], from[11], to[11];
  day_str(T + 61, asof); /* the day after period 2's last */
  snprintf(path, sizeof path, "/models/accuracy?as_of=%s", asof);
  get_as(viewer, path, &r);
  assert_int_equal(r.status, 200);
  json_t *d = jget(r.json, "data");
  assert_int_equal(json_array_size(jget(d, "periods")), 2);
  assert_int_equal(json_array_size(jget(d, "pending")), 1);
  day_str(T + 1, from);
  day_str(T + 30, to);
  assert_string_equal(jstr(d, "periods.0.period_from"), from);
  assert_string_equal(jstr(d, "periods.0.period_to"), to);
  assert_int_equal((long long)jnum(d, "periods.0.horizon"), 1);
  assert_int_equal((long long)jnum(d, "periods.0.all.realized"), 40);
  assert_int_equal((long long)jnum(d, "periods.1.all.realized"), 10);
  assert_int_equal((long long)jnum(d, "periods.0.sales_of_unknown_products_or_channels"), 1);
  assert_true(jnum(d, "periods.0.all.cells") > 0);
  assert_true(jnum(d, "periods.0.all.predicted") > 0);
  assert_true(json_is_number(jget(d, "periods.0.all.bias")));
  assert_true(json_is_number(jget(d, "periods.0.all.poisson_deviance")));
  assert_true(json_is_number(jget(d, "periods.0.all.mae")));
  /* products and regions partition the cells */
  for (int p = 0; p < 2; p++) {
    json_t *per = json_array_get(jget(d, "periods"), (size_t)p);
    double cells = 0, realized = 0, rcells = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(per, "products"), k, v) {
      cells += jnum(v, "cells");
      realized += jnum(v, "realized");
    }
    size_t i;
    json_array_foreach(json_object_get(per, "regions"), i, v) rcells += jnum(v, "cells");
    assert_true(cells == jnum(per, "all.cells"));
    assert_true(rcells == jnum(per, "all.cells"));
    assert_true(realized == jnum(per, "all.realized"));
  }
  assert_non_null(strstr(jstr(r.json, "message"), "2 complete period(s)"));
  http_res_free(&r);

  /* the same version named; the analyst may read it too */
  snprintf(path, sizeof path, "/models/accuracy?version=%lld&as_of=%s", version, asof);
  get_as(analyst, path, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal((long long)jnum(r.json, "data.periods.0.all.realized"), 40);
  http_res_free(&r);
}

static void test_accuracy__bad_requests(void **state) {
  static const struct {
    const char *query;
    long status;
    const char *code;
  } cases[] = {
      {"version=999", 404, "not_found"},
      {"version=abc", 400, "invalid_input"},
      {"version=0", 400, "invalid_input"},
      {"as_of=2026-02-30", 400, "invalid_input"},
      {"as_of=1999-12-31", 400, "invalid_input"},
      {"as_of=3000-01-01", 400, "invalid_input"},
      {"as_of=yesterday", 400, "invalid_input"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char path[128];
    snprintf(path, sizeof path, "/models/accuracy?%s", cases[i].query);
    struct http_res r;
    get_as(viewer, path, &r);
    expect_error(&r, cases[i].status, cases[i].code);
    http_res_free(&r);
  }
  struct http_res r;
  get_as(NULL, "/models/accuracy?as_of=2026-06-01", &r);
  expect_error(&r, 401, "unauthorized");
  http_res_free(&r);
  assert_int_equal(http_do_as(&S, viewer, NULL, "POST", "/models/accuracy", "application/json",
                              "{}", 2, &r),
                   0);
  assert_int_equal(r.status, 405);
  http_res_free(&r);
}

/* The serving version's gauges, as of today: every period of a version
 * trained on data ending in March 2026 is complete by then. */
static void test_accuracy__metrics(void **state) {
  struct http_res r;
  get_as(viewer, "/metrics", &r);
  assert_int_equal(r.status, 200);
  char line[96];
  snprintf(line, sizeof line, "gromo_model_accuracy_version %lld\n", version);
  assert_non_null(strstr(r.body, line));
  assert_non_null(strstr(r.body, "gromo_model_realized_bias{horizon=\"1\"} "));
  assert_non_null(strstr(r.body, "gromo_model_realized_bias{horizon=\"3\"} "));
  assert_non_null(strstr(r.body, "gromo_model_poisson_deviance{horizon=\"1\"} "));
  assert_non_null(strstr(r.body, "# TYPE gromo_model_interval_coverage gauge"));
  assert_non_null(strstr(r.body, "gromo_model_realized_sales{horizon=\"1\"} 40\n"));
  assert_non_null(strstr(r.body, "gromo_model_realized_sales{horizon=\"3\"} 5\n"));
  assert_true(strstr(r.body, "gromo_model_drift 0\n") || strstr(r.body, "gromo_model_drift 1\n"));
  http_res_free(&r);
}

static void test_accuracy__cli(void **state) {
  char out[65536], err[4096], asof[11], ver[24];
  day_str(T + 61, asof);
  snprintf(ver, sizeof ver, "%lld", version);
  const char *const json_args[] = {"models", "accuracy", ver, "--as-of", asof, "--json",
                                   "--db", S.db, NULL};
  assert_int_equal(run_cli(json_args, out, sizeof out, err, sizeof err), 0);
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_int_equal(json_array_size(json_object_get(j, "periods")), 2);
  assert_int_equal((long long)jnum(j, "periods.0.all.realized"), 40);
  assert_int_equal((long long)jnum(j, "version"), version);
  json_decref(j);
  const char *const text[] = {"models", "accuracy", "--as-of", asof, "--db", S.db, NULL};
  assert_int_equal(run_cli(text, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(out, "horizon 1"));
  assert_non_null(strstr(out, "not complete yet"));
  assert_non_null(strstr(out, "drift alarm: "));
  const char *const bad_date[] = {"models", "accuracy", "--as-of", "2026-13-01", "--db", S.db,
                                  NULL};
  assert_int_equal(run_cli(bad_date, out, sizeof out, err, sizeof err), 2);
  assert_non_null(strstr(err, "--as-of"));
  const char *const no_version[] = {"models", "accuracy", "999", "--as-of", asof, "--db", S.db,
                                    NULL};
  assert_int_equal(run_cli(no_version, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no model version 999"));
  const char *const misplaced[] = {"models", "list", "--as-of", asof, "--db", S.db, NULL};
  assert_int_equal(run_cli(misplaced, out, sizeof out, err, sizeof err), 2);
}

static void test_accuracy__retrain_flag_errors(void **state) {
  static const char *const bad[] = {"7x", "-1d", "400d", "d", "1.5h", "7 d", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char out[1024], err[1024];
    const char *const args[] = {"serve", "--retrain-every", bad[i], "--port", "0", NULL};
    assert_int_equal(run_cli(args, out, sizeof out, err, sizeof err), 2);
    assert_non_null(strstr(err, "retrain-every"));
  }
}

/* A server that trains again once its serving version is 2 seconds old:
 * the test waits for the new version (no sleeping for the interval). */
static void test_accuracy__retrain_schedule(void **state) {
  static const char *const extra[] = {"--retrain-every", "2s", NULL};
  struct srv R;
  assert_int_equal(srv_start(&R, extra), 0);
  struct http_res r;
  assert_int_equal(http_do(&R, "GET", "/generate-sample-data/2500?seed=8&end=" DATA_END, NULL,
                           NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  assert_int_equal(http_do(&R, "POST", "/models/train?wait=true&rounds=5&origins=3", NULL, NULL,
                           0, &r),
                   0);
  assert_int_equal(r.status, 200);
  long long first = (long long)jnum(r.json, "data.summary.version");
  http_res_free(&r);
  /* liveness bound, not a timing assertion: a scheduled run (default
   * settings, one core) takes seconds on a small store */
  long long seen = first;
  for (int i = 0; i < 3000 && seen == first; i++) {
    assert_int_equal(http_do(&R, "GET", "/models", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    if (json_is_integer(jget(r.json, "data.version")))
      seen = (long long)jnum(r.json, "data.version");
    http_res_free(&r);
    if (seen == first)
      sleep_ms(100);
  }
  assert_true(seen > first);
  assert_int_equal(srv_stop(&R), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accuracy__before_training),
      cmocka_unit_test(test_accuracy__periods_after_training),
      cmocka_unit_test(test_accuracy__bad_requests),
      cmocka_unit_test(test_accuracy__metrics),
      cmocka_unit_test(test_accuracy__cli),
      cmocka_unit_test(test_accuracy__retrain_flag_errors),
      cmocka_unit_test(test_accuracy__retrain_schedule),
  };
  return cmocka_run_group_tests_name("e2e_accuracy", tests, group_setup, group_teardown);
}
