/* GET /metrics (Prometheus text format) and GET /stats (usage). */
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/metrics.h"
#include "gromo/record.h"
#include "gromo/server.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

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
