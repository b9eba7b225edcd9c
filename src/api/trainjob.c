/* Training jobs of a running service, and the watch on the serving version.
 *
 * A job runs suite_train on a thread and a store connection of its own, then
 * saves the suite (keeping SUITE_KEEP_VERSIONS) and swaps it into the
 * holder; requests keep answering from the old suite until the swap. One
 * job runs at a time. Jobs live in memory: the last TRAINJOB_KEEP_JOBS are
 * remembered, and a restart forgets them (the registry is the lasting
 * record). swap_mu orders a job's save + swap against the watch's
 * check + load + swap, so the two never load the same version twice or
 * install an older one after a newer.
 *
 * Several servers on one shared database (PostgreSQL) act as one service:
 * a job runs only while its process holds the store's training lock, so
 * one runs across all of them; each job keeps its record in the store's
 * table of jobs (store_job_put, the last TRAINJOB_KEEP_JOBS), so every
 * server answers for any of them (POST /models/train elsewhere finds the
 * running one, GET /models/train/{job} and ?wait=true work anywhere, also
 * for a job that ended before this server started). The watch listens for the store's notices
 * of a new serving version on a connection of its own and checks at once;
 * polling every watch_ms stays, for notices lost while a connection was
 * down and for stores that send none (SQLite). */
#include "gromo/trainjob.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gromo/log.h"
#include "gromo/models.h"
#include "gromo/record.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

/* A job's shared record holds its summary as JSON text of at most
 * SHARED_JOB_MAX bytes (past that it is written without). */
#define SHARED_JOB_MAX (256 * 1024)
#define SHARED_JOB_EVERY_US 1000000 /* progress is written at most this often */
/* How often a request waiting for another process's job looks at it. */
#define SHARED_JOB_POLL_MS 250
/* The watch's wait for notices is cut into slices this long, so that
 * stopping never waits for more. */
#define WATCH_SLICE_MS 200

enum job_status { JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED };
static const char *const status_names[] = {"queued", "running", "succeeded", "failed"};

struct job {
  char id[TRAINJOB_ID_LEN + 1]; /* "" : free slot */
  enum job_status status;
  char stage[64];
  double progress;
  struct train_options opt;
  char started_at[32], finished_at[32];
  int64_t t0_us, duration_ms;
  json_t *summary; /* succeeded */
  enum gerr_code error_code;
  char error[256]; /* failed */
  /* Shared stores: the connection holding the training lock, on which the
   * job's record is written (owned by the job's thread); NULL otherwise. */
  struct store *lock_db;
  int64_t recorded_us;   /* when the record was last written */
  char recorded_stage[64];
};

struct trainer {
  pthread_mutex_t mu; /* the jobs, running, stopping */
  pthread_cond_t changed; /* a job finished; or stopping (wakes the watch) */
  pthread_mutex_t swap_mu;
  char *db;
  const struct gaz *gaz;
  struct model_holder *holder;
  struct job jobs[TRAINJOB_KEEP_JOBS];
  size_t next_slot;
  struct job *running;
  pthread_t job_thread;
  int job_thread_live; /* joinable */
  pthread_t watch_thread;
  int watch_live;
  unsigned watch_ms;
  int stopping;
  struct store *watch_db; /* used under swap_mu */
  int64_t last_want; /* the serving version last seen in the registry */
  /* The watch thread's connection that listens for notices of a new
   * serving version (NULL: none yet, or lost); listen_none: the store
   * sends none, so the watch only polls. */
  struct store *listen_db;
  int listen_none;
  int listen_lost; /* logged that it was lost; quiet until it is back */
  /* Reads the shared job record of other processes' jobs. */
  pthread_mutex_t peek_mu;
  struct store *peek_db; /* used under peek_mu */
  pthread_mutex_t record_mu; /* one record write at a time */
  _Atomic int shared; /* the store is shared with other processes: 1, 0, -1 not known yet */
  char instance[96]; /* host:pid, in the shared record */
  /* The schedule (trainer_schedule): its thread and what it remembers. */
  pthread_t sched_thread;
  int sched_live;
  int64_t every_s;
  trainer_drift_fn drift;
  void *drift_ctx;
  int64_t sched_last_us;   /* mono_us() of the last scheduled start; 0: none */
  int64_t drift_version;   /* the version a drift start was made for */
};

static void iso_now(char out[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static struct job *job_find(struct trainer *t, const char *id) {
  if (!id || strlen(id) != TRAINJOB_ID_LEN)
    return NULL;
  for (size_t i = 0; i < TRAINJOB_KEEP_JOBS; i++)
    if (t->jobs[i].id[0] && !strcmp(t->jobs[i].id, id))
      return &t->jobs[i];
  return NULL;
}

/* ---- the watch: the serving version, as the registry says ---- */

/* Loads `version` and installs it, under swap_mu. 1 swapped, -1 error. */
static int install_version(struct trainer *t, int64_t version, int64_t was,
                           struct gerr *err) {
  struct suite *s = NULL;
  int64_t t0 = mono_us();
  int rc = suite_load(t->watch_db, t->gaz, version, &s, err);
  if (rc != 0) {
    if (rc == 1)
      gerr_set(err, GERR_NOT_FOUND, "model version %lld is gone", (long long)version);
    return -1;
  }
  model_holder_swap(t->holder, s);
  char fields[256];
  int n = snprintf(fields, sizeof fields,
                   "\"version\":%lld,\"previous\":%lld,\"trained_at\":\"%s\","
                   "\"degraded\":%s,\"load_ms\":%.1f,\"reason\":\"the registry's serving "
                   "version changed\"",
                   (long long)version, (long long)was, suite_trained_at(s),
                   suite_degraded(s) ? "true" : "false", (double)(mono_us() - t0) / 1000.0);
  if (n > 0 && (size_t)n < sizeof fields)
    log_fields(LOG_INFO, "models_loaded", fields, (size_t)n);
  return 1;
}

int trainer_sync(struct trainer *t, struct gerr *err) {
  pthread_mutex_lock(&t->swap_mu);
  int ret = 0;
  if (!t->watch_db && store_open(t->db, &t->watch_db, err) < 0) {
    ret = -1;
    goto out;
  }
  int64_t want = 0;
  int rc = store_model_serving_version(t->watch_db, &want, err);
  if (rc < 0) { /* reopen next time: the file may have been replaced */
    store_close(t->watch_db);
    t->watch_db = NULL;
    ret = -1;
    goto out;
  }
  if (rc == 1) /* none serves: keep what is loaded (if anything) */
    goto out;
  const struct suite *cur = model_holder_get(t->holder);
  int64_t have = cur ? suite_version(cur) : 0;
  model_holder_put(t->holder, cur);
  /* A version that failed to load is tried again only when the registry
   * names it anew, so a damaged one is logged once, not every poll. */
  int retry = want != t->last_want;
  t->last_want = want;
  if (have == want || !retry)
    goto out;
  ret = install_version(t, want, have, err);
  if (ret < 0)
    gerr_prefix(err, "loading the serving model version");
out:
  pthread_mutex_unlock(&t->swap_mu);
  return ret;
}

/* Opens the watch's listening connection when the store sends notices.
 * Called by the watch thread only. */
static void listen_open(struct trainer *t) {
  if (t->listen_db || t->listen_none)
    return;
  struct gerr err;
  struct store *db = NULL;
  int rc = store_open(t->db, &db, &err);
  if (rc == 0 && (rc = store_models_listen(db, &err)) == 1) {
    t->listen_none = 1; /* SQLite: polling it is */
    store_close(db);
    return;
  }
  if (rc < 0) {
    if (!t->listen_lost)
      log_msg(LOG_WARN, "models",
              "cannot listen for model changes (%s): checking every %u ms until it can",
              err.msg, t->watch_ms);
    t->listen_lost = 1;
    store_close(db);
    return;
  }
  if (t->listen_lost)
    log_msg(LOG_INFO, "models", "listening for model changes again");
  t->listen_lost = 0;
  t->listen_db = db;
}

/* Waits, with t->mu held (released meanwhile), until the next check is
 * due: watch_ms from now, a notice of a new serving version, or stopping. */
static void watch_wait(struct trainer *t) {
  int64_t due = mono_us() + (int64_t)t->watch_ms * 1000;
  if (!t->listen_db) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += t->watch_ms / 1000;
    until.tv_nsec += (long)(t->watch_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&t->changed, &t->mu, &until);
    return;
  }
  while (!t->stopping) {
    int64_t left_ms = (due - mono_us()) / 1000;
    if (left_ms <= 0)
      return;
    pthread_mutex_unlock(&t->mu);
    struct gerr err;
    int rc = store_models_wait(t->listen_db, left_ms < WATCH_SLICE_MS ? (int)left_ms
                                                                     : WATCH_SLICE_MS,
                               &err);
    if (rc < 0) { /* check at once: a notice may have been lost with it */
      log_msg(LOG_WARN, "models",
              "listening for model changes: %s; checking every %u ms until it is back",
              err.msg, t->watch_ms);
      t->listen_lost = 1;
      store_close(t->listen_db);
      t->listen_db = NULL;
    }
    pthread_mutex_lock(&t->mu);
    if (rc != 0)
      return;
  }
}

static void *watch_loop(void *arg) {
  struct trainer *t = arg;
  pthread_mutex_lock(&t->mu);
  while (!t->stopping) {
    pthread_mutex_unlock(&t->mu);
    listen_open(t);
    pthread_mutex_lock(&t->mu);
    if (t->stopping)
      break;
    watch_wait(t);
    if (t->stopping)
      break;
    pthread_mutex_unlock(&t->mu);
    struct gerr err;
    if (trainer_sync(t, &err) < 0)
      log_msg(LOG_ERROR, "models", "%s", err.msg);
    pthread_mutex_lock(&t->mu);
  }
  pthread_mutex_unlock(&t->mu);
  store_close(t->listen_db);
  t->listen_db = NULL;
  return NULL;
}

/* ---- jobs ---- */

static json_t *local_job_json(struct trainer *t, const char *id);

/* ---- the shared job record (shared stores) ---- */

/* A job's JSON (local_job_json's, with "instance") as a store record;
 * r->summary is malloc'd (or NULL). */
static const char *text_of(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

static void job_to_row(json_t *o, struct job_row *r) {
  memset(r, 0, sizeof *r);
  const char *v;
  snprintf(r->job_id, sizeof r->job_id, "%s", text_of(o, "job_id"));
  snprintf(r->status, sizeof r->status, "%s", text_of(o, "status"));
  snprintf(r->stage, sizeof r->stage, "%s", text_of(o, "stage"));
  r->progress = json_number_value(json_object_get(o, "progress"));
  snprintf(r->started_at, sizeof r->started_at, "%s", text_of(o, "started_at"));
  if ((v = json_string_value(json_object_get(o, "finished_at"))))
    snprintf(r->finished_at, sizeof r->finished_at, "%s", v);
  r->duration_ms = (int64_t)json_integer_value(json_object_get(o, "duration_ms"));
  char *opt = json_dumps(json_object_get(o, "options"), JSON_COMPACT);
  if (opt && strlen(opt) < sizeof r->options)
    memcpy(r->options, opt, strlen(opt) + 1);
  free(opt);
  snprintf(r->instance, sizeof r->instance, "%s", text_of(o, "instance"));
  json_t *e = json_object_get(o, "error");
  if ((v = json_string_value(json_object_get(e, "code"))))
    snprintf(r->error_code, sizeof r->error_code, "%s", v);
  if ((v = json_string_value(json_object_get(e, "message"))))
    snprintf(r->error_message, sizeof r->error_message, "%s", v);
  json_t *sum = json_object_get(o, "summary");
  if (json_is_object(sum)) {
    r->summary = json_dumps(sum, JSON_COMPACT);
    if (r->summary && strlen(r->summary) >= SHARED_JOB_MAX) { /* never seen: ~10 KB */
      free(r->summary);
      r->summary = NULL;
    }
  }
}

/* A stored record as GET /models/train/{job} shows it; NULL when out of
 * memory. */
static json_t *row_to_json(const struct job_row *r) {
  json_t *opt = json_loads(r->options, 0, NULL);
  json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:o,s:s,s:o,s:I,s:s}", "job_id", r->job_id, "status",
                        r->status, "stage", r->stage, "progress", r->progress, "options",
                        json_is_object(opt) ? opt : json_object(), "started_at", r->started_at,
                        "finished_at",
                        r->finished_at[0] ? json_string(r->finished_at) : json_null(),
                        "duration_ms", (json_int_t)r->duration_ms, "instance", r->instance);
  if (opt && !json_is_object(opt))
    json_decref(opt);
  if (!o)
    return NULL;
  if (!strcmp(r->status, "succeeded")) {
    json_t *sum = r->summary ? json_loads(r->summary, 0, NULL) : NULL;
    json_object_set_new(o, "summary", sum ? sum : json_null());
  }
  if (!strcmp(r->status, "failed"))
    json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", r->error_code, "message",
                                              r->error_message));
  return o;
}

/* Writes job id's record, on the connection that holds the training lock.
 * A failure is logged, never fatal: the record only informs the other
 * processes. */
static void record_job(struct trainer *t, struct store *lk, const char *id) {
  json_t *o = local_job_json(t, id);
  if (!o)
    return;
  json_object_set_new(o, "instance", json_string(t->instance));
  struct job_row r;
  job_to_row(o, &r);
  json_decref(o);
  struct gerr err;
  pthread_mutex_lock(&t->record_mu);
  if (store_job_put(lk, &r, TRAINJOB_KEEP_JOBS, &err) < 0)
    log_msg(LOG_WARN, "training", "job %s: cannot write its shared record: %s", id, err.msg);
  pthread_mutex_unlock(&t->record_mu);
  job_row_release(&r);
}

/* Job id's shared record (the newest job's when id is NULL): 0 (in *out,
 * or NULL when there is none), -1 error. *newest says whether it is the
 * newest job's. */
static int record_read(struct store *db, const char *id, json_t **out, int *newest,
                       struct gerr *err) {
  *out = NULL;
  *newest = 0;
  struct job_row r;
  int rc = store_job_get(db, id, &r, err);
  if (rc == 0) {
    *newest = r.newest;
    if (!(*out = row_to_json(&r)))
      rc = gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  job_row_release(&r);
  return rc < 0 ? -1 : 0;
}

/* Marks a record that says "running" as failed: its process stopped. */
static void record_mark_dead(struct store *db, json_t *o) {
  char now[32];
  iso_now(now);
  json_object_set_new(o, "status", json_string("failed"));
  json_object_set_new(o, "finished_at", json_string(now));
  json_object_set_new(o, "error",
                      json_pack("{s:s,s:s}", "code", gerr_name(GERR_UNAVAILABLE), "message",
                                "the process running it stopped before it finished"));
  struct job_row r;
  job_to_row(o, &r);
  struct gerr err;
  if (store_job_put(db, &r, TRAINJOB_KEEP_JOBS, &err) < 0)
    log_msg(LOG_WARN, "training", "cannot mark job %s as failed: %s", r.job_id, err.msg);
  job_row_release(&r);
}

static int record_is(json_t *o, const char *status) {
  const char *st = json_string_value(json_object_get(o, "status"));
  return st && !strcmp(st, status);
}

/* Job id's shared record (the newest job's when id is NULL), as a new
 * reference; NULL when there is none, the store is not shared or cannot be
 * reached. A record that says "running" while no process runs it is of a
 * process that died, and is marked failed first: one job runs at a time
 * across every process, so a running record older than the newest is
 * dead; the newest is when no process holds the training lock (checked
 * under the lock, so a run that just finished and wrote its end is never
 * taken for one). */
static json_t *shared_job(struct trainer *t, const char *id) {
  json_t *o = NULL;
  struct gerr err;
  int newest = 0;
  pthread_mutex_lock(&t->peek_mu);
  if (!t->peek_db && store_open(t->db, &t->peek_db, &err) < 0)
    goto out;
  t->shared = store_shared(t->peek_db);
  if (!t->shared || record_read(t->peek_db, id, &o, &newest, &err) < 0)
    goto fail;
  if (!o || !record_is(o, "running"))
    goto out;
  if (!newest) {
    record_mark_dead(t->peek_db, o);
    goto out;
  }
  int rc = store_training_lock(t->peek_db, &err);
  if (rc < 0)
    goto fail;
  if (rc == 1) /* its process is at work */
    goto out;
  json_t *again = NULL;
  if (record_read(t->peek_db, json_string_value(json_object_get(o, "job_id")), &again, &newest,
                  &err) == 0 &&
      again) {
    json_decref(o);
    o = again;
    if (record_is(o, "running"))
      record_mark_dead(t->peek_db, o);
  }
  store_training_unlock(t->peek_db);
  goto out;
fail:
  json_decref(o);
  o = NULL;
  store_close(t->peek_db); /* a new connection next time */
  t->peek_db = NULL;
out:
  pthread_mutex_unlock(&t->peek_mu);
  return o;
}

/* Before a job starts: on a shared store, takes the training lock on a new
 * connection (*lk, handed to the job) and returns 0; when another process
 * holds it, finds that process's job (the newest record, id[], 1) or
 * answers 409 when it cannot (a `gromo train` of the command line keeps no
 * record). On a store
 * that is not shared, *lk is NULL and 0. -1 on errors. */
static int claim_training(struct trainer *t, struct store **lk, char id[TRAINJOB_ID_LEN + 1],
                          struct gerr *err) {
  *lk = NULL;
  if (t->shared == 0)
    return 0;
  struct store *db = NULL;
  if (store_open(t->db, &db, err) < 0) {
    gerr_prefix(err, "cannot start training");
    return -1;
  }
  t->shared = store_shared(db);
  int rc = t->shared ? store_training_lock(db, err) : 0;
  if (rc == 0 && t->shared) {
    *lk = db;
    return 0;
  }
  store_close(db);
  if (rc <= 0)
    return rc;
  /* The holder writes its record right after taking the lock: a moment. */
  for (int i = 0; i < 10; i++) {
    json_t *o = shared_job(t, NULL);
    const char *jid = json_string_value(json_object_get(o, "job_id"));
    if (o && record_is(o, "running") && jid && strlen(jid) == TRAINJOB_ID_LEN) {
      memcpy(id, jid, TRAINJOB_ID_LEN + 1);
      json_decref(o);
      return 1;
    }
    json_decref(o);
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return gerr_set(err, GERR_CONFLICT,
                  "a training run is already in progress in another process on this "
                  "database (gromo train); retry once it has finished");
}

static void on_progress(void *ctx, const char *stage, double frac) {
  struct trainer *t = ctx;
  struct store *lk = NULL;
  char id[TRAINJOB_ID_LEN + 1];
  pthread_mutex_lock(&t->mu);
  struct job *j = t->running;
  if (j) {
    if (stage)
      snprintf(j->stage, sizeof j->stage, "%s", stage);
    if (frac >= 0 && frac <= 1 && frac >= j->progress)
      j->progress = frac;
    int64_t now = mono_us();
    if (j->lock_db && (strcmp(j->stage, j->recorded_stage) ||
                       now - j->recorded_us >= SHARED_JOB_EVERY_US)) {
      j->recorded_us = now;
      memcpy(j->recorded_stage, j->stage, sizeof j->stage);
      lk = j->lock_db;
      memcpy(id, j->id, sizeof id);
    }
  }
  pthread_mutex_unlock(&t->mu);
  if (lk)
    record_job(t, lk, id);
}

static void log_job(const struct job *j, const char *event, int64_t version) {
  char fields[512];
  int n;
  if (version)
    n = snprintf(fields, sizeof fields,
                 "\"job_id\":\"%s\",\"duration_ms\":%lld,\"version\":%lld", j->id,
                 (long long)j->duration_ms, (long long)version);
  else
    n = snprintf(fields, sizeof fields, "\"job_id\":\"%s\",\"rounds\":%d,\"origins\":%d",
                 j->id, j->opt.rounds, j->opt.origins);
  if (n > 0 && (size_t)n < sizeof fields)
    log_fields(LOG_INFO, event, fields, (size_t)n);
}

static void *job_run(void *arg) {
  struct trainer *t = arg;
  pthread_mutex_lock(&t->mu);
  struct job *j = t->running;
  struct train_options opt = j->opt;
  struct store *lk = j->lock_db; /* this thread's from now on */
  char id[TRAINJOB_ID_LEN + 1];
  memcpy(id, j->id, sizeof id);
  pthread_mutex_unlock(&t->mu);
  if (lk)
    record_job(t, lk, id);

  struct gerr err;
  gerr_clear(&err);
  struct store *db = NULL;
  struct suite *s = NULL;
  json_t *summary = NULL;
  int64_t version = 0;
  int ok = 0;
  struct train_config cfg;
  train_config_defaults(&cfg);
  /* One core: the other keeps answering requests. (Idle OpenMP threads
   * spin, and on a busy machine two of them made a run 20x slower.) */
  cfg.threads = 1;
  if (opt.rounds > 0)
    cfg.rounds = opt.rounds;
  if (opt.origins > 0)
    cfg.origins = opt.origins;
  if (opt.regions > 0)
    cfg.regions = opt.regions;
  /* The run's own thread may wait for the write lock when it saves (an
   * upload committing, a command-line import). */
  if (store_open(t->db, &db, &err) == 0)
    store_set_busy_timeout(db, STORE_BUSY_LONG_MS);
  if (db && suite_train(db, t->gaz, &cfg, on_progress, t, &s, &err) == 0) {
    on_progress(t, "saving", 1.0);
    pthread_mutex_lock(&t->swap_mu);
    if (suite_save_as(db, s, SUITE_KEEP_VERSIONS, &opt.promote, &err) == 0) {
      version = suite_version(s);
      summary = suite_summary(s, (mono_us() - j->t0_us) / 1000);
      if (suite_serving(s)) { /* a candidate stays in the registry only */
        model_holder_swap(t->holder, s); /* the holder owns it now */
        s = NULL;
      }
      ok = 1;
    }
    pthread_mutex_unlock(&t->swap_mu);
  }
  suite_free(s);
  store_close(db);

  pthread_mutex_lock(&t->mu);
  j->duration_ms = (mono_us() - j->t0_us) / 1000;
  iso_now(j->finished_at);
  if (ok) {
    j->status = JOB_SUCCEEDED;
    j->summary = summary;
    if (summary) /* the wall time, saving included */
      json_object_set_new(summary, "duration_ms", json_integer((json_int_t)j->duration_ms));
    snprintf(j->stage, sizeof j->stage, "done");
    j->progress = 1;
  } else {
    j->status = JOB_FAILED;
    j->error_code = err.code == GERR_OK ? GERR_INTERNAL : err.code;
    snprintf(j->error, sizeof j->error, "%s", err.msg[0] ? err.msg : "training failed");
  }
  t->running = NULL;
  j->lock_db = NULL;
  pthread_cond_broadcast(&t->changed);
  struct job copy = *j;
  pthread_mutex_unlock(&t->mu);
  if (lk) { /* the end in the record, then the lock goes */
    record_job(t, lk, id);
    store_training_unlock(lk);
    store_close(lk);
  }
  if (ok)
    log_job(&copy, "training_done", version);
  else
    log_msg(LOG_ERROR, "training_failed", "job %s: %s", copy.id, copy.error);
  return NULL;
}

int trainer_start(struct trainer *t, const struct train_options *opt,
                  char id[TRAINJOB_ID_LEN + 1], int *started, struct gerr *err) {
  *started = 0;
  pthread_mutex_lock(&t->mu);
  if (t->stopping) {
    pthread_mutex_unlock(&t->mu);
    return gerr_set(err, GERR_UNAVAILABLE, "the server is shutting down");
  }
  if (t->running) {
    memcpy(id, t->running->id, TRAINJOB_ID_LEN + 1);
    pthread_mutex_unlock(&t->mu);
    return 0;
  }
  pthread_mutex_unlock(&t->mu);
  /* One run across every process on a shared store. */
  struct store *lk = NULL;
  int rc = claim_training(t, &lk, id, err);
  if (rc != 0)
    return rc < 0 ? -1 : 0; /* 1: another process's job is in id[] */
  pthread_mutex_lock(&t->mu);
  if (t->stopping || t->running) { /* meanwhile */
    int stopping = t->stopping;
    if (!stopping)
      memcpy(id, t->running->id, TRAINJOB_ID_LEN + 1);
    pthread_mutex_unlock(&t->mu);
    store_close(lk);
    return stopping ? gerr_set(err, GERR_UNAVAILABLE, "the server is shutting down") : 0;
  }
  if (t->job_thread_live) { /* the last job's thread has finished its work */
    pthread_join(t->job_thread, NULL);
    t->job_thread_live = 0;
  }
  struct job *j = &t->jobs[t->next_slot];
  t->next_slot = (t->next_slot + 1) % TRAINJOB_KEEP_JOBS;
  json_decref(j->summary);
  memset(j, 0, sizeof *j);
  unsigned char raw[TRAINJOB_ID_LEN / 2];
  randombytes_buf(raw, sizeof raw);
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf(j->id + 2 * i, 3, "%02x", raw[i]);
  j->status = JOB_RUNNING; /* its thread starts now: "queued" is never seen yet */
  snprintf(j->stage, sizeof j->stage, "starting");
  if (opt)
    j->opt = *opt;
  j->t0_us = mono_us();
  iso_now(j->started_at);
  j->lock_db = lk;
  t->running = j;
  if (pthread_create(&t->job_thread, NULL, job_run, t) != 0) {
    j->status = JOB_FAILED;
    j->error_code = GERR_UNAVAILABLE;
    snprintf(j->error, sizeof j->error, "cannot start a training thread");
    j->lock_db = NULL;
    t->running = NULL;
    pthread_mutex_unlock(&t->mu);
    store_close(lk);
    return gerr_set(err, GERR_UNAVAILABLE, "cannot start a training thread");
  }
  t->job_thread_live = 1;
  memcpy(id, j->id, TRAINJOB_ID_LEN + 1);
  *started = 1;
  struct job copy = *j;
  pthread_mutex_unlock(&t->mu);
  log_job(&copy, "training_started", 0);
  return 0;
}

int trainer_wait(struct trainer *t, const char *id) {
  pthread_mutex_lock(&t->mu);
  struct job *j = job_find(t, id);
  while (j && (j->status == JOB_QUEUED || j->status == JOB_RUNNING))
    pthread_cond_wait(&t->changed, &t->mu);
  pthread_mutex_unlock(&t->mu);
  if (j)
    return 0;
  /* Another process's job: its record, until it ends (or we stop). */
  for (;;) {
    json_t *o = shared_job(t, id);
    if (!o)
      return -1;
    int running = record_is(o, "running"), succeeded = record_is(o, "succeeded");
    json_decref(o);
    if (!running) {
      struct gerr err;
      /* Serve its version here too before answering (the notice may not
       * have arrived yet). */
      if (succeeded && trainer_sync(t, &err) < 0)
        log_msg(LOG_WARN, "models", "%s", err.msg);
      return 0;
    }
    pthread_mutex_lock(&t->mu);
    int stopping = t->stopping;
    if (!stopping) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += SHARED_JOB_POLL_MS * 1000000L;
      until.tv_sec += until.tv_nsec / 1000000000L;
      until.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&t->changed, &t->mu, &until);
    }
    pthread_mutex_unlock(&t->mu);
    if (stopping)
      return -1;
  }
}

int trainer_running(struct trainer *t, char id[TRAINJOB_ID_LEN + 1]) {
  pthread_mutex_lock(&t->mu);
  int r = t->running != NULL;
  if (r)
    memcpy(id, t->running->id, TRAINJOB_ID_LEN + 1);
  pthread_mutex_unlock(&t->mu);
  return r;
}

static json_t *option_json(int v) { return v > 0 ? json_integer(v) : json_null(); }

json_t *trainer_job_json(struct trainer *t, const char *id) {
  json_t *o = local_job_json(t, id);
  if (o && t->shared == 1) /* as every server shows it */
    json_object_set_new(o, "instance", json_string(t->instance));
  if (o || !id || strlen(id) != TRAINJOB_ID_LEN || t->shared == 0)
    return o;
  return shared_job(t, id); /* another process's, on a shared store */
}

static json_t *local_job_json(struct trainer *t, const char *id) {
  pthread_mutex_lock(&t->mu);
  struct job *j = job_find(t, id);
  json_t *o = NULL;
  if (j) {
    int done = j->status == JOB_SUCCEEDED || j->status == JOB_FAILED;
    int64_t ms = done ? j->duration_ms : (mono_us() - j->t0_us) / 1000;
    o = json_pack("{s:s,s:s,s:s,s:f,s:{s:o,s:o,s:o},s:s,s:o,s:I}", "job_id", j->id,
                  "status", status_names[j->status], "stage", j->stage, "progress",
                  j->progress, "options", "rounds", option_json(j->opt.rounds), "origins",
                  option_json(j->opt.origins), "regions", option_json(j->opt.regions),
                  "started_at", j->started_at, "finished_at",
                  done ? json_string(j->finished_at) : json_null(), "duration_ms",
                  (json_int_t)ms);
    if (o)
      json_object_set_new(json_object_get(o, "options"), "promote",
                          json_string(promote_policy_name(j->opt.promote.policy)));
    if (o && j->status == JOB_SUCCEEDED)
      json_object_set(o, "summary", j->summary ? j->summary : json_null());
    if (o && j->status == JOB_FAILED)
      json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", gerr_name(j->error_code),
                                                "message", j->error));
  }
  pthread_mutex_unlock(&t->mu);
  return o;
}

int trainer_new(const char *db, const struct gaz *gaz, struct model_holder *holder,
                unsigned watch_ms, struct trainer **out, struct gerr *err) {
  *out = NULL;
  struct trainer *t = calloc(1, sizeof *t);
  if (!t || !(t->db = strdup(db ? db : ""))) {
    free(t);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  pthread_mutex_init(&t->mu, NULL);
  pthread_mutex_init(&t->swap_mu, NULL);
  pthread_mutex_init(&t->peek_mu, NULL);
  pthread_mutex_init(&t->record_mu, NULL);
  t->shared = -1; /* known at the first training */
  char host[64] = "";
  if (gethostname(host, sizeof host - 1) != 0)
    snprintf(host, sizeof host, "unknown");
  snprintf(t->instance, sizeof t->instance, "%.63s:%ld", host, (long)getpid());
  pthread_cond_init(&t->changed, NULL);
  t->gaz = gaz;
  t->holder = holder;
  t->watch_ms = watch_ms;
  if (watch_ms && pthread_create(&t->watch_thread, NULL, watch_loop, t) == 0)
    t->watch_live = 1;
  else if (watch_ms)
    log_msg(LOG_WARN, "models", "cannot start the serving-version watch");
  *out = t;
  return 0;
}

void trainer_free(struct trainer *t) {
  if (!t)
    return;
  pthread_mutex_lock(&t->mu);
  t->stopping = 1;
  pthread_cond_broadcast(&t->changed);
  char id[TRAINJOB_ID_LEN + 1] = "";
  if (t->running)
    memcpy(id, t->running->id, sizeof id);
  pthread_mutex_unlock(&t->mu);
  if (id[0])
    log_msg(LOG_INFO, "shutdown", "waiting for training job %s to finish", id);
  /* the schedule first: it may be starting a job as stopping begins */
  if (t->sched_live)
    pthread_join(t->sched_thread, NULL);
  if (t->job_thread_live)
    pthread_join(t->job_thread, NULL);
  if (t->watch_live)
    pthread_join(t->watch_thread, NULL);
  for (size_t i = 0; i < TRAINJOB_KEEP_JOBS; i++)
    json_decref(t->jobs[i].summary);
  store_close(t->watch_db);
  store_close(t->peek_db);
  pthread_cond_destroy(&t->changed);
  pthread_mutex_destroy(&t->record_mu);
  pthread_mutex_destroy(&t->peek_mu);
  pthread_mutex_destroy(&t->swap_mu);
  pthread_mutex_destroy(&t->mu);
  free(t->db);
  free(t);
}

/* ---- the schedule ---- */

/* Seconds since the epoch of an ISO 8601 time such as suite_trained_at
 * gives, or -1. */
static int64_t iso_unix(const char *iso) {
  int64_t ist;
  char why[120];
  if (!iso || sale_parse_date(iso, strlen(iso), &ist, why) < 0)
    return -1;
  return (ist - IST_OFFSET_MS) / 1000;
}

/* Why a scheduled job should start now (into why[]), or 0. */
static int schedule_due(struct trainer *t, char *why, size_t cap) {
  const struct suite *s = model_holder_get(t->holder);
  if (!s)
    return 0; /* the first training is asked for, not scheduled */
  int64_t version = suite_version(s), trained = iso_unix(suite_trained_at(s));
  model_holder_put(t->holder, s);
  char id[TRAINJOB_ID_LEN + 1];
  if (trainer_running(t, id))
    return 0;
  int64_t now = (int64_t)time(NULL), age = trained >= 0 ? now - trained : -1;
  int waited = t->sched_last_us == 0 ||
               mono_us() - t->sched_last_us >= t->every_s * 1000000;
  if (t->every_s > 0 && age >= t->every_s && waited) {
    snprintf(why, cap, "model version %lld was trained %lld s ago (--retrain-every %lld s)",
             (long long)version, (long long)age, (long long)t->every_s);
    return 1;
  }
  if (t->drift && t->drift_version != version && t->drift(t->drift_ctx, version) == 1) {
    t->drift_version = version;
    snprintf(why, cap, "the drift alarm of model version %lld is on (--retrain-on-drift)",
             (long long)version);
    return 1;
  }
  return 0;
}

static void *schedule_loop(void *arg) {
  struct trainer *t = arg;
  int64_t check_ms = t->every_s > 0 ? t->every_s * 1000 / 10 : TRAINER_SCHEDULE_CHECK_MS;
  if (check_ms > TRAINER_SCHEDULE_CHECK_MS)
    check_ms = TRAINER_SCHEDULE_CHECK_MS;
  if (check_ms < 1000)
    check_ms = 1000;
  pthread_mutex_lock(&t->mu);
  while (!t->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(check_ms / 1000);
    until.tv_nsec += (long)(check_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&t->changed, &t->mu, &until);
    if (t->stopping)
      break;
    pthread_mutex_unlock(&t->mu);
    char why[256], id[TRAINJOB_ID_LEN + 1];
    if (schedule_due(t, why, sizeof why)) {
      struct gerr err;
      int started = 0;
      t->sched_last_us = mono_us();
      if (trainer_start(t, NULL, id, &started, &err) < 0)
        log_msg(LOG_WARN, "scheduled_training", "%s, but training cannot start: %s", why,
                err.msg);
      else if (started)
        log_msg(LOG_INFO, "scheduled_training", "%s: job %s started", why, id);
    }
    pthread_mutex_lock(&t->mu);
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

int trainer_schedule(struct trainer *t, int64_t every_s, trainer_drift_fn drift,
                     void *drift_ctx, struct gerr *err) {
  if (t->sched_live)
    return gerr_set(err, GERR_CONFLICT, "the training schedule is already set");
  if (every_s <= 0 && !drift)
    return 0;
  t->every_s = every_s > 0 ? every_s : 0;
  t->drift = drift;
  t->drift_ctx = drift_ctx;
  if (pthread_create(&t->sched_thread, NULL, schedule_loop, t) != 0)
    return gerr_set(err, GERR_UNAVAILABLE, "cannot start the training schedule's thread");
  t->sched_live = 1;
  return 0;
}
