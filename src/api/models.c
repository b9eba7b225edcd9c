/* GET /models, POST /models/train, GET /models/train/{job}, POST
 * /models/rollback, POST /models/promote and GET /models/accuracy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gromo/accuracy.h"
#include "gromo/app.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "gromo/trainjob.h"

#define TRAIN_ROUNDS_MAX 2000
#define TRAIN_ORIGINS_MAX 24
#define TRAIN_REGIONS_MAX 5000

struct versions_ctx {
  json_t *list;
  int64_t want;   /* ?version=N: its report into *report */
  json_t *report;
};

static int version_row(void *ctx, const struct model_row *r) {
  struct versions_ctx *c = ctx;
  json_t *o = model_row_json(r);
  if (o && c->want == r->version && r->metrics) {
    c->report = json_loads(r->metrics, 0, NULL);
    if (json_is_object(c->report)) {
      json_object_set_new(c->report, "version", json_integer((json_int_t)r->version));
      json_object_set_new(c->report, "serving", json_boolean(r->serving));
      json_object_set(c->report, "promotion", json_object_get(o, "promotion"));
    }
  }
  return o ? json_array_append_new(c->list, o) : 1;
}

/* GET /models?version=N: that version's report (its figures, importance
 * and promotion) with the registry. */
static int models_one_version(struct versions_ctx *c, struct resp *rs) {
  if (!json_is_object(c->report)) {
    json_decref(c->list);
    json_decref(c->report);
    return resp_error(rs, GERR_NOT_FOUND, NULL,
                      "no model version %lld in the registry (GET /models lists them)",
                      (long long)c->want);
  }
  json_object_set_new(c->report, "versions", c->list);
  return resp_ok(rs, c->report, "model version %lld%s", (long long)c->want,
                 json_is_true(json_object_get(c->report, "serving")) ? " (serving)" : "");
}

int api_models(struct req *rq, struct resp *rs) {
  struct gerr err;
  struct store *db = req_store(rq, &err);
  if (!db)
    return resp_error_from(rs, &err);
  struct versions_ctx vc = {json_array(), 0, NULL};
  const char *want = req_query(rq, "version");
  long long wv = 0;
  if (want && param_int(want, 1, INT64_MAX, &wv) < 0) {
    json_decref(vc.list);
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "version must be a model version number (1 or more)");
  }
  vc.want = (int64_t)wv;
  if (!vc.list)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  if (store_model_scan(db, version_row, &vc, &err) < 0) {
    json_decref(vc.list);
    json_decref(vc.report);
    return resp_error_from(rs, &err);
  }
  if (vc.want)
    return models_one_version(&vc, rs);
  json_t *versions = vc.list;
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  const struct suite *s = h ? model_holder_get(h) : NULL;
  json_t *data;
  char msg[160];
  if (s) {
    data = suite_report(s);
    if (data && json_is_object(data)) {
      json_object_set_new(data, "version", json_integer((json_int_t)suite_version(s)));
      json_object_set_new(data, "trained_at", json_string(suite_trained_at(s)));
      json_object_set_new(data, "degraded", json_boolean(suite_degraded(s)));
      json_t *p = suite_promotion(s);
      json_object_set_new(data, "promotion", p ? p : json_null());
    }
    snprintf(msg, sizeof msg, "model version %lld, trained %s%s", (long long)suite_version(s),
             suite_trained_at(s),
             suite_degraded(s) ? "; some answers come from baselines (see promoted)" : "");
    model_holder_put(h, s);
  } else {
    /* Not an error: the service is up, it has just not learned yet. */
    data = json_pack("{s:n,s:n,s:b,s:{},s:n}", "version", "trained_at", "degraded", 0,
                     "models", "evaluation");
    snprintf(msg, sizeof msg, "no model is trained yet: POST /models/train");
  }
  if (!data || !json_is_object(data)) {
    json_decref(data);
    json_decref(versions);
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  }
  json_object_set_new(data, "versions", versions);
  return resp_ok(rs, data, "%s", msg);
}

/* ---- training ---- */

struct train_wait {
  struct trainer *t;
  char id[TRAINJOB_ID_LEN + 1];
};

/* Finishes a ?wait=true request off the HTTP threads: the job's summary,
 * or its error. */
static int train_wait_finish(void *ctx, struct resp *rs) {
  struct train_wait *w = ctx;
  trainer_wait(w->t, w->id);
  json_t *job = trainer_job_json(w->t, w->id);
  if (!job)
    return resp_error(rs, GERR_INTERNAL, NULL, "training job %s was lost", w->id);
  const char *status = json_string_value(json_object_get(job, "status"));
  if (status && !strcmp(status, "succeeded")) {
    json_t *sum = json_object_get(job, "summary");
    json_int_t v = json_integer_value(json_object_get(sum, "version"));
    rs->status = 200;
    const char *why =
        json_string_value(json_object_get(json_object_get(sum, "promotion"), "reason"));
    if (json_is_false(json_object_get(sum, "serving")))
      return resp_ok(rs, job, "trained model version %lld, kept as a candidate: %s (job %s)",
                     (long long)v, why ? why : "see promotion", w->id);
    return resp_ok(rs, job, "trained and serving model version %lld (job %s)",
                   (long long)v, w->id);
  }
  json_t *e = json_object_get(job, "error");
  const char *code = json_string_value(json_object_get(e, "code"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  enum gerr_code c = GERR_INTERNAL;
  for (int k = 0; code && k < GERR__COUNT; k++)
    if (!strcmp(gerr_name((enum gerr_code)k), code)) {
      c = (enum gerr_code)k;
      break;
    }
  json_t *details = json_pack("[{s:s,s:s,s:s}]", "field", "job", "job_id", w->id, "problem",
                              msg ? msg : "training failed");
  int rc = resp_error(rs, c, details, "training job %s failed: %s", w->id,
                      msg ? msg : "unknown error");
  json_decref(job);
  return rc;
}

/* Who asked, for the registry's record: the key's id, never the key. */
static void requester(const struct req *rq, char *by, size_t cap) {
  if (rq->key_id > 0)
    snprintf(by, cap, "key %lld", (long long)rq->key_id);
  else
    snprintf(by, cap, "unknown");
}

/* A reason given in a body: a string of at most PROMOTE_REASON_MAX
 * characters, or absent. 0, or -1 with the error answered. */
static int body_reason(const json_t *body, char *out, size_t cap, struct resp *rs) {
  json_t *r = json_object_get(body, "reason");
  out[0] = 0;
  if (!r)
    return 0;
  if (!json_is_string(r) || json_string_length(r) > PROMOTE_REASON_MAX) {
    json_t *d = json_pack("[{s:s,s:s}]", "field", "reason", "problem",
                          "must be a string of at most 200 characters");
    resp_error(rs, GERR_INVALID_INPUT, d, "reason must be a string of at most %d characters",
               PROMOTE_REASON_MAX);
    return -1;
  }
  snprintf(out, cap, "%s", json_string_value(r));
  return 0;
}

/* The promotion policy of POST /models/train: ?promote= or {"promote":
 * ..., "reason": ...} in an optional JSON body. 0, or -1 with the error
 * answered. */
static int train_promote_options(struct req *rq, struct promote_request *p, struct resp *rs) {
  json_t *body = NULL;
  memset(p, 0, sizeof *p);
  requester(rq, p->by, sizeof p->by);
  if (rq->body && rq->body_len > 0) {
    json_error_t je;
    body = json_loadb(rq->body, rq->body_len, 0, &je);
    if (!json_is_object(body)) {
      json_decref(body);
      resp_error(rs, GERR_INVALID_INPUT, NULL,
                 "the body, when given, must be a JSON object such as {\"promote\": "
                 "\"always\"}");
      return -1;
    }
  }
  const char *q = req_query(rq, "promote");
  json_t *b = json_object_get(body, "promote");
  if (b && !json_is_string(b))
    q = "";
  else if (b)
    q = json_string_value(b);
  int rc = 0;
  if (q && promote_policy_parse(q, &p->policy) < 0) {
    json_t *d = json_pack("[{s:s,s:s}]", "field", "promote", "problem",
                          "must be \"if_better\" or \"always\"");
    resp_error(rs, GERR_INVALID_INPUT, d, "promote must be if_better (the default) or always");
    rc = -1;
  }
  if (rc == 0)
    rc = body_reason(body, p->reason, sizeof p->reason, rs);
  json_decref(body);
  return rc;
}

int api_models_train(struct req *rq, struct resp *rs) {
  struct trainer *t = rq->app ? rq->app->trainer : NULL;
  if (!t)
    return resp_error(rs, GERR_UNAVAILABLE, NULL, "training is not available in this process");
  int wait = param_bool(req_query(rq, "wait"), 0);
  if (wait < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "wait must be true or false");
  struct train_options opt = {0};
  const char *rounds = req_query(rq, "rounds"), *origins = req_query(rq, "origins"),
             *regions = req_query(rq, "regions");
  long long v;
  if (rounds) {
    if (param_int(rounds, 1, TRAIN_ROUNDS_MAX, &v) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL, "rounds must be an integer from 1 to %d",
                        TRAIN_ROUNDS_MAX);
    opt.rounds = (int)v;
  }
  if (origins) {
    if (param_int(origins, 2, TRAIN_ORIGINS_MAX, &v) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "origins must be an integer from 2 to %d", TRAIN_ORIGINS_MAX);
    opt.origins = (int)v;
  }
  if (regions) {
    if (param_int(regions, 1, TRAIN_REGIONS_MAX, &v) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "regions must be an integer from 1 to %d", TRAIN_REGIONS_MAX);
    opt.regions = (int)v;
  }
  if (train_promote_options(rq, &opt.promote, rs) < 0)
    return 0; /* the error is answered */
  char id[TRAINJOB_ID_LEN + 1];
  int started = 0;
  struct gerr err;
  if (trainer_start(t, &opt, id, &started, &err) < 0)
    return resp_error_from(rs, &err);
  if (wait) {
    struct train_wait *w = malloc(sizeof *w);
    if (!w)
      return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    w->t = t;
    memcpy(w->id, id, sizeof w->id);
    rs->wait_fn = train_wait_finish;
    rs->wait_free = free;
    rs->wait_ctx = w;
    return 0;
  }
  json_t *job = trainer_job_json(t, id);
  if (!job)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  json_object_set_new(job, "started", json_boolean(started));
  rs->status = 202;
  resp_header(rs, "Location", "/models/train/%s", id);
  if (started)
    return resp_ok(rs, job, "training started: job %s; its status is at GET /models/train/%s",
                   id, id);
  return resp_ok(rs, job,
                 "a training run is already in progress: job %s; its status is at GET "
                 "/models/train/%s",
                 id, id);
}

int api_models_train_job(struct req *rq, struct resp *rs) {
  struct trainer *t = rq->app ? rq->app->trainer : NULL;
  const char *id = rq->nparams ? rq->params[0] : "";
  json_t *job = t ? trainer_job_json(t, id) : NULL;
  if (!job)
    return resp_error(rs, GERR_NOT_FOUND, NULL,
                      "no training job '%.40s' (jobs are remembered until the server restarts)",
                      id);
  const char *status = json_string_value(json_object_get(job, "status"));
  return resp_ok(rs, job, "training job %s: %s", id, status ? status : "?");
}

/* The body's "version" (1 or more) into *version: 0, or -1 after a 400
 * whose message names what N must be. */
static int body_version(struct req *rq, struct resp *rs, const char *what, int64_t *version) {
  json_t *v = json_object_get(rq->json, "version");
  if (!json_is_object(rq->json) || !json_is_integer(v) || json_integer_value(v) < 1) {
    json_t *d = json_pack("[{s:s,s:s}]", "field", "version", "problem",
                          "must be a model version number (1 or more)");
    resp_error(rs, GERR_INVALID_INPUT, d, "the body must be {\"version\": N}, N %s", what);
    return -1;
  }
  *version = (int64_t)json_integer_value(v);
  return 0;
}

/* POST /models/rollback {"version": N}: makes version N the serving one in
 * the registry (as `gromo models rollback N`) and swaps it in at once. */
int api_models_rollback(struct req *rq, struct resp *rs) {
  int64_t version;
  if (body_version(rq, rs, "a model version", &version) < 0)
    return -1;
  struct gerr err;
  struct store *db = req_store(rq, &err);
  if (!db)
    return resp_error_from(rs, &err);
  int rc = store_model_set_serving(db, version, &err);
  if (rc < 0)
    return resp_error_from(rs, &err);
  if (rc == 1)
    return resp_error(rs, GERR_NOT_FOUND, NULL,
                      "no model version %lld in the registry (GET /models lists them)",
                      (long long)version);
  struct trainer *t = rq->app ? rq->app->trainer : NULL;
  if (t && trainer_sync(t, &err) < 0)
    return resp_error(rs, GERR_UNAVAILABLE, NULL,
                      "version %lld is the registry's serving version, but it could not be "
                      "loaded: %s",
                      (long long)version, err.msg);
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  const struct suite *s = h ? model_holder_get(h) : NULL;
  json_t *data = json_pack("{s:I,s:o,s:o}", "version", (json_int_t)version, "serving",
                           s ? json_integer((json_int_t)suite_version(s)) : json_null(),
                           "trained_at", s ? json_string(suite_trained_at(s)) : json_null());
  model_holder_put(h, s);
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "model version %lld serves now", (long long)version);
}

/* POST /models/promote {"version": N, "reason": "..."}: makes a stored
 * candidate the serving version (as `gromo models promote N`), records who
 * and why with it, and swaps it in at once. */
int api_models_promote(struct req *rq, struct resp *rs) {
  int64_t version;
  if (body_version(rq, rs, "a candidate model version", &version) < 0)
    return -1;
  struct promote_request req;
  memset(&req, 0, sizeof req);
  requester(rq, req.by, sizeof req.by);
  if (body_reason(rq->json, req.reason, sizeof req.reason, rs) < 0)
    return 0;
  struct gerr err;
  struct store *db = req_store(rq, &err);
  if (!db)
    return resp_error_from(rs, &err);
  json_t *rec = NULL;
  int rc = suite_promote_candidate(db, version, &req, &rec, &err);
  if (rc < 0)
    return resp_error_from(rs, &err);
  if (rc == 1)
    return resp_error(rs, GERR_NOT_FOUND, NULL,
                      "no model version %lld in the registry (GET /models lists them)",
                      (long long)version);
  if (rc == 2)
    return resp_error(rs, GERR_CONFLICT, NULL, "model version %lld serves already",
                      (long long)version);
  if (rc == 3) {
    json_t *d = json_pack("[{s:s,s:s}]", "field", "version", "problem",
                          "not a candidate: it served before, or predates promotion records");
    return resp_error(rs, GERR_INVALID_RECORDS, d,
                      "model version %lld is not a candidate; to serve it again use POST "
                      "/models/rollback",
                      (long long)version);
  }
  struct trainer *t = rq->app ? rq->app->trainer : NULL;
  if (t && trainer_sync(t, &err) < 0) {
    json_decref(rec);
    return resp_error(rs, GERR_UNAVAILABLE, NULL,
                      "version %lld is the registry's serving version, but it could not be "
                      "loaded: %s",
                      (long long)version, err.msg);
  }
  json_t *data = json_pack("{s:I,s:b,s:o}", "version", (json_int_t)version, "serving", 1,
                           "promotion", rec ? rec : json_null());
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "model version %lld serves now (promoted by %s)",
                 (long long)version, req.by);
}

/* ---- GET /models/accuracy (docs/monitoring.md) ---- */

/* The report of version v (0: the serving one) as of day, through the
 * service's cache (or a cache of this request's own when it keeps none).
 * As accuracy_cache_get. */
static int accuracy_of(struct req *rq, struct store *db, int64_t v, int64_t day, json_t **rep,
                       struct gerr *err) {
  struct app *app = rq->app;
  struct accuracy_cache *own = NULL, *c = app ? app->accuracy : NULL;
  if (!c && accuracy_cache_new(&own) < 0)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  int rc = accuracy_cache_get(c ? c : own, db, app ? app->gaz : NULL,
                              app ? app->models : NULL, v, day, 0, rep, err);
  accuracy_cache_free(own);
  return rc;
}

int api_models_accuracy(struct req *rq, struct resp *rs) {
  const char *vs = req_query(rq, "version"), *as = req_query(rq, "as_of");
  long long v = 0;
  if (vs && param_int(vs, 1, INT64_MAX, &v) < 0)
    return resp_error(rs, GERR_INVALID_INPUT,
                      json_pack("[{s:s,s:s}]", "field", "version", "problem",
                                "must be a model version number (1 or more)"),
                      "version must be a model version number (GET /models lists them)");
  int64_t today = now_ist_ms() / DAY_MS, day = today;
  if (as && (accuracy_parse_day(as, &day) < 0 || day > today + 1))
    return resp_error(rs, GERR_INVALID_INPUT,
                      json_pack("[{s:s,s:s}]", "field", "as_of", "problem",
                                "must be a date YYYY-MM-DD from 2000-01-01 to tomorrow (IST)"),
                      "as_of must be a date YYYY-MM-DD from 2000-01-01 to tomorrow (IST)");
  struct gerr err;
  struct store *db = req_store(rq, &err);
  if (!db)
    return resp_error_from(rs, &err);
  json_t *rep = NULL;
  int rc = accuracy_of(rq, db, (int64_t)v, day, &rep, &err);
  if (rc < 0)
    return resp_error_from(rs, &err);
  if (rc == 1 && v)
    return resp_error(rs, GERR_NOT_FOUND, NULL,
                      "no model version %lld in the registry (GET /models lists them)", v);
  if (rc == 1)
    return resp_error(rs, GERR_UNAVAILABLE, NULL,
                      "no model is trained yet: POST /models/train");
  /* the cached report is shared: answer with a copy that says whether the
   * version serves */
  json_t *data = json_copy(rep);
  json_decref(rep);
  int64_t serving = 0;
  if (data && store_model_serving_version(db, &serving, &err) >= 0)
    json_object_set_new(data, "serving",
                        json_boolean(serving == json_integer_value(json_object_get(data, "version"))));
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  json_int_t ver = json_integer_value(json_object_get(data, "version"));
  size_t np = json_array_size(json_object_get(data, "periods"));
  int drift = accuracy_drift(data);
  return resp_ok(rs, data, "model version %lld as of %s: %zu complete period(s) of 3; %s",
                 (long long)ver, json_string_value(json_object_get(data, "as_of")), np,
                 drift ? "drift alarm ON (see drift.reasons)" : "no drift alarm");
}
