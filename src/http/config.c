/* The service's settings (struct app_config in gromo/app.h): defaults and
 * the parsers of gromo serve's mode and duration flags. Here rather than in
 * core because the settings name the types of the layers below the server
 * (rate rules, key roles). */
#include <string.h>
#include <unistd.h>

#include "gromo/app.h"
#include "gromo/parse.h"

void app_config_defaults(struct app_config *c) {
  memset(c, 0, sizeof *c);
  c->db = "gromo.db";
  c->bind = "127.0.0.1";
  c->port = 8080;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = n > 0 && n < 64 ? (int)n : 2;
  c->mode = HTTP_MODE_EPOLL_POOL;
  c->max_body = (size_t)64 << 20;
  c->max_upload = (size_t)1 << 30;
  c->spool_dir = NULL;
  c->conn_timeout = 30;
  c->max_conns = 1024;
  c->drain_secs = 30;
  c->max_conns_per_ip = 128;
  c->body_timeout = 120;
  c->min_body_rate = 1024;
  c->body_rate_grace = 10;
  c->header_timeout = 10;
  c->max_inflight = (size_t)256 << 20;
  c->log_file = NULL;
  c->rate_limits_on = 1;
  c->web_root = GROMO_WEB_ROOT;
  c->retrain_every_s = 0;
  c->retrain_on_drift = 0;
}

int app_duration_parse(const char *s, int64_t *secs) {
  if (!s)
    return -1;
  if (!strcmp(s, "0") || !strcmp(s, "off")) {
    *secs = 0;
    return 0;
  }
  size_t n = strlen(s);
  if (n < 2 || n > 12)
    return -1;
  static const struct {
    char unit;
    long long secs;
  } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
    if (s[n - 1] != units[i].unit)
      continue;
    char num[16];
    memcpy(num, s, n - 1);
    num[n - 1] = '\0';
    long long v;
    if (num[0] == '-' || parse_int_range(num, 0, APP_DURATION_MAX_S / units[i].secs, &v) < 0)
      return -1;
    *secs = (int64_t)(v * units[i].secs);
    return 0;
  }
  return -1;
}

static const char *const mode_names[] = {
    [HTTP_MODE_EPOLL_POOL] = "epoll-pool",
    [HTTP_MODE_POLL_POOL] = "poll-pool",
    [HTTP_MODE_EPOLL_SINGLE] = "epoll-single",
    [HTTP_MODE_THREAD_PER_CONN] = "thread-per-connection",
};

int http_mode_parse(const char *s, enum http_mode *out) {
  for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
    if (strcmp(s, mode_names[i]) == 0) {
      *out = (enum http_mode)i;
      return 0;
    }
  return -1;
}

const char *http_mode_name(enum http_mode m) {
  return (unsigned)m < sizeof mode_names / sizeof mode_names[0] ? mode_names[m]
                                                                : "unknown";
}
