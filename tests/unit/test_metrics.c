/* The request counters (src/http/metrics.c): what GET /metrics renders
 * from them, and the usage over the last 24 hours behind GET /stats, with
 * explicit times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/buf.h"
#include "gromo/http.h"
#include "gromo/metrics.h"

static const struct route table[] = {
    {.method = "GET", .pattern = "/health"},
    {.method = "POST", .pattern = "/sales/add"},
    {0},
};

#define NOW 1780000000LL /* a Unix time */

static void expect_line(const char *text, const char *line) {
  if (!strstr(text, line))
    fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_metrics__render_counts_and_gauges(void **state) {
  struct metrics *m = metrics_new(2);
  assert_non_null(m);
  metrics_request(m, 0, 200, 300, "", NOW);
  metrics_request(m, 0, 200, 700, "", NOW);
  metrics_request(m, 1, 429, 50, "loader", NOW);
  metrics_request(m, 1, 418, 50, "loader", NOW); /* a status not listed: "other" */
  metrics_request(m, -1, 404, 10, "", NOW);      /* no route */
  struct metrics_gauges g = {.sales_records = 42, .started_unix = NOW - 60, .build = "b1"};
  struct buf out;
  buf_init(&out, 1 << 20);
  assert_int_equal(metrics_render(m, table, &g, &out), 0);
  const char *t = out.data;
  expect_line(t, "gromo_build_info{build=\"b1\"} 1\n");
  expect_line(t, "gromo_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2\n");
  expect_line(t, "gromo_http_requests_total{method=\"POST\",route=\"/sales/add\","
                 "status=\"429\"} 1\n");
  expect_line(t, "gromo_http_requests_total{method=\"POST\",route=\"/sales/add\","
                 "status=\"other\"} 1\n");
  expect_line(t, "route=\"unmatched\",status=\"404\"} 1\n");
  /* Histogram: 300 us falls in the 0.0005 s bucket, 700 us in 0.001 s. */
  expect_line(t, "gromo_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\","
                 "le=\"0.0005\"} 1\n");
  expect_line(t, "gromo_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\","
                 "le=\"0.001\"} 2\n");
  expect_line(t, "gromo_http_request_duration_seconds_sum{method=\"GET\",route=\"/health\"} "
                 "0.001000\n");
  expect_line(t, "gromo_rate_limited_total 1\n");
  expect_line(t, "gromo_sales_records 42\n");
  expect_line(t, "gromo_model_last_trained_timestamp_seconds 0\n");
  assert_null(strstr(t, "gromo_inflight_request_bytes ")); /* has_limits 0 */
  buf_release(&out);
  metrics_free(m);
}

static void test_metrics__stats_by_endpoint_and_key(void **state) {
  struct metrics *m = metrics_new(2);
  metrics_request(m, 1, 200, 2000, "loader", NOW);
  metrics_request(m, 1, 422, 4000, "loader", NOW);
  metrics_request(m, 0, 200, 1000, "", NOW - 3600); /* an hour earlier */
  json_t *s = metrics_stats(m, table, NOW);
  assert_non_null(s);
  assert_int_equal(json_integer_value(json_object_get(s, "window_hours")), 24);
  assert_int_equal(json_integer_value(json_object_get(s, "requests")), 3);
  assert_int_equal(json_integer_value(json_object_get(s, "errors")), 1);
  json_t *ep = json_object_get(json_object_get(s, "by_endpoint"), "POST /sales/add");
  assert_int_equal(json_integer_value(json_object_get(ep, "requests")), 2);
  assert_int_equal(json_integer_value(json_object_get(ep, "errors")), 1);
  assert_near(json_real_value(json_object_get(ep, "mean_ms")), 3.0, 1e-9);
  json_t *nokey = json_object_get(json_object_get(s, "by_key"), "(no key)");
  assert_int_equal(json_integer_value(json_object_get(nokey, "requests")), 1);
  json_decref(s);
  /* A day later the window holds none of it. */
  s = metrics_stats(m, table, NOW + 25 * 3600);
  assert_int_equal(json_integer_value(json_object_get(s, "requests")), 0);
  assert_int_equal(json_object_size(json_object_get(s, "by_endpoint")), 0);
  json_decref(s);
  metrics_free(m);
}

static void test_metrics__null_is_not_counted(void **state) {
  metrics_request(NULL, 0, 200, 1, "", NOW); /* no metrics: nothing happens */
  metrics_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics__render_counts_and_gauges),
      cmocka_unit_test(test_metrics__stats_by_endpoint_and_key),
      cmocka_unit_test(test_metrics__null_is_not_counted),
  };
  return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
