/* libmicrohttpd glue: reads requests (bounding the body while it arrives),
 * hands them to the router, queues the rendered response and writes one log
 * line per request. The only file that includes <microhttpd.h>. */
#include "gromo/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <sodium.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "gromo/buf.h"
#include "gromo/http.h"
#include "gromo/log.h"
#include "gromo/parse.h"
#include "gromo/membudget.h"
#include "gromo/metrics.h"
#include "gromo/timeutil.h"

/* Each open connection, for the header deadline: `since` is when it began
 * waiting for a request's headers (its accept, or the end of its previous
 * response), 0 while a request is being read or answered. */
struct conn_watch {
  MHD_socket fd;
  _Atomic int64_t since;
  struct conn_watch *prev, *next;
};

struct server {
  struct MHD_Daemon *daemon;
  struct app *app;
  const struct route *routes;
  struct membudget budget; /* request bodies and what they became */
  int port;
  /* The header deadline's watch: every connection, and a thread that
   * closes those whose headers are late, however slowly bytes trickle. */
  pthread_mutex_t watch_mu;
  pthread_cond_t watch_cv;
  struct conn_watch *watched;
  pthread_t watchdog;
  int watchdog_live, watch_stop;
  atomic_uint_fast64_t header_cut; /* connections closed for late headers */
  atomic_uint in_flight;
  atomic_uint parked; /* responses waiting on threads of their own */
  atomic_int stopping; /* server_stop has begun: new connections are closed */
  int can_park;       /* suspend/resume is on (not thread-per-connection) */
  atomic_uint_fast64_t next_id;
  uint64_t id_salt;
  char *tls_cert, *tls_key;
};

/* Past its limit, at most this much of a body is read and dropped before
 * the connection is closed without an answer. */
#define DISCARD_MAX ((size_t)64 << 20)
/* A request refused for want of memory is told to come back after this. */
#define BUDGET_RETRY_AFTER_S 2

/* Per-request state, from the first call of the access handler to the
 * completion callback. */
struct conn_state {
  int64_t t0_us;
  const struct route *route;
  size_t limit;
  int refused;     /* a response was queued before the body was complete */
  enum gerr_code overflow; /* the body passed its limit: answer this */
  size_t discarded; /* bytes dropped after the overflow */
  int status;
  size_t bytes;
  struct buf body;
  char request_id[65];
  char method[16];
  char path[256];
  char client[INET6_ADDRSTRLEN];
  char key_name[65];
  enum role role;
  /* Routes that stream their body (ROUTE_STREAM): */
  int streaming;
  int stream_failed;  /* st->srs holds the error; the rest is dropped */
  int part_seen;      /* multipart: the "file" field has begun */
  uint64_t received;
  struct req srq;     /* lives from the headers to the end */
  struct resp srs;
  void *stream;       /* the route's state; NULL once freed */
  struct MHD_PostProcessor *pp;
  struct memshare mem; /* what the request holds of the server's budget */
  int have_req;        /* srq and srs are set (a route matched, or last call) */
  struct parked *parked; /* a waiting response; sent when resumed */
  int stream_parked;  /* the parked response finishes a streamed request:
                         its state is freed once it is sent */
};

/* A response whose handler has to wait (resp.wait_fn): its connection is
 * suspended while a thread of its own waits, then resumed to send it. */
struct parked {
  struct server *srv;
  struct MHD_Connection *conn;
  struct resp rs;
};

static void deadline_headers_done(struct server *srv, struct MHD_Connection *conn);
static void deadline_headers_wait(struct MHD_Connection *conn);

static const char *query_lookup(void *ctx, const char *name) {
  return MHD_lookup_connection_value((struct MHD_Connection *)ctx,
                                     MHD_GET_ARGUMENT_KIND, name);
}

static const char *header_lookup(void *ctx, const char *name) {
  return MHD_lookup_connection_value((struct MHD_Connection *)ctx,
                                     MHD_HEADER_KIND, name);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t cap) {
  out[0] = '\0';
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
              out, (socklen_t)cap);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
              out, (socklen_t)cap);
}

/* Behind a proxy named by --trusted-proxies (nginx balancing several
 * servers), the client is the address the proxy appended to
 * X-Forwarded-For, its last entry: logs and the rate limits of requests
 * without a key then tell clients apart, not see one proxy. The header of
 * any other peer is ignored, so no client can choose its address. */
static void forwarded_client(const struct app_config *cfg, struct MHD_Connection *conn,
                             char *client, size_t cap) {
  if (!cfg || !cfg->trusted_proxies || !client[0] ||
      !list_has(cfg->trusted_proxies, client, strlen(client)))
    return;
  const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
  if (!xff)
    return;
  const char *last = strrchr(xff, ',');
  last = last ? last + 1 : xff;
  while (*last == ' ')
    last++;
  char addr[INET6_ADDRSTRLEN];
  size_t n = strcspn(last, " ");
  unsigned char bin[sizeof(struct in6_addr)];
  if (n == 0 || n >= sizeof addr)
    return;
  memcpy(addr, last, n);
  addr[n] = '\0';
  if (inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1)
    snprintf(client, cap, "%s", addr);
}

/* The Origin, when CORS allows it (--cors-origins: "*" or a list). */
static const char *cors_origin(const struct app_config *cfg,
                               struct MHD_Connection *conn) {
  const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
  if (!cfg->cors_origins || !origin || !*origin || strlen(origin) > 200)
    return NULL;
  if (!strcmp(cfg->cors_origins, "*"))
    return origin;
  return list_has(cfg->cors_origins, origin, strlen(origin)) ? origin : NULL;
}

/* A client's X-Request-Id is kept when it is short and plain. */
static int request_id_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (n >= 64 || !(isalnum((unsigned char)s[n]) || strchr("-_.:", s[n])))
      return 0;
  return n > 0;
}

static void copy_printable(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
  }
  dst[i] = '\0';
}

/* A streamed body: MHD asks for bytes as the socket drains. */
struct pump {
  struct resp_stream_state {
    int (*read)(void *ctx, struct buf *out, int *done);
    void (*free)(void *ctx);
    void *ctx;
  } src;
  struct buf pending;
  size_t off;
  int done;
};

static ssize_t pump_read(void *cls, uint64_t pos, char *out, size_t max) {
  struct pump *p = cls;
  while (p->off == p->pending.len) {
    if (p->done)
      return MHD_CONTENT_READER_END_OF_STREAM;
    buf_reset(&p->pending);
    p->off = 0;
    if (p->src.read(p->src.ctx, &p->pending, &p->done) < 0)
      return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  size_t n = p->pending.len - p->off;
  if (n > max)
    n = max;
  memcpy(out, p->pending.data + p->off, n);
  p->off += n;
  (void)pos;
  return (ssize_t)n;
}

static void pump_free(void *cls) {
  struct pump *p = cls;
  if (p->src.free)
    p->src.free(p->src.ctx);
  buf_release(&p->pending);
  free(p);
}

/* The response object for a streamed or file body; takes them from rs. */
static struct MHD_Response *stream_response(struct resp *rs) {
  if (rs->body_fd >= 0) {
    struct stat sb;
    if (fstat(rs->body_fd, &sb) < 0)
      return NULL;
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)sb.st_size, rs->body_fd);
    if (r)
      rs->body_fd = -1; /* MHD closes it */
    return r;
  }
  struct pump *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->src.read = rs->stream_read;
  p->src.free = rs->stream_free;
  p->src.ctx = rs->stream_ctx;
  buf_init(&p->pending, (size_t)1 << 26);
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, pump_read, p, pump_free);
  if (!r) {
    free(p);
    return NULL;
  }
  rs->stream_ctx = NULL; /* the pump owns it now */
  return r;
}

static enum MHD_Result queue(struct server *srv, struct MHD_Connection *conn,
                             struct conn_state *st, struct resp *rs) {
  char *body = NULL;
  size_t len = 0;
  const char *ctype = NULL;
  struct MHD_Response *r;
  if (!rs->is_error && (rs->stream_read || rs->body_fd >= 0)) {
    st->status = rs->status;
    ctype = rs->content_type;
    r = stream_response(rs);
  } else {
    st->status = http_render(rs, st->request_id, &body, &len, &ctype);
    st->bytes = len;
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  }
  if (!r) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(r, "X-Request-Id", st->request_id);
  for (size_t i = 0; i < rs->nhdr; i++)
    MHD_add_response_header(r, rs->hdr_name[i], rs->hdr_value[i]);
  const char *origin = cors_origin(srv->app->cfg, conn);
  if (origin) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(r, "Vary", "Origin");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Content-Type, X-API-Key, Authorization, X-Request-Id");
    MHD_add_response_header(r, "Access-Control-Expose-Headers",
                            "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, "
                            "RateLimit-Reset, Retry-After");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
  }
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)st->status, r);
  MHD_destroy_response(r);
  return ret;
}

/* Sends rs now, before (the rest of) the body; the connection then closes. */
static enum MHD_Result refuse_with(struct server *srv, struct MHD_Connection *conn,
                                   struct conn_state *st, struct resp *rs) {
  st->refused = 1;
  return queue(srv, conn, st, rs);
}

static enum MHD_Result refuse(struct server *srv, struct MHD_Connection *conn,
                              struct conn_state *st, enum gerr_code code,
                              const char *msg) {
  struct resp rs;
  resp_init(&rs);
  resp_error(&rs, code, NULL, "%s", msg);
  st->refused = 1;
  enum MHD_Result ret = queue(srv, conn, st, &rs);
  resp_release(&rs);
  return ret;
}

static struct conn_state *state_new(struct server *srv,
                                    struct MHD_Connection *conn,
                                    const char *url, const char *method) {
  struct conn_state *st = calloc(1, sizeof *st);
  if (!st)
    return NULL;
  st->t0_us = mono_us();
  copy_printable(st->method, sizeof st->method, method);
  copy_printable(st->path, sizeof st->path, url);
  client_address(conn, st->client, sizeof st->client);
  forwarded_client(srv->app ? srv->app->cfg : NULL, conn, st->client, sizeof st->client);
  const char *rid =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
  if (rid && request_id_ok(rid)) {
    snprintf(st->request_id, sizeof st->request_id, "%s", rid);
  } else {
    uint64_t n = atomic_fetch_add(&srv->next_id, 1);
    snprintf(st->request_id, sizeof st->request_id, "%016llx",
             (unsigned long long)(srv->id_salt ^ (n * RNG_GOLDEN)));
  }
  atomic_fetch_add(&srv->in_flight, 1);
  return st;
}

static void req_fill(struct req *rq, struct server *srv, struct MHD_Connection *conn,
                     struct conn_state *st, const char *url, const char *method) {
  memset(rq, 0, sizeof *rq);
  rq->app = srv->app;
  rq->method = method;
  rq->path = url;
  rq->content_type =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  rq->query_fn = query_lookup;
  rq->header_fn = header_lookup;
  rq->query_ctx = conn;
  rq->client = st->client;
  memcpy(rq->request_id, st->request_id, sizeof rq->request_id);
}

static void stream_fail(struct conn_state *st) {
  st->stream_failed = 1;
}

/* multipart/form-data: the "file" field goes to the stream, others are
 * ignored. */
static enum MHD_Result on_post_part(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data,
                                    uint64_t off, size_t size) {
  struct conn_state *st = cls;
  if (st->stream_failed || !key || strcmp(key, "file") != 0)
    return MHD_YES;
  const struct stream_ops *ops = st->route->stream;
  if (!st->part_seen) {
    st->part_seen = 1;
    if (ops->part(st->stream, filename, content_type, &st->srs) < 0) {
      stream_fail(st);
      return MHD_NO;
    }
  }
  if (size && ops->chunk(st->stream, data, size, &st->srs) < 0) {
    stream_fail(st);
    return MHD_NO;
  }
  return MHD_YES;
}

/* The headers of a streamed request (st->srq is set): the checks, then the
 * route's open. */
static enum MHD_Result stream_begin(struct server *srv, struct MHD_Connection *conn,
                                    struct conn_state *st) {
  st->streaming = 1;
  if (router_stream_open(st->route, &st->srq, &st->srs, &st->stream) < 0) {
    stream_fail(st);
    return MHD_YES; /* answered when the body is done (or dropped) */
  }
  const char *ct = st->srq.content_type;
  if ((st->route->flags & ROUTE_UPLOAD) && ct &&
      !strncasecmp(ct, "multipart/form-data", 19)) {
    st->pp = MHD_create_post_processor(conn, 64 * 1024, on_post_part, st);
    if (!st->pp) {
      resp_error(&st->srs, GERR_INVALID_INPUT, NULL,
                 "a multipart/form-data body needs a boundary");
      stream_fail(st);
    }
  }
  (void)srv;
  return MHD_YES;
}

/* Frees the route's state (it rolls back what it began). */
static void stream_end_state(struct conn_state *st) {
  if (st->pp) {
    MHD_destroy_post_processor(st->pp);
    st->pp = NULL;
  }
  if (st->stream) {
    st->route->stream->free(st->stream);
    st->stream = NULL;
  }
  req_release(&st->srq);
}

static void *parked_wait(void *arg) {
  struct parked *pk = arg;
  struct server *srv = pk->srv; /* pk is freed once the connection resumes */
  resp_wait_run(&pk->rs);
  MHD_resume_connection(pk->conn);
  atomic_fetch_sub(&srv->parked, 1);
  return NULL;
}

/* Moves rs into a parked response and suspends the connection until a
 * thread has waited for it. 0, or -1 (rs untouched) when that cannot be. */
static int park(struct server *srv, struct MHD_Connection *conn, struct conn_state *st,
                struct resp *rs) {
  if (!srv->can_park)
    return -1;
  struct parked *pk = malloc(sizeof *pk);
  if (!pk)
    return -1;
  pk->srv = srv;
  pk->conn = conn;
  pk->rs = *rs; /* the resp moves: rs must not be released after this */
  st->parked = pk;
  atomic_fetch_add(&srv->parked, 1);
  MHD_suspend_connection(conn);
  pthread_attr_t attr;
  pthread_t t;
  int ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ok = pthread_create(&t, &attr, parked_wait, pk) == 0;
    pthread_attr_destroy(&attr);
  }
  if (ok)
    return 0;
  MHD_resume_connection(conn);
  atomic_fetch_sub(&srv->parked, 1);
  st->parked = NULL;
  *rs = pk->rs;
  free(pk);
  return -1;
}

/* The declared Content-Length: 1 with *n, 0 when absent or unreadable. */
static int declared_length(struct MHD_Connection *conn, unsigned long long *n) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cl)
    return 0;
  errno = 0;
  char *end = NULL;
  *n = strtoull(cl, &end, 10);
  return errno == 0 && end != cl;
}

static int body_announced(struct MHD_Connection *conn) {
  unsigned long long n;
  if (declared_length(conn, &n))
    return n > 0;
  const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te && *te;
}

/* What an upload holds in memory while it is read (readers' buffers and
 * batches); its body itself goes to disk. */
#define UPLOAD_WORKING_SET ((size_t)8 << 20)

static enum MHD_Result refuse_budget(struct server *srv, struct MHD_Connection *conn,
                                     struct conn_state *st) {
  resp_header(&st->srs, "Retry-After", "%d", BUDGET_RETRY_AFTER_S);
  resp_error(&st->srs, GERR_UNAVAILABLE, NULL,
             "the server holds as much request data as it may (--max-inflight); "
             "retry in %d s",
             BUDGET_RETRY_AFTER_S);
  return refuse_with(srv, conn, st, &st->srs);
}

/* The headers are here: the route, its limits, and for a request with a
 * body the key, role, rate limit and memory, all before any of the body is
 * read. A refusal now is sent at once and the connection then closes, so
 * the body is never read. (Requests without a body are checked at their
 * last call: a response queued now would close a keep-alive connection.) */
static enum MHD_Result on_headers(struct server *srv, struct MHD_Connection *conn,
                                  struct conn_state *st, const char *url,
                                  const char *method) {
  struct req probe = {0};
  int status = 0;
  deadline_headers_done(srv, conn);
  st->route = router_match(srv->routes, method, url, &probe, &status, NULL, 0);
  if (!st->route)
    return MHD_YES; /* 404/405 at the last call; any body is dropped */
  const struct app_config *cfg = srv->app->cfg;
  int upload = (st->route->flags & ROUTE_UPLOAD) != 0;
  size_t cap = upload ? cfg->max_upload : cfg->max_body;
  st->limit = st->route->body_limit < cap ? st->route->body_limit : cap;
  buf_init(&st->body, st->limit);
  st->mem.budget = &srv->budget;
  req_fill(&st->srq, srv, conn, st, url, method);
  st->srq.mem = &st->mem;
  resp_init(&st->srs);
  st->have_req = 1;

  unsigned long long n = 0;
  int has_cl = declared_length(conn, &n);
  if (has_cl && n > st->limit) {
    resp_error(&st->srs, GERR_TOO_LARGE, NULL,
               "the request body of %llu bytes is larger than the %zu bytes this "
               "endpoint accepts%s",
               n, st->limit,
               st->limit < cap ? "" : upload ? " (--max-upload)" : " (--max-body)");
    return refuse_with(srv, conn, st, &st->srs);
  }
  if (body_announced(conn)) {
    if (router_admit(st->route, &st->srq, &st->srs) < 0)
      return refuse_with(srv, conn, st, &st->srs);
    size_t want = upload ? UPLOAD_WORKING_SET : has_cl ? (size_t)n : 0;
    if (memshare_hold(&st->mem, want) < 0)
      return refuse_budget(srv, conn, st);
  }
  if (st->route->flags & ROUTE_STREAM)
    return stream_begin(srv, conn, st);
  return MHD_YES;
}

/* A body slower than --min-body-rate, once its grace period is over, or
 * later than --body-timeout in all, closes the connection. */
static int body_too_slow(const struct server *srv, const struct conn_state *st) {
  const struct app_config *cfg = srv->app->cfg;
  int64_t el = mono_us() - st->t0_us;
  if (el > (int64_t)cfg->body_timeout * 1000000)
    return 1;
  if (!cfg->min_body_rate || el <= (int64_t)cfg->body_rate_grace * 1000000)
    return 0;
  return (double)st->received < (double)cfg->min_body_rate * ((double)el / 1e6);
}

/* A piece of the body. */
static enum MHD_Result on_body(struct server *srv, struct conn_state *st,
                               const char *data, size_t n) {
  if (!st->route) /* 404/405 bodies are not kept */
    return MHD_YES;
  st->received += n;
  if (body_too_slow(srv, st))
    return MHD_NO;
  if (st->streaming) {
    if (!st->stream_failed && st->received > st->limit) {
      resp_error(&st->srs, GERR_TOO_LARGE, NULL,
                 "the request body is larger than the %zu bytes this endpoint accepts%s",
                 st->limit, st->route->flags & ROUTE_UPLOAD ? " (--max-upload)" : "");
      stream_fail(st);
    }
    if (st->stream_failed) {
      st->discarded += n;
      return st->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    if (st->pp) {
      if (MHD_post_process(st->pp, data, n) != MHD_YES && !st->stream_failed) {
        resp_error(&st->srs, GERR_INVALID_INPUT, NULL, "the multipart body is malformed");
        stream_fail(st);
      }
    } else if (st->route->stream->chunk(st->stream, data, n, &st->srs) < 0) {
      stream_fail(st);
    }
    return MHD_YES;
  }
  if (st->overflow) {
    /* libmicrohttpd takes a response only before the body or after all
     * of it: the rest of a refused chunked body is read and dropped, up to
     * a bound past which the connection is simply closed. */
    st->discarded += n;
    return st->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
  }
  if (st->body.len + n > st->body.limit) {
    st->overflow = GERR_TOO_LARGE;
  } else if (memshare_hold(&st->mem, st->body.len + n) < 0) {
    st->overflow = GERR_UNAVAILABLE;
  } else if (buf_append(&st->body, data, n) < 0) {
    st->overflow = GERR_INTERNAL;
  }
  if (st->overflow)
    buf_release(&st->body);
  return MHD_YES;
}

/* The last call of a streamed request: close, then answer (or park). */
static enum MHD_Result stream_finish(struct server *srv, struct MHD_Connection *conn,
                                     struct conn_state *st) {
  if (st->pp) {
    int complete = MHD_destroy_post_processor(st->pp) == MHD_YES;
    st->pp = NULL;
    if (!st->stream_failed && (!complete || !st->part_seen)) {
      resp_error(&st->srs, GERR_INVALID_INPUT, NULL,
                 complete ? "the multipart body has no field named \"file\""
                          : "the multipart body is incomplete");
      stream_fail(st);
    }
  }
  if (!st->stream_failed)
    st->route->stream->close(st->stream, &st->srq, &st->srs);
  memcpy(st->key_name, st->srq.key_name, sizeof st->key_name);
  st->role = st->srq.role;
  st->streaming = 0;
  if (st->srs.wait_fn) {
    /* close left slow work (storing the staged records): it runs on a
     * thread of its own while the connection is parked; the stream's
     * state is freed once the answer is sent. */
    struct resp rs = st->srs;
    resp_init(&st->srs);
    if (park(srv, conn, st, &rs) == 0) {
      st->stream_parked = 1;
      return MHD_YES;
    }
    resp_wait_run(&rs);
    st->srs = rs;
  }
  stream_end_state(st);
  router_stream_done(st->route, &st->srq, st->srs.status);
  enum MHD_Result ret = queue(srv, conn, st, &st->srs);
  resp_release(&st->srs);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  struct server *srv = cls;
  struct conn_state *st = *con_cls;

  if (!st) { /* first call: headers only */
    st = state_new(srv, conn, url, method);
    if (!st)
      return MHD_NO;
    *con_cls = st;
    return on_headers(srv, conn, st, url, method);
  }

  if (st->refused) { /* discard whatever still arrives */
    *upload_data_size = 0;
    return MHD_YES;
  }

  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    return on_body(srv, st, upload_data, n);
  }

  if (st->streaming)
    return stream_finish(srv, conn, st);

  if (st->parked) { /* resumed: the waiting response is ready */
    struct parked *pk = st->parked;
    st->parked = NULL;
    if (st->stream_parked) {
      st->stream_parked = 0;
      stream_end_state(st);
      router_stream_done(st->route, &st->srq, pk->rs.status);
    }
    enum MHD_Result ret = queue(srv, conn, st, &pk->rs);
    resp_release(&pk->rs);
    free(pk);
    return ret;
  }

  if (st->overflow) {
    if (st->overflow == GERR_UNAVAILABLE)
      return refuse_budget(srv, conn, st);
    return refuse(srv, conn, st, st->overflow,
                  st->overflow == GERR_TOO_LARGE
                      ? "the request body is larger than this endpoint accepts"
                      : "out of memory reading the request body");
  }

  /* Last call: the whole request is here. */
  struct req *rq = &st->srq;
  if (!st->have_req) { /* no route: router_dispatch answers 404/405 */
    req_fill(rq, srv, conn, st, url, method);
    resp_init(&st->srs);
    st->have_req = 1;
  }
  rq->body = st->body.data;
  rq->body_len = st->body.len;
  struct resp *rs = &st->srs;
  router_dispatch(srv->routes, rq, rs);
  req_release(rq);
  memcpy(st->key_name, rq->key_name, sizeof st->key_name);
  st->role = rq->role;
  buf_release(&st->body);
  if (rs->wait_fn) {
    struct resp moved = *rs;
    resp_init(rs);
    if (park(srv, conn, st, &moved) == 0)
      return MHD_YES;
    resp_wait_run(&moved); /* cannot park: wait on this thread */
    *rs = moved;
  }
  enum MHD_Result ret = queue(srv, conn, st, rs);
  resp_release(rs);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct server *srv = cls;
  struct conn_state *st = *con_cls;
  if (!st)
    return;
  *con_cls = NULL;
  int64_t us = mono_us() - st->t0_us;
  metrics_request(srv->app->metrics, st->route ? (int)(st->route - srv->routes) : -1,
                  st->status, us, st->key_name, (int64_t)time(NULL));
  char line[768];
  int n = snprintf(line, sizeof line,
                   "\"id\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
                   "\"us\":%lld,\"bytes\":%zu,\"client\":\"%s\",\"key\":\"%s\","
                   "\"role\":\"%s\"%s",
                   st->request_id, st->method, st->path, st->status,
                   (long long)us, st->bytes, st->client, st->key_name,
                   role_name(st->role),
                   toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                               : ",\"aborted\":true");
  if (n > 0)
    log_fields(LOG_INFO, "request", line,
               (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  if (st->streaming) { /* ended before its last call: undo */
    stream_end_state(st);
    resp_release(&st->srs);
  }
  if (st->parked) { /* resumed but never sent */
    resp_release(&st->parked->rs);
    free(st->parked);
  }
  if (st->stream_parked)
    stream_end_state(st);
  if (st->have_req) {
    req_release(&st->srq);
    resp_release(&st->srs);
  }
  buf_release(&st->body);
  memshare_release(&st->mem);
  free(st);
  atomic_fetch_sub(&srv->in_flight, 1);
  /* The connection now waits for its next request's headers. */
  deadline_headers_wait(conn);
}

/* ---- the header deadline ---- */

static struct conn_watch *watch_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void deadline_headers_done(struct server *srv, struct MHD_Connection *conn) {
  struct conn_watch *w = watch_of(conn);
  if (w)
    atomic_store(&w->since, 0);
  (void)srv;
}

static void deadline_headers_wait(struct MHD_Connection *conn) {
  struct conn_watch *w = watch_of(conn);
  if (w)
    atomic_store(&w->since, mono_us());
}

/* Once the server stops, a new connection is closed as soon as it is
 * accepted (see server_stop). */
static enum MHD_Result accept_ok(void *cls, const struct sockaddr *addr, socklen_t len) {
  (void)addr;
  (void)len;
  return atomic_load(&((struct server *)cls)->stopping) ? MHD_NO : MHD_YES;
}

/* libmicrohttpd tells of each connection's start and end; the end comes
 * before it closes the socket, so the watchdog never touches a descriptor
 * that another connection may have been given. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  struct server *srv = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn_watch *w = ci ? calloc(1, sizeof *w) : NULL;
    *socket_context = w;
    if (!w)
      return;
    w->fd = ci->connect_fd;
    atomic_store(&w->since, mono_us());
    pthread_mutex_lock(&srv->watch_mu);
    w->next = srv->watched;
    if (w->next)
      w->next->prev = w;
    srv->watched = w;
    pthread_mutex_unlock(&srv->watch_mu);
    return;
  }
  struct conn_watch *w = *socket_context;
  if (!w)
    return;
  pthread_mutex_lock(&srv->watch_mu);
  if (w->prev)
    w->prev->next = w->next;
  else
    srv->watched = w->next;
  if (w->next)
    w->next->prev = w->prev;
  pthread_mutex_unlock(&srv->watch_mu);
  free(w);
  *socket_context = NULL;
}

/* Twice a second: connections whose headers are later than
 * --header-timeout are shut down (libmicrohttpd then closes them). Bytes
 * that trickle in do not extend the deadline, unlike the idle timeout. */
static void *watchdog_run(void *arg) {
  struct server *srv = arg;
  int64_t limit_us = (int64_t)srv->app->cfg->header_timeout * 1000000;
  pthread_mutex_lock(&srv->watch_mu);
  while (!srv->watch_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 500 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&srv->watch_cv, &srv->watch_mu, &until);
    int64_t now = mono_us();
    unsigned cut = 0;
    for (struct conn_watch *w = srv->watched; w; w = w->next) {
      int64_t since = atomic_load(&w->since);
      if (since && now - since > limit_us) {
        atomic_store(&w->since, 0);
        shutdown(w->fd, SHUT_RDWR);
        cut++;
      }
    }
    if (cut) {
      atomic_fetch_add(&srv->header_cut, cut);
      log_msg(LOG_WARN, "http",
              "closed %u connection%s whose request headers took longer than %u s "
              "(--header-timeout)",
              cut, cut == 1 ? "" : "s", srv->app->cfg->header_timeout);
    }
  }
  pthread_mutex_unlock(&srv->watch_mu);
  return NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  log_msg(LOG_WARN, "http", "%s", msg);
}

static unsigned mode_flags(enum http_mode m) {
  switch (m) {
  case HTTP_MODE_POLL_POOL:
    return MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  case HTTP_MODE_EPOLL_SINGLE:
    return MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO;
  case HTTP_MODE_THREAD_PER_CONN:
    return MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
           MHD_USE_POLL;
  case HTTP_MODE_EPOLL_POOL:
  default:
    return MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO;
  }
}

/* A PEM file, whole, NUL-terminated (bounded: certificates are small). */
/* MHD's own %HH decoding of paths and query values, except that a decoded
 * NUL becomes DEL (0x7f): a C string cut short at "%00" would otherwise
 * name another path or value ("/regions/%00" read as "/regions/"). DEL is
 * valid in no path segment, identifier or number, so it is refused. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  size_t n = MHD_http_unescape(s);
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\0')
      s[i] = 0x7f;
  return n;
}

static char *read_pem(const char *path, struct gerr *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    gerr_set(err, GERR_INVALID_INPUT, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  struct buf b;
  buf_init(&b, 1 << 20);
  char chunk[4096];
  size_t n;
  int bad = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (buf_append(&b, chunk, n) < 0) {
      bad = 1;
      break;
    }
  fclose(f);
  if (bad || b.len == 0) {
    buf_release(&b);
    gerr_set(err, GERR_INVALID_INPUT, "%s is empty or larger than 1 MiB", path);
    return NULL;
  }
  return buf_detach(&b, NULL);
}

int server_start(struct app *app, const struct route *routes, struct server **out,
                 struct gerr *err) {
  const struct app_config *cfg = app->cfg;
  *out = NULL;
  struct sockaddr_in sin;
  struct sockaddr_in6 sin6;
  const struct sockaddr *addr;
  unsigned flags = mode_flags(cfg->mode) | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  /* Waiting responses park their connection; a thread per connection can
   * simply wait. */
  int can_park = cfg->mode != HTTP_MODE_THREAD_PER_CONN;
  if (can_park)
    flags |= MHD_ALLOW_SUSPEND_RESUME;
  memset(&sin, 0, sizeof sin);
  memset(&sin6, 0, sizeof sin6);
  if (inet_pton(AF_INET, cfg->bind, &sin.sin_addr) == 1) {
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)cfg->port);
    addr = (const struct sockaddr *)&sin;
  } else if (inet_pton(AF_INET6, cfg->bind, &sin6.sin6_addr) == 1) {
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons((uint16_t)cfg->port);
    addr = (const struct sockaddr *)&sin6;
    flags |= MHD_USE_IPv6;
  } else {
    return gerr_set(err, GERR_INVALID_INPUT,
                    "bind address %s is not an IPv4 or IPv6 address", cfg->bind);
  }
  if (cfg->port < 0 || cfg->port > 65535)
    return gerr_set(err, GERR_INVALID_INPUT, "port %d is out of range", cfg->port);

  struct server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  srv->app = app;
  srv->routes = routes;
  srv->can_park = can_park;
  membudget_init(&srv->budget, cfg->max_inflight);
  pthread_mutex_init(&srv->watch_mu, NULL);
  pthread_cond_init(&srv->watch_cv, NULL);
  if (getrandom(&srv->id_salt, sizeof srv->id_salt, 0) != sizeof srv->id_salt)
    srv->id_salt = (uint64_t)time(NULL) * RNG_GOLDEN;

  char *cert = NULL, *key = NULL;
  if (!cfg->tls_cert != !cfg->tls_key) {
    free(srv);
    return gerr_set(err, GERR_INVALID_INPUT, "TLS needs both a certificate and a key");
  }
  if (cfg->tls_cert) {
    if (!(cert = read_pem(cfg->tls_cert, err)) || !(key = read_pem(cfg->tls_key, err))) {
      free(cert);
      free(srv);
      return -1;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem tls_opts[] = {
      {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
      {MHD_OPTION_END, 0, NULL}};
  unsigned pool = cfg->threads > 0 ? (unsigned)cfg->threads : 1;
  int use_pool = cfg->mode == HTTP_MODE_EPOLL_POOL || cfg->mode == HTTP_MODE_POLL_POOL;
  app->server = srv; /* before any request: handlers read the limits */
  srv->daemon = MHD_start_daemon(
      flags, (uint16_t)cfg->port, &accept_ok, srv, &on_request, srv,
      MHD_OPTION_EXTERNAL_LOGGER, &mhd_logger, srv, /* first, to catch all */
      MHD_OPTION_SOCK_ADDR, addr,
      MHD_OPTION_UNESCAPE_CALLBACK, &unescape, NULL,
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, srv,
      MHD_OPTION_NOTIFY_CONNECTION, &on_connection, srv,
      MHD_OPTION_THREAD_POOL_SIZE, use_pool && pool > 1 ? pool : 0,
      MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout,
      MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conns_per_ip,
      MHD_OPTION_ARRAY, tls_opts,
      MHD_OPTION_END);
  srv->tls_cert = cert; /* libmicrohttpd keeps pointers to both */
  srv->tls_key = key;
  if (!srv->daemon) {
    if (key)
      sodium_memzero(key, strlen(key));
    free(cert);
    free(key);
    app->server = NULL;
    free(srv);
    return gerr_set(err, GERR_UNAVAILABLE, "cannot listen on %s port %d: %s",
                    cfg->bind, cfg->port, strerror(errno));
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  srv->port = di ? di->port : cfg->port;
  if (cfg->header_timeout)
    srv->watchdog_live = pthread_create(&srv->watchdog, NULL, watchdog_run, srv) == 0;
  *out = srv;
  return 0;
}

int server_port(const struct server *s) { return s->port; }

unsigned server_in_flight(const struct server *s) {
  return atomic_load(&((struct server *)s)->in_flight);
}

void server_limits(const struct server *s, struct server_limits *out) {
  struct server *m = (struct server *)s;
  out->inflight_bytes = membudget_used(&m->budget);
  out->inflight_cap = m->budget.cap;
  out->inflight_refused = atomic_load(&m->budget.refused);
  out->header_timeouts = atomic_load(&m->header_cut);
}

void server_stop(struct server *s) {
  if (!s)
    return;
  /* New connections are closed as soon as they are accepted while the
   * requests in flight drain. The daemon is not quiesced: with a pool of
   * epoll threads, MHD_quiesce_daemon and each worker both take the listen
   * socket out of the worker's epoll set, and the one that comes second
   * aborts the process (libmicrohttpd 0.9.75). */
  atomic_store(&s->stopping, 1);
  int64_t deadline = mono_us() + (int64_t)s->app->cfg->drain_secs * 1000000;
  while (atomic_load(&s->in_flight) > 0 && mono_us() < deadline) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* A parked connection must be resumed before the daemon stops: its
   * waiter ends with the work it waits for (a training run is bounded). */
  while (atomic_load(&s->parked) > 0) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  MHD_stop_daemon(s->daemon);
  if (s->watchdog_live) {
    pthread_mutex_lock(&s->watch_mu);
    s->watch_stop = 1;
    pthread_cond_signal(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_mu);
    pthread_join(s->watchdog, NULL);
  }
  pthread_mutex_destroy(&s->watch_mu);
  pthread_cond_destroy(&s->watch_cv);
  s->app->server = NULL;
  if (s->tls_key)
    sodium_memzero(s->tls_key, strlen(s->tls_key));
  free(s->tls_cert);
  free(s->tls_key);
  free(s);
}
