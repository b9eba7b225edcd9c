/* The SQLite backend: WAL, prepared statements only, migrations kept in
 * PRAGMA user_version. One connection per struct store, used by one thread
 * at a time (SQLITE_OPEN_NOMUTEX). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gromo/segments.h"
#include "store/store_int.h"

#define QUERY_VARIANTS 16 /* pincode, product, channel, cursor: on or off */
#define SUMMARY_VARIANTS 16 /* pincodes, product, channel, date range: on or off */

struct sqlite_store {
  struct store base; /* first: store.c sees only this */
  sqlite3 *db;
  char path[512];
  sqlite3_stmt *ping, *insert_batch, *insert_id, *count, *mark, *ts_range, *meta_get, *meta_set, *models_last;
  sqlite3_stmt *begin, *commit, *rollback;
  sqlite3_stmt *key_insert, *key_by_prefix, *key_all, *key_revoke_name, *key_revoke_id;
  sqlite3_stmt *model_next, *model_insert, *model_scan, *model_get, *model_get_serving,
      *model_exists, *model_unserve, *model_serve, *model_serving, *model_prune,
      *model_promotion, *regions_prune, *regions_insert, *regions_scan;
  sqlite3_stmt *query[QUERY_VARIANTS];
  sqlite3_stmt *summary[SUMMARY_VARIANTS];
  /* The records insert_batch reads through the sales_batch table: set
   * for the length of one step, borrowed from the caller. */
  const struct sale *batch;
  size_t batch_n;
  int wal_fd; /* the WAL, read-only, for write-back hints; -1 not yet
                 opened, -2 none to open */
};

#define SQ(s) ((struct sqlite_store *)(void *)(s))

/* Migrations: each runs in its own transaction and moves user_version to
 * its number. Version 1 is the first released schema. */
static const struct {
  int version;
  const char *sql;
} migrations[] = {
    {1,
     "CREATE TABLE sales("
     "  seq INTEGER PRIMARY KEY,"
     "  client_id TEXT UNIQUE,"
     "  ts_ms INTEGER NOT NULL,"
     "  pincode INTEGER NOT NULL,"
     "  city TEXT,"
     "  product TEXT NOT NULL,"
     "  channel TEXT NOT NULL,"
     "  agent_id TEXT,"
     "  customer_age INTEGER NOT NULL,"
     "  customer_income REAL NOT NULL);"},
    {2,
     /* Client ids become a partial unique index (rows without one cost
      * nothing there); arrival time is kept; indexes for the queries; room
      * for keys, models and regions. */
     "CREATE TABLE sales_v2("
     "  seq INTEGER PRIMARY KEY,"
     "  client_id TEXT,"
     "  ts_ms INTEGER NOT NULL,"
     "  pincode INTEGER NOT NULL CHECK (pincode BETWEEN 100000 AND 999999),"
     "  city TEXT,"
     "  product TEXT NOT NULL,"
     "  channel TEXT NOT NULL,"
     "  agent_id TEXT,"
     "  customer_age INTEGER NOT NULL CHECK (customer_age BETWEEN 18 AND 100),"
     "  customer_income REAL NOT NULL CHECK (customer_income >= 0),"
     "  ingested_at INTEGER NOT NULL DEFAULT 0);"
     "INSERT INTO sales_v2(seq, client_id, ts_ms, pincode, city, product, channel,"
     "  agent_id, customer_age, customer_income)"
     "  SELECT seq, client_id, ts_ms, pincode, city, product, channel, agent_id,"
     "  customer_age, customer_income FROM sales;"
     "DROP TABLE sales;"
     "ALTER TABLE sales_v2 RENAME TO sales;"
     "CREATE UNIQUE INDEX sales_client_id ON sales(client_id)"
     "  WHERE client_id IS NOT NULL;"
     "CREATE INDEX sales_ts ON sales(ts_ms);"
     /* Pincode lookups go through 30-day buckets: sales arrive roughly in
      * date order, so new entries land in the newest bucket's small subtree
      * instead of all over a (pincode, ts_ms) index, and a commit dirties
      * few pages. A query seeks each bucket of its date range. */
     "CREATE INDEX sales_bucket_pincode ON sales(ts_ms / 2592000000, pincode, ts_ms);"
     "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE api_keys("
     "  id INTEGER PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  role TEXT NOT NULL CHECK (role IN ('admin','analyst','viewer')),"
     "  prefix TEXT NOT NULL,"
     "  hash BLOB NOT NULL UNIQUE,"
     "  created_at TEXT NOT NULL,"
     "  revoked_at TEXT);"
     "CREATE INDEX api_keys_prefix ON api_keys(prefix);"
     "CREATE TABLE models("
     "  version INTEGER PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  algorithm TEXT NOT NULL,"
     "  trained_at TEXT NOT NULL,"
     "  rows INTEGER NOT NULL,"
     "  features TEXT,"
     "  metrics TEXT,"
     "  blob BLOB,"
     "  promoted INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX models_trained_at ON models(trained_at);"
     "CREATE TABLE regions("
     "  model_version INTEGER NOT NULL,"
     "  pincode INTEGER NOT NULL,"
     "  region_id INTEGER NOT NULL,"
     "  PRIMARY KEY (model_version, pincode)) WITHOUT ROWID;"},
    {3,
     /* The registry of model suites: the data range and duration of each
      * training run, and which version serves (v2's `promoted`, at most one
      * row, enforced by the partial unique index). The blob moves to the
      * last column so that listing versions never reads its overflow
      * pages. The counter of versions ever stored lives in meta. */
     "CREATE TABLE models_v3("
     "  version INTEGER PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  algorithm TEXT NOT NULL,"
     "  trained_at TEXT NOT NULL,"
     "  rows INTEGER NOT NULL,"
     "  data_from TEXT,"
     "  data_to TEXT,"
     "  duration_ms INTEGER NOT NULL DEFAULT 0,"
     "  serving INTEGER NOT NULL DEFAULT 0 CHECK (serving IN (0, 1)),"
     "  features TEXT,"
     "  metrics TEXT,"
     "  blob BLOB);"
     "INSERT INTO models_v3(version, kind, algorithm, trained_at, rows, serving,"
     "  features, metrics, blob)"
     "  SELECT version, kind, algorithm, trained_at, rows,"
     "  coalesce(version = (SELECT max(version) FROM models WHERE promoted <> 0), 0),"
     "  features, metrics, blob FROM models;"
     "DROP TABLE models;"
     "ALTER TABLE models_v3 RENAME TO models;"
     "CREATE UNIQUE INDEX models_serving ON models(serving) WHERE serving = 1;"},
    {4,
     /* The pincode index keyed by one integer, bucket * 1000000 + pincode
      * (a pincode has 6 digits, so the pair is unique). Sales arrive in
      * date order, so the newest bucket takes every insert and v2's
      * (bucket, pincode, ts_ms) key had the same first value in every
      * entry an insert's seek compared: each comparison decoded the
      * record on to the pincode. A first value that differs settles
      * nearly every comparison at once. Queries seek the same entries,
      * in the same order. (IF EXISTS: some v2 databases made by hand lack
      * the old index.) */
     "DROP INDEX IF EXISTS sales_bucket_pincode;"
     "CREATE INDEX sales_bucket_pincode_key ON sales("
     "  ts_ms / 2592000000 * 1000000 + pincode, ts_ms);"},
    {5,
     /* Each version's promotion record (how it came to serve, or why it
      * did not: the champion it was compared with, the figures side by
      * side, the decision and any override). The table is rebuilt so that
      * the blob stays the last column (v3). */
     "CREATE TABLE models_v5("
     "  version INTEGER PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  algorithm TEXT NOT NULL,"
     "  trained_at TEXT NOT NULL,"
     "  rows INTEGER NOT NULL,"
     "  data_from TEXT,"
     "  data_to TEXT,"
     "  duration_ms INTEGER NOT NULL DEFAULT 0,"
     "  serving INTEGER NOT NULL DEFAULT 0 CHECK (serving IN (0, 1)),"
     "  features TEXT,"
     "  metrics TEXT,"
     "  promotion TEXT,"
     "  blob BLOB);"
     "INSERT INTO models_v5(version, kind, algorithm, trained_at, rows, data_from, data_to,"
     "  duration_ms, serving, features, metrics, blob)"
     "  SELECT version, kind, algorithm, trained_at, rows, data_from, data_to, duration_ms,"
     "  serving, features, metrics, blob FROM models;"
     "DROP TABLE models;"
     "ALTER TABLE models_v5 RENAME TO models;"
     "CREATE UNIQUE INDEX models_serving ON models(serving) WHERE serving = 1;"},
    {6,
     /* The records of the last training jobs (store_job_put). Servers on
      * an SQLite file keep their jobs in memory (docs/scaling.md); the
      * table is here so that both backends have one schema, one version
      * number and the same operations. */
     "CREATE TABLE training_jobs("
     "  seq INTEGER PRIMARY KEY,"
     "  job_id TEXT NOT NULL UNIQUE,"
     "  status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed')),"
     "  stage TEXT NOT NULL DEFAULT '',"
     "  progress REAL NOT NULL DEFAULT 0,"
     "  started_at TEXT NOT NULL DEFAULT '',"
     "  finished_at TEXT,"
     "  duration_ms INTEGER NOT NULL DEFAULT 0,"
     "  options TEXT NOT NULL DEFAULT '{}',"
     "  instance TEXT NOT NULL DEFAULT '',"
     "  summary TEXT,"
     "  error_code TEXT,"
     "  error_message TEXT);"},
};

/* Maps an SQLite failure to a gerr: a full disk is "insufficient_storage"
 * (507: the operator must make room; the same request succeeds then), what
 * else an operator can act on is "unavailable" (locked, I/O, permissions),
 * the rest is internal. SQLite reports most failed writes for want of space
 * as SQLITE_FULL, but a few (growing the WAL index, syncing) as I/O errors:
 * the system error says which. */
static int db_error(struct sqlite_store *s, int rc, const char *what,
                    struct gerr *err) {
  const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
  int sys = s && s->db ? sqlite3_system_errno(s->db) : 0;
  if ((rc & 0xff) == SQLITE_FULL ||
      ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)))
    return gerr_set(err, GERR_INSUFFICIENT_STORAGE,
                    "%s: no space is left on the store's disk (%s); free some and retry",
                    what, msg);
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return gerr_set(err, GERR_UNAVAILABLE, "%s: the database is locked (%s)", what, msg);
  case SQLITE_IOERR:
    return gerr_set(err, GERR_UNAVAILABLE, "%s: %s", what, msg);
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
    return gerr_set(err, GERR_UNAVAILABLE, "%s: %s", what, msg);
  default:
    return gerr_set(err, GERR_INTERNAL, "%s: %s", what, msg);
  }
}

static int prepare(struct sqlite_store *s, sqlite3_stmt **st, const char *sql,
                   struct gerr *err) {
  int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
  return rc == SQLITE_OK ? 0 : db_error(s, rc, "prepare", err);
}

/* Runs a one-shot statement with no result rows. */
static int step_done(struct sqlite_store *s, sqlite3_stmt *st, const char *what,
                     struct gerr *err) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_error(s, rc, what, err);
}

static int user_version(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int v = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

static int migrate(struct sqlite_store *s, struct gerr *err) {
  for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return db_error(s, rc, "migration", err);
    int have = user_version(s->db); /* re-read under the write lock */
    if (have < 0) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return db_error(s, SQLITE_ERROR, "reading the schema version", err);
    }
    if (have >= migrations[i].version) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      continue;
    }
    char setv[64];
    snprintf(setv, sizeof setv, "PRAGMA user_version = %d", migrations[i].version);
    if ((rc = sqlite3_exec(s->db, migrations[i].sql, NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(s->db, setv, NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
      char what[64];
      snprintf(what, sizeof what, "schema migration to version %d",
               migrations[i].version);
      db_error(s, rc, what, err);
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  }
  return 0;
}

#define BUCKET_MS 2592000000LL /* 30 days: the bucket of the pincode index */
#define DAY_MS_SQ 86400000LL  /* a day: timestamps are IST milliseconds */
#define BUCKET_KEY 1000000LL  /* key = bucket * BUCKET_KEY + pincode */

#define MODEL_COLUMNS                                                          \
  "version, kind, algorithm, trained_at, rows, data_from, data_to, duration_ms," \
  " serving, features, metrics, promotion"

static const char QUERY_COLUMNS[] =
    "SELECT s.seq, s.ts_ms, s.pincode, s.city, s.product, s.channel, s.agent_id,"
    " s.customer_age, s.customer_income, s.client_id";

/* sales_batch: the records of one sq_sales_insert call as a table, so that
 * a run of them goes in through one INSERT ... SELECT. One statement keeps
 * its cursors open from row to row: the table and the time index are
 * appended to without a seek from the root each time, and opening four
 * cursors, halting and resetting is paid once a run instead of once a
 * record. An eponymous, read-only table of this connection; the SQL that
 * reaches it is only ours (SQLITE_VTAB_DIRECTONLY keeps it out of views
 * and triggers too). */
enum { BATCH_TS, BATCH_PINCODE, BATCH_CITY, BATCH_PRODUCT, BATCH_CHANNEL, BATCH_AGENT,
       BATCH_AGE, BATCH_INCOME };

struct batch_vtab {
  sqlite3_vtab base; /* first: SQLite sees only this */
  struct sqlite_store *s;
};

struct batch_cursor {
  sqlite3_vtab_cursor base; /* first */
  struct sqlite_store *s;
  size_t i;
};

static int batch_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                         sqlite3_vtab **out, char **errmsg) {
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(ts_ms, pincode, city, product,"
                                    " channel, agent_id, customer_age, customer_income)");
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  struct batch_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v)
    return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->s = aux;
  *out = &v->base;
  return SQLITE_OK;
}

static int batch_disconnect(sqlite3_vtab *v) {
  sqlite3_free(v);
  return SQLITE_OK;
}

static int batch_best_index(sqlite3_vtab *v, sqlite3_index_info *info) {
  info->estimatedCost = 10000;
  info->estimatedRows = 10000;
  return SQLITE_OK;
}

static int batch_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
  struct batch_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c)
    return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->s = ((struct batch_vtab *)(void *)v)->s;
  *out = &c->base;
  return SQLITE_OK;
}

static int batch_close(sqlite3_vtab_cursor *c) {
  sqlite3_free(c);
  return SQLITE_OK;
}

static int batch_filter(sqlite3_vtab_cursor *c, int idx, const char *idx_str, int argc,
                        sqlite3_value **argv) {
  ((struct batch_cursor *)(void *)c)->i = 0;
  return SQLITE_OK;
}

static int batch_next(sqlite3_vtab_cursor *c) {
  ((struct batch_cursor *)(void *)c)->i++;
  return SQLITE_OK;
}

static int batch_eof(sqlite3_vtab_cursor *c) {
  struct batch_cursor *b = (struct batch_cursor *)(void *)c;
  return b->i >= b->s->batch_n;
}

/* A fixed-size text field (NUL-terminated within cap); "" is NULL. */
static void result_field(sqlite3_context *cx, const char *v, size_t cap) {
  size_t n = strnlen(v, cap);
  if (n)
    sqlite3_result_text(cx, v, (int)n, SQLITE_STATIC);
  else
    sqlite3_result_null(cx);
}

static int batch_column(sqlite3_vtab_cursor *c, sqlite3_context *cx, int col) {
  struct batch_cursor *b = (struct batch_cursor *)(void *)c;
  const struct sale *r = &b->s->batch[b->i];
  switch (col) {
  case BATCH_TS: sqlite3_result_int64(cx, r->ts_ms); break;
  case BATCH_PINCODE: sqlite3_result_int(cx, r->pincode); break;
  case BATCH_CITY: result_field(cx, r->city, sizeof r->city); break;
  case BATCH_PRODUCT: result_field(cx, r->product, sizeof r->product); break;
  case BATCH_CHANNEL: result_field(cx, r->channel, sizeof r->channel); break;
  case BATCH_AGENT: result_field(cx, r->agent_id, sizeof r->agent_id); break;
  case BATCH_AGE: sqlite3_result_int(cx, r->customer_age); break;
  case BATCH_INCOME: sqlite3_result_double(cx, r->customer_income); break;
  default: sqlite3_result_null(cx);
  }
  return SQLITE_OK;
}

static int batch_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *rowid) {
  *rowid = (sqlite3_int64)((struct batch_cursor *)(void *)c)->i;
  return SQLITE_OK;
}

/* xCreate NULL: eponymous-only, no CREATE VIRTUAL TABLE needed or allowed. */
static const sqlite3_module batch_module = {
    .iVersion = 0,
    .xConnect = batch_connect,
    .xBestIndex = batch_best_index,
    .xDisconnect = batch_disconnect,
    .xOpen = batch_open,
    .xClose = batch_close,
    .xFilter = batch_filter,
    .xNext = batch_next,
    .xEof = batch_eof,
    .xColumn = batch_column,
    .xRowid = batch_rowid,
};

static void sq_close(struct store *base) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt **all[] = {&s->ping, &s->insert_batch, &s->insert_id, &s->count, &s->mark, &s->ts_range, &s->meta_get, &s->meta_set,
                          &s->models_last, &s->begin, &s->commit, &s->rollback,
                          &s->key_insert, &s->key_by_prefix, &s->key_all,
                          &s->key_revoke_name, &s->key_revoke_id, &s->model_next,
                          &s->model_insert, &s->model_scan, &s->model_get,
                          &s->model_get_serving, &s->model_exists, &s->model_unserve,
                          &s->model_serve, &s->model_serving, &s->model_prune,
                          &s->model_promotion, &s->regions_prune, &s->regions_insert, &s->regions_scan};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    sqlite3_finalize(*all[i]);
  for (size_t i = 0; i < QUERY_VARIANTS; i++)
    sqlite3_finalize(s->query[i]);
  for (size_t i = 0; i < SUMMARY_VARIANTS; i++)
    sqlite3_finalize(s->summary[i]);
  if (s->wal_fd >= 0)
    close(s->wal_fd);
  sqlite3_close_v2(s->db);
  free(s);
}

/* Process-wide settings, before SQLite's first use: no memory statistics
 * (they take a global mutex on every allocation). */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static void sqlite_configure(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3_initialize();
}

static int sq_open(const char *uri, struct store **out, struct gerr *err) {
  *out = NULL;
  pthread_once(&sqlite_once, sqlite_configure);
  if (!strncmp(uri, "sqlite:", 7))
    uri += 7;
  if (strlen(uri) >= sizeof ((struct sqlite_store *)0)->path)
    return gerr_set(err, GERR_INVALID_INPUT, "the database path is too long");
  struct sqlite_store *s = calloc(1, sizeof *s);
  if (!s)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  s->base.ops = &store_sqlite_ops;
  s->wal_fd = -1;
  snprintf(s->path, sizeof s->path, "%s", uri);
  int rc = sqlite3_open_v2(uri, &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    gerr_set(err, GERR_UNAVAILABLE, "cannot open database %s: %s", uri,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sq_close(&s->base);
    return -1;
  }
  sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
  sqlite3_extended_result_codes(s->db, 1);
  static const char pragmas[] =
      "PRAGMA page_size = 16384;" /* takes effect on a new database */
      "PRAGMA journal_mode = WAL;"
      "PRAGMA synchronous = NORMAL;"
      "PRAGMA foreign_keys = ON;"
      "PRAGMA temp_store = MEMORY;"
      /* 16 MiB: a bulk load through one connection fills its whole cache
       * with pages it will not touch again (full table and time-index
       * pages). 64 MiB made a 1,000,000-row upload grow the server by
       * 74 MiB and the insert slower (a fresh cache page costs page
       * faults; a page dropped from the cache is read back from the WAL
       * in the OS page cache). */
      "PRAGMA cache_size = -16384;"
      "PRAGMA mmap_size = 268435456;"
      /* Pools checkpoint in the background (sq_maintain); a writer does it
       * itself only past 128 MiB of WAL, as a backstop. */
      "PRAGMA wal_autocheckpoint = 8192;";
  if ((rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL)) != SQLITE_OK) {
    db_error(s, rc, "cannot open database", err);
    sq_close(&s->base);
    return -1;
  }
  int v = user_version(s->db);
  if (v < 0) {
    db_error(s, SQLITE_NOTADB, "cannot read the database", err);
    sq_close(&s->base);
    return -1;
  }
  if (v > STORE_SCHEMA_VERSION) {
    gerr_set(err, GERR_UNAVAILABLE,
             "database %s has schema version %d, newer than this program's %d; "
             "use a newer gromo",
             uri, v, STORE_SCHEMA_VERSION);
    sq_close(&s->base);
    return -1;
  }
  if (v < STORE_SCHEMA_VERSION && migrate(s, err) < 0) {
    sq_close(&s->base);
    return -1;
  }
  if ((rc = sqlite3_create_module_v2(s->db, "sales_batch", &batch_module, s, NULL)) !=
      SQLITE_OK) {
    db_error(s, rc, "cannot open database", err);
    sq_close(&s->base);
    return -1;
  }
  if (prepare(s, &s->ping, "SELECT 1", err) < 0 ||
      /* Records without a client id cannot conflict: they go in without
       * the upsert's extra constraint pass, a run of them at once. */
      prepare(s, &s->insert_batch,
              "INSERT INTO sales(client_id, ts_ms, pincode, city, product, channel,"
              " agent_id, customer_age, customer_income, ingested_at)"
              " SELECT NULL, ts_ms, pincode, city, product, channel, agent_id,"
              " customer_age, customer_income, ?1 FROM sales_batch",
              err) < 0 ||
      prepare(s, &s->insert_id,
              "INSERT INTO sales(client_id, ts_ms, pincode, city, product, channel,"
              " agent_id, customer_age, customer_income, ingested_at)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
              " ON CONFLICT(client_id) WHERE client_id IS NOT NULL DO NOTHING",
              err) < 0 ||
      prepare(s, &s->count, "SELECT count(*) FROM sales", err) < 0 ||
      prepare(s, &s->mark, "SELECT max(seq) FROM sales", err) < 0 ||
      /* two subqueries: SQLite reads a min() or a max() off the time
       * index only when it is alone in its SELECT (together: a scan of
       * every row, 60 ms for 1,000,000 sales) */
      prepare(s, &s->ts_range,
              "SELECT (SELECT min(ts_ms) FROM sales), (SELECT max(ts_ms) FROM sales)",
              err) < 0 ||
      prepare(s, &s->meta_get, "SELECT value FROM meta WHERE key = ?1", err) < 0 ||
      prepare(s, &s->meta_set,
              "INSERT INTO meta(key, value) VALUES (?1, ?2)"
              " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
              err) < 0 ||
      prepare(s, &s->models_last, "SELECT trained_at FROM models WHERE serving = 1",
              err) < 0 ||
      prepare(s, &s->model_next,
              "SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM meta"
              " WHERE key = 'models_max_version'), 0),"
              " coalesce((SELECT max(version) FROM models), 0)) + 1",
              err) < 0 ||
      prepare(s, &s->model_insert,
              "INSERT INTO models(version, kind, algorithm, trained_at, rows, data_from,"
              " data_to, duration_ms, serving, features, metrics, blob, promotion)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?12)",
              err) < 0 ||
      prepare(s, &s->model_scan,
              "SELECT " MODEL_COLUMNS " FROM models ORDER BY version DESC", err) < 0 ||
      prepare(s, &s->model_get,
              "SELECT " MODEL_COLUMNS ", blob FROM models WHERE version = ?1", err) < 0 ||
      prepare(s, &s->model_get_serving,
              "SELECT " MODEL_COLUMNS ", blob FROM models WHERE serving = 1", err) < 0 ||
      prepare(s, &s->model_exists, "SELECT 1 FROM models WHERE version = ?1", err) < 0 ||
      prepare(s, &s->model_unserve,
              "UPDATE models SET serving = 0 WHERE serving = 1 AND version <> ?1",
              err) < 0 ||
      prepare(s, &s->model_serve,
              "UPDATE models SET serving = 1 WHERE version = ?1 AND serving = 0",
              err) < 0 ||
      prepare(s, &s->model_serving, "SELECT version FROM models WHERE serving = 1",
              err) < 0 ||
      prepare(s, &s->model_promotion,
              "UPDATE models SET promotion = ?2 WHERE version = ?1", err) < 0 ||
      prepare(s, &s->model_prune,
              "DELETE FROM models WHERE serving = 0 AND version NOT IN"
              " (SELECT version FROM models ORDER BY version DESC LIMIT ?1)",
              err) < 0 ||
      prepare(s, &s->regions_prune,
              "DELETE FROM regions WHERE model_version NOT IN (SELECT version FROM models)",
              err) < 0 ||
      prepare(s, &s->regions_insert,
              "INSERT INTO regions(model_version, pincode, region_id) VALUES (?1, ?2, ?3)",
              err) < 0 ||
      prepare(s, &s->regions_scan,
              "SELECT pincode, region_id FROM regions WHERE model_version = ?1"
              " ORDER BY pincode",
              err) < 0 ||
      prepare(s, &s->key_insert,
              "INSERT INTO api_keys(name, role, prefix, hash, created_at)"
              " VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
              err) < 0 ||
      prepare(s, &s->key_by_prefix,
              "SELECT id, name, role, prefix, hash, created_at, revoked_at"
              " FROM api_keys WHERE prefix = ?1 ORDER BY id",
              err) < 0 ||
      prepare(s, &s->key_all,
              "SELECT id, name, role, prefix, hash, created_at, revoked_at"
              " FROM api_keys ORDER BY id",
              err) < 0 ||
      prepare(s, &s->key_revoke_name,
              "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
              " WHERE name = ?1 AND revoked_at IS NULL",
              err) < 0 ||
      prepare(s, &s->key_revoke_id,
              "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
              " WHERE id = ?1 AND revoked_at IS NULL",
              err) < 0 ||
      prepare(s, &s->begin, "BEGIN IMMEDIATE", err) < 0 ||
      prepare(s, &s->commit, "COMMIT", err) < 0 ||
      prepare(s, &s->rollback, "ROLLBACK", err) < 0) {
    sq_close(&s->base);
    return -1;
  }
  *out = &s->base;
  return 0;
}

static int sq_ping(struct store *base, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_step(s->ping);
  sqlite3_reset(s->ping);
  return rc == SQLITE_ROW ? 0 : db_error(s, rc, "ping", err);
}

static int sq_schema_version(struct store *base) { return user_version(SQ(base)->db); }

static void sq_busy_timeout(struct store *base, int ms) {
  sqlite3_busy_timeout(SQ(base)->db, ms);
}

static int sq_begin(struct store *base, struct gerr *err) {
  return step_done(SQ(base), SQ(base)->begin, "begin", err);
}

static int sq_commit(struct store *base, struct gerr *err) {
  return step_done(SQ(base), SQ(base)->commit, "commit", err);
}

static int sq_in_transaction(struct store *base) {
  return !sqlite3_get_autocommit(SQ(base)->db);
}

static void sq_rollback(struct store *base) {
  struct sqlite_store *s = SQ(base);
  if (!sqlite3_get_autocommit(s->db))
    step_done(s, s->rollback, "rollback", NULL);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
  if (v[0])
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

/* Inserts recs[0..n), none of which has a client id, in one statement. */
static int insert_run(struct sqlite_store *s, const struct sale *recs, size_t n,
                      sqlite3_int64 ingested, struct store_insert_stats *stats,
                      struct gerr *err) {
  s->batch = recs;
  s->batch_n = n;
  sqlite3_bind_int64(s->insert_batch, 1, ingested);
  int rc = sqlite3_step(s->insert_batch);
  sqlite3_reset(s->insert_batch);
  s->batch = NULL;
  s->batch_n = 0;
  if (rc != SQLITE_DONE)
    return db_error(s, rc, "storing sales", err);
  stats->inserted += (size_t)sqlite3_changes64(s->db);
  return 0;
}

/* Asks the kernel to start writing out what the WAL holds so far, without
 * waiting for it (store_hint_bulk_load). A large transaction writes the
 * WAL as it goes (pages that leave the cache) and SQLite syncs it only
 * before the checkpoint that follows the commit: 120 MB for 1,000,000
 * sales, 0.17 s of waiting at close, of which 0.12 s is left with the
 * hint. The submitting costs the inserting thread a little, which is why
 * only a bulk load that closes right after asks for it.
 * Nothing about durability changes: SQLite still syncs where it did. The
 * WAL is never locked (the locks are on the database and -shm files), so
 * a descriptor of our own on it disturbs nothing. Linux only. */
static void wal_write_back(struct sqlite_store *s) {
#ifdef SYNC_FILE_RANGE_WRITE
  if (s->wal_fd == -1) { /* in a write transaction, so the WAL exists */
    char wal[sizeof s->path + 8];
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (s->wal_fd < 0)
      s->wal_fd = -2;
  }
  if (s->wal_fd < 0)
    return;
  sync_file_range(s->wal_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
  (void)s;
#endif
}

/* Records without an id in runs (insert_run); each record with one alone,
 * through the upsert, whose change count says whether it was a duplicate.
 * The order of the records is kept: seq is arrival order. */
static int sq_sales_insert(struct store *base, const struct sale *recs, size_t n,
                           unsigned char *dup, struct store_insert_stats *stats,
                           struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  sqlite3_int64 ingested = (sqlite3_int64)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  for (size_t i = 0; i < n; i++) {
    if (!recs[i].id[0]) {
      size_t run = 1;
      while (i + run < n && !recs[i + run].id[0])
        run++;
      if (insert_run(s, recs + i, run, ingested, stats, err) < 0)
        return -1;
      if (dup)
        memset(dup + i, 0, run);
      i += run - 1;
      continue;
    }
    const struct sale *r = &recs[i];
    sqlite3_stmt *st = s->insert_id;
    bind_text_or_null(st, 1, r->id);
    sqlite3_bind_int64(st, 2, r->ts_ms);
    sqlite3_bind_int(st, 3, r->pincode);
    bind_text_or_null(st, 4, r->city);
    sqlite3_bind_text(st, 5, r->product, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, r->channel, -1, SQLITE_STATIC);
    bind_text_or_null(st, 7, r->agent_id);
    sqlite3_bind_int(st, 8, r->customer_age);
    sqlite3_bind_double(st, 9, r->customer_income);
    sqlite3_bind_int64(st, 10, ingested);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
      return db_error(s, rc, "storing sales", err);
    int added = sqlite3_changes(s->db) > 0;
    if (dup)
      dup[i] = (unsigned char)!added;
    if (added)
      stats->inserted++;
    else
      stats->duplicates++;
  }
  sqlite3_clear_bindings(s->insert_id);
  if (base->in_tx && base->bulk_load)
    wal_write_back(s);
  return 0;
}

static void column_text(sqlite3_stmt *st, int col, char *dst, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);
  if (!t || n <= 0) {
    dst[0] = '\0';
    return;
  }
  size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
  memcpy(dst, t, len);
  dst[len] = '\0';
}

/* The buckets a pincode query must visit: those of the date range,
 * narrowed to the dates stored. 0 with *lo > *hi when there are none. */
static int bucket_range(struct sqlite_store *s, const struct sales_filter *f,
                        int64_t *lo, int64_t *hi, struct gerr *err) {
  int rc = sqlite3_step(s->ts_range);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(s->ts_range);
    return db_error(s, rc, "querying sales", err);
  }
  int empty = sqlite3_column_type(s->ts_range, 0) == SQLITE_NULL;
  int64_t min = sqlite3_column_int64(s->ts_range, 0);
  int64_t max = sqlite3_column_int64(s->ts_range, 1);
  sqlite3_reset(s->ts_range);
  *lo = 1, *hi = 0;
  if (empty)
    return 0;
  int64_t from = f->from_ms > min ? f->from_ms : min;
  if (f->has_cursor && f->after_ts_ms > from)
    from = f->after_ts_ms;
  int64_t to = f->to_ms - 1 < max ? f->to_ms - 1 : max;
  if (from > to || from < 0)
    return 0;
  *lo = from / BUCKET_MS;
  *hi = to / BUCKET_MS;
  return 0;
}

static int sq_sales_query(struct store *base, const struct sales_filter *f,
                          store_row_fn fn, void *ctx, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  unsigned mask = (f->pincode ? 1u : 0) | (f->product[0] ? 2u : 0) |
                  (f->channel[0] ? 4u : 0) | (f->has_cursor ? 8u : 0);
  int64_t blo = 0, bhi = 0;
  if (mask & 1) {
    if (bucket_range(s, f, &blo, &bhi, err) < 0)
      return -1;
    if (blo > bhi)
      return 0;
  }
  if (!s->query[mask]) {
    /* The SQL varies only by which constant fragments are present; every
     * value is bound. With a pincode, the outer loop walks the keys of its
     * buckets (bucket * 1000000 + pincode, first to last) and each step
     * seeks one in the index. */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "%s%s%s WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2%s%s%s"
             " ORDER BY s.ts_ms, s.seq LIMIT ?8",
             mask & 1 ? "WITH RECURSIVE b(k) AS (SELECT ?9 UNION ALL"
                        " SELECT k + 1000000 FROM b WHERE k < ?10) "
                      : "",
             QUERY_COLUMNS,
             mask & 1 ? " FROM b CROSS JOIN sales s"
                        " ON s.ts_ms / 2592000000 * 1000000 + s.pincode = b.k"
                        " AND s.pincode = ?3"
                      : " FROM sales s",
             mask & 2 ? " AND s.product = ?4" : "",
             mask & 4 ? " AND s.channel = ?5" : "",
             mask & 8 ? " AND (s.ts_ms, s.seq) > (?6, ?7)" : "");
    if (prepare(s, &s->query[mask], sql, err) < 0)
      return -1;
  }
  sqlite3_stmt *st = s->query[mask];
  /* The cursor raises the lower bound: bound once, the index seeks there
   * instead of scanning from the first row. */
  int64_t from = f->has_cursor && f->after_ts_ms > f->from_ms ? f->after_ts_ms : f->from_ms;
  sqlite3_bind_int64(st, 1, from);
  sqlite3_bind_int64(st, 2, f->to_ms);
  if (mask & 1) {
    sqlite3_bind_int(st, 3, f->pincode);
    sqlite3_bind_int64(st, 9, blo * BUCKET_KEY + f->pincode);
    sqlite3_bind_int64(st, 10, bhi * BUCKET_KEY + f->pincode);
  }
  if (mask & 2)
    sqlite3_bind_text(st, 4, f->product, -1, SQLITE_STATIC);
  if (mask & 4)
    sqlite3_bind_text(st, 5, f->channel, -1, SQLITE_STATIC);
  if (mask & 8) {
    sqlite3_bind_int64(st, 6, f->after_ts_ms);
    sqlite3_bind_int64(st, 7, f->after_seq);
  }
  sqlite3_bind_int64(st, 8, f->limit ? (sqlite3_int64)f->limit : -1);
  struct sale rec;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    memset(&rec, 0, sizeof rec);
    int64_t seq = sqlite3_column_int64(st, 0);
    rec.ts_ms = sqlite3_column_int64(st, 1);
    rec.pincode = sqlite3_column_int(st, 2);
    column_text(st, 3, rec.city, sizeof rec.city);
    column_text(st, 4, rec.product, sizeof rec.product);
    column_text(st, 5, rec.channel, sizeof rec.channel);
    column_text(st, 6, rec.agent_id, sizeof rec.agent_id);
    rec.customer_age = sqlite3_column_int(st, 7);
    rec.customer_income = sqlite3_column_double(st, 8);
    column_text(st, 9, rec.id, sizeof rec.id);
    if (fn(ctx, &rec, seq) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : db_error(s, rc, "querying sales", err);
}

/* The scan of a summary's scope. Only constant fragments vary, as for
 * queries; every value is bound. With pincodes, each of them is sought in
 * the pincode index once a bucket of the date range; without a date range
 * the table is read straight through (faster than through the time index).
 * The rows are counted here rather than by GROUP BY: SQLite would sort them
 * all first, which costs more than the reading (0.6 s against 0.2 s for
 * 1,000,000 sales). */
static sqlite3_stmt *summary_stmt(struct sqlite_store *s, unsigned mask, struct gerr *err) {
  if (s->summary[mask])
    return s->summary[mask];
  char sql[1024];
  snprintf(sql, sizeof sql,
           "%sSELECT s.ts_ms, s.pincode, s.product, s.channel, s.customer_age,"
           " s.customer_income%s WHERE 1%s%s%s",
           mask & 1 ? "WITH p(pin) AS (SELECT value FROM json_each(?3)),"
                      " b(k) AS (SELECT ?6 UNION ALL SELECT k + 1 FROM b WHERE k < ?7) "
                    : "",
           mask & 1 ? " FROM b CROSS JOIN p CROSS JOIN sales s"
                      " ON s.ts_ms / 2592000000 * 1000000 + s.pincode = b.k * 1000000 + p.pin"
                      " AND s.pincode = p.pin"
                    : " FROM sales s",
           mask & 8 ? " AND s.ts_ms >= ?1 AND s.ts_ms < ?2" : "",
           mask & 2 ? " AND s.product = ?4" : "", mask & 4 ? " AND s.channel = ?5" : "");
  if (prepare(s, &s->summary[mask], sql, err) < 0)
    return NULL;
  return s->summary[mask];
}

/* The counts of a summary while it is read. */
struct tally {
  unsigned char *seen; /* a bit a pincode (100000-999999) */
  /* by day: [day0, day0 + ndays) */
  int64_t day0;
  size_t ndays, cap;
  struct sales_group *days;
  /* by product or channel */
  size_t nkeys;
  char keys[64][SALE_IDENT_MAX + 1];
  struct sales_group named[64];
};

static void group_add(struct sales_group *g, int64_t ts, int32_t age, double income) {
  if (!g->sales || ts < g->first_ms)
    g->first_ms = ts;
  if (!g->sales || ts > g->last_ms)
    g->last_ms = ts;
  g->sales++;
  g->age_sum += age;
  g->income_sum += income;
}

/* The day's group, the range grown to hold it; NULL when out of memory. */
static struct sales_group *day_group(struct tally *t, int64_t day) {
  if (!t->ndays) {
    t->day0 = day;
  } else if (day < t->day0) { /* earlier than all so far: shift */
    size_t by = (size_t)(t->day0 - day);
    if (t->ndays + by > t->cap) {
      size_t cap = (t->ndays + by) * 2;
      struct sales_group *d = realloc(t->days, cap * sizeof *d);
      if (!d)
        return NULL;
      t->days = d;
      t->cap = cap;
    }
    memmove(t->days + by, t->days, t->ndays * sizeof *t->days);
    memset(t->days, 0, by * sizeof *t->days);
    t->ndays += by;
    t->day0 = day;
  }
  size_t at = (size_t)(day - t->day0);
  if (at >= t->ndays) {
    if (at >= t->cap) {
      size_t cap = at * 2 + 64;
      struct sales_group *d = realloc(t->days, cap * sizeof *d);
      if (!d)
        return NULL;
      t->days = d;
      t->cap = cap;
    }
    memset(t->days + t->ndays, 0, (at + 1 - t->ndays) * sizeof *t->days);
    t->ndays = at + 1;
  }
  return &t->days[at];
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(((const struct sales_group *)a)->key, ((const struct sales_group *)b)->key);
}

static int sq_sales_summary(struct store *base, const struct sales_summary_query *q,
                            int (*fn)(void *ctx, const struct sales_group *g), void *ctx,
                            struct sales_totals *tot, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  memset(tot, 0, sizeof *tot);
  int ranged = q->from_ms != INT64_MIN || q->to_ms != INT64_MAX;
  unsigned mask = (q->pincodes ? 1u : 0) | (q->product[0] ? 2u : 0) | (q->channel[0] ? 4u : 0) |
                  (ranged ? 8u : 0);
  char *pins = NULL;
  int64_t lo = 0, hi = -1;
  if (q->pincodes) {
    struct sales_filter f;
    sales_filter_init(&f);
    f.from_ms = q->from_ms;
    f.to_ms = q->to_ms;
    if (bucket_range(s, &f, &lo, &hi, err) < 0)
      return -1;
    if (lo > hi)
      return 0; /* no sales in the range at all */
    size_t cap = q->npincodes * 8 + 3;
    pins = malloc(cap);
    if (!pins)
      return gerr_set(err, GERR_INTERNAL, "out of memory");
    size_t n = 0;
    pins[n++] = '[';
    for (size_t i = 0; i < q->npincodes; i++)
      n += (size_t)snprintf(pins + n, cap - n, "%s%d", i ? "," : "", (int)q->pincodes[i]);
    pins[n++] = ']';
    pins[n] = '\0';
  }
  struct tally *t = calloc(1, sizeof *t);
  if (t)
    t->seen = calloc(900000 / 8 + 1, 1);
  int have_memory = t && t->seen;
  sqlite3_stmt *st = have_memory ? summary_stmt(s, mask, err) : NULL;
  if (!st) {
    if (t)
      free(t->seen);
    free(t);
    free(pins);
    return have_memory ? -1 : gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  if (ranged) {
    sqlite3_bind_int64(st, 1, q->from_ms);
    sqlite3_bind_int64(st, 2, q->to_ms);
  }
  if (pins) {
    sqlite3_bind_text(st, 3, pins, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, lo);
    sqlite3_bind_int64(st, 7, hi);
  }
  if (q->product[0])
    sqlite3_bind_text(st, 4, q->product, -1, SQLITE_STATIC);
  if (q->channel[0])
    sqlite3_bind_text(st, 5, q->channel, -1, SQLITE_STATIC);
  int rc, oom = 0;
  while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t ts = sqlite3_column_int64(st, 0);
    int32_t pin = sqlite3_column_int(st, 1);
    int32_t age = sqlite3_column_int(st, 4);
    double income = sqlite3_column_double(st, 5);
    if (!tot->sales || ts < tot->first_ms)
      tot->first_ms = ts;
    if (!tot->sales || ts > tot->last_ms)
      tot->last_ms = ts;
    tot->sales++;
    if (pin >= 100000 && pin <= 999999) {
      size_t bit = (size_t)(pin - 100000);
      if (!(t->seen[bit / 8] & (1u << (bit % 8)))) {
        t->seen[bit / 8] |= (unsigned char)(1u << (bit % 8));
        tot->pincodes++;
      }
    }
    if (!fn)
      continue;
    struct sales_group *g = NULL;
    if (q->by == SALES_BY_DAY) {
      g = day_group(t, ts / DAY_MS_SQ);
      oom = !g;
    } else {
      const char *name = (const char *)sqlite3_column_text(st, q->by == SALES_BY_PRODUCT ? 2 : 3);
      size_t k = 0;
      while (name && k < t->nkeys && strcmp(t->keys[k], name))
        k++;
      if (name && k == t->nkeys && k < 64)
        snprintf(t->keys[t->nkeys++], sizeof t->keys[0], "%s", name);
      g = name && k < 64 ? &t->named[k] : NULL;
    }
    if (g)
      group_add(g, ts, age, income);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  free(pins);
  if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
    free(t->days);
    free(t->seen);
    free(t);
    return oom ? gerr_set(err, GERR_INTERNAL, "out of memory")
               : db_error(s, rc, "summarising sales", err);
  }
  /* the groups: days ascending (those with sales), names sorted */
  if (fn && q->by == SALES_BY_DAY) {
    for (size_t i = 0; i < t->ndays; i++) {
      if (!t->days[i].sales)
        continue;
      t->days[i].day = t->day0 + (int64_t)i;
      if (fn(ctx, &t->days[i]) != 0)
        break;
    }
  } else if (fn) {
    for (size_t k = 0; k < t->nkeys; k++)
      t->named[k].key = t->keys[k];
    qsort(t->named, t->nkeys, sizeof *t->named, cmp_names);
    for (size_t k = 0; k < t->nkeys; k++)
      if (fn(ctx, &t->named[k]) != 0)
        break;
  }
  free(t->days);
  free(t->seen);
  free(t);
  return 0;
}

/* ---- training's read (store_sales_cells) ---- */

static const int32_t age_edges[] = SEG_AGE_EDGES;
static const double income_edges[] = SEG_INCOME_EDGES;
_Static_assert(sizeof age_edges / sizeof *age_edges == 4 &&
                   sizeof income_edges / sizeof *income_edges == 4,
               "the CASE expressions below name four edges of each band");

/* Deferred: the snapshot is taken by the first read and kept to the end,
 * and no write lock is asked for. */
static int sq_read_begin(struct store *base, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_exec(s->db, "BEGIN DEFERRED", NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : db_error(s, rc, "reading sales", err);
}

/* Three lookups, each of one index's end or its entry count. */
static int sq_sales_span(struct store *base, struct sales_span *sp, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = NULL;
  memset(sp, 0, sizeof *sp);
  if (prepare(s, &st,
              "SELECT (SELECT count(*) FROM sales), (SELECT min(ts_ms) FROM sales),"
              " (SELECT max(ts_ms) FROM sales)",
              err) < 0)
    return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    sp->sales = sqlite3_column_int64(st, 0);
    sp->first_ms = sqlite3_column_int64(st, 1);
    sp->last_ms = sqlite3_column_int64(st, 2);
    sp->newest_day = (int32_t)(sp->last_ms / DAY_MS_SQ);
  } else {
    db_error(s, rc, "reading sales", err);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

/* One scan of sales, grouped by SQLite (a sort of the group keys). */
static int sq_sales_cells(struct store *base, const struct sales_cells_query *q,
                          int32_t newest_day, int64_t before_ms,
                          int (*fn)(void *ctx, const struct sales_cell *c), void *ctx,
                          struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = NULL;
  if (prepare(s, &st,
              "SELECT min((?1 - ts_ms / 86400000) / ?2, ?3), pincode, product, channel,"
              " CASE WHEN customer_age <= ?4 THEN 0 WHEN customer_age <= ?5 THEN 1"
              " WHEN customer_age <= ?6 THEN 2 WHEN customer_age <= ?7 THEN 3 ELSE 4 END,"
              " CASE WHEN customer_income < ?8 THEN 0 WHEN customer_income < ?9 THEN 1"
              " WHEN customer_income < ?10 THEN 2 WHEN customer_income < ?11 THEN 3"
              " ELSE 4 END,"
              " count(*) FROM sales WHERE ts_ms < ?12 GROUP BY 1, 2, 3, 4, 5, 6",
              err) < 0)
    return -1;
  sqlite3_bind_int64(st, 1, newest_day);
  sqlite3_bind_int(st, 2, q->period_days);
  sqlite3_bind_int(st, 3, q->periods);
  for (int i = 0; i < 4; i++) {
    sqlite3_bind_int(st, 4 + i, age_edges[i]);
    sqlite3_bind_double(st, 8 + i, income_edges[i]);
  }
  sqlite3_bind_int64(st, 12, before_ms);
  int rc, stopped = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *prod = (const char *)sqlite3_column_text(st, 2);
    const char *chan = (const char *)sqlite3_column_text(st, 3);
    struct sales_cell c = {.period = sqlite3_column_int(st, 0),
                           .pincode = sqlite3_column_int(st, 1),
                           .product = prod ? prod : "",
                           .channel = chan ? chan : "",
                           .age_band = sqlite3_column_int(st, 4),
                           .income_band = sqlite3_column_int(st, 5),
                           .sales = sqlite3_column_int64(st, 6)};
    if (fn(ctx, &c) != 0) {
      stopped = 1;
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE)
    db_error(s, rc, "reading sales", err);
  sqlite3_finalize(st);
  return rc != SQLITE_DONE ? -1 : stopped;
}

/* The days' sales by product, grouped by SQLite. */
static int sq_sales_days(struct store *base, int32_t newest_day, int32_t from_day,
                         int (*fn)(void *ctx, const struct sales_day *dy), void *ctx,
                         struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = NULL;
  if (prepare(s, &st,
              "SELECT ?1 - ts_ms / 86400000, product, count(*) FROM sales"
              " WHERE ts_ms >= ?2 GROUP BY 1, 2",
              err) < 0)
    return -1;
  sqlite3_bind_int64(st, 1, newest_day);
  sqlite3_bind_int64(st, 2, (int64_t)from_day * 86400000);
  int rc, stopped = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *prod = (const char *)sqlite3_column_text(st, 1);
    struct sales_day dy = {.back = sqlite3_column_int(st, 0),
                           .product = prod ? prod : "",
                           .sales = sqlite3_column_int64(st, 2)};
    if (fn(ctx, &dy) != 0) {
      stopped = 1;
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE)
    db_error(s, rc, "reading sales", err);
  sqlite3_finalize(st);
  return rc != SQLITE_DONE ? -1 : stopped;
}

static int sq_sales_mark(struct store *base, int64_t *mark, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_step(s->mark);
  if (rc == SQLITE_ROW)
    *mark = sqlite3_column_int64(s->mark, 0); /* NULL (no rows) reads as 0 */
  sqlite3_reset(s->mark);
  return rc == SQLITE_ROW ? 0 : db_error(s, rc, "reading the newest sale", err);
}

static int sq_sales_count(struct store *base, int64_t *n, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_step(s->count);
  if (rc == SQLITE_ROW)
    *n = sqlite3_column_int64(s->count, 0);
  sqlite3_reset(s->count);
  return rc == SQLITE_ROW ? 0 : db_error(s, rc, "counting sales", err);
}

static int sq_meta_get(struct store *base, const char *key, char *val, size_t cap,
                       struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_bind_text(s->meta_get, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s->meta_get);
  int found = rc == SQLITE_ROW;
  if (found)
    column_text(s->meta_get, 0, val, cap);
  sqlite3_reset(s->meta_get);
  sqlite3_clear_bindings(s->meta_get);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, rc, "reading settings", err);
  return found ? 0 : 1;
}

static int sq_meta_set(struct store *base, const char *key, const char *val,
                       struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_bind_text(s->meta_set, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->meta_set, 2, val, -1, SQLITE_STATIC);
  int rc = step_done(s, s->meta_set, "writing settings", err);
  sqlite3_clear_bindings(s->meta_set);
  return rc;
}

static int sq_models_last_trained(struct store *base, char *out, size_t cap,
                                  struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_step(s->models_last);
  int found = rc == SQLITE_ROW;
  if (found)
    column_text(s->models_last, 0, out, cap);
  sqlite3_reset(s->models_last);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, rc, "reading models", err);
  return found ? 0 : 1;
}

/* Binds a fixed-size text field of a row (NUL-terminated within cap). */
static void bind_field(sqlite3_stmt *st, int i, const char *v, size_t cap) {
  size_t n = strnlen(v, cap);
  if (n)
    sqlite3_bind_text(st, i, v, (int)n, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

static int sq_model_insert(struct store *base, const struct model_row *r,
                           int64_t *version, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  if (!strnlen(r->kind, sizeof r->kind) || !strnlen(r->algorithm, sizeof r->algorithm) ||
      !strnlen(r->trained_at, sizeof r->trained_at))
    return gerr_set(err, GERR_INVALID_INPUT, "a model needs a kind, algorithm and trained_at");
  int rc = sqlite3_step(s->model_next);
  int64_t v = sqlite3_column_int64(s->model_next, 0);
  sqlite3_reset(s->model_next);
  if (rc != SQLITE_ROW)
    return db_error(s, rc, "numbering the model", err);
  sqlite3_stmt *st = s->model_insert;
  sqlite3_bind_int64(st, 1, v);
  bind_field(st, 2, r->kind, sizeof r->kind);
  bind_field(st, 3, r->algorithm, sizeof r->algorithm);
  bind_field(st, 4, r->trained_at, sizeof r->trained_at);
  sqlite3_bind_int64(st, 5, r->rows);
  bind_field(st, 6, r->data_from, sizeof r->data_from);
  bind_field(st, 7, r->data_to, sizeof r->data_to);
  sqlite3_bind_int64(st, 8, r->duration_ms);
  if (r->features)
    sqlite3_bind_text(st, 9, r->features, -1, SQLITE_STATIC);
  if (r->metrics)
    sqlite3_bind_text(st, 10, r->metrics, -1, SQLITE_STATIC);
  if (r->blob)
    sqlite3_bind_blob64(st, 11, r->blob, r->blob_len, SQLITE_STATIC);
  if (r->promotion)
    sqlite3_bind_text(st, 12, r->promotion, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE)
    return db_error(s, rc, "storing the model", err);
  char text[24];
  snprintf(text, sizeof text, "%lld", (long long)v);
  if (sq_meta_set(base, "models_max_version", text, err) < 0)
    return -1;
  *version = v;
  return 0;
}

/* The columns every registry read begins with (the blob, when wanted,
 * comes after them). */
#define MODEL_COLUMNS_N 12

/* Fills the fixed part of a row from a registry statement; features,
 * metrics and promotion point into the statement (valid until its next step). */
static void model_columns(sqlite3_stmt *st, struct model_row *r) {
  memset(r, 0, sizeof *r);
  r->version = sqlite3_column_int64(st, 0);
  column_text(st, 1, r->kind, sizeof r->kind);
  column_text(st, 2, r->algorithm, sizeof r->algorithm);
  column_text(st, 3, r->trained_at, sizeof r->trained_at);
  r->rows = sqlite3_column_int64(st, 4);
  column_text(st, 5, r->data_from, sizeof r->data_from);
  column_text(st, 6, r->data_to, sizeof r->data_to);
  r->duration_ms = sqlite3_column_int64(st, 7);
  r->serving = sqlite3_column_int(st, 8) != 0;
  r->features = (char *)sqlite3_column_text(st, 9);
  r->metrics = (char *)sqlite3_column_text(st, 10);
  r->promotion = (char *)sqlite3_column_text(st, 11);
}

static int sq_model_scan(struct store *base,
                         int (*fn)(void *ctx, const struct model_row *r), void *ctx,
                         struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = s->model_scan;
  struct model_row r;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    model_columns(st, &r);
    if (fn(ctx, &r) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : db_error(s, rc, "listing models", err);
}

static char *dup_text(const char *t) { return t ? strdup(t) : NULL; }

static int sq_model_get(struct store *base, int64_t version, struct model_row *out,
                        struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = version ? s->model_get : s->model_get_serving;
  if (version)
    sqlite3_bind_int64(st, 1, version);
  int rc = sqlite3_step(st);
  int ret = 1;
  if (rc == SQLITE_ROW) {
    model_columns(st, out);
    out->features = dup_text(out->features);
    out->metrics = dup_text(out->metrics);
    out->promotion = dup_text(out->promotion);
    const void *blob = sqlite3_column_blob(st, MODEL_COLUMNS_N);
    int n = sqlite3_column_bytes(st, MODEL_COLUMNS_N);
    if (blob && n > 0) {
      out->blob = malloc((size_t)n);
      if (out->blob) {
        memcpy(out->blob, blob, (size_t)n);
        out->blob_len = (size_t)n;
      }
    }
    int missing = (sqlite3_column_type(st, 9) != SQLITE_NULL && !out->features) ||
                  (sqlite3_column_type(st, 10) != SQLITE_NULL && !out->metrics) ||
                  (sqlite3_column_type(st, 11) != SQLITE_NULL && !out->promotion) ||
                  (blob && n > 0 && !out->blob);
    ret = 0;
    if (missing) {
      model_row_release(out);
      ret = gerr_set(err, GERR_INTERNAL, "out of memory reading model %lld",
                     (long long)out->version);
    }
  } else if (rc != SQLITE_DONE) {
    ret = db_error(s, rc, "reading the model", err);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return ret;
}

static int sq_model_set_serving(struct store *base, int64_t version, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_bind_int64(s->model_exists, 1, version);
  int rc = sqlite3_step(s->model_exists);
  sqlite3_reset(s->model_exists);
  sqlite3_clear_bindings(s->model_exists);
  if (rc == SQLITE_DONE)
    return 1;
  if (rc != SQLITE_ROW)
    return db_error(s, rc, "reading models", err);
  /* Off first, then on: the unique index never sees two serving rows. */
  sqlite3_bind_int64(s->model_unserve, 1, version);
  sqlite3_bind_int64(s->model_serve, 1, version);
  int ok = step_done(s, s->model_unserve, "changing the serving model", err) == 0 &&
           step_done(s, s->model_serve, "changing the serving model", err) == 0;
  sqlite3_clear_bindings(s->model_unserve);
  sqlite3_clear_bindings(s->model_serve);
  return ok ? 0 : -1;
}

static int sq_model_serving_version(struct store *base, int64_t *version,
                                    struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_step(s->model_serving);
  if (rc == SQLITE_ROW)
    *version = sqlite3_column_int64(s->model_serving, 0);
  sqlite3_reset(s->model_serving);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, rc, "reading models", err);
  return rc == SQLITE_ROW ? 0 : 1;
}

static int sq_model_set_promotion(struct store *base, int64_t version, const char *promotion,
                                  struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = s->model_promotion;
  sqlite3_bind_int64(st, 1, version);
  if (promotion)
    sqlite3_bind_text(st, 2, promotion, -1, SQLITE_STATIC);
  int rc = step_done(s, st, "recording the model's promotion", err);
  sqlite3_clear_bindings(st);
  if (rc < 0)
    return -1;
  return sqlite3_changes(s->db) > 0 ? 0 : 1;
}

static int sq_model_prune(struct store *base, int keep, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_bind_int(s->model_prune, 1, keep);
  int rc = step_done(s, s->model_prune, "pruning models", err);
  sqlite3_clear_bindings(s->model_prune);
  if (rc < 0)
    return -1;
  return step_done(s, s->regions_prune, "pruning region assignments", err);
}

static int sq_regions_put(struct store *base, int64_t version, size_t n,
                          const int32_t *pincode, const int32_t *region_id,
                          struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = s->regions_insert;
  sqlite3_bind_int64(st, 1, version);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int(st, 2, pincode[i]);
    sqlite3_bind_int(st, 3, region_id[i]);
    if (step_done(s, st, "storing region assignments", err) < 0) {
      sqlite3_clear_bindings(st);
      return -1;
    }
  }
  sqlite3_clear_bindings(st);
  return 0;
}

static int sq_regions_scan(struct store *base, int64_t version,
                           int (*fn)(void *ctx, int32_t pincode, int32_t region_id),
                           void *ctx, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = s->regions_scan;
  sqlite3_bind_int64(st, 1, version);
  int rc, stop = 0;
  while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
    stop = fn(ctx, sqlite3_column_int(st, 0), sqlite3_column_int(st, 1));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (!stop && rc != SQLITE_DONE)
    return db_error(s, rc, "reading region assignments", err);
  return 0;
}

static int sq_key_insert(struct store *base, const struct key_row *k, int64_t *id,
                         struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = s->key_insert;
  sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->role, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->prefix, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, k->hash, sizeof k->hash, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE)
    return gerr_set(err, GERR_CONFLICT, "a key named '%s' already exists", k->name);
  if (rc != SQLITE_DONE)
    return db_error(s, rc, "storing the key", err);
  if (id)
    *id = sqlite3_last_insert_rowid(s->db);
  return 0;
}

static int sq_key_scan(struct store *base, const char *prefix,
                       int (*fn)(void *ctx, const struct key_row *k), void *ctx,
                       struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = prefix ? s->key_by_prefix : s->key_all;
  if (prefix)
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
  struct key_row k;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    memset(&k, 0, sizeof k);
    k.id = sqlite3_column_int64(st, 0);
    column_text(st, 1, k.name, sizeof k.name);
    column_text(st, 2, k.role, sizeof k.role);
    column_text(st, 3, k.prefix, sizeof k.prefix);
    if (sqlite3_column_bytes(st, 4) == (int)sizeof k.hash)
      memcpy(k.hash, sqlite3_column_blob(st, 4), sizeof k.hash);
    column_text(st, 5, k.created_at, sizeof k.created_at);
    column_text(st, 6, k.revoked_at, sizeof k.revoked_at);
    if (fn(ctx, &k) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : db_error(s, rc, "reading keys", err);
}

static int sq_key_revoke(struct store *base, const char *name, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int64_t id;
  int by_id = store_key_id_of(name, &id);
  sqlite3_stmt *st = by_id ? s->key_revoke_id : s->key_revoke_name;
  if (by_id)
    sqlite3_bind_int64(st, 1, id);
  else
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = step_done(s, st, "revoking the key", err);
  sqlite3_clear_bindings(st);
  if (rc < 0)
    return -1;
  return sqlite3_changes(s->db) > 0 ? 0 : 1;
}

/* Copies committed WAL frames into the database without waiting for
 * readers or writers; the WAL restarts once it has all been copied. */
static int sq_maintain(struct store *base, struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY ? 0 : db_error(s, rc, "checkpoint", err);
}

/* ---- training job records ---- */

#define JOB_COLUMNS                                                            \
  "job_id, status, stage, progress, started_at, finished_at, duration_ms, options," \
  " instance, summary, error_code, error_message"

static int sq_job_put(struct store *base, const struct job_row *r, int keep,
                      struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = NULL;
  if (prepare(s, &st,
              "INSERT INTO training_jobs(" JOB_COLUMNS ")"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
              " ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,"
              " stage = excluded.stage, progress = excluded.progress,"
              " started_at = excluded.started_at, finished_at = excluded.finished_at,"
              " duration_ms = excluded.duration_ms, options = excluded.options,"
              " instance = excluded.instance, summary = excluded.summary,"
              " error_code = excluded.error_code, error_message = excluded.error_message",
              err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, r->job_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, r->status, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, r->stage, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, r->progress);
  sqlite3_bind_text(st, 5, r->started_at, -1, SQLITE_STATIC);
  bind_text_or_null(st, 6, r->finished_at);
  sqlite3_bind_int64(st, 7, r->duration_ms);
  sqlite3_bind_text(st, 8, r->options[0] ? r->options : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, r->instance, -1, SQLITE_STATIC);
  bind_text_or_null(st, 10, r->summary ? r->summary : "");
  bind_text_or_null(st, 11, r->error_code);
  bind_text_or_null(st, 12, r->error_message);
  int rc = step_done(s, st, "storing the training job", err);
  sqlite3_finalize(st);
  if (rc < 0)
    return -1;
  st = NULL;
  if (prepare(s, &st,
              "DELETE FROM training_jobs WHERE seq < (SELECT min(seq) FROM"
              " (SELECT seq FROM training_jobs ORDER BY seq DESC LIMIT ?1))",
              err) < 0)
    return -1;
  sqlite3_bind_int(st, 1, keep);
  rc = step_done(s, st, "storing the training job", err);
  sqlite3_finalize(st);
  return rc;
}

static int sq_job_get(struct store *base, const char *job_id, struct job_row *out,
                      struct gerr *err) {
  struct sqlite_store *s = SQ(base);
  sqlite3_stmt *st = NULL;
  if (prepare(s, &st,
              job_id ? "SELECT " JOB_COLUMNS ", seq = (SELECT max(seq) FROM training_jobs)"
                       " FROM training_jobs WHERE job_id = ?1"
                     : "SELECT " JOB_COLUMNS ", 1 FROM training_jobs ORDER BY seq DESC LIMIT 1",
              err) < 0)
    return -1;
  if (job_id)
    sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), ret = 1;
  if (rc == SQLITE_ROW) {
    column_text(st, 0, out->job_id, sizeof out->job_id);
    column_text(st, 1, out->status, sizeof out->status);
    column_text(st, 2, out->stage, sizeof out->stage);
    out->progress = sqlite3_column_double(st, 3);
    column_text(st, 4, out->started_at, sizeof out->started_at);
    column_text(st, 5, out->finished_at, sizeof out->finished_at);
    out->duration_ms = sqlite3_column_int64(st, 6);
    column_text(st, 7, out->options, sizeof out->options);
    column_text(st, 8, out->instance, sizeof out->instance);
    const char *sum = (const char *)sqlite3_column_text(st, 9);
    column_text(st, 10, out->error_code, sizeof out->error_code);
    column_text(st, 11, out->error_message, sizeof out->error_message);
    out->newest = sqlite3_column_int(st, 12) != 0;
    ret = 0;
    if (sum && !(out->summary = strdup(sum)))
      ret = gerr_set(err, GERR_INTERNAL, "out of memory");
  } else if (rc != SQLITE_DONE) {
    ret = db_error(s, rc, "reading the training job", err);
  }
  sqlite3_finalize(st);
  return ret;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .ping = sq_ping,
    .schema_version = sq_schema_version,
    .busy_timeout = sq_busy_timeout,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_transaction = sq_in_transaction,
    .sales_insert = sq_sales_insert,
    .sales_query = sq_sales_query,
    .sales_count = sq_sales_count,
    .sales_mark = sq_sales_mark,
    .sales_summary = sq_sales_summary,
    .read_begin = sq_read_begin,
    .sales_span = sq_sales_span,
    .sales_cells = sq_sales_cells,
    .sales_days = sq_sales_days,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .models_last_trained = sq_models_last_trained,
    .model_insert = sq_model_insert,
    .model_scan = sq_model_scan,
    .model_get = sq_model_get,
    .model_set_serving = sq_model_set_serving,
    .model_serving_version = sq_model_serving_version,
    .model_prune = sq_model_prune,
    .model_set_promotion = sq_model_set_promotion,
    .regions_put = sq_regions_put,
    .regions_scan = sq_regions_scan,
    .key_insert = sq_key_insert,
    .key_scan = sq_key_scan,
    .key_revoke = sq_key_revoke,
    .job_put = sq_job_put,
    .job_get = sq_job_get,
    .maintain = sq_maintain,
};
