/* The service's route table (src/api/routes.c): every endpoint once, with
 * its method, path, least role, body limit, checks, handler and
 * documentation; terminated by a zeroed entry. `gromo serve` hands it to
 * the HTTP server (server_start) and puts it in struct app for the handlers
 * that describe the service (/metrics, /stats, /openapi.json); the HTTP
 * layer itself never names it. */
#ifndef GROMO_ROUTES_H
#define GROMO_ROUTES_H

#include "gromo/http.h"

extern const struct route gromo_routes[];

#endif
