/* src/http: the router and the envelopes, without a socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gromo/http.h"
#include "gromo/routes.h"

static int calls;

static int h_echo(struct req *rq, struct resp *rs) {
  calls++;
  json_t *d = json_object();
  json_object_set_new(d, "param", json_string(rq->nparams ? rq->params[0] : ""));
  json_object_set_new(d, "body_type", json_integer(rq->json ? (int)json_typeof(rq->json) : -1));
  return resp_ok(rs, d, "echo %s", rq->path);
}

static int h_fail(struct req *rq, struct resp *rs) {
  calls++;
  json_t *det = json_pack("[{s:i,s:s,s:s}]", "index", 3, "field", "pincode",
                          "problem", "must be 6 digits");
  return resp_error(rs, GERR_INVALID_RECORDS, det, "1 record invalid");
}

#define R(m, p, least, limit, fl, h)                                            \
  {.method = m, .pattern = p, .role = least, .body_limit = limit, .flags = fl, \
   .handler = h, .summary = p}
static const struct route table[] = {
    R("GET", "/things", ROLE_PUBLIC, 0, 0, h_echo),
    R("GET", "/things/{id}", ROLE_PUBLIC, 0, 0, h_echo),
    R("POST", "/things", ROLE_PUBLIC, 100, ROUTE_JSON, h_echo),
    R("POST", "/fail", ROLE_PUBLIC, 100, ROUTE_JSON, h_fail),
    R("GET", "/secret", ROLE_ADMIN, 0, 0, h_echo),
    {0},
};

static const char *no_query(void *ctx, const char *name) { return NULL; }

static int dispatch(const char *method, const char *path, const char *ctype,
                    const char *body, struct resp *rs) {
  struct req rq = {0};
  rq.method = method;
  rq.path = path;
  rq.content_type = ctype;
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  rq.query_fn = no_query;
  snprintf(rq.request_id, sizeof rq.request_id, "rid-1");
  resp_init(rs);
  return router_dispatch(table, &rq, rs);
}

/* Renders and parses the response body. */
static json_t *rendered(struct resp *rs, int *status) {
  char *body;
  size_t len;
  const char *ct;
  *status = http_render(rs, "rid-1", &body, &len, &ct);
  assert_string_equal(ct, "application/json");
  json_t *j = json_loadb(body, len, 0, NULL);
  free(body);
  assert_non_null(j);
  return j;
}

static void expect_error(const char *method, const char *path, const char *ctype,
                         const char *body, int status, const char *code) {
  struct resp rs;
  int before = calls;
  assert_int_equal(dispatch(method, path, ctype, body, &rs), status);
  int st;
  json_t *j = rendered(&rs, &st);
  assert_int_equal(st, status);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
  json_t *e = json_object_get(j, "error");
  assert_string_equal(json_string_value(json_object_get(e, "code")), code);
  assert_true(json_is_array(json_object_get(e, "details")));
  assert_string_equal(json_string_value(json_object_get(e, "request_id")), "rid-1");
  json_decref(j);
  resp_release(&rs);
  assert_int_equal(calls, before); /* the handler never ran */
}

static void test_http__routes_match_with_params(void **state) {
  struct resp rs;
  assert_int_equal(dispatch("GET", "/things/42", NULL, NULL, &rs), 200);
  int st;
  json_t *j = rendered(&rs, &st);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "data"), "param")), "42");
  assert_string_equal(json_string_value(json_object_get(j, "message")), "echo /things/42");
  json_decref(j);
  resp_release(&rs);
  /* A trailing slash is the same path; HEAD is served by GET. */
  assert_int_equal(dispatch("GET", "/things/", NULL, NULL, &rs), 200);
  resp_release(&rs);
  assert_int_equal(dispatch("HEAD", "/things", NULL, NULL, &rs), 200);
  resp_release(&rs);
}

static void test_http__not_found_and_method(void **state) {
  expect_error("GET", "/nothing", NULL, NULL, 404, "not_found");
  expect_error("GET", "/things/1/2", NULL, NULL, 404, "not_found");
  expect_error("GET", "", NULL, NULL, 404, "not_found");
  expect_error("GET", "things", NULL, NULL, 404, "not_found");
  expect_error("DELETE", "/things", NULL, NULL, 405, "method_not_allowed");
  struct resp rs;
  assert_int_equal(dispatch("PUT", "/things", NULL, NULL, &rs), 405);
  assert_int_equal(rs.nhdr, 1);
  assert_string_equal(rs.hdr_name[0], "Allow");
  assert_string_equal(rs.hdr_value[0], "GET, POST");
  assert_int_equal(rs.status, 405);
  resp_release(&rs);
  char longpath[3000];
  memset(longpath, 'a', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = '\0';
  expect_error("GET", longpath, NULL, NULL, 404, "not_found");
}

static void test_http__body_checks_before_handler(void **state) {
  expect_error("POST", "/things", "text/csv", "[]", 415, "unsupported_media_type");
  expect_error("POST", "/things", "application/json", NULL, 400, "invalid_input");
  expect_error("POST", "/things", "application/json", "", 400, "invalid_input");
  expect_error("POST", "/things", "application/json", "{\"a\":", 400, "invalid_input");
  expect_error("POST", "/things", "application/json", "{\"a\":1,\"a\":2}", 400,
               "invalid_input");
  char big[200];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  big[0] = '[';
  big[sizeof big - 2] = ']';
  expect_error("POST", "/things", "application/json", big, 413, "payload_too_large");
  /* A media type with parameters, and an absent one, are JSON. */
  struct resp rs;
  assert_int_equal(
      dispatch("POST", "/things", "application/json; charset=utf-8", "[1]", &rs), 200);
  resp_release(&rs);
  assert_int_equal(dispatch("POST", "/things", NULL, "{}", &rs), 200);
  resp_release(&rs);
}

static void test_http__malformed_json_names_position(void **state) {
  struct resp rs;
  assert_int_equal(dispatch("POST", "/things", "application/json", "[1,\n2,,]", &rs), 400);
  int st;
  json_t *j = rendered(&rs, &st);
  json_t *d = json_array_get(json_object_get(json_object_get(j, "error"), "details"), 0);
  assert_int_equal(json_integer_value(json_object_get(d, "line")), 2);
  assert_non_null(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                         "line 2"));
  json_decref(j);
  resp_release(&rs);
}

static void test_http__handler_error_envelope(void **state) {
  struct resp rs;
  assert_int_equal(dispatch("POST", "/fail", NULL, "[]", &rs), 422);
  int st;
  json_t *j = rendered(&rs, &st);
  assert_int_equal(st, 422);
  json_t *e = json_object_get(j, "error");
  assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_records");
  assert_string_equal(json_string_value(json_object_get(e, "message")), "1 record invalid");
  json_t *d = json_array_get(json_object_get(e, "details"), 0);
  assert_int_equal(json_integer_value(json_object_get(d, "index")), 3);
  assert_string_equal(json_string_value(json_object_get(d, "field")), "pincode");
  json_decref(j);
  resp_release(&rs);
}

static void test_http__raw_data_and_bare_json(void **state) {
  struct resp rs;
  resp_init(&rs);
  assert_int_equal(buf_puts(&rs.data_raw, "{\"x\":[1,2]}"), 0);
  resp_ok_raw(&rs, "two \"quoted\" things");
  int st;
  json_t *j = rendered(&rs, &st);
  assert_int_equal(st, 200);
  assert_int_equal(json_array_size(json_object_get(json_object_get(j, "data"), "x")), 2);
  assert_string_equal(json_string_value(json_object_get(j, "message")),
                      "two \"quoted\" things");
  json_decref(j);
  resp_release(&rs);

  resp_init(&rs);
  rs.json_bare = json_pack("{s:s}", "status", "healthy");
  j = rendered(&rs, &st);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "healthy");
  assert_null(json_object_get(j, "data"));
  json_decref(j);
  resp_release(&rs);
}

static void test_http__keys_checked_before_handler(void **state) {
  /* Without a key: 401 and a WWW-Authenticate challenge, handler not run. */
  expect_error("GET", "/secret", NULL, NULL, 401, "unauthorized");
  struct resp rs;
  assert_int_equal(dispatch("GET", "/secret", NULL, NULL, &rs), 401);
  int found = 0;
  for (size_t i = 0; i < rs.nhdr; i++)
    found |= !strcmp(rs.hdr_name[i], "WWW-Authenticate");
  assert_true(found);
  resp_release(&rs);
  /* OPTIONS on a known path answers the methods. */
  assert_int_equal(dispatch("OPTIONS", "/things", NULL, NULL, &rs), 204);
  assert_string_equal(rs.hdr_value[0], "GET, POST, OPTIONS");
  resp_release(&rs);
}

static void test_http__service_table_is_well_formed(void **state) {
  /* Every route has a handler, a role and a leading slash; no two rows share
   * method and pattern. */
  for (const struct route *r = gromo_routes; r->method; r++) {
    /* a handler, or a stream for a streaming route: never both, never none */
    assert_true(!r->handler != !((r->flags & ROUTE_STREAM) && r->stream));
    assert_non_null(r->summary);
    assert_int_equal(r->pattern[0], '/');
    assert_true(r->role <= ROLE_ADMIN);
    for (const struct route *q = r + 1; q->method; q++)
      assert_false(!strcmp(r->method, q->method) && !strcmp(r->pattern, q->pattern));
  }
  struct req rq = {0};
  int status;
  assert_non_null(router_match(gromo_routes, "GET", "/health", &rq, &status, NULL, 0));
  assert_non_null(router_match(gromo_routes, "GET", "/generate-sample-data/10", &rq,
                               &status, NULL, 0));
  assert_string_equal(rq.params[0], "10");
  assert_null(router_match(gromo_routes, "PATCH", "/sales", &rq, &status, NULL, 0));
  assert_int_equal(status, 405);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_http__routes_match_with_params),
      cmocka_unit_test(test_http__not_found_and_method),
      cmocka_unit_test(test_http__body_checks_before_handler),
      cmocka_unit_test(test_http__malformed_json_names_position),
      cmocka_unit_test(test_http__handler_error_envelope),
      cmocka_unit_test(test_http__raw_data_and_bare_json),
      cmocka_unit_test(test_http__keys_checked_before_handler),
      cmocka_unit_test(test_http__service_table_is_well_formed),
  };
  return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
