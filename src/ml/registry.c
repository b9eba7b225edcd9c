/* A suite's place in the model registry (include/gromo/store.h): saving a
 * trained suite as a new version with its promotion decision (docs/models.md
 * "Promotion: champion and challenger"), promoting a candidate, loading a
 * version back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/store.h"
#include "ml/ml_int.h"

/* The registry row of s, its texts and blob malloc'd (model_row_release). */
static int suite_row(const struct suite *s, struct model_row *row) {
  memset(row, 0, sizeof *row);
  struct buf b;
  buf_init(&b, (size_t)1 << 34);
  if (suite_blob(s, &b) < 0) {
    buf_release(&b);
    return -1;
  }
  json_t *models = json_object_get(s->report, "models");
  json_t *fl = json_pack("{s:O,s:O,s:O}", "demand",
                         json_object_get(json_object_get(models, "demand"), "features"),
                         "demand_rise",
                         json_object_get(json_object_get(models, "demand_rise"), "features"),
                         "top_product",
                         json_object_get(json_object_get(models, "top_product"), "features"));
  row->features = fl ? json_dumps(fl, JSON_COMPACT) : NULL;
  json_decref(fl);
  snprintf(row->kind, sizeof row->kind, "suite");
  snprintf(row->algorithm, sizeof row->algorithm, "XGBoost %s", "gbtree, native evaluation");
  snprintf(row->trained_at, sizeof row->trained_at, "%s", s->trained_at);
  row->rows = s->rows;
  snprintf(row->data_from, sizeof row->data_from, "%s", s->data_from);
  snprintf(row->data_to, sizeof row->data_to, "%s", s->data_to);
  row->duration_ms = s->duration_ms;
  /* the report names its version once loaded: stored without it */
  row->metrics = json_dumps(s->report, JSON_COMPACT);
  row->blob_len = b.len;
  row->blob = (unsigned char *)buf_detach(&b, NULL);
  if (!row->features || !row->metrics || !row->blob) {
    model_row_release(row);
    return -1;
  }
  return 0;
}

/* ---- promotion (docs/models.md "Promotion: champion and challenger") ---- */

static const char *const policy_names[] = {"if_better", "always"};

int promote_policy_parse(const char *name, enum promote_policy *out) {
  for (int p = 0; name && p < 2; p++)
    if (!strcmp(name, policy_names[p])) {
      *out = (enum promote_policy)p;
      return 0;
    }
  return -1;
}

const char *promote_policy_name(enum promote_policy p) {
  return p == PROMOTE_ALWAYS ? policy_names[1] : policy_names[0];
}

int suite_serving(const struct suite *s) { return s->serving; }

json_t *suite_promotion(const struct suite *s) {
  return s->promotion ? json_deep_copy(s->promotion) : NULL;
}

static void utc_now(char out[32]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The override part of a record: who and why; NULL when nobody is named. */
static json_t *override_json(const struct promote_request *req, const char *what) {
  char at[32];
  utc_now(at);
  return json_pack("{s:s,s:s,s:s,s:s}", "action", what, "by", req->by[0] ? req->by : "unknown",
                   "reason", req->reason, "at", at);
}

struct champion_row {
  int64_t version;
  json_t *report; /* the champion's /models report */
};

static int champion_row_fn(void *ctx, const struct model_row *r) {
  struct champion_row *c = ctx;
  if (r->version != c->version)
    return 0;
  c->report = r->metrics ? json_loads(r->metrics, 0, NULL) : NULL;
  return 1;
}

/* The names of the models that are worse, "demand, top_product", into buf. */
static void worse_names(const json_t *models, char *buf, size_t cap) {
  const char *name;
  json_t *m;
  buf[0] = 0;
  json_object_foreach((json_t *)models, name, m) {
    if (json_is_true(json_object_get(m, "no_worse")))
      continue;
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
  }
}

/* The decision on s against the version serving now (champ, 0: none), as
 * a new record; *serve says whether s serves. NULL when out of memory or
 * the store fails (err set). */
static json_t *promotion_decide(struct store *db, const struct suite *s, int64_t champ,
                                const struct promote_request *req, int *serve,
                                struct gerr *err) {
  char at[32], why[400];
  utc_now(at);
  int always = req->policy == PROMOTE_ALWAYS;
  json_t *rec;
  if (!champ) {
    *serve = 1;
    rec = json_pack("{s:s,s:s,s:n,s:f,s:{},s:s,s:s}", "decision", "promoted", "policy",
                    promote_policy_name(req->policy), "champion", "tolerance",
                    PROMOTE_TOLERANCE, "models", "decided_at", at, "reason",
                    "the first version: no serving version to compare with");
  } else {
    struct champion_row c = {champ, NULL};
    if (store_model_scan(db, champion_row_fn, &c, err) < 0)
      return NULL;
    int worse = 0;
    json_t *models = c.report ? champion_compare(s->report, c.report, PROMOTE_TOLERANCE, &worse)
                              : json_object();
    json_decref(c.report);
    if (!models) {
      gerr_set(err, GERR_INTERNAL, "out of memory comparing with the serving version");
      return NULL;
    }
    *serve = always || !worse;
    char names[80];
    worse_names(models, names, sizeof names);
    if (!worse)
      snprintf(why, sizeof why,
               "no model is worse than version %lld's (within %.0f%%): the new version serves",
               (long long)champ, PROMOTE_TOLERANCE * 100);
    else if (always)
      snprintf(why, sizeof why,
               "worse than version %lld on %s (by more than %.0f%%): serves all the same, by "
               "override (promote=always)",
               (long long)champ, names, PROMOTE_TOLERANCE * 100);
    else
      snprintf(why, sizeof why,
               "worse than version %lld on %s (by more than %.0f%%): kept as a candidate, "
               "version %lld serves on",
               (long long)champ, names, PROMOTE_TOLERANCE * 100, (long long)champ);
    rec = json_pack("{s:s,s:s,s:I,s:f,s:o,s:s,s:s}", "decision",
                    *serve ? "promoted" : "candidate", "policy",
                    promote_policy_name(req->policy), "champion", (json_int_t)champ,
                    "tolerance", PROMOTE_TOLERANCE, "models", models, "decided_at", at,
                    "reason", why);
  }
  if (rec && always)
    json_object_set_new(rec, "override", override_json(req, "trained with promote=always"));
  if (!rec)
    gerr_set(err, GERR_INTERNAL, "out of memory");
  return rec;
}

int suite_save(struct store *db, struct suite *s, int keep, struct gerr *err) {
  return suite_save_as(db, s, keep, NULL, err);
}

int suite_save_as(struct store *db, struct suite *s, int keep, const struct promote_request *req,
                  struct gerr *err) {
  static const struct promote_request if_better = {PROMOTE_IF_BETTER, "", ""};
  struct model_row row;
  memset(&row, 0, sizeof row);
  int64_t prev = 0, version = 0;
  int rc = -1, serve = 0;
  json_t *rec = NULL;
  if (!req)
    req = &if_better;
  /* One transaction: the regions are numbered after those of the version
   * serving now, which is also the champion the new version is compared
   * with; the version, its regions, its promotion record, the serving
   * mark and the prune land together or not at all. */
  if (store_begin(db, err) < 0)
    return -1;
  int have = store_model_serving_version(db, &prev, err);
  if (have < 0 || suite_regions_relabel(s, db, have == 0 ? prev : 0, err) < 0)
    goto out;
  if (!(rec = promotion_decide(db, s, have == 0 ? prev : 0, req, &serve, err)))
    goto out;
  if (suite_row(s, &row) < 0 || !(row.promotion = json_dumps(rec, JSON_COMPACT))) {
    gerr_set(err, GERR_INTERNAL, "out of memory saving the model");
    goto out;
  }
  if (store_model_insert(db, &row, &version, err) < 0)
    goto out;
  s->version = version;
  if (suite_regions_store(s, db, err) < 0 ||
      (serve && store_model_set_serving(db, version, err) < 0) ||
      store_model_prune(db, keep, err) < 0 || store_commit(db, err) < 0)
    goto out;
  json_object_set_new(s->report, "version", json_integer((json_int_t)version));
  json_decref(s->promotion);
  s->promotion = rec;
  rec = NULL;
  s->serving = serve;
  rc = 0;
out:
  if (rc < 0) {
    store_rollback(db);
    s->version = 0;
  }
  json_decref(rec);
  model_row_release(&row);
  return rc;
}

int suite_promote_candidate(struct store *db, int64_t version, const struct promote_request *req,
                            json_t **record, struct gerr *err) {
  struct model_row row;
  memset(&row, 0, sizeof row);
  json_t *rec = NULL;
  char *text = NULL;
  int rc = -1;
  if (record)
    *record = NULL;
  if (store_begin(db, err) < 0)
    return -1;
  int got = store_model_get(db, version, &row, err);
  if (got != 0) {
    rc = got;
    goto out;
  }
  rec = row.promotion ? json_loads(row.promotion, 0, NULL) : NULL;
  const char *was = json_string_value(json_object_get(rec, "decision"));
  if (row.serving) {
    rc = 2;
    goto out;
  }
  if (!was || strcmp(was, "candidate") != 0) {
    rc = 3;
    goto out;
  }
  json_object_set_new(rec, "decision", json_string("promoted"));
  json_object_set_new(rec, "policy", json_string("manual"));
  json_object_set_new(rec, "override", override_json(req, "promoted a candidate"));
  json_object_set_new(rec, "reason", json_string("a candidate, promoted by override"));
  if (!(text = json_dumps(rec, JSON_COMPACT))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  int done = store_model_promote(db, version, text, err);
  if (done != 0) {
    rc = done;
    goto out;
  }
  if (store_commit(db, err) < 0)
    goto out;
  if (record) {
    *record = rec;
    rec = NULL;
  }
  rc = 0;
out:
  if (rc != 0)
    store_rollback(db);
  free(text);
  json_decref(rec);
  model_row_release(&row);
  return rc;
}

int suite_load(struct store *db, const struct gaz *gaz, int64_t version, struct suite **out,
               struct gerr *err) {
  struct model_row row;
  memset(&row, 0, sizeof row);
  *out = NULL;
  int rc = store_model_get(db, version, &row, err);
  if (rc != 0)
    return rc;
  struct suite *s = calloc(1, sizeof *s);
  if (!s) {
    model_row_release(&row);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  s->gaz = gaz;
  s->version = row.version;
  snprintf(s->trained_at, sizeof s->trained_at, "%s", row.trained_at);
  snprintf(s->data_from, sizeof s->data_from, "%s", row.data_from);
  snprintf(s->data_to, sizeof s->data_to, "%s", row.data_to);
  s->rows = row.rows;
  s->duration_ms = row.duration_ms;
  json_error_t je;
  s->report = row.metrics ? json_loads(row.metrics, 0, &je) : NULL;
  if (!s->report || !json_is_object(s->report) ||
      suite_unblob(s, row.blob, row.blob_len, err) < 0) {
    if (!s->report)
      gerr_set(err, GERR_INTERNAL, "the stored model's report is damaged");
    gerr_prefix(err, "loading model version");
    model_row_release(&row);
    suite_free(s);
    return -1;
  }
  json_object_set_new(s->report, "version", json_integer((json_int_t)s->version));
  s->promotion = row.promotion ? json_loads(row.promotion, 0, NULL) : NULL;
  s->serving = row.serving;
  model_row_release(&row);
  if (suite_index(s, err) < 0) {
    suite_free(s);
    return -1;
  }
  *out = s;
  return 0;
}

/* ---- a registry row as JSON ---- */

/* Each model's promotion from a stored report ({"models":{"demand":
 * {"promoted":true,...},...}}): {"demand":true,...}, or {} when unknown. */
static json_t *promotion_of(const char *metrics) {
  json_t *out = json_object();
  json_t *rep = metrics ? json_loads(metrics, 0, NULL) : NULL;
  const char *name;
  json_t *m;
  json_object_foreach(json_object_get(rep, "models"), name, m) {
    json_t *p = json_object_get(m, "promoted");
    if (json_is_boolean(p))
      json_object_set(out, name, p);
  }
  json_decref(rep);
  return out;
}

static json_t *text_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

/* A version's promotion record (docs/models.md), or null when it has none
 * (saved before records were kept). */
static json_t *record_of(const char *promotion) {
  json_t *p = promotion ? json_loads(promotion, 0, NULL) : NULL;
  return json_is_object(p) ? p : (json_decref(p), json_null());
}

/* A candidate: kept because it was worse than the champion of its day,
 * and not serving since. */
static int is_candidate(const struct model_row *r, const json_t *rec) {
  const char *d = json_string_value(json_object_get(rec, "decision"));
  return !r->serving && d && !strcmp(d, "candidate");
}

/* A version's entry of GET /models and gromo models list --json. */
json_t *model_row_json(const struct model_row *r) {
  json_t *rec = record_of(r->promotion);
  return json_pack("{s:I,s:s,s:I,s:o,s:o,s:I,s:b,s:b,s:o,s:o}", "version",
                   (json_int_t)r->version, "trained_at", r->trained_at, "rows",
                   (json_int_t)r->rows, "data_from", text_or_null(r->data_from), "data_to",
                   text_or_null(r->data_to), "duration_ms", (json_int_t)r->duration_ms,
                   "serving", r->serving, "candidate", is_candidate(r, rec), "promoted",
                   promotion_of(r->metrics), "promotion", rec);
}
