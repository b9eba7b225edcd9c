/* gromo serve: run the API until SIGINT/SIGTERM, then stop gracefully. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gromo/accuracy.h"
#include "gromo/app.h"
#include "gromo/gazetteer.h"
#include "gromo/http.h"
#include "gromo/keys.h"
#include "gromo/log.h"
#include "gromo/metrics.h"
#include "gromo/models.h"
#include "gromo/parse.h"
#include "gromo/ratelimit.h"
#include "gromo/routes.h"
#include "gromo/server.h"
#include "gromo/spool.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "gromo/trainjob.h"

/* How often a running server checks which model version the registry
 * serves (a one-row lookup), to pick up `gromo models rollback` and
 * training done by other processes (--models-poll). On PostgreSQL it also
 * listens for the registry's notices and checks at once; the polling
 * catches what was missed while the listening connection was down. */
#define MODELS_WATCH_MS 2000

static const char serve_help[] =
    "usage: gromo serve [OPTIONS]\n\n"
    "Runs the HTTP API until SIGINT or SIGTERM; in-flight requests finish\n"
    "before it exits. SIGHUP reopens the log file.\n\n"
    "  -p, --port N          port (env GROMO_PORT, default 8080; 0 picks a\n"
    "                        free port, logged as \"listening\")\n"
    "  -b, --bind ADDR       address to listen on (env GROMO_BIND, default\n"
    "                        127.0.0.1; 0.0.0.0 or :: for all)\n"
    "  -d, --db URI          store: SQLite file path, or postgresql://... for a\n"
    "                        database several servers share (env GROMO_DB,\n"
    "                        default gromo.db)\n"
    "      --threads N       HTTP threads (env GROMO_THREADS, default: cores)\n"
    "      --http-mode M     epoll-pool (default), poll-pool, epoll-single,\n"
    "                        thread-per-connection (env GROMO_HTTP_MODE)\n"
    "      --max-body BYTES  largest request body (env GROMO_MAX_BODY,\n"
    "                        default 67108864)\n"
    "      --max-upload BYTES  largest file upload to /sales/upload (env\n"
    "                        GROMO_MAX_UPLOAD, default 1073741824)\n"
    "      --spool-dir DIR   folder of the temporary files of uploads (env\n"
    "                        GROMO_SPOOL_DIR, default $TMPDIR or /tmp)\n"
    "      --max-spool BYTES  most bytes all uploads in progress may keep\n"
    "                        there (env GROMO_MAX_SPOOL, default 4294967296;\n"
    "                        0: no bound); past it an upload answers 507\n"
    "      --timeout SECS    idle connection timeout (default 30)\n"
    "      --max-connections N  (default 1024)\n"
    "      --log-file PATH   append JSON logs here (env GROMO_LOG_FILE)\n"
    "      --log-level L     debug, info (default), warn, error\n"
    "      --rate-limits S   requests a second per key (per address without a\n"
    "                        key), by role: ROLE=RATE[:BURST],... (env\n"
    "                        GROMO_RATE_LIMITS; defaults public=50:100,\n"
    "                        viewer=200:400, analyst=20000:40000, admin=200:400)\n"
    "      --no-rate-limit   no rate limits\n"
    "      --max-connections-per-ip N  (default 128)\n"
    "      --body-timeout SECS  longest time a request body may take (default 120)\n"
    "      --min-body-rate BYTES  slowest body, bytes a second on average, once\n"
    "                        --body-rate-grace has passed (default 1024; 0: none)\n"
    "      --body-rate-grace SECS  (default 10)\n"
    "      --header-timeout SECS  longest time for a request's headers, from the\n"
    "                        connection's start or its previous answer, however\n"
    "                        slowly they trickle in (default 10; 0: none)\n"
    "      --max-inflight BYTES  request bodies (and the records made of them)\n"
    "                        held in memory by all requests together (env\n"
    "                        GROMO_MAX_INFLIGHT, default 268435456)\n"
    "      --cors-origins L  allowed browser origins, comma-separated, or *\n"
    "                        (env GROMO_CORS_ORIGINS; default none)\n"
    "      --trusted-proxies L  addresses of proxies in front (nginx), comma-\n"
    "                        separated: from them, the last X-Forwarded-For\n"
    "                        entry is the client, for logs and rate limits\n"
    "                        (env GROMO_TRUSTED_PROXIES; default none)\n"
    "      --tls-cert FILE   serve HTTPS with this PEM certificate (env\n"
    "                        GROMO_TLS_CERT) ...\n"
    "      --tls-key FILE    ... and this PEM private key (env GROMO_TLS_KEY)\n"
    "      --models-poll SECS  how often the registry's serving model version is\n"
    "                        checked (env GROMO_MODELS_POLL, default 2); on\n"
    "                        PostgreSQL a change is also announced at once\n"
    "      --retrain-every D  train again once the serving model version is D\n"
    "                        old: 90s, 30m, 24h, 7d (at most 365d); 0 or off,\n"
    "                        the default: never (env GROMO_RETRAIN_EVERY)\n"
    "      --retrain-on-drift  also train again, once per version, when the\n"
    "                        serving version's drift alarm is on (GET\n"
    "                        /models/accuracy; env GROMO_RETRAIN_ON_DRIFT=1)\n"
    "      --web-root DIR    the dashboard and API docs that `make web` builds\n"
    "                        (env GROMO_WEB_ROOT, default " GROMO_WEB_ROOT ")\n"
    "  -h, --help            this help\n";

/* Loads the registry's serving suite into the holder. Not having one is
 * normal (nothing trained yet); failing to load one is logged and the server
 * still starts: predictions answer 503 until a model loads. */
static void load_models(struct app *app) {
  struct gerr err;
  struct suite *s = NULL;
  int64_t t0 = mono_us();
  struct store *db = store_pool_get(app->pool, &err);
  int rc = db ? suite_load(db, app->gaz, 0, &s, &err) : -1;
  store_pool_put(app->pool, db);
  if (rc == 1) {
    log_msg(LOG_INFO, "models",
            "no trained model yet: predictions answer 503 until POST /models/train "
            "or gromo train");
    return;
  }
  if (rc < 0) {
    log_msg(LOG_ERROR, "models", "cannot load the serving model: %s", err.msg);
    return;
  }
  char fields[256];
  int n = snprintf(fields, sizeof fields,
                   "\"version\":%lld,\"trained_at\":\"%s\",\"degraded\":%s,"
                   "\"load_ms\":%.1f",
                   (long long)suite_version(s), suite_trained_at(s),
                   suite_degraded(s) ? "true" : "false", (double)(mono_us() - t0) / 1000.0);
  model_holder_swap(app->models, s);
  if (n > 0 && (size_t)n < sizeof fields)
    log_fields(LOG_INFO, "models_loaded", fields, (size_t)n);
}

/* The first entry of a comma-separated list that is not an IP address
 * (as inet_ntop writes it), or NULL when all are. Points into a static
 * copy. */
static const char *proxies_check(const char *list) {
  static char bad[64];
  const char *p;
  size_t len;
  for (const char *cur = list; list_next(&cur, &p, &len);) {
    char addr[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    int ok = len > 0 && len < sizeof addr;
    if (ok) {
      memcpy(addr, p, len);
      addr[len] = '\0';
      int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
      ok = inet_pton(af, addr, bin) == 1 && inet_ntop(af, bin, canon, sizeof canon) &&
           !strcmp(canon, addr);
    }
    if (!ok) {
      snprintf(bad, sizeof bad, "%.*s", (int)(len < 60 ? len : 60), p);
      return bad;
    }
  }
  return NULL;
}

/* How old a report of the drift alarm may be for the schedule's check. */
#define DRIFT_REUSE_S 300

/* trainer_drift_fn: the serving version's drift alarm as of today. */
static int serve_drift(void *ctx, int64_t version) {
  struct app *app = ctx;
  struct gerr err;
  struct store *db = store_pool_get(app->pool, &err);
  json_t *rep = NULL;
  int rc = db ? accuracy_cache_get(app->accuracy, db, app->gaz, app->models, version,
                                   now_ist_ms() / DAY_MS, DRIFT_REUSE_S, &rep, &err)
              : -1;
  store_pool_put(app->pool, db);
  if (rc != 0) {
    if (rc < 0)
      log_msg(LOG_WARN, "scheduled_training", "cannot judge the drift of version %lld: %s",
              (long long)version, err.msg);
    return -1;
  }
  int on = accuracy_drift(rep);
  json_decref(rep);
  return on;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out) {
  long long v;
  if (parse_int_range(s, 0, (long long)max, &v) < 0)
    return -1;
  *out = (unsigned long long)v;
  return 0;
}

int cmd_serve(int argc, char **argv) {
  struct app_config cfg;
  app_config_defaults(&cfg);
  rate_rules_default(cfg.rates);
  cfg.max_spool = SPOOL_DEFAULT_MAX;
  unsigned long long v;
  cfg.db = cli_env("GROMO_DB", cfg.db);
  cfg.bind = cli_env("GROMO_BIND", cfg.bind);
  cfg.log_file = cli_env("GROMO_LOG_FILE", NULL);
  const char *port = cli_env("GROMO_PORT", NULL);
  const char *threads = cli_env("GROMO_THREADS", NULL);
  const char *mode = cli_env("GROMO_HTTP_MODE", NULL);
  const char *max_body = cli_env("GROMO_MAX_BODY", NULL);
  const char *max_upload = cli_env("GROMO_MAX_UPLOAD", NULL);
  const char *max_spool = cli_env("GROMO_MAX_SPOOL", NULL);
  cfg.spool_dir = cli_env("GROMO_SPOOL_DIR", NULL);
  const char *timeout = NULL, *max_conns = NULL, *level = NULL;
  const char *rates = cli_env("GROMO_RATE_LIMITS", NULL), *per_ip = NULL, *body_timeout = NULL;
  const char *max_inflight = cli_env("GROMO_MAX_INFLIGHT", NULL), *header_timeout = NULL,
             *min_rate = NULL, *rate_grace = NULL;
  cfg.cors_origins = cli_env("GROMO_CORS_ORIGINS", NULL);
  cfg.trusted_proxies = cli_env("GROMO_TRUSTED_PROXIES", NULL);
  cfg.tls_cert = cli_env("GROMO_TLS_CERT", NULL);
  cfg.tls_key = cli_env("GROMO_TLS_KEY", NULL);
  cfg.web_root = cli_env("GROMO_WEB_ROOT", cfg.web_root);
  const char *models_poll = cli_env("GROMO_MODELS_POLL", NULL);
  const char *retrain_every = cli_env("GROMO_RETRAIN_EVERY", NULL);
  const char *retrain_drift = cli_env("GROMO_RETRAIN_ON_DRIFT", NULL);
  unsigned watch_ms = MODELS_WATCH_MS;

  enum { O_THREADS = 256, O_MODE, O_MAXBODY, O_TIMEOUT, O_MAXCONN, O_LOGFILE, O_LEVEL,
         O_RATES, O_NORATE, O_PERIP, O_BODYTO, O_CORS, O_CERT, O_KEY, O_MAXUP,
         O_INFLIGHT, O_HDRTO, O_MINRATE, O_GRACE, O_SPOOLDIR, O_MAXSPOOL, O_WEBROOT,
         O_MODELSPOLL, O_PROXIES, O_RETRAIN, O_RETRAINDRIFT };
  static const struct option opts[] = {
      {"port", required_argument, 0, 'p'},
      {"bind", required_argument, 0, 'b'},
      {"db", required_argument, 0, 'd'},
      {"threads", required_argument, 0, O_THREADS},
      {"http-mode", required_argument, 0, O_MODE},
      {"max-body", required_argument, 0, O_MAXBODY},
      {"max-upload", required_argument, 0, O_MAXUP},
      {"spool-dir", required_argument, 0, O_SPOOLDIR},
      {"max-spool", required_argument, 0, O_MAXSPOOL},
      {"timeout", required_argument, 0, O_TIMEOUT},
      {"max-connections", required_argument, 0, O_MAXCONN},
      {"log-file", required_argument, 0, O_LOGFILE},
      {"log-level", required_argument, 0, O_LEVEL},
      {"rate-limits", required_argument, 0, O_RATES},
      {"no-rate-limit", no_argument, 0, O_NORATE},
      {"max-connections-per-ip", required_argument, 0, O_PERIP},
      {"body-timeout", required_argument, 0, O_BODYTO},
      {"cors-origins", required_argument, 0, O_CORS},
      {"tls-cert", required_argument, 0, O_CERT},
      {"tls-key", required_argument, 0, O_KEY},
      {"max-inflight", required_argument, 0, O_INFLIGHT},
      {"header-timeout", required_argument, 0, O_HDRTO},
      {"min-body-rate", required_argument, 0, O_MINRATE},
      {"body-rate-grace", required_argument, 0, O_GRACE},
      {"web-root", required_argument, 0, O_WEBROOT},
      {"models-poll", required_argument, 0, O_MODELSPOLL},
      {"trusted-proxies", required_argument, 0, O_PROXIES},
      {"retrain-every", required_argument, 0, O_RETRAIN},
      {"retrain-on-drift", no_argument, 0, O_RETRAINDRIFT},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "p:b:d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'p': port = optarg; break;
    case 'b': cfg.bind = optarg; break;
    case 'd': cfg.db = optarg; break;
    case O_THREADS: threads = optarg; break;
    case O_MODE: mode = optarg; break;
    case O_MAXBODY: max_body = optarg; break;
    case O_MAXUP: max_upload = optarg; break;
    case O_SPOOLDIR: cfg.spool_dir = optarg; break;
    case O_MAXSPOOL: max_spool = optarg; break;
    case O_TIMEOUT: timeout = optarg; break;
    case O_MAXCONN: max_conns = optarg; break;
    case O_LOGFILE: cfg.log_file = optarg; break;
    case O_LEVEL: level = optarg; break;
    case O_RATES: rates = optarg; break;
    case O_NORATE: cfg.rate_limits_on = 0; break;
    case O_PERIP: per_ip = optarg; break;
    case O_BODYTO: body_timeout = optarg; break;
    case O_CORS: cfg.cors_origins = optarg; break;
    case O_CERT: cfg.tls_cert = optarg; break;
    case O_KEY: cfg.tls_key = optarg; break;
    case O_INFLIGHT: max_inflight = optarg; break;
    case O_HDRTO: header_timeout = optarg; break;
    case O_MINRATE: min_rate = optarg; break;
    case O_GRACE: rate_grace = optarg; break;
    case O_WEBROOT: cfg.web_root = optarg; break;
    case O_MODELSPOLL: models_poll = optarg; break;
    case O_PROXIES: cfg.trusted_proxies = optarg; break;
    case O_RETRAIN: retrain_every = optarg; break;
    case O_RETRAINDRIFT: retrain_drift = "1"; break;
    case 'h': fputs(serve_help, stdout); return EXIT_OK;
    default: return cli_usage_error("serve", "unknown option");
    }
  }
  if (optind < argc)
    return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
  if (port) {
    if (parse_uint(port, 65535, &v) < 0)
      return cli_usage_error("serve", "port must be 0-65535, not '%s'", port);
    cfg.port = (int)v;
  }
  if (threads) {
    if (parse_uint(threads, 256, &v) < 0 || v == 0)
      return cli_usage_error("serve", "threads must be 1-256");
    cfg.threads = (int)v;
  }
  if (mode && http_mode_parse(mode, &cfg.mode) < 0)
    return cli_usage_error("serve", "unknown HTTP mode '%s'", mode);
  if (max_body) {
    if (parse_uint(max_body, (unsigned long long)1 << 40, &v) < 0 || v < 1024)
      return cli_usage_error("serve", "max-body must be at least 1024 bytes");
    cfg.max_body = (size_t)v;
  }
  if (max_upload) {
    if (parse_uint(max_upload, (unsigned long long)1 << 44, &v) < 0 || v < 1024)
      return cli_usage_error("serve", "max-upload must be at least 1024 bytes");
    cfg.max_upload = (size_t)v;
  }
  if (max_spool) {
    if (parse_uint(max_spool, (unsigned long long)1 << 50, &v) < 0 || (v && v < 65536))
      return cli_usage_error("serve", "max-spool must be 0 (no bound) or at least 65536 bytes");
    cfg.max_spool = v;
  }
  if (timeout) {
    if (parse_uint(timeout, 86400, &v) < 0 || v == 0)
      return cli_usage_error("serve", "timeout must be 1-86400 seconds");
    cfg.conn_timeout = (unsigned)v;
  }
  if (max_conns) {
    if (parse_uint(max_conns, 100000, &v) < 0 || v == 0)
      return cli_usage_error("serve", "max-connections must be 1-100000");
    cfg.max_conns = (unsigned)v;
  }
  if (rates) {
    char why[160];
    if (rate_rules_parse(rates, cfg.rates, why, sizeof why) < 0)
      return cli_usage_error("serve", "rate-limits: %s", why);
  }
  if (per_ip) {
    if (parse_uint(per_ip, 100000, &v) < 0 || v == 0)
      return cli_usage_error("serve", "max-connections-per-ip must be 1-100000");
    cfg.max_conns_per_ip = (unsigned)v;
  }
  if (body_timeout) {
    if (parse_uint(body_timeout, 86400, &v) < 0 || v == 0)
      return cli_usage_error("serve", "body-timeout must be 1-86400 seconds");
    cfg.body_timeout = (unsigned)v;
  }
  if (max_inflight) {
    if (parse_uint(max_inflight, (unsigned long long)1 << 44, &v) < 0 || v < ((size_t)1 << 20))
      return cli_usage_error("serve", "max-inflight must be at least 1048576 bytes");
    cfg.max_inflight = (size_t)v;
  }
  if (header_timeout) {
    if (parse_uint(header_timeout, 86400, &v) < 0)
      return cli_usage_error("serve", "header-timeout must be 0-86400 seconds");
    cfg.header_timeout = (unsigned)v;
  }
  if (min_rate) {
    if (parse_uint(min_rate, (unsigned long long)1 << 40, &v) < 0)
      return cli_usage_error("serve", "min-body-rate must be a number of bytes a second");
    cfg.min_body_rate = (size_t)v;
  }
  if (rate_grace) {
    if (parse_uint(rate_grace, 86400, &v) < 0)
      return cli_usage_error("serve", "body-rate-grace must be 0-86400 seconds");
    cfg.body_rate_grace = (unsigned)v;
  }
  if (models_poll) {
    if (parse_uint(models_poll, 86400, &v) < 0 || v == 0)
      return cli_usage_error("serve", "models-poll must be 1-86400 seconds");
    watch_ms = (unsigned)v * 1000;
  }
  if (retrain_every && app_duration_parse(retrain_every, &cfg.retrain_every_s) < 0)
    return cli_usage_error("serve",
                           "retrain-every must be 0 (or off) or a whole number with a unit s, "
                           "m, h or d, at most 365d (e.g. 7d, 24h), not '%.40s'",
                           retrain_every);
  if (retrain_drift) {
    static const char *const yes[] = {"1", "true", "yes", "on"},
                             *const no[] = {"0", "false", "no", "off"};
    int found = -1;
    for (int i = 0; i < 4; i++)
      if (!strcmp(retrain_drift, yes[i]) || !strcmp(retrain_drift, no[i]))
        found = !strcmp(retrain_drift, yes[i]);
    if (found < 0)
      return cli_usage_error("serve", "GROMO_RETRAIN_ON_DRIFT must be 1 or 0, not '%.20s'",
                             retrain_drift);
    cfg.retrain_on_drift = found;
  }
  if (cfg.trusted_proxies) {
    const char *bad = proxies_check(cfg.trusted_proxies);
    if (bad)
      return cli_usage_error("serve", "trusted-proxies: '%.60s' is not an IP address", bad);
  }
  if (!cfg.tls_cert != !cfg.tls_key)
    return cli_usage_error("serve", "--tls-cert and --tls-key go together");
  if (level) {
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    int found = -1;
    for (int i = 0; i < 4; i++)
      if (!strcmp(level, levels[i]))
        found = i;
    if (found < 0)
      return cli_usage_error("serve", "log-level must be debug, info, warn or error");
    log_set_level((enum log_level)found);
  }

  struct gerr err;
  if (cfg.log_file && log_open(cfg.log_file, &err) < 0)
    return cli_fail("serve", "%s", err.msg);

  /* Signals are taken by sigwait() in this thread; every other thread,
   * including the HTTP threads started below, inherits the block. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  int rc = EXIT_FAIL;
  struct app app = {.cfg = &cfg, .started_mono_us = mono_us(),
                    .started_unix = (int64_t)time(NULL)};
  struct server *srv = NULL;
  int64_t t0 = mono_us();
  if (gaz_load_default(&app.gaz, &err) < 0) {
    log_msg(LOG_ERROR, "startup", "gazetteer: %s", err.msg);
    goto out;
  }
  int64_t t_gaz = mono_us() - t0;
  if (store_pool_new(cfg.db, (size_t)cfg.threads + 2, &app.pool, &err) < 0) {
    log_msg(LOG_ERROR, "startup", "store: %s", err.msg);
    goto out;
  }
  {
    struct store *db = store_pool_get(app.pool, &err);
    int ok = db && keys_secret(db, app.key_secret, &err) == 0;
    store_pool_put(app.pool, db);
    if (!ok) {
      log_msg(LOG_ERROR, "startup", "keys: %s", err.msg);
      goto out;
    }
  }
  if (spool_new(cfg.spool_dir, cfg.max_spool, &app.spool, &err) < 0) {
    log_msg(LOG_ERROR, "startup", "%s (--spool-dir)", err.msg);
    goto out;
  }
  if (model_holder_new(&app.models) < 0) {
    log_msg(LOG_ERROR, "startup", "out of memory");
    goto out;
  }
  load_models(&app);
  if (accuracy_cache_new(&app.accuracy) < 0) {
    log_msg(LOG_ERROR, "startup", "out of memory");
    goto out;
  }
  if (trainer_new(cfg.db, app.gaz, app.models, watch_ms, &app.trainer, &err) < 0) {
    log_msg(LOG_ERROR, "startup", "models: %s", err.msg);
    goto out;
  }
  if (trainer_schedule(app.trainer, cfg.retrain_every_s,
                       cfg.retrain_on_drift ? serve_drift : NULL, &app, &err) < 0) {
    log_msg(LOG_ERROR, "startup", "models: %s", err.msg);
    goto out;
  }
  size_t nroutes = 0;
  while (gromo_routes[nroutes].method)
    nroutes++;
  app.metrics = metrics_new(nroutes);
  if (cfg.rate_limits_on)
    app.limiter = ratelimit_new(cfg.rates);
  if (!app.metrics || (cfg.rate_limits_on && !app.limiter)) {
    log_msg(LOG_ERROR, "startup", "out of memory");
    goto out;
  }
  app.routes = gromo_routes;
  if (server_start(&app, app.routes, &srv, &err) < 0) {
    log_msg(LOG_ERROR, "startup", "%s", err.msg);
    goto out;
  }
  char fields[768];
  int n = snprintf(fields, sizeof fields,
                   "\"port\":%d,\"bind\":\"%s\",\"url\":\"%s://%s%s%s:%d\","
                   "\"http_mode\":\"%s\",\"threads\":%d,\"pincodes\":%zu,"
                   "\"gazetteer_ms\":%.1f,\"build\":\"%s\",\"tls\":%s,"
                   "\"rate_limits\":%s,\"retrain_every_s\":%lld,\"retrain_on_drift\":%s",
                   server_port(srv), cfg.bind, cfg.tls_cert ? "https" : "http",
                   strchr(cfg.bind, ':') ? "[" : "",
                   strcmp(cfg.bind, "0.0.0.0") == 0 ? "127.0.0.1" : cfg.bind,
                   strchr(cfg.bind, ':') ? "]" : "", server_port(srv),
                   http_mode_name(cfg.mode), cfg.threads, gaz_count(app.gaz),
                   (double)t_gaz / 1000.0, GROMO_BUILD, cfg.tls_cert ? "true" : "false",
                   cfg.rate_limits_on ? "true" : "false", (long long)cfg.retrain_every_s,
                   cfg.retrain_on_drift ? "true" : "false");
  if (n > 0 && (size_t)n < sizeof fields)
    log_fields(LOG_INFO, "listening", fields, (size_t)n);
  {
    char index[4096];
    snprintf(index, sizeof index, "%s/index.html", cfg.web_root);
    if (access(index, R_OK) != 0)
      log_msg(LOG_WARN, "web",
              "no dashboard in %s: / and /docs answer 404 until `make web` builds it "
              "(or --web-root names another folder)",
              cfg.web_root);
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0)
      continue;
    if (sig == SIGHUP) {
      if (cfg.log_file && log_open(cfg.log_file, &err) < 0)
        log_msg(LOG_ERROR, "log", "%s", err.msg);
      else
        log_msg(LOG_INFO, "log", "log reopened");
      continue;
    }
    log_msg(LOG_INFO, "shutdown", "signal %d: finishing %u in-flight requests",
            sig, server_in_flight(srv));
    char job[TRAINJOB_ID_LEN + 1];
    if (trainer_running(app.trainer, job))
      log_msg(LOG_INFO, "shutdown",
              "training job %s is running: the server stops once it has finished", job);
    break;
  }
  server_stop(srv);
  srv = NULL;
  rc = EXIT_OK;
out:
  server_stop(srv);
  trainer_free(app.trainer); /* waits for a running training */
  accuracy_cache_free(app.accuracy); /* after the schedule that reads it */
  model_holder_free(app.models);
  store_pool_free(app.pool);
  spool_free(app.spool);
  gaz_free(app.gaz);
  ratelimit_free(app.limiter);
  metrics_free(app.metrics);
  sodium_memzero(app.key_secret, sizeof app.key_secret);
  if (rc == EXIT_OK)
    log_msg(LOG_INFO, "stopped", "store closed cleanly");
  log_close();
  return rc;
}
