#include "gromo/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
                               409, 413, 415, 422, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1) /* + other */
static const double buckets_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1,    2.5, 10};
#define NBUCKET (sizeof buckets_s / sizeof buckets_s[0])

#define HOURS 24
#define USAGE_MAX 512 /* (endpoint, key) pairs kept per hour */

struct usage {
  int route;
  char key[65];
  uint64_t requests, errors, us;
};

struct hour {
  int64_t hour; /* unix time / 3600 */
  size_t n;
  struct usage u[USAGE_MAX];
  uint64_t dropped; /* requests past USAGE_MAX pairs, counted in totals */
};

struct route_counts {
  atomic_uint_fast64_t status[NSTATUS];
  atomic_uint_fast64_t bucket[NBUCKET]; /* not cumulative */
  atomic_uint_fast64_t count, sum_us;
};

struct metrics {
  size_t nroutes;
  struct route_counts *rc; /* nroutes + 1: the last is "unmatched" */
  atomic_uint_fast64_t rate_limited;
  pthread_mutex_t lock;
  struct hour hours[HOURS];
};

struct metrics *metrics_new(size_t nroutes) {
  struct metrics *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->nroutes = nroutes;
  m->rc = calloc(nroutes + 1, sizeof *m->rc);
  if (!m->rc) {
    free(m);
    return NULL;
  }
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void metrics_free(struct metrics *m) {
  if (!m)
    return;
  pthread_mutex_destroy(&m->lock);
  free(m->rc);
  free(m);
}

static size_t status_index(int status) {
  for (size_t i = 0; i + 1 < NSTATUS; i++)
    if (statuses[i] == status)
      return i;
  return NSTATUS - 1;
}

void metrics_request(struct metrics *m, int route, int status, int64_t us,
                     const char *key_name, int64_t now_unix) {
  if (!m)
    return;
  size_t r = route >= 0 && (size_t)route < m->nroutes ? (size_t)route : m->nroutes;
  struct route_counts *c = &m->rc[r];
  atomic_fetch_add(&c->status[status_index(status)], 1);
  atomic_fetch_add(&c->count, 1);
  atomic_fetch_add(&c->sum_us, (uint64_t)(us > 0 ? us : 0));
  double s = (double)us / 1e6;
  size_t b = 0;
  while (b < NBUCKET && s > buckets_s[b])
    b++;
  if (b < NBUCKET)
    atomic_fetch_add(&c->bucket[b], 1);
  if (status == 429)
    atomic_fetch_add(&m->rate_limited, 1);

  int64_t hr = now_unix / 3600;
  pthread_mutex_lock(&m->lock);
  struct hour *h = &m->hours[hr % HOURS];
  if (h->hour != hr) {
    memset(h, 0, sizeof *h);
    h->hour = hr;
  }
  struct usage *u = NULL;
  for (size_t i = 0; i < h->n; i++)
    if (h->u[i].route == (int)r && !strcmp(h->u[i].key, key_name)) {
      u = &h->u[i];
      break;
    }
  if (!u && h->n < USAGE_MAX) {
    u = &h->u[h->n++];
    u->route = (int)r;
    snprintf(u->key, sizeof u->key, "%s", key_name);
  }
  if (u) {
    u->requests++;
    u->errors += status >= 400;
    u->us += (uint64_t)(us > 0 ? us : 0);
  } else {
    h->dropped++;
  }
  pthread_mutex_unlock(&m->lock);
}

static const char *route_label(const struct route *table, size_t nroutes, size_t r,
                               const char **method) {
  if (r < nroutes) {
    *method = table[r].method;
    return table[r].pattern;
  }
  *method = "";
  return "unmatched";
}

/* One gauge of the accuracy, a line per period (NaN left out). */
static int accuracy_gauge(const struct metrics_accuracy *a, struct buf *out, const char *name,
                          const char *help, size_t offset) {
  int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  for (int i = 0; i < a->nperiods && i < METRICS_ACCURACY_PERIODS; i++) {
    double v = *(const double *)((const char *)&a->period[i] + offset);
    if (!isnan(v))
      rc |= buf_printf(out, "%s{horizon=\"%d\"} %.6g\n", name, a->period[i].horizon, v);
  }
  return rc;
}

#define PERIOD_FIELD(f) offsetof(struct metrics_accuracy_period, f)

static int render_accuracy(const struct metrics_accuracy *a, struct buf *out) {
  if (!a->present)
    return 0;
  int rc = buf_printf(out,
                      "# HELP gromo_model_accuracy_version The serving model version the "
                      "accuracy gauges describe.\n"
                      "# TYPE gromo_model_accuracy_version gauge\n"
                      "gromo_model_accuracy_version %lld\n"
                      "# HELP gromo_model_drift 1 when the serving version's drift alarm is "
                      "on: a complete period's figures left its backtest's range.\n"
                      "# TYPE gromo_model_drift gauge\n"
                      "gromo_model_drift %d\n",
                      (long long)a->version, a->drift ? 1 : 0);
  rc |= accuracy_gauge(a, out, "gromo_model_realized_bias",
                       "Mean predicted / mean realized demand - 1 of the serving version over "
                       "a complete period after its as-of date, by horizon.",
                       PERIOD_FIELD(bias));
  rc |= accuracy_gauge(a, out, "gromo_model_poisson_deviance",
                       "Mean Poisson deviance of the serving version's forecasts of a complete "
                       "period, by horizon.",
                       PERIOD_FIELD(deviance));
  rc |= accuracy_gauge(a, out, "gromo_model_mae",
                       "Mean absolute error of the serving version's forecasts of a complete "
                       "period, by horizon.",
                       PERIOD_FIELD(mae));
  rc |= accuracy_gauge(a, out, "gromo_model_interval_coverage",
                       "Share of the cells expecting 1 sale or more whose realized demand fell "
                       "in the interval, by horizon.",
                       PERIOD_FIELD(coverage));
  rc |= buf_printf(out, "# HELP gromo_model_realized_sales Sales in the forecast cells of a "
                        "complete period, by horizon.\n"
                        "# TYPE gromo_model_realized_sales gauge\n");
  for (int i = 0; i < a->nperiods && i < METRICS_ACCURACY_PERIODS; i++)
    rc |= buf_printf(out, "gromo_model_realized_sales{horizon=\"%d\"} %lld\n",
                     a->period[i].horizon, (long long)a->period[i].realized);
  return rc;
}

int metrics_render(const struct metrics *m, const struct route *table,
                   const struct metrics_gauges *g, struct buf *out) {
  int rc = 0;
  rc |= buf_printf(out,
                   "# HELP gromo_build_info The running build.\n"
                   "# TYPE gromo_build_info gauge\n"
                   "gromo_build_info{build=\"%s\"} 1\n"
                   "# HELP gromo_process_start_time_seconds When the server started.\n"
                   "# TYPE gromo_process_start_time_seconds gauge\n"
                   "gromo_process_start_time_seconds %lld\n",
                   g->build, (long long)g->started_unix);
  rc |= buf_puts(out, "# HELP gromo_http_requests_total Requests answered, by route "
                      "and status.\n# TYPE gromo_http_requests_total counter\n");
  for (size_t r = 0; r <= m->nroutes; r++) {
    const char *method, *label = route_label(table, m->nroutes, r, &method);
    for (size_t i = 0; i < NSTATUS; i++) {
      uint64_t v = atomic_load(&m->rc[r].status[i]);
      if (!v)
        continue;
      if (i + 1 < NSTATUS)
        rc |= buf_printf(out,
                         "gromo_http_requests_total{method=\"%s\",route=\"%s\","
                         "status=\"%d\"} %llu\n",
                         method, label, statuses[i], (unsigned long long)v);
      else
        rc |= buf_printf(out,
                         "gromo_http_requests_total{method=\"%s\",route=\"%s\","
                         "status=\"other\"} %llu\n",
                         method, label, (unsigned long long)v);
    }
  }
  rc |= buf_puts(out, "# HELP gromo_http_request_duration_seconds Time from the "
                      "request's headers to its response, by route.\n"
                      "# TYPE gromo_http_request_duration_seconds histogram\n");
  for (size_t r = 0; r <= m->nroutes; r++) {
    uint64_t count = atomic_load(&m->rc[r].count);
    if (!count)
      continue;
    const char *method, *label = route_label(table, m->nroutes, r, &method);
    uint64_t cum = 0;
    for (size_t b = 0; b < NBUCKET; b++) {
      cum += atomic_load(&m->rc[r].bucket[b]);
      rc |= buf_printf(out,
                       "gromo_http_request_duration_seconds_bucket{method=\"%s\","
                       "route=\"%s\",le=\"%g\"} %llu\n",
                       method, label, buckets_s[b], (unsigned long long)cum);
    }
    rc |= buf_printf(out,
                     "gromo_http_request_duration_seconds_bucket{method=\"%s\","
                     "route=\"%s\",le=\"+Inf\"} %llu\n"
                     "gromo_http_request_duration_seconds_sum{method=\"%s\","
                     "route=\"%s\"} %.6f\n"
                     "gromo_http_request_duration_seconds_count{method=\"%s\","
                     "route=\"%s\"} %llu\n",
                     method, label, (unsigned long long)count, method, label,
                     (double)atomic_load(&m->rc[r].sum_us) / 1e6, method, label,
                     (unsigned long long)count);
  }
  rc |= buf_printf(out,
                   "# HELP gromo_rate_limited_total Requests refused with 429.\n"
                   "# TYPE gromo_rate_limited_total counter\n"
                   "gromo_rate_limited_total %llu\n",
                   (unsigned long long)atomic_load(&((struct metrics *)m)->rate_limited));
  if (g->sales_records >= 0)
    rc |= buf_printf(out,
                     "# HELP gromo_sales_records Sales records stored.\n"
                     "# TYPE gromo_sales_records gauge\n"
                     "gromo_sales_records %lld\n",
                     (long long)g->sales_records);
  rc |= buf_printf(out,
                   "# HELP gromo_model_last_trained_timestamp_seconds When the "
                   "newest model was trained (0: none yet).\n"
                   "# TYPE gromo_model_last_trained_timestamp_seconds gauge\n"
                   "gromo_model_last_trained_timestamp_seconds %lld\n",
                   (long long)g->model_trained_unix);
  if (g->has_limits)
    rc |= buf_printf(
        out,
        "# HELP gromo_inflight_request_bytes Request memory held now (bodies and "
        "what they became), against --max-inflight.\n"
        "# TYPE gromo_inflight_request_bytes gauge\n"
        "gromo_inflight_request_bytes %llu\n"
        "# HELP gromo_inflight_request_bytes_limit --max-inflight.\n"
        "# TYPE gromo_inflight_request_bytes_limit gauge\n"
        "gromo_inflight_request_bytes_limit %llu\n"
        "# HELP gromo_inflight_refused_total Requests refused (503) for want of "
        "request memory.\n"
        "# TYPE gromo_inflight_refused_total counter\n"
        "gromo_inflight_refused_total %llu\n"
        "# HELP gromo_header_timeouts_total Connections closed because their "
        "request headers were later than --header-timeout.\n"
        "# TYPE gromo_header_timeouts_total counter\n"
        "gromo_header_timeouts_total %llu\n",
        (unsigned long long)g->inflight_bytes, (unsigned long long)g->inflight_cap,
        (unsigned long long)g->inflight_refused, (unsigned long long)g->header_timeouts);
  rc |= render_accuracy(&g->accuracy, out);
  return rc ? -1 : 0;
}

json_t *metrics_stats(struct metrics *m, const struct route *table, int64_t now_unix) {
  json_t *by_ep = json_object(), *by_key = json_object();
  uint64_t total = 0, errors = 0, dropped = 0;
  int64_t hr = now_unix / 3600;
  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < HOURS; i++) {
    const struct hour *h = &m->hours[i];
    if (h->hour <= hr - HOURS || h->hour > hr)
      continue;
    dropped += h->dropped;
    for (size_t k = 0; k < h->n; k++) {
      const struct usage *u = &h->u[k];
      const char *method, *label = route_label(table, m->nroutes, (size_t)u->route, &method);
      char ep[160];
      snprintf(ep, sizeof ep, "%s%s%s", method, *method ? " " : "", label);
      const char *kn = u->key[0] ? u->key : "(no key)";
      json_t *objs[2] = {json_object_get(by_ep, ep), json_object_get(by_key, kn)};
      if (!objs[0]) {
        objs[0] = json_pack("{s:I,s:I,s:I}", "requests", 0, "errors", 0, "total_us", 0);
        json_object_set_new(by_ep, ep, objs[0]);
      }
      if (!objs[1]) {
        objs[1] = json_pack("{s:I,s:I,s:I}", "requests", 0, "errors", 0, "total_us", 0);
        json_object_set_new(by_key, kn, objs[1]);
      }
      for (int j = 0; j < 2; j++) {
        json_t *o = objs[j];
        json_object_set_new(o, "requests", json_integer(json_integer_value(json_object_get(o, "requests")) + (json_int_t)u->requests));
        json_object_set_new(o, "errors", json_integer(json_integer_value(json_object_get(o, "errors")) + (json_int_t)u->errors));
        json_object_set_new(o, "total_us", json_integer(json_integer_value(json_object_get(o, "total_us")) + (json_int_t)u->us));
      }
      total += u->requests;
      errors += u->errors;
    }
  }
  pthread_mutex_unlock(&m->lock);
  /* Mean latency instead of the running sum. */
  json_t *sets[2] = {by_ep, by_key};
  for (int j = 0; j < 2; j++) {
    const char *name;
    json_t *o;
    json_object_foreach(sets[j], name, o) {
      json_int_t n = json_integer_value(json_object_get(o, "requests"));
      json_int_t us = json_integer_value(json_object_get(o, "total_us"));
      json_object_set_new(o, "mean_ms", json_real(n ? (double)us / (double)n / 1000.0 : 0));
      json_object_del(o, "total_us");
    }
  }
  return json_pack("{s:i,s:I,s:I,s:I,s:o,s:o}", "window_hours", HOURS, "requests",
                   (json_int_t)(total + dropped), "errors", (json_int_t)errors,
                   "uncategorised", (json_int_t)dropped, "by_endpoint", by_ep,
                   "by_key", by_key);
}
