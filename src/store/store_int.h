/* The backend interface behind include/gromo/store.h, shaped like
 * sqlite3_vfs: a table of operations. A backend's connection struct begins
 * with struct store, so store.c can call through s->ops without knowing
 * which backend answers. */
#ifndef GROMO_STORE_INT_H
#define GROMO_STORE_INT_H

#include "gromo/store.h"

struct store_ops {
  const char *name;
  int (*open)(const char *uri, struct store **out, struct gerr *err);
  void (*close)(struct store *s);
  int (*ping)(struct store *s, struct gerr *err);
  int (*schema_version)(struct store *s);
  void (*busy_timeout)(struct store *s, int ms);
  int (*begin)(struct store *s, struct gerr *err);
  int (*commit)(struct store *s, struct gerr *err);
  void (*rollback)(struct store *s);
  /* 1 while the transaction begun by begin() is open. A backend may end
   * one by itself when a write fails (SQLite does for a full disk or an
   * I/O error): then 0. */
  int (*in_transaction)(struct store *s);
  int (*sales_insert)(struct store *s, const struct sale *recs, size_t n,
                      unsigned char *dup, struct store_insert_stats *st,
                      struct gerr *err);
  int (*sales_query)(struct store *s, const struct sales_filter *f,
                     store_row_fn fn, void *ctx, struct gerr *err);
  int (*sales_count)(struct store *s, int64_t *n, struct gerr *err);
  int (*sales_mark)(struct store *s, int64_t *mark, struct gerr *err);
  int (*sales_summary)(struct store *s, const struct sales_summary_query *q,
                       int (*fn)(void *ctx, const struct sales_group *g), void *ctx,
                       struct sales_totals *tot, struct gerr *err);
  /* store_sales_cells: read_begin opens a read-only transaction whose
   * statements all see one snapshot (ended by rollback); sales_span and
   * sales_cells (of the sales before before_ms) run inside it, then sales_recent (when NULL, sales_query)
   * reads the single sales from from_ms on, by (ts_ms, seq), with the
   * fields training reads (time, pincode, product, channel, age, income). */
  int (*read_begin)(struct store *s, struct gerr *err);
  int (*sales_span)(struct store *s, struct sales_span *sp, struct gerr *err);
  int (*sales_cells)(struct store *s, const struct sales_cells_query *q, int32_t newest_day,
                     int64_t before_ms, int (*fn)(void *ctx, const struct sales_cell *c), void *ctx,
                     struct gerr *err);
  /* the sales of each product on each day from from_day to newest_day,
   * days counted as in sales_cells */
  int (*sales_days)(struct store *s, int32_t newest_day, int32_t from_day,
                    int (*fn)(void *ctx, const struct sales_day *dy), void *ctx,
                    struct gerr *err);
  int (*sales_recent)(struct store *s, int64_t from_ms, store_row_fn fn, void *ctx,
                      struct gerr *err);
  int (*meta_get)(struct store *s, const char *key, char *val, size_t cap,
                  struct gerr *err);
  int (*meta_set)(struct store *s, const char *key, const char *val,
                  struct gerr *err);
  int (*models_last_trained)(struct store *s, char *out, size_t cap,
                             struct gerr *err);
  /* The model registry. insert, set_serving and prune run inside a
   * transaction that store.c has opened (the caller's, or its own). */
  int (*model_insert)(struct store *s, const struct model_row *r, int64_t *version,
                      struct gerr *err);
  int (*model_scan)(struct store *s, int (*fn)(void *ctx, const struct model_row *r),
                    void *ctx, struct gerr *err);
  int (*model_get)(struct store *s, int64_t version, struct model_row *out,
                   struct gerr *err);
  int (*model_set_serving)(struct store *s, int64_t version, struct gerr *err);
  int (*model_serving_version)(struct store *s, int64_t *version, struct gerr *err);
  int (*model_prune)(struct store *s, int keep, struct gerr *err);
  /* Replaces a version's promotion record: 0, 1 no such version. */
  int (*model_set_promotion)(struct store *s, int64_t version, const char *promotion,
                             struct gerr *err);
  /* Region assignments of a model version (inside store.c's transaction). */
  int (*regions_put)(struct store *s, int64_t version, size_t n, const int32_t *pincode,
                     const int32_t *region_id, struct gerr *err);
  int (*regions_scan)(struct store *s, int64_t version,
                      int (*fn)(void *ctx, int32_t pincode, int32_t region_id), void *ctx,
                      struct gerr *err);
  int (*key_insert)(struct store *s, const struct key_row *k, int64_t *id,
                    struct gerr *err);
  int (*key_scan)(struct store *s, const char *prefix,
                  int (*fn)(void *ctx, const struct key_row *k), void *ctx,
                  struct gerr *err);
  int (*key_revoke)(struct store *s, const char *name, struct gerr *err);
  /* Training job records: job_put (upsert and prune) inside store.c's
   * transaction. */
  int (*job_put)(struct store *s, const struct job_row *r, int keep, struct gerr *err);
  int (*job_get)(struct store *s, const char *job_id, struct job_row *out,
                 struct gerr *err);
  /* Several processes on one database (store.h); NULL when the backend is
   * not shared with other processes (store_shared() is then 0). */
  int (*training_lock)(struct store *s, struct gerr *err);
  void (*training_unlock)(struct store *s);
  int (*models_listen)(struct store *s, struct gerr *err);
  int (*models_wait)(struct store *s, int timeout_ms, struct gerr *err);
  /* Background upkeep a pool runs every STORE_MAINTAIN_MS on a connection
   * of its own (SQLite: WAL checkpoints off the request path). May be NULL. */
  int (*maintain)(struct store *s, struct gerr *err);
};

#define STORE_MAINTAIN_MS 200

struct store {
  const struct store_ops *ops;
  int in_tx;     /* an explicit transaction is open */
  int bulk_load; /* store_hint_bulk_load() was called */
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

#endif
