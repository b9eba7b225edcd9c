/* The web UI's side of the API (src/http/openapi.c, src/api/web.c): the
 * OpenAPI document covers the route table, and static files are served
 * safely, through the router, without a socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/http.h"
#include "gromo/routes.h"

/* ---- the OpenAPI document ---- */

static json_t *doc;

static int doc_setup(void **state) {
  doc = openapi_document(gromo_routes);
  return doc ? 0 : -1;
}

static int doc_teardown(void **state) {
  json_decref(doc);
  return 0;
}

static void lower(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for (; in[i] && i + 1 < cap; i++)
    out[i] = (char)(in[i] | 0x20);
  out[i] = '\0';
}

static void test_web__every_route_is_documented(void **state) {
  json_t *paths = json_object_get(doc, "paths");
  assert_non_null(paths);
  size_t routes = 0, ops = 0;
  for (const struct route *r = gromo_routes; r->method; r++, routes++) {
    assert_non_null(r->doc); /* a route without its doc would be left out */
    char m[16];
    lower(r->method, m, sizeof m);
    json_t *op = json_object_get(json_object_get(paths, r->pattern), m);
    if (!op)
      fail_msg("%s %s is not in /openapi.json", r->method, r->pattern);
    assert_string_equal(json_string_value(json_object_get(op, "x-role")), role_name(r->role));
    assert_non_null(strstr(json_string_value(json_object_get(op, "description")),
                           r->role == ROLE_PUBLIC ? "Public" : role_name(r->role)));
    json_t *sec = json_object_get(op, "security");
    assert_true(json_is_array(sec));
    assert_int_equal(json_array_size(sec), r->role == ROLE_PUBLIC ? 0 : 2);
    /* every documented status, and those the router adds */
    int st[32];
    size_t n = openapi_route_statuses(r, st, 32);
    assert_true(n >= 2);
    json_t *responses = json_object_get(op, "responses");
    assert_int_equal(json_object_size(responses), n);
    for (size_t i = 0; i < n; i++) {
      char code[8];
      snprintf(code, sizeof code, "%d", st[i]);
      if (!json_object_get(responses, code))
        fail_msg("%s %s: status %s is missing", r->method, r->pattern, code);
    }
    const char *p = r->doc->statuses;
    while (*p) {
      char code[8] = {0};
      memcpy(code, p, strcspn(p, " ") < 7 ? strcspn(p, " ") : 7);
      assert_non_null(json_object_get(responses, code));
      p += strcspn(p, " ");
      p += strspn(p, " ");
    }
    if (r->role > ROLE_PUBLIC) {
      assert_non_null(json_object_get(responses, "401"));
      assert_non_null(json_object_get(responses, "403"));
    }
    if (!(r->flags & ROUTE_UNLIMITED))
      assert_non_null(json_object_get(responses, "429"));
    if (r->body_limit)
      assert_non_null(json_object_get(responses, "413"));
    /* {name} segments are path parameters */
    if (strchr(r->pattern, '{'))
      assert_true(json_array_size(json_object_get(op, "parameters")) >= 1);
  }
  json_t *item;
  const char *path;
  json_object_foreach(paths, path, item) ops += json_object_size(item);
  assert_int_equal(ops, routes); /* and nothing that is not a route */
  assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
}

/* Every "$ref" names a component that exists. */
static void check_refs(json_t *node) {
  if (json_is_object(node)) {
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v) {
      if (!strcmp(k, "$ref")) {
        const char *ref = json_string_value(v);
        assert_non_null(ref);
        assert_int_equal(strncmp(ref, "#/components/", 13), 0);
        char kind[64], name[128];
        assert_int_equal(sscanf(ref + 13, "%63[^/]/%127s", kind, name), 2);
        json_t *target =
            json_object_get(json_object_get(json_object_get(doc, "components"), kind), name);
        if (!target)
          fail_msg("%s does not exist", ref);
      } else {
        check_refs(v);
      }
    }
  } else if (json_is_array(node)) {
    size_t i;
    json_t *v;
    json_array_foreach(node, i, v) check_refs(v);
  }
}

static void test_web__references_resolve(void **state) {
  check_refs(doc);
  json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
  assert_string_equal(json_string_value(json_object_get(json_object_get(schemes, "ApiKey"),
                                                        "name")),
                      "X-API-Key");
  assert_string_equal(json_string_value(json_object_get(json_object_get(schemes, "Bearer"),
                                                        "scheme")),
                      "bearer");
}

/* ---- static files, through the router ---- */

static char root[TEST_TMPDIR_CAP];
static struct app_config cfg;
static struct app app;

static void put(const char *rel, const char *text) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int files_setup(void **state) {
  if (test_tmpdir("web", root) < 0)
    return -1;
  char p[256];
  snprintf(p, sizeof p, "%s/assets", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/docs", root);
  mkdir(p, 0755);
  put("index.html", "<!doctype html><title>dash</title>");
  put("assets/app-1.js", "console.log(1)");
  put("assets/app-1.js.gz", "GZ");
  put("assets/notes.weird", "?");
  put("docs/index.html", "<!doctype html><title>docs</title>");
  put("secret.txt", "no");
  snprintf(p, sizeof p, "%s/assets/link.js", root);
  if (symlink("/etc/passwd", p) < 0)
    return -1;
  snprintf(p, sizeof p, "%s/assets/dir.js", root);
  mkdir(p, 0755);
  app_config_defaults(&cfg);
  cfg.web_root = root;
  app.cfg = &cfg;
  app.routes = gromo_routes;
  return 0;
}

static int files_teardown(void **state) {
  test_tmpdir_remove(root);
  return 0;
}

struct hdrs {
  const char *accept_encoding;
  const char *if_none_match;
};

static const char *no_query(void *ctx, const char *name) { return NULL; }
static const char *header(void *ctx, const char *name) {
  const struct hdrs *h = ctx;
  if (!strcmp(name, "Accept-Encoding"))
    return h->accept_encoding;
  if (!strcmp(name, "If-None-Match"))
    return h->if_none_match;
  return NULL;
}

static int get(const char *path, const struct hdrs *h, struct resp *rs) {
  struct req rq = {0};
  static const struct hdrs none = {0};
  rq.app = &app;
  rq.method = "GET";
  rq.path = path;
  rq.query_fn = no_query;
  rq.header_fn = header;
  rq.query_ctx = (void *)(h ? h : &none);
  resp_init(rs);
  return router_dispatch(gromo_routes, &rq, rs);
}

static const char *hdr(const struct resp *rs, const char *name) {
  for (size_t i = 0; i < rs->nhdr; i++)
    if (!strcmp(rs->hdr_name[i], name))
      return rs->hdr_value[i];
  return NULL;
}

static void test_web__files_and_their_headers(void **state) {
  struct resp rs;
  assert_int_equal(get("/", NULL, &rs), 200);
  assert_true(rs.body_fd >= 0);
  assert_string_equal(rs.content_type, "text/html; charset=utf-8");
  assert_string_equal(hdr(&rs, "Cache-Control"), "no-cache");
  assert_non_null(strstr(hdr(&rs, "Content-Security-Policy"), "default-src 'self'"));
  assert_string_equal(hdr(&rs, "X-Content-Type-Options"), "nosniff");
  char etag[128];
  snprintf(etag, sizeof etag, "%s", hdr(&rs, "ETag"));
  resp_release(&rs);
  /* revalidation */
  struct hdrs h = {.if_none_match = etag};
  assert_int_equal(get("/", &h, &rs), 304);
  assert_true(rs.body_fd < 0);
  resp_release(&rs);
  /* hashed assets are immutable; the gzip twin goes to who accepts it */
  assert_int_equal(get("/assets/app-1.js", NULL, &rs), 200);
  assert_string_equal(rs.content_type, "text/javascript; charset=utf-8");
  assert_non_null(strstr(hdr(&rs, "Cache-Control"), "immutable"));
  assert_null(hdr(&rs, "Content-Encoding"));
  assert_null(hdr(&rs, "Content-Security-Policy"));
  resp_release(&rs);
  h = (struct hdrs){.accept_encoding = "br, gzip;q=0.8"};
  assert_int_equal(get("/assets/app-1.js", &h, &rs), 200);
  assert_string_equal(hdr(&rs, "Content-Encoding"), "gzip");
  assert_string_equal(hdr(&rs, "Vary"), "Accept-Encoding");
  char buf[8] = {0};
  assert_int_equal(read(rs.body_fd, buf, sizeof buf - 1), 2);
  assert_string_equal(buf, "GZ");
  resp_release(&rs);
  h = (struct hdrs){.accept_encoding = "gzip;q=0"};
  assert_int_equal(get("/assets/app-1.js", &h, &rs), 200);
  assert_null(hdr(&rs, "Content-Encoding"));
  resp_release(&rs);
  assert_int_equal(get("/assets/notes.weird", NULL, &rs), 200);
  assert_string_equal(rs.content_type, "application/octet-stream");
  resp_release(&rs);
  assert_int_equal(get("/docs", NULL, &rs), 200);
  resp_release(&rs);
}

static void test_web__no_way_out_of_the_folder(void **state) {
  static const char *const bad[] = {
      "/assets/..", "/assets/.", "/assets/../secret.txt", "/assets/%2e%2e",
      "/assets/.hidden", "/assets/link.js", "/assets/dir.js", "/assets/missing.js",
      "/docs/../secret.txt", "/assets/a\\b.js", "/assets/app-1.js\x7f", "/assets/",
      "/docs/secret.txt", "/assets/index.html",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct resp rs;
    int st = get(bad[i], NULL, &rs);
    if (st != 404)
      fail_msg("%s answered %d", bad[i], st);
    assert_true(rs.body_fd < 0);
    resp_release(&rs);
  }
  assert_false(web_name_ok(""));
  assert_false(web_name_ok(".."));
  assert_false(web_name_ok("a/b"));
  assert_true(web_name_ok("app-X1_2.js"));
}

static void test_web__missing_build_says_so(void **state) {
  struct app_config c2 = cfg;
  c2.web_root = "/nonexistent/gromo-web";
  struct app a2 = {.cfg = &c2};
  struct req rq = {0};
  static const struct hdrs none = {0};
  rq.app = &a2;
  rq.method = "GET";
  rq.path = "/";
  rq.query_fn = no_query;
  rq.header_fn = header;
  rq.query_ctx = (void *)&none;
  struct resp rs;
  resp_init(&rs);
  assert_int_equal(router_dispatch(gromo_routes, &rq, &rs), 404);
  assert_non_null(strstr(rs.err.msg, "make web"));
  resp_release(&rs);
}

static void test_web__openapi_is_served_with_an_etag(void **state) {
  struct resp rs;
  assert_int_equal(get("/openapi.json", NULL, &rs), 200);
  assert_string_equal(rs.content_type, "application/json");
  json_t *served = json_loadb(rs.body.data, rs.body.len, 0, NULL);
  assert_non_null(served);
  assert_true(json_equal(served, doc));
  json_decref(served);
  char etag[64];
  snprintf(etag, sizeof etag, "%s", hdr(&rs, "ETag"));
  assert_non_null(hdr(&rs, "Cache-Control"));
  resp_release(&rs);
  struct hdrs h = {.if_none_match = etag};
  assert_int_equal(get("/openapi.json", &h, &rs), 304);
  assert_int_equal(rs.body.len, 0);
  resp_release(&rs);
}

static int setup(void **state) { return doc_setup(state) || files_setup(state) ? -1 : 0; }
static int teardown(void **state) { return doc_teardown(state) || files_teardown(state) ? -1 : 0; }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_web__every_route_is_documented),
      cmocka_unit_test(test_web__references_resolve),
      cmocka_unit_test(test_web__files_and_their_headers),
      cmocka_unit_test(test_web__no_way_out_of_the_folder),
      cmocka_unit_test(test_web__missing_build_says_so),
      cmocka_unit_test(test_web__openapi_is_served_with_an_etag),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
