/* The running service: settings and the shared, long-lived parts that every
 * request reads. Built by `gromo serve`, borrowed by handlers through
 * struct req. */
#ifndef GROMO_APP_H
#define GROMO_APP_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/keys.h"
#include "gromo/ratelimit.h"

#define GROMO_API_VERSION "1.0.0"

#ifndef GROMO_BUILD
#define GROMO_BUILD "unknown"
#endif

/* Where `make web` writes the dashboard and docs (the Makefile sets the
 * absolute path): gromo serve's default --web-root. */
#ifndef GROMO_WEB_ROOT
#define GROMO_WEB_ROOT "build/web"
#endif

struct gaz;
struct store_pool;
struct metrics;
struct model_holder;
struct trainer;
struct server;
struct spool;
struct route;
struct accuracy_cache;

/* How libmicrohttpd runs: see docs/operations.md for the measurements. */
enum http_mode {
  HTTP_MODE_EPOLL_POOL = 0, /* epoll, a pool of `threads` polling threads */
  HTTP_MODE_POLL_POOL,      /* poll(2), a pool of threads */
  HTTP_MODE_EPOLL_SINGLE,   /* epoll, one thread */
  HTTP_MODE_THREAD_PER_CONN /* one thread per connection */
};

struct app_config {
  const char *db;       /* store URI */
  const char *bind;     /* listen address */
  int port;             /* 0: any free port */
  int threads;          /* polling threads (pool modes) */
  enum http_mode mode;
  size_t max_body;      /* largest request body accepted, bytes */
  size_t max_upload;    /* largest file upload (/sales/upload), bytes */
  const char *spool_dir; /* folder of upload files; NULL: $TMPDIR or /tmp */
  uint64_t max_spool;   /* bytes all upload files may hold at once; 0: any */
  unsigned conn_timeout; /* idle seconds before a connection is closed */
  unsigned max_conns;   /* connection cap */
  unsigned drain_secs;  /* longest wait for in-flight requests at shutdown */
  unsigned max_conns_per_ip;
  unsigned body_timeout; /* seconds a request body may take to arrive */
  size_t min_body_rate;  /* bytes a second a body must keep up; 0: none */
  unsigned body_rate_grace; /* seconds before min_body_rate applies */
  unsigned header_timeout; /* seconds for a request's headers; 0: none */
  size_t max_inflight;   /* request memory held by all requests, bytes */
  const char *log_file; /* NULL: stderr */
  struct rate_rule rates[ROLE_ADMIN + 1];
  int rate_limits_on;   /* 0: --no-rate-limit */
  const char *cors_origins; /* comma-separated origins or "*"; NULL: none */
  const char *trusted_proxies; /* comma-separated addresses of proxies whose
                                  X-Forwarded-For names the client; NULL: none */
  const char *tls_cert, *tls_key; /* PEM files; both or neither */
  const char *web_root; /* the dashboard's files (index.html, assets/,
                           docs/); see docs/web.md */
  int64_t retrain_every_s; /* train again once the serving version is this
                              old (seconds); 0: never (docs/monitoring.md) */
  int retrain_on_drift;    /* also once per version whose drift alarm is on */
};

/* The defaults of every setting but the rate limits and the spool's bound,
 * which are left zero (no limit): the caller sets them (gromo serve:
 * rate_rules_default, SPOOL_DEFAULT_MAX). src/http/config.c. */
void app_config_defaults(struct app_config *c);
/* Parses a mode name ("epoll-pool", ...). 0 or -1. */
int http_mode_parse(const char *s, enum http_mode *out);
const char *http_mode_name(enum http_mode m);
/* Parses a duration: "0" or "off" (0), or a whole number with a unit s, m,
 * h or d ("90s", "30m", "24h", "7d"), at most 365 days, into seconds. 0 or
 * -1 (*secs unchanged). */
int app_duration_parse(const char *s, int64_t *secs);
#define APP_DURATION_MAX_S (365LL * 86400)

struct app {
  const struct app_config *cfg;
  struct gaz *gaz;
  struct store_pool *pool;
  unsigned char key_secret[KEY_SECRET_LEN]; /* hashes API keys */
  struct ratelimit *limiter;                /* NULL: no limits */
  struct metrics *metrics;                  /* NULL: not counted */
  struct model_holder *models;              /* the serving model suite */
  struct trainer *trainer;                  /* training jobs; NULL: none here */
  struct accuracy_cache *accuracy;          /* reports of /models/accuracy and
                                               /metrics; NULL: none kept */
  struct server *server;                    /* the HTTP server; NULL: none */
  struct spool *spool;                      /* upload files; NULL: the default */
  const struct route *routes;               /* the table served (gromo_routes);
                                               NULL: /metrics, /stats and
                                               /openapi.json answer 503 */
  int64_t started_mono_us;
  int64_t started_unix;
};

#endif
