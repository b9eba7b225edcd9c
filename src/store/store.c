/* Store dispatch (by URI) and the connection pool. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/parse.h"
#include "gromo/timeutil.h"
#include "store/store_int.h"

static const struct store_ops *backend_for(const char *uri, struct gerr *err) {
  if (!uri || !*uri) {
    gerr_set(err, GERR_INVALID_INPUT, "no database given");
    return NULL;
  }
  if (!strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11))
    return &store_pg_ops;
  return &store_sqlite_ops;
}

int store_open(const char *uri, struct store **out, struct gerr *err) {
  *out = NULL;
  const struct store_ops *ops = backend_for(uri, err);
  if (!ops)
    return -1;
  return ops->open(uri, out, err);
}

void store_close(struct store *s) {
  if (s)
    s->ops->close(s);
}

const char *store_backend(const struct store *s) { return s->ops->name; }

int store_ping(struct store *s, struct gerr *err) { return s->ops->ping(s, err); }

int store_schema_version(struct store *s) { return s->ops->schema_version(s); }

void store_set_busy_timeout(struct store *s, int ms) { s->ops->busy_timeout(s, ms); }

void store_hint_bulk_load(struct store *s) { s->bulk_load = 1; }

int store_begin(struct store *s, struct gerr *err) {
  if (s->in_tx)
    return gerr_set(err, GERR_INTERNAL, "a transaction is already open");
  if (s->ops->begin(s, err) < 0)
    return -1;
  s->in_tx = 1;
  return 0;
}

/* The caller's open transaction must still be open in the backend: after
 * a failed write the backend may have rolled it back by itself, and what
 * the caller wrote next would then be committed on its own, one statement
 * at a time. Such a transaction fails from then on. */
static int tx_gone(struct store *s, struct gerr *err) {
  if (!s->in_tx || s->ops->in_transaction(s))
    return 0;
  return gerr_set(err, GERR_UNAVAILABLE,
                  "the transaction was rolled back after an earlier failure; nothing "
                  "of it is stored");
}

int store_commit(struct store *s, struct gerr *err) {
  if (!s->in_tx)
    return gerr_set(err, GERR_INTERNAL, "no transaction is open");
  if (tx_gone(s, err) < 0) {
    s->in_tx = 0;
    return -1;
  }
  if (s->ops->commit(s, err) < 0) {
    s->ops->rollback(s);
    s->in_tx = 0;
    return -1;
  }
  s->in_tx = 0;
  return 0;
}

void store_rollback(struct store *s) {
  if (s && s->in_tx) {
    s->ops->rollback(s);
    s->in_tx = 0;
  }
}

int store_sales_insert(struct store *s, const struct sale *recs, size_t n,
                       unsigned char *dup, struct store_insert_stats *st,
                       struct gerr *err) {
  struct store_insert_stats local;
  if (!st)
    st = &local;
  st->inserted = st->duplicates = 0;
  if (n == 0)
    return 0;
  if (s->in_tx)
    return tx_gone(s, err) < 0 ? -1 : s->ops->sales_insert(s, recs, n, dup, st, err);
  if (s->ops->begin(s, err) < 0)
    return -1;
  if (s->ops->sales_insert(s, recs, n, dup, st, err) < 0 ||
      s->ops->commit(s, err) < 0) {
    s->ops->rollback(s);
    st->inserted = st->duplicates = 0;
    return -1;
  }
  return 0;
}

void sales_filter_init(struct sales_filter *f) {
  memset(f, 0, sizeof *f);
  f->from_ms = INT64_MIN;
  f->to_ms = INT64_MAX;
}

int store_sales_query(struct store *s, const struct sales_filter *f,
                      store_row_fn fn, void *ctx, struct gerr *err) {
  return s->ops->sales_query(s, f, fn, ctx, err);
}

int store_sales_count(struct store *s, int64_t *n, struct gerr *err) {
  return s->ops->sales_count(s, n, err);
}

int store_sales_mark(struct store *s, int64_t *mark, struct gerr *err) {
  return s->ops->sales_mark(s, mark, err);
}

/* The span, the cells, then the single sales, in one read transaction:
 * sales stored meanwhile are in none of them. It counts as the
 * connection's open transaction while it lasts, so a lost connection is
 * not opened again silently in the middle (PostgreSQL). */
int store_sales_cells(struct store *s, const struct sales_cells_query *q,
                      const struct sales_cells_reader *rd, struct gerr *err) {
  if (q->period_days < 1 || q->periods < 1 || q->sale_periods < 0 ||
      q->sale_periods > q->periods || q->days < 0 || q->days > 64 * 366 + 400)
    return gerr_set(err, GERR_INVALID_INPUT, "invalid periods for reading sales");
  if (s->in_tx)
    return gerr_set(err, GERR_INTERNAL, "the sales are read outside of a transaction");
  if (s->ops->read_begin(s, err) < 0)
    return -1;
  s->in_tx = 1;
  int rc = -1;
  struct sales_span sp;
  if (s->ops->sales_span(s, &sp, err) < 0)
    goto out;
  rc = 0;
  if (sp.sales == 0 || (rd->span && rd->span(rd->ctx, &sp) != 0))
    goto out;
  /* the single sales from from_ms on, the cells of those before */
  int64_t from_ms =
      q->sale_periods ? ((int64_t)sp.newest_day - (int64_t)q->sale_periods * q->period_days + 1) *
                            DAY_MS
                      : INT64_MAX;
  rc = s->ops->sales_cells(s, q, sp.newest_day, from_ms, rd->cell, rd->ctx, err);
  if (rc == 0 && q->days > 0 && rd->day)
    rc = s->ops->sales_days(s, sp.newest_day, sp.newest_day - q->days + 1, rd->day, rd->ctx,
                            err);
  if (rc != 0 || q->sale_periods == 0) /* 1: a callback stopped it */
    goto out;
  if (s->ops->sales_recent) {
    rc = s->ops->sales_recent(s, from_ms, rd->sale, rd->ctx, err);
  } else {
    struct sales_filter f;
    sales_filter_init(&f);
    f.from_ms = from_ms;
    rc = s->ops->sales_query(s, &f, rd->sale, rd->ctx, err);
  }
out:
  s->ops->rollback(s);
  s->in_tx = 0;
  return rc < 0 ? -1 : 0;
}

void sales_summary_query_init(struct sales_summary_query *q) {
  memset(q, 0, sizeof *q);
  q->from_ms = INT64_MIN;
  q->to_ms = INT64_MAX;
}

int store_sales_summary(struct store *s, const struct sales_summary_query *q,
                        int (*fn)(void *ctx, const struct sales_group *g), void *ctx,
                        struct sales_totals *tot, struct gerr *err) {
  struct sales_totals dummy;
  if (q->pincodes && q->npincodes == 0) { /* an empty scope */
    memset(tot ? tot : &dummy, 0, sizeof dummy);
    return 0;
  }
  return s->ops->sales_summary(s, q, fn, ctx, tot ? tot : &dummy, err);
}

int store_meta_get(struct store *s, const char *key, char *val, size_t cap,
                   struct gerr *err) {
  return s->ops->meta_get(s, key, val, cap, err);
}

int store_meta_set(struct store *s, const char *key, const char *val,
                   struct gerr *err) {
  if (tx_gone(s, err) < 0)
    return -1;
  return s->ops->meta_set(s, key, val, err);
}

int store_models_last_trained(struct store *s, char *out, size_t cap,
                              struct gerr *err) {
  return s->ops->models_last_trained(s, out, cap, err);
}

void model_row_release(struct model_row *r) {
  if (!r)
    return;
  free(r->features);
  free(r->metrics);
  free(r->promotion);
  free(r->blob);
  r->features = r->metrics = r->promotion = NULL;
  r->blob = NULL;
  r->blob_len = 0;
}

/* Runs a registry write in the caller's open transaction, or in one of its
 * own: all of it lands or none. */
static int in_transaction(struct store *s, int (*fn)(struct store *, void *, struct gerr *),
                          void *arg, struct gerr *err) {
  if (s->in_tx)
    return tx_gone(s, err) < 0 ? -1 : fn(s, arg, err);
  if (s->ops->begin(s, err) < 0)
    return -1;
  int rc = fn(s, arg, err);
  if (rc < 0 || s->ops->commit(s, err) < 0) {
    s->ops->rollback(s);
    return -1;
  }
  return rc;
}

struct model_insert_args {
  const struct model_row *r;
  int64_t *version;
};

static int model_insert_tx(struct store *s, void *arg, struct gerr *err) {
  struct model_insert_args *a = arg;
  if (s->ops->model_insert(s, a->r, a->version, err) < 0)
    return -1;
  return a->r->serving ? s->ops->model_set_serving(s, *a->version, err) : 0;
}

int store_model_insert(struct store *s, const struct model_row *r,
                       int64_t *version, struct gerr *err) {
  int64_t v = 0;
  struct model_insert_args a = {r, &v};
  int rc = in_transaction(s, model_insert_tx, &a, err);
  if (rc == 0 && version)
    *version = v;
  return rc < 0 ? -1 : 0;
}

int store_model_scan(struct store *s, int (*fn)(void *ctx, const struct model_row *r),
                     void *ctx, struct gerr *err) {
  return s->ops->model_scan(s, fn, ctx, err);
}

int store_model_get(struct store *s, int64_t version, struct model_row *out,
                    struct gerr *err) {
  memset(out, 0, sizeof *out);
  if (version < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "model versions are positive");
  return s->ops->model_get(s, version, out, err);
}

static int set_serving_tx(struct store *s, void *arg, struct gerr *err) {
  return s->ops->model_set_serving(s, *(int64_t *)arg, err);
}

int store_model_set_serving(struct store *s, int64_t version, struct gerr *err) {
  if (version <= 0)
    return gerr_set(err, GERR_INVALID_INPUT, "model versions are positive");
  return in_transaction(s, set_serving_tx, &version, err);
}

struct promote_args {
  int64_t version;
  const char *promotion;
};

static int promote_tx(struct store *s, void *arg, struct gerr *err) {
  struct promote_args *a = arg;
  int rc = s->ops->model_set_serving(s, a->version, err);
  return rc != 0 ? rc : s->ops->model_set_promotion(s, a->version, a->promotion, err);
}

int store_model_promote(struct store *s, int64_t version, const char *promotion,
                        struct gerr *err) {
  if (version <= 0)
    return gerr_set(err, GERR_INVALID_INPUT, "model versions are positive");
  struct promote_args a = {version, promotion};
  return in_transaction(s, promote_tx, &a, err);
}

int store_model_serving_version(struct store *s, int64_t *version, struct gerr *err) {
  return s->ops->model_serving_version(s, version, err);
}

static int prune_tx(struct store *s, void *arg, struct gerr *err) {
  return s->ops->model_prune(s, *(int *)arg, err);
}

int store_model_prune(struct store *s, int keep, struct gerr *err) {
  if (keep < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "the number of versions kept is >= 0");
  return in_transaction(s, prune_tx, &keep, err) < 0 ? -1 : 0;
}

void job_row_release(struct job_row *r) {
  if (r) {
    free(r->summary);
    r->summary = NULL;
  }
}

struct job_put_args {
  const struct job_row *r;
  int keep;
};

static int job_put_tx(struct store *s, void *arg, struct gerr *err) {
  struct job_put_args *a = arg;
  return s->ops->job_put(s, a->r, a->keep, err);
}

int store_job_put(struct store *s, const struct job_row *r, int keep, struct gerr *err) {
  if (keep < 1 || !r->job_id[0] || !r->status[0])
    return gerr_set(err, GERR_INVALID_INPUT, "a job record needs an id, a status and keep >= 1");
  struct job_put_args a = {r, keep};
  return in_transaction(s, job_put_tx, &a, err) < 0 ? -1 : 0;
}

int store_job_get(struct store *s, const char *job_id, struct job_row *out,
                  struct gerr *err) {
  memset(out, 0, sizeof *out);
  return s->ops->job_get(s, job_id, out, err);
}

int store_key_insert(struct store *s, const struct key_row *k, int64_t *id,
                     struct gerr *err) {
  return s->ops->key_insert(s, k, id, err);
}

int store_key_scan(struct store *s, const char *prefix,
                   int (*fn)(void *ctx, const struct key_row *k), void *ctx,
                   struct gerr *err) {
  return s->ops->key_scan(s, prefix, fn, ctx, err);
}

int store_key_revoke(struct store *s, const char *name, struct gerr *err) {
  return s->ops->key_revoke(s, name, err);
}

int store_shared(const struct store *s) { return s->ops->training_lock != NULL; }

int store_training_lock(struct store *s, struct gerr *err) {
  return s->ops->training_lock ? s->ops->training_lock(s, err) : 0;
}

void store_training_unlock(struct store *s) {
  if (s && s->ops->training_unlock)
    s->ops->training_unlock(s);
}

int store_models_listen(struct store *s, struct gerr *err) {
  return s->ops->models_listen ? s->ops->models_listen(s, err) : 1;
}

int store_models_wait(struct store *s, int timeout_ms, struct gerr *err) {
  if (!s->ops->models_wait)
    return gerr_set(err, GERR_INTERNAL, "this store sends no notices");
  return s->ops->models_wait(s, timeout_ms < 0 ? 0 : timeout_ms, err);
}

/* The pool: a stack of idle connections behind a mutex, and a thread that
 * runs the backend's upkeep on a connection of its own. */
struct store_pool {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  char *uri;
  struct store **idle;
  size_t nidle, max_idle;
  struct store *maint_conn;
  pthread_t maint_thread;
  int maint_running, stopping;
};

static void *maintain_loop(void *arg) {
  struct store_pool *p = arg;
  pthread_mutex_lock(&p->lock);
  while (!p->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += STORE_MAINTAIN_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&p->wake, &p->lock, &until);
    if (p->stopping)
      break;
    pthread_mutex_unlock(&p->lock);
    p->maint_conn->ops->maintain(p->maint_conn, NULL);
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int store_pool_new(const char *uri, size_t max_idle, struct store_pool **out,
                   struct gerr *err) {
  *out = NULL;
  if (max_idle == 0)
    max_idle = 1;
  struct store_pool *p = calloc(1, sizeof *p);
  if (!p)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  p->uri = strdup(uri ? uri : "");
  p->idle = calloc(max_idle, sizeof *p->idle);
  p->max_idle = max_idle;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  if (!p->uri || !p->idle) {
    store_pool_free(p);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  /* Open one connection now: it creates or migrates the schema and shows a
   * bad URI at start rather than at the first request. */
  struct store *s = NULL;
  if (store_open(uri, &s, err) < 0) {
    store_pool_free(p);
    return -1;
  }
  p->idle[p->nidle++] = s;
  if (s->ops->maintain && store_open(uri, &p->maint_conn, err) == 0) {
    if (pthread_create(&p->maint_thread, NULL, maintain_loop, p) == 0)
      p->maint_running = 1;
  }
  *out = p;
  return 0;
}

struct store *store_pool_get(struct store_pool *p, struct gerr *err) {
  struct store *s = NULL;
  pthread_mutex_lock(&p->lock);
  if (p->nidle)
    s = p->idle[--p->nidle];
  pthread_mutex_unlock(&p->lock);
  if (!s && store_open(p->uri, &s, err) < 0)
    return NULL;
  return s;
}

void store_pool_put(struct store_pool *p, struct store *s) {
  if (!s)
    return;
  store_rollback(s);
  pthread_mutex_lock(&p->lock);
  if (p->nidle < p->max_idle) {
    p->idle[p->nidle++] = s;
    s = NULL;
  }
  pthread_mutex_unlock(&p->lock);
  store_close(s);
}

void store_pool_free(struct store_pool *p) {
  if (!p)
    return;
  if (p->maint_running) {
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->maint_thread, NULL);
  }
  store_close(p->maint_conn);
  for (size_t i = 0; i < p->nidle; i++)
    store_close(p->idle[i]);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  free(p->idle);
  free(p->uri);
  free(p);
}

struct regions_put_args {
  int64_t version;
  size_t n;
  const int32_t *pincode, *region_id;
};

static int regions_put_tx(struct store *s, void *arg, struct gerr *err) {
  struct regions_put_args *a = arg;
  return s->ops->regions_put(s, a->version, a->n, a->pincode, a->region_id, err);
}

int store_regions_put(struct store *s, int64_t version, size_t n, const int32_t *pincode,
                      const int32_t *region_id, struct gerr *err) {
  if (version <= 0)
    return gerr_set(err, GERR_INVALID_INPUT, "model versions are positive");
  struct regions_put_args a = {version, n, pincode, region_id};
  return in_transaction(s, regions_put_tx, &a, err) < 0 ? -1 : 0;
}

int store_regions_scan(struct store *s, int64_t version,
                       int (*fn)(void *ctx, int32_t pincode, int32_t region_id), void *ctx,
                       struct gerr *err) {
  return s->ops->regions_scan(s, version, fn, ctx, err);
}

int store_key_id_of(const char *name, int64_t *id) {
  long long v;
  if (!name || name[0] < '0' || name[0] > '9' || parse_int_range(name, 0, INT64_MAX, &v) < 0)
    return 0;
  *id = (int64_t)v;
  return 1;
}
