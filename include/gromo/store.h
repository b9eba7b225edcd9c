/* The store: one interface for every backend. A `struct store` is one
 * connection, used by one thread at a time; servers take connections from a
 * store_pool. Callers never know which backend answers: store_open() picks it
 * from the URI ("postgresql://..." or "postgres://": PostgreSQL;
 * anything else is an SQLite path). */
#ifndef GROMO_STORE_H
#define GROMO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"
#include "gromo/record.h"

#define STORE_SCHEMA_VERSION 6

struct store; /* opaque */

int store_open(const char *uri, struct store **out, struct gerr *err) GROMO_WUR;
void store_close(struct store *s); /* NULL allowed */
const char *store_backend(const struct store *s); /* "sqlite" or "postgresql" */
int store_ping(struct store *s, struct gerr *err) GROMO_WUR;
int store_schema_version(struct store *s); /* -1 on error */

/* How long a statement waits for another connection's write lock before it
 * fails with "the database is locked" (GERR_UNAVAILABLE). A connection
 * starts with STORE_BUSY_MS. Threads that may wait (the command line, a
 * parked upload's commit, a training run's save) take STORE_BUSY_LONG_MS,
 * so a short write is never starved by another's commit; a thread that
 * serves HTTP requests keeps the short wait. */
#define STORE_BUSY_MS 5000
#define STORE_BUSY_LONG_MS 30000
void store_set_busy_timeout(struct store *s, int ms);

/* A hint for a process that loads one large transaction and then closes
 * the store at once (gromo import): the backend may get ready for the
 * work that closing does. SQLite: the WAL is checkpointed on the last
 * close, after syncing it; with the hint, the kernel is asked after each
 * batch to start writing the WAL out, so that sync finds little left.
 * Not for pooled connections, whose WAL is checkpointed off the request
 * path: there the hint would only cost the inserting thread. */
void store_hint_bulk_load(struct store *s);

/* Explicit transactions, for writes that must land together (uploads). */
int store_begin(struct store *s, struct gerr *err) GROMO_WUR;
int store_commit(struct store *s, struct gerr *err) GROMO_WUR;
void store_rollback(struct store *s);

/* Inserts n validated records. A record whose client id is already stored
 * (or appeared earlier in the same call) is skipped and counted as a
 * duplicate; dup[i] (if dup is not NULL) says which. Runs in the open
 * transaction if there is one, else in its own: all n or none. */
struct store_insert_stats {
  size_t inserted;
  size_t duplicates;
};
int store_sales_insert(struct store *s, const struct sale *recs, size_t n,
                       unsigned char *dup, struct store_insert_stats *st,
                       struct gerr *err) GROMO_WUR;

/* A query of stored sales, ordered by (ts_ms, seq). A cursor is the
 * (ts_ms, seq) of the last row seen: rows strictly after it are returned. */
struct sales_filter {
  int32_t pincode;                    /* 0: any */
  char product[SALE_IDENT_MAX + 1];   /* "": any */
  char channel[SALE_IDENT_MAX + 1];   /* "": any */
  int64_t from_ms;                    /* inclusive; INT64_MIN: open */
  int64_t to_ms;                      /* exclusive; INT64_MAX: open */
  int has_cursor;
  int64_t after_ts_ms;
  int64_t after_seq;
  size_t limit;                       /* 0: no limit */
};
void sales_filter_init(struct sales_filter *f);

/* Called for each row; a non-zero return stops the query early (and is not
 * an error). The record is valid only during the call. */
typedef int (*store_row_fn)(void *ctx, const struct sale *rec, int64_t seq);
int store_sales_query(struct store *s, const struct sales_filter *f,
                      store_row_fn fn, void *ctx, struct gerr *err) GROMO_WUR;
int store_sales_count(struct store *s, int64_t *n, struct gerr *err) GROMO_WUR;

/* Aggregates of stored sales (GET /sales/summary): the sales of a scope
 * (every pincode, or a list of them; a product, a channel, a date range)
 * grouped by day, product or channel. */
enum sales_group_by { SALES_BY_DAY = 0, SALES_BY_PRODUCT, SALES_BY_CHANNEL };
struct sales_summary_query {
  const int32_t *pincodes;          /* only these; NULL: every pincode */
  size_t npincodes;
  char product[SALE_IDENT_MAX + 1]; /* "": any */
  char channel[SALE_IDENT_MAX + 1]; /* "": any */
  int64_t from_ms;                  /* inclusive; INT64_MIN: open */
  int64_t to_ms;                    /* exclusive; INT64_MAX: open */
  enum sales_group_by by;
};
void sales_summary_query_init(struct sales_summary_query *q);
/* One group: its key (a product or channel, valid during the call; NULL
 * when grouped by day) or its day (days since 1970-01-01, IST). */
struct sales_group {
  const char *key;
  int64_t day;
  int64_t sales;
  double income_sum; /* of customer_income */
  int64_t age_sum;   /* of customer_age */
  int64_t first_ms, last_ms;
};
/* The whole scope. first_ms/last_ms are 0 when it has no sales. */
struct sales_totals {
  int64_t sales;
  int64_t pincodes; /* distinct */
  int64_t first_ms, last_ms;
};
/* Fills *tot (may be NULL) and calls fn (may be NULL) for each group with
 * sales (days ascending; products and channels by name), after every row
 * has been read, so *tot is complete by the first call; a non-zero return
 * stops. */
int store_sales_summary(struct store *s, const struct sales_summary_query *q,
                        int (*fn)(void *ctx, const struct sales_group *g), void *ctx,
                        struct sales_totals *tot, struct gerr *err) GROMO_WUR;

/* Training's read of the sales (docs/models.md, docs/scaling.md): the
 * period cells counted by the database (GROUP BY on the server), not every
 * row. Periods count back from the newest sale's day T: period a holds
 * the days (T - (a+1)P, T - aP]. Segments are those of gromo/segments.h,
 * computed in SQL. Everything is read in one snapshot of the sales. */
struct sales_cells_query {
  int period_days;  /* P >= 1 */
  int periods;      /* N >= 1: periods 0 .. N-1 each by itself; every older
                       sale is counted in period N */
  int sale_periods; /* 0 .. N: the sales of periods 0 .. this - 1 are read
                       one by one instead (the top-product model reads
                       them), and are in no cell */
  int days;         /* >= 0: each product's sales on each of the D days
                       up to T (day T - d for d in 0 .. D-1), recent
                       sales included */
};
struct sales_span {
  int64_t sales;           /* every stored sale */
  int64_t first_ms, last_ms;
  int32_t newest_day;      /* T: last_ms's day (days since 1970-01-01, IST) */
};
/* One cell of one period: its sales. Texts valid during the call. */
struct sales_cell {
  int32_t period; /* 0 .. N (N: older) */
  int32_t pincode;
  const char *product, *channel;
  int age_band, income_band; /* 0 .. SEG_AGE_BANDS - 1, 0 .. SEG_INCOME_BANDS - 1 */
  int64_t sales;
};
/* One product's sales of one day. Text valid during the call. */
struct sales_day {
  int32_t back; /* 0 .. D-1: days before T */
  const char *product;
  int64_t sales;
};
/* The callbacks, in this order: span once (not called when there are no
 * sales), cell for each non-empty cell of periods sale_periods .. N (any
 * order), day for each product and day with a sale among the D days (any
 * order; not called when D is 0 or day is NULL), sale for each sale of
 * periods 0 .. sale_periods - 1 ordered by (ts_ms, seq). A non-zero
 * return stops the read (not an error). */
struct sales_cells_reader {
  int (*span)(void *ctx, const struct sales_span *sp);
  int (*cell)(void *ctx, const struct sales_cell *c);
  store_row_fn sale;
  void *ctx;
  int (*day)(void *ctx, const struct sales_day *dy);
};
/* Not inside an open transaction (the read opens its own). */
int store_sales_cells(struct store *s, const struct sales_cells_query *q,
                      const struct sales_cells_reader *rd, struct gerr *err) GROMO_WUR;

/* A number that changes whenever the sales a reader sees change (0 while
 * there are none): caches of aggregates compare it for equality. SQLite:
 * the newest row's sequence number (one writer at a time). PostgreSQL,
 * where writers of several processes commit in any order: a hash of that
 * number and the reading statement's snapshot, which other commits change
 * too. Cheap (an index's last entry). */
int store_sales_mark(struct store *s, int64_t *mark, struct gerr *err) GROMO_WUR;

/* Small key/value settings kept with the data (e.g. the build that last
 * wrote). store_meta_get returns 0 found, 1 absent, -1 error. */
int store_meta_get(struct store *s, const char *key, char *val, size_t cap,
                   struct gerr *err) GROMO_WUR;
int store_meta_set(struct store *s, const char *key, const char *val,
                   struct gerr *err) GROMO_WUR;

/* When the serving model suite was trained, ISO 8601 in out[cap]:
 * 0 found, 1 none yet, -1 error. */
int store_models_last_trained(struct store *s, char *out, size_t cap,
                              struct gerr *err) GROMO_WUR;

/* The model registry: one row per trained model suite (models.h). */
struct model_row {
  int64_t version;       /* assigned by store_model_insert */
  char kind[32];         /* "suite" */
  char algorithm[64];
  char trained_at[40];   /* ISO 8601 UTC */
  int64_t rows;          /* training rows */
  char data_from[24];    /* first and last sale date trained on, YYYY-MM-DD */
  char data_to[24];
  int64_t duration_ms;   /* wall time of the training run */
  int serving;           /* 1: the version the service answers with */
  /* Owned by the row when filled by the store (free with
   * model_row_release); borrowed when passed to store_model_insert. */
  char *features;        /* JSON text */
  char *metrics;         /* JSON text */
  char *promotion;       /* JSON text: how the version came to serve or why
                            not (docs/models.md); NULL: not recorded */
  unsigned char *blob;   /* the serialised suite */
  size_t blob_len;
};
void model_row_release(struct model_row *r); /* frees the owned texts */
/* Inserts a version; *version is its number: one more than any version
 * ever stored, so a number is never reused, also after a prune. r->version
 * is ignored; r->serving 1 also makes it the serving one. One transaction
 * (or part of the open one). */
int store_model_insert(struct store *s, const struct model_row *r,
                       int64_t *version, struct gerr *err) GROMO_WUR;
/* Calls fn for each version, newest first, without blob (NULL) but with
 * features and metrics (valid during the call); a non-zero return stops. */
int store_model_scan(struct store *s, int (*fn)(void *ctx, const struct model_row *r),
                     void *ctx, struct gerr *err) GROMO_WUR;
/* Reads one version whole (0: the serving one) into *out (owned texts and
 * blob): 0 found, 1 none, -1 error. */
int store_model_get(struct store *s, int64_t version, struct model_row *out,
                    struct gerr *err) GROMO_WUR;
/* Makes `version` the serving one (the others not), in one transaction:
 * 0, 1 no such version, -1 error. At most one version serves at a time. */
int store_model_set_serving(struct store *s, int64_t version, struct gerr *err) GROMO_WUR;
/* The serving version's number without reading its blob (cheap enough to
 * poll): 0 found, 1 none serves, -1 error. */
int store_model_serving_version(struct store *s, int64_t *version,
                                struct gerr *err) GROMO_WUR;
/* Makes `version` the serving one and replaces its promotion record (JSON
 * text, NULL clears it), in one transaction: 0, 1 no such version, -1
 * error. */
int store_model_promote(struct store *s, int64_t version, const char *promotion,
                        struct gerr *err) GROMO_WUR;
/* Deletes all but the newest `keep` (>= 0) versions, never the serving one,
 * with their region assignments. */
int store_model_prune(struct store *s, int keep, struct gerr *err) GROMO_WUR;

/* The region of each clustered pincode under a model version (docs/rules.md §4):
 * n rows stored in one transaction (or as part of the open one). */
int store_regions_put(struct store *s, int64_t version, size_t n, const int32_t *pincode,
                      const int32_t *region_id, struct gerr *err) GROMO_WUR;
/* Calls fn for each pincode of the version, ascending; a non-zero return
 * stops. A version without regions calls it never. */
int store_regions_scan(struct store *s, int64_t version,
                       int (*fn)(void *ctx, int32_t pincode, int32_t region_id), void *ctx,
                       struct gerr *err) GROMO_WUR;

/* API keys: only a keyed hash of each key is stored (see keys.h). */
struct key_row {
  int64_t id;
  char name[65];
  char role[16];
  char prefix[24];  /* the key's public start, for lookup and display */
  unsigned char hash[32];
  char created_at[32];
  char revoked_at[32]; /* "" while active */
};
/* 0, or -1 (GERR_CONFLICT when the name is taken). */
int store_key_insert(struct store *s, const struct key_row *k, int64_t *id,
                     struct gerr *err) GROMO_WUR;
/* Calls fn for each key whose prefix matches (all keys when prefix is NULL),
 * oldest first; a non-zero return stops. */
int store_key_scan(struct store *s, const char *prefix,
                   int (*fn)(void *ctx, const struct key_row *k), void *ctx,
                   struct gerr *err) GROMO_WUR;
/* Revokes the active key named `name` (or with that id, when
 * store_key_id_of reads one from it): 0 done, 1 no such active key, -1
 * error. */
int store_key_revoke(struct store *s, const char *name, struct gerr *err) GROMO_WUR;
/* Whether a revocation's `name` names a key by id: digits only, a whole
 * number up to INT64_MAX (parse_int_range). 1 with *id, else 0 (a name). */
int store_key_id_of(const char *name, int64_t *id);

/* ---- several processes on one database ----
 * Any number of servers and commands may use one PostgreSQL database at
 * once: what one stores, the others read at once. What they must agree on
 * beyond the data goes through these. */

/* 1 when other processes on the database see this connection's training
 * lock and registry notices (PostgreSQL). 0 when they reach no further than
 * this process (SQLite: processes sharing a file find a new serving version
 * by polling store_model_serving_version). */
int store_shared(const struct store *s);

/* One training run at a time across every process on a shared database:
 * takes the training lock for this connection without waiting. 0 taken
 * (held until store_training_unlock or until the connection closes, so a
 * process that dies lets go of it), 1 another connection holds it, -1
 * error. Without store_shared, always 0: each process keeps its own runs
 * to one. */
int store_training_lock(struct store *s, struct gerr *err) GROMO_WUR;
void store_training_unlock(struct store *s);

/* Notices of a change of the serving model version made through any
 * connection (store_model_set_serving, and store_model_insert of a serving
 * version), sent when its transaction commits. store_models_listen
 * subscribes this connection, which should then be used for nothing else:
 * 0, or 1 when the backend sends no notices (poll instead). Then
 * store_models_wait waits up to timeout_ms for one: 1 at least one came
 * (every one that came is consumed), 0 none, -1 the connection failed
 * (close it and listen on a new one; notices sent meanwhile are lost, so
 * read the serving version then). */
int store_models_listen(struct store *s, struct gerr *err) GROMO_WUR;
int store_models_wait(struct store *s, int timeout_ms, struct gerr *err) GROMO_WUR;

/* The record of a training job (trainjob.h), kept in the database so that
 * every server on it answers for any of the last jobs. Texts are
 * NUL-terminated; "" is absent. */
struct job_row {
  char job_id[40];
  char status[16];       /* queued | running | succeeded | failed */
  char stage[64];
  double progress;       /* 0-1 */
  char started_at[40], finished_at[40];
  int64_t duration_ms;
  char options[256];     /* JSON object */
  char instance[96];     /* host:pid of the server running it */
  char error_code[32], error_message[256]; /* failed */
  /* JSON text or NULL; borrowed by store_job_put, owned (free with
   * job_row_release) when filled by store_job_get. */
  char *summary;
  int newest;            /* filled by store_job_get: 1 for the newest job */
};
void job_row_release(struct job_row *r);
/* Stores a job's record, new or changed (by job_id; a new one is the newest
 * from then on), and deletes all but the newest `keep` (>= 1), in one
 * transaction (or part of the open one). */
int store_job_put(struct store *s, const struct job_row *r, int keep,
                  struct gerr *err) GROMO_WUR;
/* Reads job job_id's record (NULL: the newest job's): 0 found, 1 none, -1. */
int store_job_get(struct store *s, const char *job_id, struct job_row *out,
                  struct gerr *err) GROMO_WUR;

/* A bounded pool of connections for server threads. */
struct store_pool;
int store_pool_new(const char *uri, size_t max_idle, struct store_pool **out,
                   struct gerr *err) GROMO_WUR;
/* A connection for this thread's exclusive use until store_pool_put(). */
struct store *store_pool_get(struct store_pool *p, struct gerr *err);
void store_pool_put(struct store_pool *p, struct store *s);
void store_pool_free(struct store_pool *p); /* closes every idle connection */

#endif
