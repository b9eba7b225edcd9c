/* Every endpoint of the service, once: method, path, least role, body
 * limit, checks and handler. docs/api.md describes each. */
#include "api/api.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

const struct route gromo_routes[] = {
    {"GET", "/health", ROLE_PUBLIC, 0, ROUTE_UNLIMITED, api_health,
     "liveness and dependency checks"},
    {"GET", "/version", ROLE_PUBLIC, 0, ROUTE_UNLIMITED, api_version,
     "API version, build and when models were last trained"},
    {"POST", "/sales/add", ROLE_ADMIN, 64 * MiB, ROUTE_JSON_RAW, api_sales_add,
     "add sales records (JSON array or object)"},
    {"GET", "/sales", ROLE_ANALYST, 0, 0, api_sales_list,
     "query stored sales with filters and cursor pagination"},
    {"GET", "/generate-sample-data/{count}", ROLE_ADMIN, 0, 0,
     api_sample_generate, "generate and insert sample records"},
    {"POST", "/generate-sample-data/{count}", ROLE_ADMIN, 0, 0,
     api_sample_generate, "generate and insert sample records"},
    {"GET", "/metrics", ROLE_VIEWER, 0, 0, api_metrics,
     "Prometheus metrics"},
    {"GET", "/stats", ROLE_VIEWER, 0, 0, api_stats,
     "usage by endpoint and key over the last 24 hours"},
    {0},
};
