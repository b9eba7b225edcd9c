/* src/api handlers through the real route table and a real store, without
 * a socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/app.h"
#include "gromo/gazetteer.h"
#include "gromo/http.h"
#include "gromo/routes.h"
#include "gromo/keys.h"
#include "gromo/salesquery.h"
#include "gromo/store.h"

static char dbpath[64];
static struct app_config cfg;
static struct app app;
static char admin_key[KEY_TEXT_LEN + 1];

struct kv {
  const char *k, *v;
};

static const char *kv_lookup(void *ctx, const char *name) {
  if (!ctx)
    return NULL;
  for (const struct kv *p = ctx; p && p->k; p++)
    if (!strcmp(p->k, name))
      return p->v;
  return NULL;
}

static const char *key_header(void *ctx, const char *name) {
  return strcmp(name, "X-API-Key") == 0 ? admin_key : NULL;
}

static int setup(void **state) {
  snprintf(dbpath, sizeof dbpath, "/tmp/gromo-api-%d.db", (int)getpid());
  app_config_defaults(&cfg);
  cfg.db = dbpath;
  app.cfg = &cfg;
  app.routes = gromo_routes;
  struct gerr err;
  if (gaz_load_default(&app.gaz, &err) < 0)
    return -1;
  if (store_pool_new(dbpath, 4, &app.pool, &err) < 0)
    return -1;
  struct store *db = store_pool_get(app.pool, &err);
  int rc = db && keys_secret(db, app.key_secret, &err) == 0 &&
                   keys_create(db, app.key_secret, "unit-admin", ROLE_ADMIN, admin_key,
                               NULL, &err) == 0
               ? 0
               : -1;
  store_pool_put(app.pool, db);
  return rc;
}

static int teardown(void **state) {
  store_pool_free(app.pool);
  gaz_free(app.gaz);
  test_remove_db(dbpath);
  return 0;
}

static json_t *call(const char *method, const char *path, const struct kv *q,
                    const char *body, int *status) {
  struct req rq = {0};
  rq.app = &app;
  rq.method = method;
  rq.path = path;
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  rq.query_fn = kv_lookup;
  rq.header_fn = key_header;
  rq.query_ctx = (void *)q;
  struct resp rs;
  resp_init(&rs);
  router_dispatch(gromo_routes, &rq, &rs);
  assert_null(rq.db); /* the connection went back to the pool */
  resp_wait_run(&rs); /* slow work (storing records) is the caller's to run */
  char *out;
  size_t len;
  const char *ct;
  *status = http_render(&rs, "t", &out, &len, &ct);
  resp_release(&rs);
  json_t *j = json_loadb(out, len, 0, NULL);
  free(out);
  assert_non_null(j);
  return j;
}

static json_t *data_of(json_t *j) { return json_object_get(j, "data"); }

static int64_t sales_count(void) {
  struct gerr err;
  struct store *db = store_pool_get(app.pool, &err);
  assert_non_null(db);
  int64_t n = -1;
  assert_int_equal(store_sales_count(db, &n, &err), 0);
  store_pool_put(app.pool, db);
  return n;
}

static void test_api__sales_add_then_list(void **state) {
  int st;
  json_t *j = call("POST", "/sales/add", NULL,
                   "[{\"date\":\"2025-02-01T10:00:00Z\",\"pincode\":\"110001\","
                   "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":33,"
                   "\"customer_income\":45000.5,\"id\":\"x-1\"},"
                   "{\"date\":\"2025-02-02\",\"pincode\":110001,"
                   "\"product\":\"insurance\",\"channel\":\"offline\","
                   "\"customer_age\":61,\"customer_income\":0,\"city\":\"New Delhi\"}]",
                   &st);
  assert_int_equal(st, 200);
  assert_int_equal(json_integer_value(json_object_get(data_of(j), "inserted_count")), 2);
  json_decref(j);

  const struct kv q[] = {{"pincode", "110001"}, {"limit", "1"}, {NULL, NULL}};
  j = call("GET", "/sales", q, NULL, &st);
  assert_int_equal(st, 200);
  json_t *sales = json_object_get(data_of(j), "sales");
  assert_int_equal(json_array_size(sales), 1);
  json_t *s0 = json_array_get(sales, 0);
  /* 10:00 UTC is 15:30 IST */
  assert_string_equal(json_string_value(json_object_get(s0, "date")), "2025-02-01 15:30:00");
  assert_string_equal(json_string_value(json_object_get(s0, "id")), "x-1");
  assert_true(json_real_value(json_object_get(s0, "customer_income")) == 45000.5);
  const char *cur = json_string_value(json_object_get(data_of(j), "next_cursor"));
  assert_non_null(cur);
  char cursor[64];
  snprintf(cursor, sizeof cursor, "%s", cur);
  json_decref(j);

  const struct kv q2[] = {{"pincode", "110001"}, {"cursor", cursor}, {NULL, NULL}};
  j = call("GET", "/sales", q2, NULL, &st);
  sales = json_object_get(data_of(j), "sales");
  assert_int_equal(json_array_size(sales), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(sales, 0), "city")),
                      "New Delhi");
  assert_true(json_is_null(json_object_get(data_of(j), "next_cursor")));
  json_decref(j);
}

static void test_api__health_and_version(void **state) {
  int st;
  json_t *j = call("GET", "/health", NULL, NULL, &st);
  assert_int_equal(st, 200);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "healthy");
  json_decref(j);
  j = call("GET", "/version", NULL, NULL, &st);
  assert_int_equal(st, 200);
  assert_string_equal(json_string_value(json_object_get(data_of(j), "api_version")), "1.0.0");
  json_decref(j);
}

/* The sample data's last day, for every generation here: fixed, so that
 * nothing depends on the day the tests run. */
static const struct kv END[] = {{"end", "2026-06-30"}, {NULL, NULL}};

static void test_api__generate_validates_count(void **state) {
  int st;
  json_t *j = call("GET", "/generate-sample-data/3", END, NULL, &st);
  assert_int_equal(st, 200);
  assert_int_equal(json_integer_value(json_object_get(data_of(j), "inserted_count")), 3);
  assert_int_equal(json_array_size(json_object_get(data_of(j), "sample")), 3);
  json_decref(j);
  static const char *const bad[] = {"/generate-sample-data/-1",
                                    "/generate-sample-data/1e3",
                                    "/generate-sample-data/99999999999999999999999"};
  for (size_t i = 0; i < 3; i++) {
    j = call("GET", bad[i], END, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(j);
  }
}

static void test_api__generate_end(void **state) {
  int st;
  /* The records end on the given day; the same seed and end, the same
   * records. */
  const struct kv q[] = {{"seed", "5"}, {"end", "2026-06-30"}, {NULL, NULL}};
  json_t *a = call("POST", "/generate-sample-data/2000", q, NULL, &st);
  assert_int_equal(st, 200);
  json_t *b = call("GET", "/generate-sample-data/2000", q, NULL, &st);
  assert_int_equal(st, 200);
  json_t *sample = json_object_get(data_of(a), "sample");
  assert_int_equal(json_array_size(sample), 5);
  assert_true(json_equal(sample, json_object_get(data_of(b), "sample")));
  json_decref(a);
  json_decref(b);
  /* 730 days: 2024-07-01 to 2026-06-30 */
  static const struct {
    const char *from, *to;
    int some;
  } spans[] = {{"2026-06-24", NULL, 1}, {"2026-07-01", NULL, 0}, {NULL, "2024-06-30", 0},
               {"2024-07-01", "2024-07-31", 1}};
  for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
    const struct kv f[] = {{"from", spans[i].from ? spans[i].from : "2000-01-01"},
                           {"to", spans[i].to ? spans[i].to : "2099-12-31"},
                           {"limit", "1"},
                           {NULL, NULL}};
    json_t *j = call("GET", "/sales", f, NULL, &st);
    assert_int_equal(st, 200);
    size_t n = json_array_size(json_object_get(data_of(j), "sales"));
    if ((n > 0) != spans[i].some)
      fail_msg("from %s to %s: %zu", f[0].v, f[1].v, n);
    json_decref(j);
  }

  /* A bad end is refused, and nothing is stored. */
  int64_t before = sales_count();
  static const char *const bad[] = {"",           "2026-6-30",  "2026-06-31", "2026-02-29",
                                    "1999-12-31", "2999-01-01", "30/06/2026", "2026-06-30T10:00:00",
                                    "2026-06-30 ", "today"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const struct kv qb[] = {{"seed", "5"}, {"end", bad[i]}, {NULL, NULL}};
    json_t *j = call("GET", "/generate-sample-data/10", qb, NULL, &st);
    if (st != 400)
      fail_msg("end=\"%s\": %d", bad[i], st);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_input");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "end"));
    json_decref(j);
  }
  assert_int_equal(sales_count(), before);
}

static void test_api__sales_filter_parse_table(void **state) {
  static const struct {
    struct sales_query_text t;
    int ok;
    const char *why;
  } rows[] = {
      {{.pincode = "400001"}, 1, NULL},
      {{.pincode = "40001"}, 0, "pincode"},
      {{.product = "Credit_Card"}, 1, NULL},
      {{.product = "credit-card"}, 0, "product"},
      {{.channel = ""}, 0, "channel"},
      {{.from = "2025-01-01", .to = "2025-01-31"}, 1, NULL},
      {{.from = "01/01/2025"}, 0, "from"},
      {{.to = "2025-02-30"}, 0, "to"},
      {{.limit = "10000"}, 1, NULL},
      {{.limit = "10001"}, 0, "limit"},
      {{.limit = "5x"}, 0, "limit"},
      {{.cursor = "123_45"}, 1, NULL},
      {{.cursor = "123-45"}, 0, "cursor"},
      {{.cursor = "123_"}, 0, "cursor"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct sales_filter f;
    char why[200] = "";
    int rc = sales_filter_parse(&rows[i].t, 10000, &f, why, sizeof why);
    if (rows[i].ok) {
      assert_int_equal(rc, 0);
    } else {
      assert_int_equal(rc, -1);
      assert_non_null(strstr(why, rows[i].why));
    }
  }
  struct sales_filter f;
  char why[200];
  struct sales_query_text t = {.product = "Credit_Card", .to = "2025-01-31"};
  assert_int_equal(sales_filter_parse(&t, 10000, &f, why, sizeof why), 0);
  assert_string_equal(f.product, "credit_card");
  struct sales_query_text t2 = {.to = "2025-02-01"};
  struct sales_filter f2;
  assert_int_equal(sales_filter_parse(&t2, 10000, &f2, why, sizeof why), 0);
  /* a bare "to" date includes its whole day */
  assert_int_equal(f.to_ms, f2.to_ms - 86400000LL);
}

/* No store connection to be had at all (the database is down and the
 * pool has none left): a key the store accepted lately still passes from
 * memory, as it does when a pooled connection finds the database gone;
 * any other key does not. */
static void test_api__key_memory_without_a_connection(void **state) {
  int st;
  json_t *j = call("GET", "/whoami", NULL, NULL, &st); /* the store accepts it */
  assert_int_equal(st, 200);
  json_decref(j);
  struct key_row k;
  enum role role = ROLE_PUBLIC;
  struct gerr err;
  gerr_set(&err, GERR_UNAVAILABLE, "cannot connect to the database");
  assert_int_equal(keys_verify(NULL, app.key_secret, admin_key, strlen(admin_key), &k, &role,
                               &err),
                   0);
  assert_int_equal(role, ROLE_ADMIN);
  assert_string_equal(k.name, "unit-admin");
  char other[KEY_TEXT_LEN + 1];
  memcpy(other, admin_key, sizeof other);
  other[KEY_TEXT_LEN - 1] = other[KEY_TEXT_LEN - 1] == 'A' ? 'B' : 'A';
  gerr_set(&err, GERR_UNAVAILABLE, "cannot connect to the database");
  assert_int_equal(keys_verify(NULL, app.key_secret, other, strlen(other), &k, &role, &err), -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_api__sales_add_then_list),
      cmocka_unit_test(test_api__health_and_version),
      cmocka_unit_test(test_api__generate_validates_count),
      cmocka_unit_test(test_api__generate_end),
      cmocka_unit_test(test_api__sales_filter_parse_table),
      cmocka_unit_test(test_api__key_memory_without_a_connection),
  };
  return cmocka_run_group_tests_name("api", tests, setup, teardown);
}
