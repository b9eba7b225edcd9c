/* Every endpoint of the service, once: method, path, least role, body
 * limit, checks and handler. docs/api.md describes each. */
#include "api/api.h"
#include "gromo/routes.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

#define ROUTE(m, p, r, limit, fl, h, sum, ...)                                 \
  {.method = m, .pattern = p, .role = r, .body_limit = limit, .flags = fl,     \
   .handler = h, .summary = sum, __VA_ARGS__}

/* Routes that read their body as it arrives (stream_ops). */
#define STREAM(m, p, r, limit, fl, ops, sum, ...)                              \
  {.method = m, .pattern = p, .role = r, .body_limit = limit,                  \
   .flags = ROUTE_STREAM | (fl), .stream = &ops, .summary = sum, __VA_ARGS__}

/* The route's entry in /openapi.json (struct route_doc). The statuses that
 * the router itself may answer (401, 403, 413, 415, 429, 500, 503) are
 * added from the route's role, body limit and flags. */
#define DOC(...) .doc = &(const struct route_doc){__VA_ARGS__}

/* The media types of a file upload. */
#define UPLOAD_TYPES                                                           \
  "text/csv application/json application/x-ndjson "                            \
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet "         \
  "application/vnd.ms-excel application/octet-stream multipart/form-data"
/* What the web folder holds (src/api/web.c names each type). */
#define WEB_FILE_TYPES                                                         \
  "text/css text/html image/svg+xml application/json text/plain image/png "   \
  "application/octet-stream"
#define EXPORT_TYPES                                                           \
  "text/csv application/x-ndjson "                                             \
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* Bodies follow from the number of items a request may carry: 100,000
 * records of up to ~330 bytes of JSON, 10,000 queries of up to ~1.6 KB. */
#define SALES_ADD_BODY_MAX (32 * MiB)
#define PREDICT_BODY_MAX (16 * MiB)

const struct route gromo_routes[] = {
    ROUTE("GET", "/health", ROLE_PUBLIC, 0, ROUTE_UNLIMITED, api_health,
          "liveness and dependency checks",
          DOC(.tag = "system", .response = "Health", .produces = "application/json",
              .statuses = "200 503")),
    ROUTE("GET", "/version", ROLE_PUBLIC, 0, ROUTE_UNLIMITED, api_version,
          "API version, build and when models were last trained",
          DOC(.tag = "system", .response = "Version", .statuses = "200")),
    STREAM("POST", "/sales/add", ROLE_ADMIN, SALES_ADD_BODY_MAX, 0, api_sales_add_ops,
           "add sales records (JSON array or object)",
           DOC(.tag = "sales", .request = "SalesAddBody", .response = "SalesAddResult",
               .statuses = "200 400 422", .query = "atomic")),
    STREAM("POST", "/sales/upload", ROLE_ADMIN, 16 * GiB, ROUTE_UPLOAD, api_upload_ops,
           "upload a file of sales: CSV, XLSX, XLS, JSON array or NDJSON",
           DOC(.tag = "sales", .request = "SalesAddBody", .consumes = UPLOAD_TYPES,
               .response = "UploadResult", .statuses = "200 400 422", .query = "atomic")),
    ROUTE("GET", "/sales", ROLE_ANALYST, 0, 0, api_sales_list,
          "query stored sales with filters and cursor pagination",
          DOC(.tag = "sales", .response = "SalesPage", .also = EXPORT_TYPES,
              .statuses = "200 400",
              .query = "pincode product channel from to limit cursor format")),
    ROUTE("GET", "/generate-sample-data/{count}", ROLE_ADMIN, 0, 0,
          api_sample_generate, "generate and insert sample records",
          DOC(.tag = "sales", .response = "SampleResult", .statuses = "200 400",
              .query = "seed end")),
    ROUTE("POST", "/generate-sample-data/{count}", ROLE_ADMIN, 0, 0,
          api_sample_generate, "generate and insert sample records",
          DOC(.tag = "sales", .response = "SampleResult", .statuses = "200 400",
              .query = "seed end")),
    STREAM("POST", "/predict/demand", ROLE_ANALYST, PREDICT_BODY_MAX, 0,
           api_predict_demand_ops, "expected demand of up to 10,000 cells, 1-3 periods ahead",
           DOC(.tag = "predictions", .request = "PredictBody", .response = "DemandAnswers",
               .statuses = "200 400 422", .query = "explain horizon")),
    STREAM("POST", "/predict/demand-rise", ROLE_ANALYST, PREDICT_BODY_MAX, 0,
           api_predict_rise_ops, "probability that demand rises over the last period's, 1-3 periods ahead",
           DOC(.tag = "predictions", .request = "PredictBody", .response = "RiseAnswers",
               .statuses = "200 400 422", .query = "explain horizon")),
    STREAM("POST", "/predict/top-product", ROLE_ANALYST, PREDICT_BODY_MAX, 0,
           api_predict_top_ops, "each product's probability of a customer's next purchase",
           DOC(.tag = "predictions", .request = "PredictBody", .response = "TopProductAnswers",
               .statuses = "200 400 422", .query = "explain")),
    ROUTE("GET", "/regions", ROLE_VIEWER, 0, 0, api_regions,
          "every region with its summary, or ?pincode=P for the region of a pincode",
          DOC(.tag = "regions", .response = "RegionsOrRegion", .statuses = "200 400 404",
              .query = "pincode")),
    ROUTE("GET", "/regions/{region_id}", ROLE_VIEWER, 0, 0, api_region,
          "one region: pincodes, demand last and next period, mixes, place",
          DOC(.tag = "regions", .response = "RegionWithVersion", .statuses = "200 404")),
    ROUTE("GET", "/models", ROLE_VIEWER, 0, 0, api_models,
          "the serving models: holdout metrics beside baselines, and the registry",
          DOC(.tag = "models", .response = "Models", .statuses = "200 400 404",
              .query = "models_version")),
    ROUTE("POST", "/models/train", ROLE_ADMIN, 4 * KiB, 0, api_models_train,
          "retrain in the background (202 + job), or ?wait=true",
          DOC(.tag = "models", .response = "TrainJob", .statuses = "200 202 400 409",
              .query = "wait rounds origins regions promote")),
    ROUTE("GET", "/models/train/{job}", ROLE_ADMIN, 0, 0, api_models_train_job,
          "a training job's status, progress and summary",
          DOC(.tag = "models", .response = "TrainJob", .statuses = "200 404")),
    ROUTE("GET", "/metrics", ROLE_VIEWER, 0, 0, api_metrics, "Prometheus metrics",
          DOC(.tag = "system", .produces = "text/plain", .statuses = "200")),
    ROUTE("GET", "/stats", ROLE_VIEWER, 0, 0, api_stats,
          "usage by endpoint and key over the last 24 hours",
          DOC(.tag = "system", .response = "Stats", .statuses = "200")),
    /* What the dashboard draws; API users want it too. */
    ROUTE("GET", "/insights/pincodes", ROLE_VIEWER, 0, 0, api_insights_pincodes,
          "every pincode ranked by predicted demand, growth or rise probability",
          DOC(.tag = "insights", .response = "PincodeInsights", .also = "text/csv",
              .statuses = "200 400 503",
              .query = "insight_product insight_channel sort insight_limit insight_format "
                       "insight_region insight_pincode insight_horizon",
              .notes = "From the serving model version's predictions of every pincode x "
                       "product x channel, made once when the version was trained or "
                       "loaded. `format=csv` downloads the ranking.")),
    ROUTE("GET", "/insights/regions", ROLE_VIEWER, 0, 0, api_insights_regions,
          "every region ranked by predicted demand, growth or rise probability",
          DOC(.tag = "insights", .response = "RegionInsights", .also = "text/csv",
              .statuses = "200 400 503",
              .query = "insight_product insight_channel sort insight_limit insight_format "
                       "insight_region insight_horizon")),
    ROUTE("GET", "/sales/summary", ROLE_VIEWER, 0, 0, api_sales_summary,
          "aggregates of stored sales by month, product or channel",
          DOC(.tag = "insights", .response = "SalesSummary", .statuses = "200 400 404 503",
              .query = "pincode summary_region by product channel from to",
              .notes = "For one pincode, one region (its pincodes under the serving model "
                       "version) or every sale; months with no sales are listed with 0.")),
    ROUTE("POST", "/models/rollback", ROLE_ADMIN, 4 * KiB, ROUTE_JSON, api_models_rollback,
          "make an earlier model version the serving one, at once",
          DOC(.tag = "models", .request = "RollbackBody", .response = "RollbackResult",
              .statuses = "200 400 404 503")),
    ROUTE("POST", "/models/promote", ROLE_ADMIN, 4 * KiB, ROUTE_JSON, api_models_promote,
          "make a stored candidate version the serving one, recording who and why",
          DOC(.tag = "models", .request = "PromoteBody", .response = "PromoteResult",
              .statuses = "200 400 404 409 422 503")),
    ROUTE("GET", "/models/accuracy", ROLE_VIEWER, 0, 0, api_models_accuracy,
          "a model version's forecasts against the sales that came after, and its drift alarm",
          DOC(.tag = "models", .response = "ModelAccuracy", .statuses = "200 400 404 503",
              .query = "accuracy_version as_of")),
    ROUTE("GET", "/whoami", ROLE_VIEWER, 0, 0, api_whoami,
          "the presented key's name and role",
          DOC(.tag = "system", .response = "WhoAmI", .statuses = "200")),
    /* The web UI and the description of the API: public, cached. */
    ROUTE("GET", "/openapi.json", ROLE_PUBLIC, 0, 0, api_openapi,
          "this API as an OpenAPI 3.1 document, made from the route table",
          DOC(.tag = "web", .response = "OpenApiDocument", .produces = "application/json",
              .statuses = "200 304")),
    ROUTE("GET", "/docs", ROLE_PUBLIC, 0, 0, api_docs,
          "Swagger UI on /openapi.json",
          DOC(.tag = "web", .produces = "text/html", .statuses = "200 304 404")),
    ROUTE("GET", "/docs/{file}", ROLE_PUBLIC, 0, 0, api_docs_file,
          "the files of Swagger UI",
          DOC(.tag = "web", .produces = "text/javascript", .also = WEB_FILE_TYPES,
              .statuses = "200 304 404")),
    ROUTE("GET", "/", ROLE_PUBLIC, 0, 0, api_web_index,
          "the dashboard (its data calls need a key)",
          DOC(.tag = "web", .produces = "text/html", .statuses = "200 304 404")),
    ROUTE("GET", "/assets/{file}", ROLE_PUBLIC, 0, 0, api_web_asset,
          "the dashboard's scripts, styles and images",
          DOC(.tag = "web", .produces = "text/javascript", .also = WEB_FILE_TYPES,
              .statuses = "200 304 404")),
    {0},
};
