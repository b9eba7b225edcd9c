/* GET /health and GET /version. /health keeps the seed's bare shape
 * ({"checks":{...},"status":"healthy"}) with checks.database in place of the
 * seed's checks.mongodb. It is polled by load balancers, so it costs one
 * prepared query per check and nothing else. */
#include <stdio.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/store.h"

/* "available" when a trained model exists, else "not_trained"; NULL on a
 * database error. */
static const char *models_state(struct store *db, char *trained, size_t cap) {
  struct gerr err;
  int rc = store_models_last_trained(db, trained, cap, &err);
  return rc == 0 ? "available" : rc == 1 ? "not_trained" : NULL;
}

int api_health(struct req *rq, struct resp *rs) {
  struct gerr err;
  char trained[64];
  const char *database = "connected";
  const char *models = "unknown";
  struct store *db = req_store(rq, &err);
  if (!db || store_ping(db, &err) < 0) {
    database = "unavailable";
  } else {
    const char *m = models_state(db, trained, sizeof trained);
    models = m ? m : "unknown";
  }
  int healthy = db && database[0] == 'c';
  rs->status = healthy ? 200 : 503;
  rs->json_bare = json_pack("{s:{s:s,s:s,s:s},s:s}", "checks", "database",
                            database, "backend", db ? store_backend(db) : "none",
                            "models", models, "status",
                            healthy ? "healthy" : "unhealthy");
  if (!rs->json_bare)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return 0;
}

int api_version(struct req *rq, struct resp *rs) {
  struct gerr err;
  char trained[64];
  json_t *last = json_null();
  struct store *db = req_store(rq, &err);
  if (db) {
    int rc = store_models_last_trained(db, trained, sizeof trained, &err);
    if (rc == 0)
      last = json_string(trained);
    else if (rc < 0)
      return resp_error_from(rs, &err);
  } else {
    return resp_error_from(rs, &err);
  }
  json_t *data = json_pack("{s:s,s:s,s:o}", "api_version", GROMO_API_VERSION,
                           "build", GROMO_BUILD, "models_last_trained", last);
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "version information");
}
