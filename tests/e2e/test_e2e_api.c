/* End-to-end: the real server on a free port, spoken to over HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e.h"

static struct srv S;

static int group_setup(void **state) {
  static const char *const extra[] = {"--max-body", "1048576", NULL};
  return srv_start(&S, extra);
}

static int group_teardown(void **state) {
  int rc = srv_stop(&S);
  return rc == 0 ? 0 : -1; /* graceful stop must exit 0 */
}

static const char SEED_RECORD[] =
    "[{\"date\":\"2025-04-15T12:30:45\",\"pincode\":\"400001\",\"city\":\"Mumbai\","
    "\"product\":\"loan\",\"channel\":\"online\","
    "\"agent_id\":\"f47ac10b-58cc-4372-a567-0e02b2c3d479\","
    "\"customer_age\":35,\"customer_income\":75000}]";

static json_t *get_path(json_t *j, const char *a, const char *b) {
  json_t *x = json_object_get(j, a);
  return b ? json_object_get(x, b) : x;
}

static void expect_error(struct http_res *r, long status, const char *code) {
  assert_int_equal(r->status, status);
  assert_non_null(r->json);
  assert_string_equal(json_string_value(json_object_get(r->json, "status")), "error");
  json_t *e = json_object_get(r->json, "error");
  assert_string_equal(json_string_value(json_object_get(e, "code")), code);
  assert_non_null(json_string_value(json_object_get(e, "message")));
  assert_true(json_is_array(json_object_get(e, "details")));
}

static void assert_alive(void) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/health", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
}

static void test_e2e__health_seed_shape(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/health", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(get_path(r.json, "status", NULL)), "healthy");
  assert_string_equal(json_string_value(get_path(r.json, "checks", "database")),
                      "connected");
  assert_string_equal(json_string_value(get_path(r.json, "checks", "models")),
                      "not_trained");
  char rid[80];
  assert_int_equal(http_header(&r, "X-Request-Id", rid, sizeof rid), 0);
  assert_true(strlen(rid) >= 8);
  http_res_free(&r);
}

static void test_e2e__version(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/version", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(get_path(r.json, "status", NULL)), "success");
  assert_string_equal(json_string_value(get_path(r.json, "data", "api_version")),
                      "1.0.0");
  assert_true(json_is_null(get_path(r.json, "data", "models_last_trained")));
  assert_non_null(json_string_value(get_path(r.json, "data", "build")));
  http_res_free(&r);
}

static void test_e2e__sales_add_seed_example(void **state) {
  struct http_res r;
  long long before = db_sales_count(&S);
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", SEED_RECORD,
                           strlen(SEED_RECORD), &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(get_path(r.json, "status", NULL)), "success");
  assert_int_equal(json_integer_value(get_path(r.json, "data", "inserted_count")), 1);
  assert_true(json_is_null(get_path(r.json, "data", "invalid_records")));
  assert_string_equal(json_string_value(get_path(r.json, "message", NULL)),
                      "Successfully added 1 sales records");
  assert_int_equal(db_sales_count(&S), before + 1);
  http_res_free(&r);
}

static void test_e2e__sales_add_partial_accept(void **state) {
  const char body[] =
      "[{\"date\":\"2025-01-02\",\"pincode\":110001,\"product\":\"Loan\","
      "\"channel\":\"offline\",\"customer_age\":40,\"customer_income\":50000},"
      "{\"date\":\"2025-01-02\",\"pincode\":\"012345\",\"product\":\"loan\","
      "\"channel\":\"offline\",\"customer_age\":17,\"customer_income\":50000},"
      "{\"date\":\"2025-01-03 10:00:00\",\"pincode\":\"560001\",\"product\":\"insurance\","
      "\"channel\":\"online\",\"customer_age\":60,\"customer_income\":0}]";
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", body,
                           strlen(body), &r), 0);
  assert_int_equal(r.status, 200);
  json_t *d = json_object_get(r.json, "data");
  assert_int_equal(json_integer_value(json_object_get(d, "inserted_count")), 2);
  assert_int_equal(json_integer_value(json_object_get(d, "rejected_count")), 1);
  json_t *inv = json_object_get(d, "invalid_records");
  assert_int_equal(json_array_size(inv), 2); /* pincode and age */
  for (size_t i = 0; i < json_array_size(inv); i++) {
    json_t *p = json_array_get(inv, i);
    assert_int_equal(json_integer_value(json_object_get(p, "index")), 1);
    const char *f = json_string_value(json_object_get(p, "field"));
    assert_true(!strcmp(f, "pincode") || !strcmp(f, "customer_age"));
    assert_non_null(json_string_value(json_object_get(p, "problem")));
  }
  assert_int_equal(db_sales_count(&S), before + 2);
  http_res_free(&r);
}

static void test_e2e__sales_add_atomic_rejects_all(void **state) {
  const char body[] =
      "[{\"date\":\"2025-01-02\",\"pincode\":110001,\"product\":\"loan\","
      "\"channel\":\"offline\",\"customer_age\":40,\"customer_income\":50000},"
      "{\"date\":\"2025-02-30\",\"pincode\":\"110001\",\"product\":\"loan\","
      "\"channel\":\"offline\",\"customer_age\":30,\"customer_income\":50000}]";
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/add?atomic=true", "application/json",
                           body, strlen(body), &r), 0);
  expect_error(&r, 422, "invalid_records");
  json_t *det = get_path(r.json, "error", "details");
  assert_int_equal(json_array_size(det), 1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(det, 0), "index")), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(det, 0), "field")), "date");
  assert_int_equal(db_sales_count(&S), before);
  http_res_free(&r);
}

static void test_e2e__sales_add_idempotent_ids(void **state) {
  const char body[] =
      "{\"id\":\"retry-1\",\"date\":\"2025-03-01\",\"pincode\":\"700001\","
      "\"product\":\"credit_card\",\"channel\":\"online\",\"customer_age\":28,"
      "\"customer_income\":120000}";
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", body,
                           strlen(body), &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_integer_value(get_path(r.json, "data", "inserted_count")), 1);
  http_res_free(&r);
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", body,
                           strlen(body), &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_integer_value(get_path(r.json, "data", "inserted_count")), 0);
  assert_int_equal(json_integer_value(get_path(r.json, "data", "duplicate_count")), 1);
  assert_int_equal(db_sales_count(&S), before + 1);
  http_res_free(&r);
}

static void test_e2e__sales_query_and_cursor(void **state) {
  /* 25 records on one fresh pincode, then walk pages of 10. */
  char body[16384];
  size_t n = 0;
  n += (size_t)snprintf(body + n, sizeof body - n, "[");
  for (int i = 0; i < 25; i++)
    n += (size_t)snprintf(body + n, sizeof body - n,
                          "%s{\"date\":\"2025-05-%02dT10:00:00+05:30\",\"pincode\":\"600001\","
                          "\"product\":\"%s\",\"channel\":\"offline\","
                          "\"customer_age\":%d,\"customer_income\":%d}",
                          i ? "," : "", 1 + i % 20, i % 2 ? "loan" : "insurance",
                          20 + i, 10000 * (i + 1));
  n += (size_t)snprintf(body + n, sizeof body - n, "]");
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", body, n, &r), 0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);

  char path[256], cursor[64] = "";
  int seen = 0, pages = 0;
  char last_date[32] = "";
  do {
    snprintf(path, sizeof path, "/sales?pincode=600001&limit=10%s%s",
             cursor[0] ? "&cursor=" : "", cursor);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *sales = get_path(r.json, "data", "sales");
    for (size_t i = 0; i < json_array_size(sales); i++) {
      json_t *s = json_array_get(sales, i);
      assert_string_equal(json_string_value(json_object_get(s, "pincode")), "600001");
      assert_string_equal(json_string_value(json_object_get(s, "city")), "Chennai");
      const char *d = json_string_value(json_object_get(s, "date"));
      assert_true(strcmp(last_date, d) <= 0); /* ordered by date */
      snprintf(last_date, sizeof last_date, "%s", d);
      seen++;
    }
    json_t *next = get_path(r.json, "data", "next_cursor");
    cursor[0] = '\0';
    if (json_is_string(next))
      snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
    pages++;
    http_res_free(&r);
  } while (cursor[0] && pages < 10);
  assert_int_equal(seen, 25);
  assert_int_equal(pages, 3);

  /* Filters: product and an inclusive date range. */
  assert_int_equal(http_do(&S, "GET",
                           "/sales?pincode=600001&product=LOAN&from=2025-05-01&to=2025-05-05",
                           NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  json_t *sales = get_path(r.json, "data", "sales");
  /* odd i with 1 + i % 20 in 1..5: i = 1, 3, 21, 23 */
  assert_int_equal(json_array_size(sales), 4);
  http_res_free(&r);

  assert_int_equal(http_do(&S, "GET", "/sales?pincode=12", NULL, NULL, 0, &r), 0);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/sales?cursor=xyz", NULL, NULL, 0, &r), 0);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/sales?limit=0", NULL, NULL, 0, &r), 0);
  expect_error(&r, 400, "invalid_input");
  http_res_free(&r);
}

static void test_e2e__generate_sample_data(void **state) {
  long long before = db_sales_count(&S);
  struct http_res r, r2;
  assert_int_equal(http_do(&S, "GET", "/generate-sample-data/5?seed=7&end=2026-06-30", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  json_t *d = json_object_get(r.json, "data");
  assert_int_equal(json_integer_value(json_object_get(d, "inserted_count")), 5);
  assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                      "Generated and inserted 5 sample records");
  json_t *sample = json_object_get(d, "sample");
  assert_int_equal(json_array_size(sample), 5);
  for (size_t i = 0; i < 5; i++) {
    json_t *s = json_array_get(sample, i);
    const char *pin = json_string_value(json_object_get(s, "pincode"));
    assert_non_null(pin);
    assert_int_equal(strlen(pin), 6);
    assert_non_null(json_string_value(json_object_get(s, "city")));
    assert_non_null(json_string_value(json_object_get(s, "date")));
    assert_true(json_is_integer(json_object_get(s, "customer_age")));
  }
  assert_int_equal(db_sales_count(&S), before + 5);
  /* The same seed gives the same records. */
  assert_int_equal(http_do(&S, "GET", "/generate-sample-data/5?seed=7&end=2026-06-30", NULL, NULL, 0, &r2), 0);
  assert_true(json_equal(sample, get_path(r2.json, "data", "sample")));
  http_res_free(&r);
  http_res_free(&r2);

  /* The data end on the given day: none after it, some in its last week. */
  assert_int_equal(
      http_do(&S, "POST", "/generate-sample-data/2000?seed=8&end=2026-06-30", NULL, NULL, 0, &r),
      0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/sales?from=2026-07-01", NULL, NULL, 0, &r), 0);
  assert_int_equal(json_array_size(get_path(r.json, "data", "sales")), 0);
  http_res_free(&r);
  assert_int_equal(
      http_do(&S, "GET", "/sales?from=2026-06-24&to=2026-06-30", NULL, NULL, 0, &r), 0);
  assert_true(json_array_size(get_path(r.json, "data", "sales")) > 0);
  http_res_free(&r);

  /* Each bad value is named in the message. */
  static const struct {
    const char *path, *name;
  } bad[] = {{"/generate-sample-data/0?end=2026-06-30", "count"},
             {"/generate-sample-data/1000001?end=2026-06-30", "count"},
             {"/generate-sample-data/abc?end=2026-06-30", "count"},
             {"/generate-sample-data/5?seed=-1&end=2026-06-30", "seed"},
             {"/generate-sample-data/5?end=", "end"},
             {"/generate-sample-data/5?end=2026-06-31", "end"},
             {"/generate-sample-data/5?end=1999-12-31", "end"},
             {"/generate-sample-data/5?end=2999-01-01", "end"},
             {"/generate-sample-data/5?end=2026-06-30T00:00:00", "end"},
             {"/generate-sample-data/5?end=30%2F06%2F2026", "end"}};
  long long mid = db_sales_count(&S);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(http_do(&S, "GET", bad[i].path, NULL, NULL, 0, &r), 0);
    expect_error(&r, 400, "invalid_input");
    const char *msg = json_string_value(get_path(r.json, "error", "message"));
    if (!msg || strncmp(msg, bad[i].name, strlen(bad[i].name)) != 0)
      fail_msg("%s: %s", bad[i].path, msg ? msg : "(no message)");
    http_res_free(&r);
  }
  assert_int_equal(db_sales_count(&S), mid);
}

/* 8-4-4-4-12 lower-case hex digits, as the store gives agent ids back. */
static int is_uuid(const char *u) {
  if (!u || strlen(u) != 36)
    return 0;
  for (int i = 0; i < 36; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !strchr("0123456789abcdef", u[i]))
      return 0;
  }
  return 1;
}

/* Every generated sale carries its agent, online ones too: the sample in
 * the answer and each of a few thousand records read back. The data's span
 * (2022-2023) holds no other test's records. */
static void test_e2e__generated_sales_have_agents(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/generate-sample-data/4000?seed=21&end=2023-12-31", NULL,
                           NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  json_t *sample = get_path(r.json, "data", "sample");
  assert_int_equal(json_array_size(sample), 5);
  for (size_t i = 0; i < json_array_size(sample); i++)
    assert_true(is_uuid(json_string_value(json_object_get(json_array_get(sample, i), "agent_id"))));
  http_res_free(&r);

  assert_int_equal(http_do(&S, "GET", "/sales?to=2023-12-31&format=ndjson", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  size_t n = 0, online = 0;
  for (char *line = r.body; line < r.body + r.len;) {
    char *nl = memchr(line, '\n', (size_t)(r.body + r.len - line));
    size_t len = nl ? (size_t)(nl - line) : (size_t)(r.body + r.len - line);
    json_error_t jerr;
    json_t *rec = json_loadb(line, len, 0, &jerr);
    if (!rec)
      fail_msg("record %zu: %s", n, jerr.text);
    const char *agent = json_string_value(json_object_get(rec, "agent_id"));
    if (!is_uuid(agent))
      fail_msg("record %zu (%s) has agent_id %s", n,
               json_string_value(json_object_get(rec, "channel")), agent ? agent : "(none)");
    online += !strcmp(json_string_value(json_object_get(rec, "channel")), "online");
    json_decref(rec);
    n++;
    line += len + 1;
  }
  http_res_free(&r);
  assert_int_equal(n, 4000);
  assert_true(online > 1000); /* about half */
}

/* Bad requests: each gets the right code in the error envelope, the server
 * keeps answering, the store is unchanged. */
struct bad_case {
  const char *method, *path, *ctype, *body;
  size_t len; /* 0: strlen(body) */
  long status;
  const char *code;
};

static void test_e2e__bad_input_table(void **state) {
  static char nested[20001];
  memset(nested, '[', 10000);
  memset(nested + 10000, ']', 10000);
  static const char bad_utf8[] =
      "[{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"city\":\"Mu\xff\xfe\","
      "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":30,"
      "\"customer_income\":1000}]";
  const struct bad_case cases[] = {
      {"POST", "/sales/add", "application/json", "[{\"date\":", 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", "not json", 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", "", 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", "42", 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", "\"text\"", 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", nested, 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", bad_utf8, 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json",
       "[{\"date\":20250101,\"pincode\":{},\"product\":1,\"channel\":[],"
       "\"customer_age\":\"30\",\"customer_income\":\"1\"}]",
       0, 422, "invalid_records"},
      {"POST", "/sales/add", "application/json", "[1,2,3]", 0, 422, "invalid_records"},
      {"POST", "/sales/add", "application/json",
       "[{\"date\":\"2025-01-01\",\"date\":\"2025-01-02\",\"pincode\":\"400001\","
       "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":30,"
       "\"customer_income\":1}]",
       0, 422, "invalid_records"},
      {"POST", "/sales/add", "application/json", "[{}] [{}]", 0, 400, "invalid_input"},
      {"POST", "/sales/add", "application/json", "{\"records\":[]", 0, 400,
       "invalid_input"},
      {"POST", "/sales/add", "text/plain", "[]", 0, 415, "unsupported_media_type"},
      {"GET", "/sales/add", NULL, NULL, 0, 405, "method_not_allowed"},
      {"DELETE", "/health", NULL, NULL, 0, 405, "method_not_allowed"},
      {"GET", "/no/such/path", NULL, NULL, 0, 404, "not_found"},
      {"GET", "/assets", NULL, NULL, 0, 404, "not_found"},
      {"POST", "/sales/add?atomic=maybe", "application/json", "[]", 0, 400,
       "invalid_input"},
  };
  long long before = db_sales_count(&S);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct bad_case *c = &cases[i];
    struct http_res r;
    size_t len = c->body ? (c->len ? c->len : strlen(c->body)) : 0;
    assert_int_equal(http_do(&S, c->method, c->path, c->ctype, c->body, len, &r), 0);
    if (r.status != c->status)
      fail_msg("case %zu (%s %s): status %ld, want %ld: %s", i, c->method, c->path,
               r.status, c->status, r.body);
    expect_error(&r, c->status, c->code);
    if (c->status == 405) {
      char allow[64];
      assert_int_equal(http_header(&r, "Allow", allow, sizeof allow), 0);
    }
    http_res_free(&r);
    assert_alive();
    assert_int_equal(db_sales_count(&S), before);
  }
}

static void test_e2e__oversized_body(void **state) {
  /* The server runs with --max-body 1 MiB. */
  size_t n = 2u << 20;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, ' ', n);
  big[0] = '[';
  big[n - 1] = ']';
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", big, n, &r), 0);
  expect_error(&r, 413, "payload_too_large");
  http_res_free(&r);
  free(big);

  /* Chunked, with no Content-Length: refused while reading. */
  char head[512];
  snprintf(head, sizeof head,
           "POST /sales/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "X-API-Key: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
           S.key);
  size_t chunk = 64 * 1024, chunks = 40;
  size_t total = strlen(head) + chunks * (chunk + 16) + 16;
  char *raw = malloc(total), *p = raw;
  assert_non_null(raw);
  p += sprintf(p, "%s", head);
  for (size_t i = 0; i < chunks; i++) {
    p += sprintf(p, "%zx\r\n", chunk);
    memset(p, ' ', chunk);
    p += chunk;
    p += sprintf(p, "\r\n");
  }
  p += sprintf(p, "0\r\n\r\n");
  char out[4096];
  long got = raw_exchange(S.port, raw, (size_t)(p - raw), out, sizeof out, 5000);
  free(raw);
  assert_true(got > 0);
  assert_non_null(strstr(out, " 413 "));
  assert_non_null(strstr(out, "payload_too_large"));
  assert_alive();
  assert_int_equal(db_sales_count(&S), before);
}

static void test_e2e__garbage_and_slow_requests(void **state) {
  char out[4096];
  /* Binary garbage instead of HTTP. */
  const char garbage[] = "\x00\x01\x02\xff\xfe GARBAGE \r\n\r\n";
  raw_exchange(S.port, garbage, sizeof garbage - 1, out, sizeof out, 2000);
  assert_alive();
  /* A request line far too long. */
  size_t n = 200000;
  char *line = malloc(n + 32);
  assert_non_null(line);
  memcpy(line, "GET /", 5);
  memset(line + 5, 'a', n);
  memcpy(line + 5 + n, " HTTP/1.1\r\n\r\n", 13);
  raw_exchange(S.port, line, n + 18, out, sizeof out, 3000);
  free(line);
  assert_alive();
  /* A truncated body: Content-Length larger than what is sent. */
  const char trunc[] = "POST /sales/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n[{\"date\":";
  long long before = db_sales_count(&S);
  raw_exchange(S.port, trunc, sizeof trunc - 1, out, sizeof out, 300);
  assert_alive();
  assert_int_equal(db_sales_count(&S), before);
}

static void test_e2e__request_log(void **state) {
  struct http_res r;
  assert_int_equal(http_do(&S, "GET", "/version", NULL, NULL, 0, &r), 0);
  http_res_free(&r);
  FILE *f = fopen(S.log, "r");
  assert_non_null(f);
  char line[4096];
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j); /* every log line is JSON */
    const char *ev = json_string_value(json_object_get(j, "event"));
    if (ev && !strcmp(ev, "request") &&
        !strcmp(json_string_value(json_object_get(j, "path")), "/version")) {
      assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
      assert_true(json_is_integer(json_object_get(j, "us")));
      assert_true(json_integer_value(json_object_get(j, "bytes")) > 0);
      assert_non_null(json_string_value(json_object_get(j, "id")));
      found = 1;
    }
    json_decref(j);
  }
  fclose(f);
  assert_true(found);
}

static void test_e2e__request_id_echoed(void **state) {
  struct http_res r;
  /* A client-chosen id is echoed; checked through the raw socket. */
  char out[4096];
  const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n"
                     "Connection: close\r\n\r\n";
  assert_true(raw_exchange(S.port, req, sizeof req - 1, out, sizeof out, 2000) > 0);
  assert_non_null(strstr(out, "X-Request-Id: abc-123"));
  assert_int_equal(http_do(&S, "HEAD", "/health", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_e2e__health_seed_shape),
      cmocka_unit_test(test_e2e__version),
      cmocka_unit_test(test_e2e__sales_add_seed_example),
      cmocka_unit_test(test_e2e__sales_add_partial_accept),
      cmocka_unit_test(test_e2e__sales_add_atomic_rejects_all),
      cmocka_unit_test(test_e2e__sales_add_idempotent_ids),
      cmocka_unit_test(test_e2e__sales_query_and_cursor),
      cmocka_unit_test(test_e2e__generate_sample_data),
      cmocka_unit_test(test_e2e__generated_sales_have_agents),
      cmocka_unit_test(test_e2e__bad_input_table),
      cmocka_unit_test(test_e2e__oversized_body),
      cmocka_unit_test(test_e2e__garbage_and_slow_requests),
      cmocka_unit_test(test_e2e__request_log),
      cmocka_unit_test(test_e2e__request_id_echoed),
  };
  return cmocka_run_group_tests_name("e2e_api", tests, group_setup, group_teardown);
}
