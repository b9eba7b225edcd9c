/* Every endpoint of the service, once: method, path, least role, body
 * limit, checks and handler. docs/api.md describes each. */
#include "api/api.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

#define ROUTE(m, p, r, limit, fl, h, sum)                                      \
  {.method = m, .pattern = p, .role = r, .body_limit = limit, .flags = fl,     \
   .handler = h, .summary = sum}

/* Routes that read their body as it arrives (stream_ops). */
#define STREAM(m, p, r, limit, fl, ops, sum)                                   \
  {.method = m, .pattern = p, .role = r, .body_limit = limit,                  \
   .flags = ROUTE_STREAM | (fl), .stream = &ops, .summary = sum}

/* Bodies follow from the number of items a request may carry: 100,000
 * records of up to ~330 bytes of JSON, 10,000 queries of up to ~1.6 KB. */
#define SALES_ADD_BODY_MAX (32 * MiB)
#define PREDICT_BODY_MAX (16 * MiB)

const struct route gromo_routes[] = {
    ROUTE("GET", "/health", ROLE_PUBLIC, 0, ROUTE_UNLIMITED, api_health,
          "liveness and dependency checks"),
    ROUTE("GET", "/version", ROLE_PUBLIC, 0, ROUTE_UNLIMITED, api_version,
          "API version, build and when models were last trained"),
    STREAM("POST", "/sales/add", ROLE_ADMIN, SALES_ADD_BODY_MAX, 0, api_sales_add_ops,
           "add sales records (JSON array or object)"),
    STREAM("POST", "/sales/upload", ROLE_ADMIN, 16 * GiB, ROUTE_UPLOAD, api_upload_ops,
           "upload a file of sales: CSV, XLSX, XLS, JSON array or NDJSON"),
    ROUTE("GET", "/sales", ROLE_ANALYST, 0, 0, api_sales_list,
          "query stored sales with filters and cursor pagination"),
    ROUTE("GET", "/generate-sample-data/{count}", ROLE_ADMIN, 0, 0,
          api_sample_generate, "generate and insert sample records"),
    ROUTE("POST", "/generate-sample-data/{count}", ROLE_ADMIN, 0, 0,
          api_sample_generate, "generate and insert sample records"),
    STREAM("POST", "/predict/demand", ROLE_ANALYST, PREDICT_BODY_MAX, 0,
           api_predict_demand_ops, "expected next-period demand of up to 10,000 cells"),
    STREAM("POST", "/predict/demand-rise", ROLE_ANALYST, PREDICT_BODY_MAX, 0,
           api_predict_rise_ops, "probability that demand rises next period"),
    STREAM("POST", "/predict/top-product", ROLE_ANALYST, PREDICT_BODY_MAX, 0,
           api_predict_top_ops, "each product's probability of a customer's next purchase"),
    ROUTE("GET", "/regions", ROLE_VIEWER, 0, 0, api_regions,
          "every region with its summary, or ?pincode=P for the region of a pincode"),
    ROUTE("GET", "/regions/{region_id}", ROLE_VIEWER, 0, 0, api_region,
          "one region: pincodes, demand last and next period, mixes, place"),
    ROUTE("GET", "/models", ROLE_VIEWER, 0, 0, api_models,
          "the serving models: holdout metrics beside baselines, and the registry"),
    ROUTE("POST", "/models/train", ROLE_ADMIN, 4 * KiB, 0, api_models_train,
          "retrain in the background (202 + job), or ?wait=true"),
    ROUTE("GET", "/models/train/{job}", ROLE_ADMIN, 0, 0, api_models_train_job,
          "a training job's status, progress and summary"),
    ROUTE("GET", "/metrics", ROLE_VIEWER, 0, 0, api_metrics, "Prometheus metrics"),
    ROUTE("GET", "/stats", ROLE_VIEWER, 0, 0, api_stats,
          "usage by endpoint and key over the last 24 hours"),
    {0},
};
