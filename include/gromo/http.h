/* The HTTP layer: a route table, a router that checks method, content type,
 * size and JSON before any handler runs, and the one function that renders
 * the error envelope. Only src/http/server.c touches libmicrohttpd; the
 * router works on struct req/resp alone, so handlers are testable without a
 * socket (see router_dispatch). */
#ifndef GROMO_HTTP_H
#define GROMO_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gromo/buf.h"
#include "gromo/error.h"
#include "gromo/keys.h"

struct app;
struct store;
struct memshare;
struct resp;

#define REQ_MAX_PARAMS 4

/* One request as handlers see it. Strings are owned by the HTTP layer and
 * live until the response is sent. */
struct req {
  struct app *app;
  const char *method;
  const char *path;
  const char *params[REQ_MAX_PARAMS]; /* {name} segments of the pattern */
  size_t nparams;
  const char *content_type; /* NULL when absent */
  const char *body;         /* NUL-terminated; NULL when no body */
  size_t body_len;
  json_t *json;             /* parsed body for ROUTE_JSON routes (borrowed) */
  char request_id[65];
  /* Query-string and header lookups, supplied by whoever built the
   * request (the same ctx serves both). */
  const char *(*query_fn)(void *ctx, const char *name);
  const char *(*header_fn)(void *ctx, const char *name);
  void *query_ctx;
  const char *client; /* the client's address, for per-address limits */
  /* Set by the router once the key is checked: */
  enum role role;
  char key_name[65];
  int64_t key_id;
  int rate_limited;
  int rate_checked; /* a token was taken for this request */
  int admitted;     /* the key, role and rate checks passed (router_admit) */
  struct store *db; /* taken from the pool by req_store(), put back after */
  struct memshare *mem; /* the request's share of the server's memory
                           budget; NULL: not counted */
};

/* The value of query parameter `name`, or NULL. */
const char *req_query(const struct req *rq, const char *name);
/* The value of request header `name` (case-insensitive), or NULL. */
const char *req_header(const struct req *rq, const char *name);
/* The request's store connection (taken lazily from the app's pool). NULL
 * with *err set (GERR_UNAVAILABLE) if the database cannot be reached. */
struct store *req_store(struct req *rq, struct gerr *err);
/* Puts the connection back; the HTTP layer calls it after the handler. */
void req_release(struct req *rq);
/* Says the request now holds `total` bytes of what it made of its body
 * (records, queries): 0, or -1 when the server's budget for all requests
 * cannot hold them (answer resp_budget_error). Never refuses without a
 * budget (tests, the CLI). */
int req_mem_hold(struct req *rq, size_t total) GROMO_WUR;
/* The answer when req_mem_hold refused: 503 with Retry-After. Returns -1. */
int resp_budget_error(struct resp *rs);

#define RESP_MAX_HEADERS 12

/* What a handler answers. Exactly one of the body forms is used:
 * - success envelope: data (json, owned) or data_raw (JSON text) + message
 * - bare JSON (json_bare, owned), for /health's shape (docs/rules.md §5)
 * - error: err + details (owned), rendered by http_render_error()
 * - raw bytes with content_type (exports) */
struct resp {
  int status;
  json_t *data;
  struct buf data_raw;
  char message[256];
  json_t *json_bare;
  struct gerr err;
  json_t *details;
  int is_error;
  struct buf body;
  const char *content_type; /* static string */
  /* A body produced as it is sent (exports): read() appends the next part
   * to the buffer and returns 0, setting *done at the end (-1 on failure);
   * free() runs when the response is over. Owned by the HTTP layer once the
   * handler returns. */
  int (*stream_read)(void *ctx, struct buf *out, int *done);
  void (*stream_free)(void *ctx);
  void *stream_ctx;
  int body_fd; /* or a file to send whole (owned; -1: none) */
  /* A response that waits for slow work (POST /models/train?wait=true):
   * the handler sets wait_fn and returns. The server parks the connection,
   * so its HTTP thread goes on serving others, runs wait_fn(wait_ctx, rs)
   * on a thread of its own (which fills rs), then sends rs. wait_free runs
   * once in every case, also when wait_fn never does. */
  int (*wait_fn)(void *ctx, struct resp *rs);
  void (*wait_free)(void *ctx);
  void *wait_ctx;
  const char *hdr_name[RESP_MAX_HEADERS];  /* static strings */
  char hdr_value[RESP_MAX_HEADERS][128];
  size_t nhdr;
};

void resp_init(struct resp *rs);
void resp_release(struct resp *rs);
/* Success envelope with `data` (stolen; NULL renders as null). Returns 0. */
int resp_ok(struct resp *rs, json_t *data, const char *fmt, ...)
    GROMO_PRINTF(3, 4);
/* Success envelope whose data is the JSON text in rs->data_raw (filled by the
 * handler before the call). Returns 0. */
int resp_ok_raw(struct resp *rs, const char *fmt, ...) GROMO_PRINTF(2, 3);
/* An error; details (stolen, may be NULL) is an array of objects naming
 * index/row, field and problem. Returns -1, so: return resp_error(...). */
int resp_error(struct resp *rs, enum gerr_code code, json_t *details,
               const char *fmt, ...) GROMO_PRINTF(4, 5);
int resp_error_from(struct resp *rs, const struct gerr *err);
int resp_header(struct resp *rs, const char *name, const char *fmt, ...)
    GROMO_PRINTF(3, 4);
/* Runs a waiting response's wait_fn (blocking) and frees its context;
 * nothing when rs does not wait. Servers call it off their HTTP threads;
 * callers of router_dispatch without a server call it themselves. */
void resp_wait_run(struct resp *rs);

/* Renders rs into its final bytes: sets *body (malloc'd, caller frees),
 * *len, *content_type and returns the HTTP status. The only place the error
 * envelope is written. */
int http_render(struct resp *rs, const char *request_id, char **body,
                size_t *len, const char **content_type);

/* 1 for "application/json", "application/json; charset=utf-8" and no type. */
int http_content_type_is_json(const char *ct);

/* Routes are data. */
typedef int (*handler_fn)(struct req *rq, struct resp *rs);

enum route_flags {
  ROUTE_JSON = 1 << 0,     /* body must be JSON (415 otherwise), parsed into
                              rq->json */
  ROUTE_UNLIMITED = 1 << 2, /* not rate-limited (health checks) */
  ROUTE_STREAM = 1 << 3,    /* the body goes to stream_ops as it arrives,
                               never held whole */
  ROUTE_UPLOAD = 1 << 4,    /* a file upload (with ROUTE_STREAM): limited by
                               --max-upload, not --max-body, and
                               multipart/form-data is decoded on the way
                               (field "file") */
};

/* A route that reads its body as it arrives. Calls come in this order:
 * open (after the key and rate checks, before any of the body), part (for
 * multipart bodies: the file's name and type), chunk for each piece, close
 * after the last byte, and always free at the end, also when the client went
 * away: free must undo whatever close did not finish (roll back). close may
 * leave slow work in rs->wait_fn (storing what was staged): the server runs
 * it on a thread of its own, never on an HTTP thread, and calls free only
 * after it, so the wait may use the state. */
struct stream_ops {
  int (*open)(struct req *rq, struct resp *rs, void **state);
  int (*part)(void *state, const char *filename, const char *content_type,
              struct resp *rs);
  int (*chunk)(void *state, const char *p, size_t n, struct resp *rs);
  int (*close)(void *state, struct req *rq, struct resp *rs);
  void (*free)(void *state);
};

/* What GET /openapi.json says of a route (src/http/openapi.c). Schema and
 * parameter names refer to the components of src/http/openapi.json. Lists
 * are space-separated. */
struct route_doc {
  const char *tag;      /* the group in Swagger UI */
  const char *request;  /* schema of a JSON request body; NULL: none */
  const char *consumes; /* media types of the body; NULL: application/json */
  const char *response; /* schema of the success envelope's "data" or, with
                           produces, of the whole body; NULL: none */
  const char *produces; /* NULL: the JSON success envelope; else the media
                           type of the body as it is (bare JSON, HTML...) */
  const char *also;     /* other media types a success may come in (exports) */
  const char *statuses; /* every documented status: "200 400 401 403 429" */
  const char *query;    /* query parameters (components/parameters names) */
  const char *notes;    /* more than the summary (Markdown); NULL: none */
};

struct route {
  const char *method;
  const char *pattern; /* "/regions/{id}": {x} matches one segment */
  enum role role;      /* least role allowed */
  size_t body_limit;   /* bytes; 0: no body accepted */
  unsigned flags;
  handler_fn handler;
  const char *summary;
  const struct stream_ops *stream; /* ROUTE_STREAM routes */
  const struct route_doc *doc;     /* for /openapi.json; NULL: undocumented */
};

/* Finds the route for method + path. Returns the route, or NULL with
 * *status 404 (no such path) or 405 (path exists, method does not; then
 * allow[] lists the methods, comma-separated). */
const struct route *router_match(const struct route *table, const char *method,
                                 const char *path, struct req *rq, int *status,
                                 char *allow, size_t allow_cap);

/* The key, role and rate checks of route r, once per request (the server
 * runs them when the headers arrive, before any of the body is read). 0, or
 * -1 with rs filled (401, 403, 429, 503). */
int router_admit(const struct route *r, struct req *rq, struct resp *rs);
/* For ROUTE_STREAM routes, at the request's headers: router_admit, then
 * stream->open. 0, or -1 with rs filled. */
int router_stream_open(const struct route *r, struct req *rq, struct resp *rs,
                       void **state);
/* After a streamed request: the audit line of admin routes. */
void router_stream_done(const struct route *r, const struct req *rq, int status);

/* The OpenAPI 3.1 document of a route table (src/http/openapi.c): every
 * documented route, with the shared schemas of src/http/openapi.json. New
 * reference, or NULL when out of memory. */
json_t *openapi_document(const struct route *table);
/* The statuses the document gives route r, ascending: its doc's, and those
 * the router may answer for it (key, role, rate, size, media type). Writes
 * at most cap; returns the count. */
size_t openapi_route_statuses(const struct route *r, int *out, size_t cap);

/* Runs a request through the checks and the handler. rq->body must be
 * set for routes with a body; a ROUTE_STREAM route is given it as one
 * chunk, and its wait (if any) is left in rs for the caller, as any
 * handler's. Fills rs; returns the HTTP status. */
int router_dispatch(const struct route *table, struct req *rq, struct resp *rs);

#endif
