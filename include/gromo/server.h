/* The HTTP server (libmicrohttpd). */
#ifndef GROMO_SERVER_H
#define GROMO_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/app.h"
#include "gromo/error.h"

struct server; /* opaque */
struct route;

/* Starts serving app->cfg's address with the route table `routes`
 * (borrowed: it must outlive the server). */
int server_start(struct app *app, const struct route *routes, struct server **out,
                 struct gerr *err) GROMO_WUR;
/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);
/* Requests begun and not yet completed. */
unsigned server_in_flight(const struct server *s);
/* What the server's limits are doing, for /metrics. */
struct server_limits {
  size_t inflight_bytes, inflight_cap; /* request memory held, and its cap */
  size_t inflight_refused;             /* requests refused for memory */
  uint64_t header_timeouts;            /* connections closed for late headers */
};
void server_limits(const struct server *s, struct server_limits *out);
/* Graceful stop: stop accepting, let in-flight requests finish (at most
 * cfg->drain_secs), then close everything. NULL allowed. */
void server_stop(struct server *s);

#endif
