/* The models of a running service: training jobs run in the background on a
 * store connection of their own and swap the new suite in when it is saved;
 * a watch picks up a change of the serving version made elsewhere (gromo
 * models rollback, another process's training). At most one training runs
 * at a time. Thread-safe. */
#ifndef GROMO_TRAINJOB_H
#define GROMO_TRAINJOB_H

#include <jansson.h>
#include <stdint.h>

#include "gromo/error.h"
#include "gromo/models.h"

struct gaz;
struct model_holder;
struct trainer; /* opaque */

#define TRAINJOB_ID_LEN 16 /* hex characters */
#define TRAINJOB_KEEP_JOBS 32    /* jobs remembered (on a shared store, in it) */

/* What a job may change from the training defaults; 0: the default. */
struct train_options {
  int rounds;  /* boosting rounds per model */
  int origins; /* rolling as-of dates */
  int regions; /* docs/rules.md §4 regions; 0: chosen from the data */
  /* docs/models.md promotion: the policy, and who asked and why (kept in
   * the registry with the version) */
  struct promote_request promote;
};

/* db: the store URI (jobs and the watch open their own connections);
 * gaz and holder are borrowed and must outlive the trainer. watch_ms: how
 * often the serving version is checked (0: never watched). A store that
 * sends notices of a new serving version (PostgreSQL) is also listened to,
 * and checked as soon as one comes. */
int trainer_new(const char *db, const struct gaz *gaz, struct model_holder *holder,
                unsigned watch_ms, struct trainer **out, struct gerr *err) GROMO_WUR;
/* Waits for a running job to finish (a run cannot be interrupted), then
 * stops the watch. NULL allowed. */
void trainer_free(struct trainer *t);

/* Starts a training job, or finds the one running: id[] gets its id and
 * *started says which. On a shared store (several servers on one
 * PostgreSQL database) one job runs across all of them: the one found may
 * be another server's. 0, or -1 (GERR_UNAVAILABLE while shutting down or
 * when the store cannot be reached; GERR_CONFLICT when another process
 * trains without a job of its own, as `gromo train` does). */
int trainer_start(struct trainer *t, const struct train_options *opt,
                  char id[TRAINJOB_ID_LEN + 1], int *started, struct gerr *err) GROMO_WUR;
/* Blocks until the job has finished: 0, or -1 when no such job (or, for
 * another server's job, when this one stops first). */
int trainer_wait(struct trainer *t, const char *id);
/* The job as JSON (job_id, status queued|running|succeeded|failed, stage,
 * progress 0-1, times, options, and the summary or the error), or NULL
 * when no such job is remembered. On a shared store, the last
 * TRAINJOB_KEEP_JOBS jobs of every server are known to all (with
 * "instance": the host and process running it). New reference. */
json_t *trainer_job_json(struct trainer *t, const char *id);
/* The id of the running job into id[], 1 if one runs, else 0. */
int trainer_running(struct trainer *t, char id[TRAINJOB_ID_LEN + 1]);

/* Checks the serving version once and loads it when it differs from the
 * holder's (the watch does this every watch_ms). 1 swapped, 0 nothing to
 * do, -1 error. */
int trainer_sync(struct trainer *t, struct gerr *err);

/* ---- scheduled training (docs/monitoring.md) ---- */

/* Whether the drift alarm of model `version` is on: 1 on, 0 off, -1 not
 * known (logged by the callee). Called from the schedule's thread. */
typedef int (*trainer_drift_fn)(void *ctx, int64_t version);

/* Starts a training job by itself: when the serving version was trained
 * every_s seconds ago or more (every_s > 0), and, with drift given, once
 * for each serving version whose drift alarm is on. Nothing is started
 * while a job runs, before any version serves, or within every_s of the
 * last scheduled start (so a run that fails is tried again an interval
 * later, not at once). The conditions are checked every
 * TRAINER_SCHEDULE_CHECK_MS (less for a shorter every_s, at least every
 * second). Call at most once; trainer_free stops it. 0 or -1. */
#define TRAINER_SCHEDULE_CHECK_MS 60000
int trainer_schedule(struct trainer *t, int64_t every_s, trainer_drift_fn drift,
                     void *drift_ctx, struct gerr *err) GROMO_WUR;

#endif
