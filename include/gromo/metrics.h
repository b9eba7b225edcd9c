/* Request counters for GET /metrics (Prometheus text format) and usage by
 * endpoint and key over the last 24 hours for GET /stats. Counting is a few
 * atomic additions per request. */
#ifndef GROMO_METRICS_H
#define GROMO_METRICS_H

#include <jansson.h>
#include <stdint.h>

#include "gromo/buf.h"
#include "gromo/http.h"

struct metrics; /* opaque */

/* For a route table of nroutes entries. */
struct metrics *metrics_new(size_t nroutes);
void metrics_free(struct metrics *m);

/* One answered request: route index in the table (-1: no route matched),
 * HTTP status, microseconds, the key's name ("" without a key). */
void metrics_request(struct metrics *m, int route, int status, int64_t us,
                     const char *key_name, int64_t now_unix);

/* The serving model version's accuracy over the complete periods after
 * its as-of date (docs/monitoring.md); present 0: not rendered. A figure
 * that is NaN (undefined) is left out. */
#define METRICS_ACCURACY_PERIODS 3
struct metrics_accuracy_period {
  int horizon;
  double bias, deviance, mae, coverage;
  int64_t cells, realized;
};
struct metrics_accuracy {
  int present;
  int64_t version;
  int drift; /* the drift alarm: 1 on */
  int nperiods;
  struct metrics_accuracy_period period[METRICS_ACCURACY_PERIODS];
};

/* Values read elsewhere, rendered with the counters. */
struct metrics_gauges {
  int64_t sales_records;       /* -1: unknown */
  int64_t model_trained_unix;  /* 0: no model */
  int64_t started_unix;
  const char *build;
  /* The server's limits at work (server_limits); has_limits 0: unknown. */
  int has_limits;
  uint64_t inflight_bytes, inflight_cap, inflight_refused, header_timeouts;
  struct metrics_accuracy accuracy;
};
int metrics_render(const struct metrics *m, const struct route *table,
                   const struct metrics_gauges *g, struct buf *out) GROMO_WUR;
/* {"window_hours":24,"since":..., "total":{...}, "by_endpoint":[...],
 *  "by_key":[...]} */
json_t *metrics_stats(struct metrics *m, const struct route *table, int64_t now_unix);

#endif
