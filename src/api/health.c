/* GET /health and GET /version. /health answers a bare body, not the
 * envelope ({"checks":{...},"status":"healthy"}, docs/rules.md §5). It is
 * polled by load balancers, so it costs one prepared query and a look at
 * the serving model suite. */
#include <stdio.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/models.h"
#include "gromo/store.h"

/* "available" when a suite serves and every model beat its baseline,
 * "degraded" when some answer comes from a baseline instead, "not_trained"
 * when nothing serves. The serving suite is the one in memory; without one
 * (a process that does not serve) the registry answers. NULL on a database
 * error. */
static const char *models_state(struct req *rq, struct store *db) {
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  if (h) {
    const struct suite *s = model_holder_get(h);
    const char *state = !s ? "not_trained" : suite_degraded(s) ? "degraded" : "available";
    model_holder_put(h, s);
    return state;
  }
  char trained[64];
  struct gerr err;
  int rc = store_models_last_trained(db, trained, sizeof trained, &err);
  return rc == 0 ? "available" : rc == 1 ? "not_trained" : NULL;
}

int api_health(struct req *rq, struct resp *rs) {
  struct gerr err;
  const char *database = "connected";
  const char *models = "unknown";
  struct store *db = req_store(rq, &err);
  if (!db || store_ping(db, &err) < 0) {
    database = "unavailable";
  } else {
    const char *m = models_state(rq, db);
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
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  struct store *db = h ? NULL : req_store(rq, &err);
  if (h) { /* the suite that answers, whatever the registry says meanwhile */
    const struct suite *s = model_holder_get(h);
    if (s)
      last = json_string(suite_trained_at(s));
    model_holder_put(h, s);
  } else if (db) {
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
