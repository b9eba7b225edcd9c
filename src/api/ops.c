/* GET /metrics (Prometheus text format) and GET /stats (usage). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "gromo/accuracy.h"
#include "gromo/app.h"
#include "gromo/metrics.h"
#include "gromo/record.h"
#include "gromo/server.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

/* A report of the serving version's accuracy as old as this may stand for
 * /metrics after new sales came in: a scrape costs a lookup, and a report
 * is computed for it at most this often (docs/monitoring.md). */
#define METRICS_ACCURACY_REUSE_S 300

static double fig(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The serving version's accuracy as of today, into a. Failures leave it
 * absent (and are logged by nobody: /metrics must answer). */
static void accuracy_gauges(struct req *rq, struct store *db, struct metrics_accuracy *a) {
  struct app *app = rq->app;
  if (!app->accuracy || !app->models)
    return;
  const struct suite *s = model_holder_get(app->models);
  int64_t version = s ? suite_version(s) : 0;
  model_holder_put(app->models, s);
  json_t *rep = NULL;
  struct gerr err;
  if (!version || accuracy_cache_get(app->accuracy, db, app->gaz, app->models, version,
                                     now_ist_ms() / DAY_MS, METRICS_ACCURACY_REUSE_S, &rep,
                                     &err) != 0)
    return;
  a->present = 1;
  a->version = version;
  a->drift = accuracy_drift(rep);
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(rep, "periods"), i, p) {
    if (i >= METRICS_ACCURACY_PERIODS)
      break;
    json_t *all = json_object_get(p, "all");
    a->period[i].horizon = (int)json_integer_value(json_object_get(p, "horizon"));
    a->period[i].bias = fig(all, "bias");
    a->period[i].deviance = fig(all, "poisson_deviance");
    a->period[i].mae = fig(all, "mae");
    a->period[i].coverage = fig(all, "interval_coverage_expected_1_or_more");
    a->period[i].cells = (int64_t)fig(all, "cells");
    a->period[i].realized = (int64_t)fig(all, "realized");
    a->nperiods = (int)i + 1;
  }
  json_decref(rep);
}

int api_metrics(struct req *rq, struct resp *rs) {
  if (!rq->app || !rq->app->metrics || !rq->app->routes)
    return resp_error(rs, GERR_UNAVAILABLE, NULL, "metrics are not collected");
  struct gerr err;
  struct metrics_gauges g = {.sales_records = -1,
                             .started_unix = rq->app->started_unix,
                             .build = GROMO_BUILD};
  struct store *db = req_store(rq, &err);
  if (db) {
    int64_t n;
    if (store_sales_count(db, &n, &err) == 0)
      g.sales_records = n;
    char trained[64], why[120];
    int64_t ist;
    if (store_models_last_trained(db, trained, sizeof trained, &err) == 0 &&
        sale_parse_date(trained, strlen(trained), &ist, why) == 0)
      g.model_trained_unix = (ist - IST_OFFSET_MS) / 1000;
    accuracy_gauges(rq, db, &g.accuracy);
  }
  if (rq->app->server) {
    struct server_limits lim;
    server_limits(rq->app->server, &lim);
    g.has_limits = 1;
    g.inflight_bytes = lim.inflight_bytes;
    g.inflight_cap = lim.inflight_cap;
    g.inflight_refused = lim.inflight_refused;
    g.header_timeouts = lim.header_timeouts;
  }
  if (metrics_render(rq->app->metrics, rq->app->routes, &g, &rs->body) < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
  return 0;
}

int api_stats(struct req *rq, struct resp *rs) {
  if (!rq->app || !rq->app->metrics || !rq->app->routes)
    return resp_error(rs, GERR_UNAVAILABLE, NULL, "statistics are not collected");
  json_t *data = metrics_stats(rq->app->metrics, rq->app->routes, (int64_t)time(NULL));
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "usage over the last 24 hours");
}
