/* The router: match the route, then check what every route needs (body
 * size, content type, JSON) before the handler runs. Handlers never parse
 * the body themselves and never render errors. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gromo/app.h"
#include "gromo/http.h"
#include "gromo/log.h"
#include "gromo/membudget.h"
#include "gromo/ratelimit.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

#define JSON_PARSE_FLAGS JSON_REJECT_DUPLICATES

const char *req_query(const struct req *rq, const char *name) {
  return rq->query_fn ? rq->query_fn(rq->query_ctx, name) : NULL;
}

const char *req_header(const struct req *rq, const char *name) {
  return rq->header_fn ? rq->header_fn(rq->query_ctx, name) : NULL;
}

struct store *req_store(struct req *rq, struct gerr *err) {
  if (!rq->db && rq->app && rq->app->pool)
    rq->db = store_pool_get(rq->app->pool, err);
  else if (!rq->db)
    gerr_set(err, GERR_UNAVAILABLE, "no database configured");
  return rq->db;
}

void req_release(struct req *rq) {
  if (rq->db && rq->app && rq->app->pool)
    store_pool_put(rq->app->pool, rq->db);
  rq->db = NULL;
}

int req_mem_hold(struct req *rq, size_t total) {
  return rq->mem ? memshare_hold(rq->mem, total) : 0;
}

int resp_budget_error(struct resp *rs) {
  resp_header(rs, "Retry-After", "2");
  return resp_error(rs, GERR_UNAVAILABLE, NULL,
                    "the server holds as much request data as it may (--max-inflight); "
                    "retry in 2 s");
}

/* Matches path against pattern; {x} segments are captured (pointers into
 * the scratch copy `segbuf`). Returns 1 on a match. */
static int pattern_match(const char *pattern, const char *path, char *segbuf,
                         size_t segcap, const char **params, size_t *nparams) {
  size_t np = 0, used = 0;
  const char *p = pattern, *u = path;
  while (*p && *u) {
    if (*p != '/' || *u != '/')
      return 0;
    p++, u++;
    const char *pe = strchr(p, '/');
    const char *ue = strchr(u, '/');
    size_t pl = pe ? (size_t)(pe - p) : strlen(p);
    size_t ul = ue ? (size_t)(ue - u) : strlen(u);
    if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
      if (ul == 0 || np >= REQ_MAX_PARAMS || used + ul + 1 > segcap)
        return 0;
      memcpy(segbuf + used, u, ul);
      segbuf[used + ul] = '\0';
      params[np++] = segbuf + used;
      used += ul + 1;
    } else if (pl != ul || memcmp(p, u, pl) != 0) {
      return 0;
    }
    p += pl, u += ul;
  }
  if (*p || *u)
    return 0;
  *nparams = np;
  return 1;
}

/* Scratch for captured segments, one per thread (a request is handled by
 * one thread from match to response). */
static _Thread_local char route_segbuf[1024];

const struct route *router_match(const struct route *table, const char *method,
                                 const char *path, struct req *rq, int *status,
                                 char *allow, size_t allow_cap) {
  char norm[1024];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof norm || path[0] != '/') {
    *status = 404;
    return NULL;
  }
  memcpy(norm, path, len + 1);
  if (len > 1 && norm[len - 1] == '/') /* "/sales/" is "/sales" */
    norm[len - 1] = '\0';

  int path_seen = 0;
  if (allow && allow_cap)
    allow[0] = '\0';
  for (const struct route *r = table; r->method; r++) {
    const char *params[REQ_MAX_PARAMS];
    size_t np = 0;
    if (!pattern_match(r->pattern, norm, route_segbuf, sizeof route_segbuf,
                       params, &np))
      continue;
    int same = strcmp(r->method, method) == 0 ||
               (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
    if (same) {
      memcpy(rq->params, params, sizeof params);
      rq->nparams = np;
      return r;
    }
    if (allow && allow_cap) {
      size_t al = strlen(allow);
      snprintf(allow + al, allow_cap - al, "%s%s", al ? ", " : "", r->method);
    }
    path_seen = 1;
  }
  *status = path_seen ? 405 : 404;
  return NULL;
}

int http_content_type_is_json(const char *ct) {
  if (!ct)
    return 1;
  while (*ct == ' ')
    ct++;
  size_t n = strcspn(ct, "; ");
  return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static int check_json_body(struct req *rq, struct resp *rs) {
  if (!http_content_type_is_json(rq->content_type))
    return resp_error(rs, GERR_MEDIA_TYPE, NULL,
                      "this endpoint takes application/json, not %.80s",
                      rq->content_type);
  if (!rq->body || rq->body_len == 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "the request body is empty; a JSON document is required");
  return 0;
}

static int check_and_parse_json(struct req *rq, struct resp *rs) {
  if (check_json_body(rq, rs) < 0)
    return -1;
  json_error_t jerr;
  rq->json = json_loadb(rq->body, rq->body_len, JSON_PARSE_FLAGS, &jerr);
  if (!rq->json) {
    json_t *d = json_pack("[{s:s,s:i,s:i,s:s}]", "field", "body", "line",
                          jerr.line, "column", jerr.column, "problem", jerr.text);
    return resp_error(rs, GERR_INVALID_INPUT, d,
                      "malformed JSON at line %d, column %d: %s", jerr.line,
                      jerr.column, jerr.text);
  }
  return 0;
}

static int rate_limit(struct req *rq, struct resp *rs, const struct route *r);

/* The presented key: X-API-Key, or Authorization: Bearer. */
static const char *presented_key(const struct req *rq) {
  const char *k = req_header(rq, "X-API-Key");
  if (k && *k)
    return k;
  const char *a = req_header(rq, "Authorization");
  if (a && strncasecmp(a, "Bearer ", 7) == 0) {
    a += 7;
    while (*a == ' ')
      a++;
    return *a ? a : NULL;
  }
  return NULL;
}

/* Checks the key against the route's role: 401 without a valid key, 403
 * with one whose role is too low. */
static int authenticate(struct req *rq, struct resp *rs, const struct route *r) {
  const char *key = presented_key(rq);
  /* Requests without a valid key count against their address's bucket,
   * so guessing keys is rate-limited too. */
  if (!key) {
    if (rate_limit(rq, rs, r) < 0)
      return -1;
    resp_header(rs, "WWW-Authenticate", "Bearer realm=\"gromo\"");
    return resp_error(rs, GERR_UNAUTHORIZED, NULL,
                      "an API key is required: send it as X-API-Key or "
                      "Authorization: Bearer");
  }
  struct gerr err;
  struct key_row k;
  enum role role = ROLE_PUBLIC;
  struct store *db = rq->app ? req_store(rq, &err) : NULL;
  if (!rq->app)
    gerr_set(&err, GERR_UNAVAILABLE, "no key store");
  int rc = rq->app ? keys_verify(db, rq->app->key_secret, key, strlen(key), &k, &role, &err) : -1;
  if (rc < 0)
    return resp_error(rs, GERR_UNAVAILABLE, NULL, "cannot check the API key: %s", err.msg);
  if (rc == 1) {
    if (rate_limit(rq, rs, r) < 0)
      return -1;
    resp_header(rs, "WWW-Authenticate", "Bearer realm=\"gromo\", error=\"invalid_token\"");
    return resp_error(rs, GERR_UNAUTHORIZED, NULL,
                      "the API key is not valid (unknown or revoked)");
  }
  rq->role = role;
  rq->key_id = k.id;
  snprintf(rq->key_name, sizeof rq->key_name, "%s", k.name);
  if (role < r->role)
    return resp_error(rs, GERR_FORBIDDEN, NULL,
                      "%s %s needs the %s role; the key '%s' has the %s role",
                      r->method, r->pattern, role_name(r->role), k.name,
                      role_name(role));
  return 0;
}

/* The bucket of a client without a key: its IPv4 address, or its IPv6 /64
 * (one host is given a whole /64, so its addresses count as one). */
static void address_bucket(const char *client, char *who, size_t cap) {
  unsigned char a6[16];
  if (client && strchr(client, ':') && inet_pton(AF_INET6, client, a6) == 1) {
    char text[INET6_ADDRSTRLEN];
    memset(a6 + 8, 0, 8);
    if (inet_ntop(AF_INET6, a6, text, sizeof text)) {
      snprintf(who, cap, "a:%s/64", text);
      return;
    }
  }
  snprintf(who, cap, "a:%s", client ? client : "?");
}

/* One token from the caller's bucket: the key's, or the address's. */
static int rate_limit(struct req *rq, struct resp *rs, const struct route *r) {
  if (!rq->app || !rq->app->limiter || (r->flags & ROUTE_UNLIMITED) || rq->rate_checked)
    return 0;
  rq->rate_checked = 1;
  char who[96];
  if (rq->key_name[0])
    snprintf(who, sizeof who, "k:%lld", (long long)rq->key_id);
  else
    address_bucket(rq->client, who, sizeof who);
  struct rate_info ri;
  int ok = ratelimit_take(rq->app->limiter, rq->role, who, mono_us(), &ri);
  if (ri.limit > 0) {
    resp_header(rs, "RateLimit-Limit", "%ld", ri.limit);
    resp_header(rs, "RateLimit-Remaining", "%ld", ri.remaining);
    resp_header(rs, "RateLimit-Reset", "%ld", ri.reset);
  }
  if (ok)
    return 0;
  rq->rate_limited = 1;
  resp_header(rs, "Retry-After", "%ld", ri.retry_after);
  return resp_error(rs, GERR_RATE_LIMITED, NULL,
                    "too many requests for this %s; retry in %ld s",
                    rq->key_name[0] ? "key" : "address", ri.retry_after);
}

/* One audit line for each admin action, whatever its outcome. */
static void audit(const struct req *rq, const struct route *r, int status) {
  char line[512];
  int n = snprintf(line, sizeof line,
                   "\"id\":\"%s\",\"key\":\"%s\",\"role\":\"%s\",\"action\":\"%s %s\","
                   "\"status\":%d",
                   rq->request_id, rq->key_name, role_name(rq->role), r->method,
                   r->pattern, status);
  if (n > 0 && (size_t)n < sizeof line)
    log_fields(LOG_INFO, "audit", line, (size_t)n);
}

int router_admit(const struct route *r, struct req *rq, struct resp *rs) {
  if (rq->admitted)
    return 0;
  rq->role = ROLE_PUBLIC;
  if (r->role > ROLE_PUBLIC && authenticate(rq, rs, r) < 0)
    return -1;
  if (rate_limit(rq, rs, r) < 0)
    return -1;
  rq->admitted = 1;
  return 0;
}

int router_stream_open(const struct route *r, struct req *rq, struct resp *rs,
                       void **state) {
  *state = NULL;
  if (router_admit(r, rq, rs) < 0)
    return -1;
  return r->stream->open(rq, rs, state);
}

void router_stream_done(const struct route *r, const struct req *rq, int status) {
  if (r->role == ROLE_ADMIN)
    audit(rq, r, status);
}

/* A streamed route given its whole body at once (tests, and any caller
 * without a socket). The stream's state lives until its wait is done. */
struct stream_whole {
  const struct route *r;
  void *state;
  int (*wait_fn)(void *ctx, struct resp *rs);
  void (*wait_free)(void *ctx);
  void *wait_ctx;
};

static int stream_whole_wait(void *ctx, struct resp *rs) {
  struct stream_whole *w = ctx;
  int rc = w->wait_fn(w->wait_ctx, rs);
  if (w->wait_free)
    w->wait_free(w->wait_ctx);
  w->wait_free = NULL;
  return rc;
}

static void stream_whole_free(void *ctx) {
  struct stream_whole *w = ctx;
  if (w->wait_free)
    w->wait_free(w->wait_ctx);
  w->r->stream->free(w->state);
  free(w);
}

static void stream_whole(const struct route *r, struct req *rq, struct resp *rs) {
  void *state = NULL;
  if (r->stream->open(rq, rs, &state) == 0 &&
      (!rq->body_len || r->stream->chunk(state, rq->body, rq->body_len, rs) == 0))
    r->stream->close(state, rq, rs);
  struct stream_whole *w = rs->wait_fn ? malloc(sizeof *w) : NULL;
  if (!w) {
    if (rs->wait_fn) { /* no memory to wait later: wait now */
      resp_wait_run(rs);
    }
    r->stream->free(state);
    return;
  }
  *w = (struct stream_whole){r, state, rs->wait_fn, rs->wait_free, rs->wait_ctx};
  rs->wait_fn = stream_whole_wait;
  rs->wait_free = stream_whole_free;
  rs->wait_ctx = w;
}

int router_dispatch(const struct route *table, struct req *rq, struct resp *rs) {
  char allow[128];
  int status = 0;
  const struct route *r = router_match(table, rq->method, rq->path, rq, &status,
                                       allow, sizeof allow);
  if (!r && status == 405 && strcmp(rq->method, "OPTIONS") == 0) {
    /* A CORS preflight or a question about the methods: the answer is the
     * Allow list (the server adds the CORS headers). */
    resp_header(rs, "Allow", "%s, OPTIONS", allow);
    resp_header(rs, "Access-Control-Allow-Methods", "%s, OPTIONS", allow);
    rs->status = 204;
    rs->content_type = "text/plain";
    return rs->status;
  }
  if (!r) {
    if (status == 405) {
      resp_header(rs, "Allow", "%s", allow);
      resp_error(rs, GERR_METHOD, NULL, "%s is not allowed on %s; allowed: %s",
                 rq->method, rq->path, allow);
    } else {
      resp_error(rs, GERR_NOT_FOUND, NULL, "no endpoint at %s", rq->path);
    }
    return rs->status;
  }
  if (router_admit(r, rq, rs) == 0 && rq->body_len <= r->body_limit &&
      (!(r->flags & ROUTE_JSON) || check_and_parse_json(rq, rs) == 0)) {
    if (r->flags & ROUTE_STREAM)
      stream_whole(r, rq, rs);
    else
      r->handler(rq, rs);
  } else if (rq->body_len > r->body_limit && !rs->is_error) {
    resp_error(rs, GERR_TOO_LARGE, NULL,
               "the request body is larger than the %zu bytes this endpoint accepts",
               r->body_limit);
  }
  req_release(rq);
  json_decref(rq->json);
  rq->json = NULL;
  /* Admin actions are audited whatever their outcome, refusals included. */
  if (r->role == ROLE_ADMIN)
    audit(rq, r, rs->status);
  return rs->status;
}
