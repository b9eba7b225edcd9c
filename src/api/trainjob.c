/* Training jobs of a running service, and the watch on the serving version.
 *
 * A job runs suite_train on a thread and a store connection of its own, then
 * saves the suite (keeping TRAINJOB_KEEP_VERSIONS) and swaps it into the
 * holder; requests keep answering from the old suite until the swap. One
 * job runs at a time. Jobs live in memory: the last TRAINJOB_KEEP_JOBS are
 * remembered, and a restart forgets them (the registry is the lasting
 * record). swap_mu orders a job's save + swap against the watch's
 * check + load + swap, so the two never load the same version twice or
 * install an older one after a newer. */
#include "gromo/trainjob.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/log.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

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

json_t *trainjob_summary(const struct suite *s, int64_t duration_ms) {
  json_t *r = suite_report(s);
  if (!r)
    return NULL;
  if (!json_is_object(r)) {
    json_t *o = json_pack("{s:o}", "report", r);
    if (!o)
      return NULL;
    r = o;
  }
  json_object_set_new(r, "version", json_integer((json_int_t)suite_version(s)));
  json_object_set_new(r, "trained_at", json_string(suite_trained_at(s)));
  json_object_set_new(r, "degraded", json_boolean(suite_degraded(s)));
  json_object_set_new(r, "duration_ms", json_integer((json_int_t)duration_ms));
  return r;
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

static void *watch_loop(void *arg) {
  struct trainer *t = arg;
  pthread_mutex_lock(&t->mu);
  while (!t->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += t->watch_ms / 1000;
    until.tv_nsec += (long)(t->watch_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&t->changed, &t->mu, &until);
    if (t->stopping)
      break;
    pthread_mutex_unlock(&t->mu);
    struct gerr err;
    if (trainer_sync(t, &err) < 0)
      log_msg(LOG_ERROR, "models", "%s", err.msg);
    pthread_mutex_lock(&t->mu);
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

/* ---- jobs ---- */

static void on_progress(void *ctx, const char *stage, double frac) {
  struct trainer *t = ctx;
  pthread_mutex_lock(&t->mu);
  struct job *j = t->running;
  if (j) {
    if (stage)
      snprintf(j->stage, sizeof j->stage, "%s", stage);
    if (frac >= 0 && frac <= 1 && frac >= j->progress)
      j->progress = frac;
  }
  pthread_mutex_unlock(&t->mu);
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
  pthread_mutex_unlock(&t->mu);

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
    if (suite_save(db, s, TRAINJOB_KEEP_VERSIONS, &err) == 0) {
      version = suite_version(s);
      summary = trainjob_summary(s, (mono_us() - j->t0_us) / 1000);
      model_holder_swap(t->holder, s); /* the holder owns it now */
      s = NULL;
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
  pthread_cond_broadcast(&t->changed);
  struct job copy = *j;
  pthread_mutex_unlock(&t->mu);
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
  t->running = j;
  if (pthread_create(&t->job_thread, NULL, job_run, t) != 0) {
    j->status = JOB_FAILED;
    j->error_code = GERR_UNAVAILABLE;
    snprintf(j->error, sizeof j->error, "cannot start a training thread");
    t->running = NULL;
    pthread_mutex_unlock(&t->mu);
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
  return j ? 0 : -1;
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
  if (t->job_thread_live)
    pthread_join(t->job_thread, NULL);
  if (t->watch_live)
    pthread_join(t->watch_thread, NULL);
  for (size_t i = 0; i < TRAINJOB_KEEP_JOBS; i++)
    json_decref(t->jobs[i].summary);
  store_close(t->watch_db);
  pthread_cond_destroy(&t->changed);
  pthread_mutex_destroy(&t->swap_mu);
  pthread_mutex_destroy(&t->mu);
  free(t->db);
  free(t);
}
