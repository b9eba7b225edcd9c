/* End-to-end: the PostgreSQL store goes away while a server runs on it, and
 * comes back. Meanwhile /health says unhealthy with 503, requests that need
 * the store get 503 promptly (never a hang or a 500), predictions go on
 * from the loaded model; afterwards everything works again by itself.
 * Needs the throwaway server of scripts/with-pg.sh (make check runs this
 * under it): without one it fails, saying so. */
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

static struct srv S;
static int pg_down; /* the test stopped the server and has not started it */

static int pg_ctl(const char *verb) {
  const char *ctl = getenv("GROMO_TEST_PG_CTL");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "'%s/%s' >/dev/null 2>&1", ctl, verb);
  return system(cmd);
}

static const char RECORD[] =
    "[{\"date\":\"2026-06-01\",\"pincode\":\"400001\",\"product\":\"loan\","
    "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":50000}]";
static const char ONE_QUERY[] =
    "{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
    "\"customer_age\":35,\"customer_income\":75000}";

static const char *jstr_in(json_t *j, const char *a, const char *b) {
  j = json_object_get(j, a);
  if (b)
    j = json_object_get(j, b);
  return json_string_value(j);
}

/* A request, timed: the answer must come within limit_ms. */
static long timed(const char *method, const char *path, const char *body, int limit_ms,
                  struct http_res *r) {
  int64_t t0 = now_ms();
  assert_int_equal(http_do(&S, method, path, body ? "application/json" : NULL, body,
                           body ? strlen(body) : 0, r),
                   0);
  int64_t took = now_ms() - t0;
  if (took > limit_ms)
    fail_msg("%s %s took %lld ms (limit %d)", method, path, (long long)took, limit_ms);
  return r->status;
}

static int group_setup(void **state) {
  const char *base = getenv("GROMO_TEST_PG"), *ctl = getenv("GROMO_TEST_PG_CTL");
  if (!base || !*base || !ctl || !*ctl) {
    fprintf(stderr, "test_e2e_pgfaults: needs a PostgreSQL server to stop and start: "
                    "run it under scripts/with-pg.sh (make check does)\n");
    return -1;
  }
  setenv("GROMO_E2E_PG", base, 1);
  return srv_start(&S, NULL);
}

static int group_teardown(void **state) {
  if (pg_down && pg_ctl("start") == 0)
    pg_down = 0;
  int rc = srv_stop(&S);
  return rc == 0 && !pg_down ? 0 : -1;
}

static void test_pgfaults__outage_and_recovery(void **state) {
  struct http_res r;
  /* Data and a model, while the database is there. */
  assert_int_equal(timed("GET", "/generate-sample-data/3000?seed=5&end=2026-06-30", NULL,
                         60000, &r),
                   200);
  http_res_free(&r);
  if (timed("POST", "/models/train?wait=true&rounds=5", NULL, 120000, &r) != 200)
    fail_msg("training: %ld %.300s", r.status, r.body);
  http_res_free(&r);
  assert_int_equal(timed("POST", "/predict/demand", ONE_QUERY, 5000, &r), 200);
  http_res_free(&r);
  assert_int_equal(timed("GET", "/health", NULL, 5000, &r), 200);
  assert_string_equal(jstr_in(r.json, "status", NULL), "healthy");
  http_res_free(&r);

  /* The database goes away. */
  pg_down = 1;
  assert_int_equal(pg_ctl("stop"), 0);
  for (int round = 0; round < 2; round++) { /* a broken connection, then none */
    assert_int_equal(timed("GET", "/health", NULL, 10000, &r), 503);
    assert_string_equal(jstr_in(r.json, "status", NULL), "unhealthy");
    http_res_free(&r);
    if (timed("POST", "/sales/add", RECORD, 10000, &r) != 503)
      fail_msg("sales/add without the database: %ld %.300s", r.status, r.body);
    assert_string_equal(jstr_in(r.json, "error", "code"), "unavailable");
    http_res_free(&r);
    if (timed("GET", "/sales?limit=5", NULL, 10000, &r) != 503)
      fail_msg("GET /sales without the database: %ld %.300s", r.status, r.body);
    http_res_free(&r);
    /* Predictions come from the loaded model. */
    if (timed("POST", "/predict/demand", ONE_QUERY, 10000, &r) != 200)
      fail_msg("prediction without the database: %ld %.300s", r.status, r.body);
    http_res_free(&r);
  }

  /* It comes back: the server recovers by itself. */
  assert_int_equal(pg_ctl("start"), 0);
  pg_down = 0;
  int64_t t0 = now_ms();
  long status = 0;
  while (now_ms() - t0 < 20000) {
    status = timed("GET", "/health", NULL, 10000, &r);
    http_res_free(&r);
    if (status == 200)
      break;
    sleep_ms(200);
  }
  assert_int_equal(status, 200);
  for (int i = 0; i < 4; i++) { /* every pooled connection, new or reset */
    if (timed("POST", "/sales/add", RECORD, 10000, &r) != 200)
      fail_msg("sales/add after the database came back: %ld %.300s", r.status, r.body);
    http_res_free(&r);
  }
  assert_int_equal(db_sales_count(&S), 3004);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pgfaults__outage_and_recovery),
  };
  return cmocka_run_group_tests_name("e2e_pgfaults", tests, group_setup, group_teardown);
}
