/* The HTTP server (libmicrohttpd). */
#ifndef GROMO_SERVER_H
#define GROMO_SERVER_H

#include "gromo/app.h"
#include "gromo/error.h"

struct server; /* opaque */

/* Starts serving app->cfg's address with gromo_routes. */
int server_start(struct app *app, struct server **out, struct gerr *err) GROMO_WUR;
/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);
/* Requests begun and not yet completed. */
unsigned server_in_flight(const struct server *s);
/* Graceful stop: stop accepting, let in-flight requests finish (at most
 * cfg->drain_secs), then close everything. NULL allowed. */
void server_stop(struct server *s);

#endif
