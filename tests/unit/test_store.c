/* src/store: both backends through the store interface. The cases run
 * against SQLite, then, when GROMO_TEST_PG names a PostgreSQL server
 * (scripts/with-pg.sh starts one; make check runs this binary under it),
 * the backend-neutral ones again against PostgreSQL, each case in a
 * database of its own. */
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "core/rng.h"
#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

static char path[256];
static const char *pg_base; /* NULL: the SQLite group runs */
static struct gaz *test_gaz; /* for the data sets built from the store */
static char pg_db[64];      /* the current case's database */

/* Runs SQL with no parameters (the test's own constants) on `db` of the
 * PostgreSQL server; the first value of the first row, or -1. */
static long long pg_admin(const char *db, const char *sql) {
  char uri[256];
  snprintf(uri, sizeof uri, "%s%s", pg_base, db);
  PGconn *c = PQconnectdb(uri);
  long long v = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
      v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) == PGRES_COMMAND_OK)
      v = 0;
    else
      print_message("pg_admin: %s", PQresultErrorMessage(r));
    PQclear(r);
  } else {
    print_message("pg_admin: %s", PQerrorMessage(c));
  }
  PQfinish(c);
  return v;
}

static int fresh(void **state) {
  static int n;
  if (pg_base) {
    char sql[128];
    snprintf(pg_db, sizeof pg_db, "store_%d_%d", (int)getpid(), n++);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_db);
    if (pg_admin("gromo", sql) < 0)
      return -1;
    snprintf(path, sizeof path, "%s%s", pg_base, pg_db);
    return 0;
  }
  snprintf(path, sizeof path, "/tmp/gromo-store-%d-%d.db", (int)getpid(), n++);
  test_remove_db(path);
  return 0;
}

static int cleanup(void **state) {
  if (pg_base) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
    pg_admin("gromo", sql);
    return 0;
  }
  test_remove_db(path);
  return 0;
}

static struct sale rec(int64_t day, int32_t pin, const char *product, const char *id) {
  struct sale s;
  memset(&s, 0, sizeof s);
  s.ts_ms = days_from_civil(2025, 1, 1) * DAY_MS + day * DAY_MS + 3600000;
  s.pincode = pin;
  s.customer_age = 30;
  s.customer_income = 50000;
  snprintf(s.product, sizeof s.product, "%s", product);
  snprintf(s.channel, sizeof s.channel, "online");
  if (id)
    snprintf(s.id, sizeof s.id, "%s", id);
  return s;
}

static struct store *open_ok(void) {
  struct store *s = NULL;
  struct gerr err;
  if (store_open(path, &s, &err) < 0)
    fail_msg("open: %s", err.msg);
  return s;
}

static int64_t count(struct store *s) {
  int64_t n = -1;
  assert_int_equal(store_sales_count(s, &n, NULL), 0);
  return n;
}

static void test_store__fresh_schema(void **state) {
  struct store *s = open_ok();
  assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
  assert_string_equal(store_backend(s), pg_base ? "postgresql" : "sqlite");
  assert_int_equal(store_ping(s, NULL), 0);
  assert_int_equal(count(s), 0);
  char buf[64];
  assert_int_equal(store_models_last_trained(s, buf, sizeof buf, NULL), 1);
  store_close(s);
  /* Reopening finds the schema as it is. */
  s = open_ok();
  assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
  store_close(s);
}

/* Summaries and the sales mark, the same on both backends: totals of the
 * scope, groups by day, product and channel, filters by pincode list,
 * product and date range. */
struct groups {
  int n;
  char key[8][16];
  int64_t day[8], sales[8], age_sum[8];
  double income_sum[8];
};

static int collect_group(void *ctx, const struct sales_group *g) {
  struct groups *gs = ctx;
  if (gs->n < 8) {
    snprintf(gs->key[gs->n], sizeof gs->key[0], "%s", g->key ? g->key : "");
    gs->day[gs->n] = g->day;
    gs->sales[gs->n] = g->sales;
    gs->age_sum[gs->n] = g->age_sum;
    gs->income_sum[gs->n] = g->income_sum;
  }
  gs->n++;
  return 0;
}

static void test_store__summary_and_mark(void **state) {
  struct store *s = open_ok();
  int64_t mark = -1;
  assert_int_equal(store_sales_mark(s, &mark, NULL), 0);
  assert_int_equal(mark, 0);
  struct sale b[5] = {rec(0, 400001, "loan", NULL), rec(0, 400001, "card", NULL),
                      rec(1, 110001, "loan", NULL), rec(1, 560001, "loan", NULL),
                      rec(3, 400001, "loan", NULL)};
  b[1].customer_age = 40;
  b[1].customer_income = 100;
  snprintf(b[3].channel, sizeof b[3].channel, "offline");
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, b, 5, NULL, &st, NULL), 0);
  int64_t mark2 = 0;
  assert_int_equal(store_sales_mark(s, &mark2, NULL), 0);
  assert_true(mark2 != mark);
  int64_t mark3 = 0; /* nothing changed: the same mark */
  assert_int_equal(store_sales_mark(s, &mark3, NULL), 0);
  assert_true(mark3 == mark2);

  struct sales_summary_query q;
  sales_summary_query_init(&q);
  struct sales_totals tot;
  struct groups g = {0};
  assert_int_equal(store_sales_summary(s, &q, collect_group, &g, &tot, NULL), 0);
  assert_int_equal(tot.sales, 5);
  assert_int_equal(tot.pincodes, 3);
  assert_int_equal(tot.first_ms, b[0].ts_ms);
  assert_int_equal(tot.last_ms, b[4].ts_ms);
  assert_int_equal(g.n, 3); /* days 0, 1 and 3 */
  int64_t day0 = b[0].ts_ms / DAY_MS;
  assert_int_equal(g.day[0], day0);
  assert_int_equal(g.day[2], day0 + 3);
  assert_int_equal(g.sales[0], 2);
  assert_int_equal(g.age_sum[0], 70);
  assert_true(g.income_sum[0] > 50099.9 && g.income_sum[0] < 50100.1);

  memset(&g, 0, sizeof g);
  q.by = SALES_BY_PRODUCT;
  assert_int_equal(store_sales_summary(s, &q, collect_group, &g, &tot, NULL), 0);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.key[0], "card");
  assert_string_equal(g.key[1], "loan");
  assert_int_equal(g.sales[1], 4);

  memset(&g, 0, sizeof g);
  q.by = SALES_BY_CHANNEL;
  static const int32_t pins[] = {400001, 560001};
  q.pincodes = pins;
  q.npincodes = 2;
  snprintf(q.product, sizeof q.product, "loan");
  assert_int_equal(store_sales_summary(s, &q, collect_group, &g, &tot, NULL), 0);
  assert_int_equal(tot.sales, 3);
  assert_int_equal(tot.pincodes, 2);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.key[0], "offline");
  assert_int_equal(g.sales[0], 1);
  assert_int_equal(g.sales[1], 2);

  q.from_ms = b[2].ts_ms; /* days 1 and 3 of those */
  q.to_ms = b[4].ts_ms;
  assert_int_equal(store_sales_summary(s, &q, NULL, NULL, &tot, NULL), 0);
  assert_int_equal(tot.sales, 1);
  q.from_ms = b[4].ts_ms + 1; /* nothing */
  q.to_ms = INT64_MAX;
  assert_int_equal(store_sales_summary(s, &q, collect_group, &g, &tot, NULL), 0);
  assert_int_equal(tot.sales, 0);
  assert_int_equal(tot.first_ms, 0);
  store_close(s);
}

static void test_store__idempotent_ids(void **state) {
  struct store *s = open_ok();
  struct sale batch[4] = {rec(0, 400001, "loan", "a"), rec(1, 400001, "loan", "b"),
                          rec(2, 400001, "loan", NULL), rec(3, 400001, "loan", "a")};
  unsigned char dup[4];
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, batch, 4, dup, &st, NULL), 0);
  assert_int_equal(st.inserted, 3); /* "a" twice in one batch: one stored */
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(dup[3], 1);
  assert_int_equal(dup[0], 0);
  assert_int_equal(store_sales_insert(s, batch, 4, dup, &st, NULL), 0);
  assert_int_equal(st.inserted, 1); /* only the record without an id */
  assert_int_equal(st.duplicates, 3);
  assert_int_equal(count(s), 4);
  store_close(s);
}

static void test_store__batch_is_atomic(void **state) {
  struct store *s = open_ok();
  struct sale batch[3] = {rec(0, 400001, "loan", "x1"), rec(1, 400001, "loan", "x2"),
                          rec(2, 400001, "loan", "x3")};
  batch[2].customer_age = 7; /* breaks the table's CHECK: the insert fails */
  struct gerr err;
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, batch, 3, NULL, &st, &err), -1);
  assert_int_equal(err.code, GERR_INTERNAL);
  assert_int_equal(count(s), 0); /* nothing of the batch */
  assert_int_equal(st.inserted, 0);
  batch[2].customer_age = 70;
  assert_int_equal(store_sales_insert(s, batch, 3, NULL, &st, &err), 0);
  assert_int_equal(count(s), 3);
  store_close(s);
}

/* Records without an id go in a run at a time, those with one alone: in a
 * mixed batch every record keeps its place (seq is arrival order), its
 * fields and its duplicate flag. */
struct stored {
  struct sale rec[16];
  int64_t seq[16];
  size_t n;
};

static int keep_row(void *ctx, const struct sale *r, int64_t seq) {
  struct stored *st = ctx;
  if (st->n < 16) {
    st->rec[st->n] = *r;
    st->seq[st->n] = seq;
  }
  st->n++;
  return 0;
}

static void test_store__mixed_batch_keeps_order(void **state) {
  struct store *s = open_ok();
  const char *ids[8] = {NULL, NULL, "a", NULL, "a", NULL, "b", NULL};
  struct sale b[8];
  for (int i = 0; i < 8; i++) {
    b[i] = rec(i, 400001 + i, i % 2 ? "insurance" : "loan", ids[i]);
    b[i].customer_age = 20 + i;
    b[i].customer_income = 1000.25 * i;
    if (i % 3 == 0)
      snprintf(b[i].city, sizeof b[i].city, "City %d", i);
    if (i % 4 == 1)
      snprintf(b[i].agent_id, sizeof b[i].agent_id, "00000000-0000-4000-8000-00000000000%d", i);
  }
  unsigned char dup[8];
  memset(dup, 7, sizeof dup);
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, b, 8, dup, &st, NULL), 0);
  assert_int_equal(st.inserted, 7);
  assert_int_equal(st.duplicates, 1);
  for (int i = 0; i < 8; i++)
    assert_int_equal(dup[i], i == 4);
  struct stored got = {.n = 0};
  struct sales_filter f;
  sales_filter_init(&f);
  assert_int_equal(store_sales_query(s, &f, keep_row, &got, NULL), 0);
  assert_int_equal(got.n, 7);
  for (size_t k = 0, i = 0; i < 8; i++) {
    if (i == 4)
      continue; /* the duplicate */
    const struct sale *r = &got.rec[k];
    /* One day apart: ts order is arrival order. SQLite numbers without
     * gaps; a PostgreSQL sequence also spends a number on the duplicate. */
    if (pg_base)
      assert_true(k == 0 || got.seq[k] > got.seq[k - 1]);
    else
      assert_int_equal(got.seq[k], (int64_t)k + 1);
    assert_int_equal(r->ts_ms, b[i].ts_ms);
    assert_int_equal(r->pincode, b[i].pincode);
    assert_string_equal(r->product, b[i].product);
    assert_string_equal(r->channel, b[i].channel);
    assert_string_equal(r->city, b[i].city);
    assert_string_equal(r->agent_id, b[i].agent_id);
    assert_string_equal(r->id, b[i].id);
    assert_int_equal(r->customer_age, b[i].customer_age);
    assert_true(r->customer_income == b[i].customer_income);
    k++;
  }
  store_close(s);
}

/* A run of records without ids that breaks a CHECK stores none of itself. */
static void test_store__run_is_atomic(void **state) {
  struct store *s = open_ok();
  struct sale batch[4] = {rec(0, 400001, "loan", NULL), rec(1, 400001, "loan", NULL),
                          rec(2, 400001, "loan", NULL), rec(3, 400001, "loan", NULL)};
  batch[2].customer_age = 7;
  struct gerr err;
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, batch, 4, NULL, &st, &err), -1);
  assert_int_equal(count(s), 0);
  assert_int_equal(st.inserted, 0);
  /* In the caller's transaction the failed call leaves nothing either. */
  assert_int_equal(store_begin(s, &err), 0);
  assert_int_equal(store_sales_insert(s, batch, 2, NULL, &st, &err), 0);
  assert_int_equal(store_sales_insert(s, batch, 4, NULL, &st, &err), -1);
  assert_int_equal(count(s), 2);
  store_rollback(s);
  assert_int_equal(count(s), 0);
  store_close(s);
}

/* Thousands of records with ids in one call (PostgreSQL sends them in
 * pipelines of 1,000): every duplicate flagged, also across the pipelines'
 * boundaries; one bad record fails the call, and rolling back the
 * caller's transaction leaves what came before it. */
static void test_store__many_ids_in_one_call(void **state) {
  struct store *s = open_ok();
  enum { N = 2500 };
  struct sale *b = malloc(N * sizeof *b);
  unsigned char *dup = malloc(N);
  assert_non_null(b);
  assert_non_null(dup);
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "m-%d", i % 2000 == i ? i : i - 1500); /* 2000.. repeat 500.. */
    b[i] = rec(i % 300, 400001 + i % 50, "loan", id);
  }
  struct store_insert_stats st;
  struct gerr err;
  assert_int_equal(store_sales_insert(s, b, N, dup, &st, &err), 0);
  assert_int_equal(st.inserted, 2000);
  assert_int_equal(st.duplicates, 500);
  for (int i = 0; i < N; i++)
    assert_int_equal(dup[i], i >= 2000);
  assert_int_equal(count(s), 2000);
  /* Again, with a bad record past the first pipeline, in a transaction. */
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "n-%d", i);
    b[i] = rec(i % 300, 400001, "loan", id);
  }
  b[1700].customer_age = 7;
  assert_int_equal(store_begin(s, &err), 0);
  assert_int_equal(store_sales_insert(s, b, 10, dup, &st, &err), 0);
  assert_int_equal(store_sales_insert(s, b + 10, N - 10, dup, &st, &err), -1);
  assert_int_equal(err.code, GERR_INTERNAL);
  if (pg_base) /* the call is undone to its savepoint; SQLite keeps its rows before the bad one */
    assert_int_equal(count(s), 2010);
  store_rollback(s);
  assert_int_equal(count(s), 2000);
  free(b);
  free(dup);
  store_close(s);
}

static void test_store__explicit_transactions(void **state) {
  struct store *s = open_ok();
  struct sale r1 = rec(0, 110001, "loan", NULL);
  struct gerr err;
  assert_int_equal(store_begin(s, &err), 0);
  assert_int_equal(store_begin(s, &err), -1); /* no nesting */
  assert_int_equal(store_sales_insert(s, &r1, 1, NULL, NULL, &err), 0);
  store_rollback(s);
  assert_int_equal(count(s), 0);
  assert_int_equal(store_begin(s, &err), 0);
  assert_int_equal(store_sales_insert(s, &r1, 1, NULL, NULL, &err), 0);
  assert_int_equal(store_sales_insert(s, &r1, 1, NULL, NULL, &err), 0);
  assert_int_equal(store_commit(s, &err), 0);
  assert_int_equal(count(s), 2);
  assert_int_equal(store_commit(s, &err), -1); /* nothing open */
  store_close(s);
}

/* The bulk-load hint changes nothing that can be seen: a transaction of
 * many batches stores them all, and reopening finds them. */
static void test_store__bulk_load_hint(void **state) {
  struct store *s = open_ok();
  struct gerr err;
  store_hint_bulk_load(s);
  assert_int_equal(store_begin(s, &err), 0);
  struct sale b[100];
  for (int k = 0; k < 30; k++) {
    for (int i = 0; i < 100; i++)
      b[i] = rec(k, 400001 + i, "loan", NULL);
    assert_int_equal(store_sales_insert(s, b, 100, NULL, NULL, &err), 0);
  }
  assert_int_equal(store_commit(s, &err), 0);
  store_close(s);
  s = open_ok();
  assert_int_equal(count(s), 3000);
  store_close(s);
}

struct rows {
  int64_t seq[64];
  int64_t ts[64];
  int32_t pin[64];
  size_t n;
};

static int collect(void *ctx, const struct sale *r, int64_t seq) {
  struct rows *rw = ctx;
  if (rw->n < 64) {
    rw->seq[rw->n] = seq;
    rw->ts[rw->n] = r->ts_ms;
    rw->pin[rw->n] = r->pincode;
  }
  rw->n++;
  return 0;
}

static size_t query(struct store *s, const struct sales_filter *f, struct rows *rw) {
  memset(rw, 0, sizeof *rw);
  struct gerr err;
  if (store_sales_query(s, f, collect, rw, &err) < 0)
    fail_msg("query: %s", err.msg);
  return rw->n;
}

static void test_store__query_filters(void **state) {
  struct store *s = open_ok();
  struct sale b[6] = {rec(0, 400001, "loan", NULL),       rec(40, 400001, "insurance", NULL),
                      rec(80, 110001, "loan", NULL),      rec(80, 400001, "loan", "id-1"),
                      rec(400, 400001, "credit_card", NULL), rec(10, 560001, "loan", NULL)};
  snprintf(b[5].channel, sizeof b[5].channel, "offline");
  snprintf(b[5].city, sizeof b[5].city, "Bengaluru");
  assert_int_equal(store_sales_insert(s, b, 6, NULL, NULL, NULL), 0);
  struct sales_filter f;
  struct rows rw;
  sales_filter_init(&f);
  assert_int_equal(query(s, &f, &rw), 6);
  for (size_t i = 1; i < 6; i++) /* ordered by (ts, seq) */
    assert_true(rw.ts[i - 1] < rw.ts[i] || (rw.ts[i - 1] == rw.ts[i] && rw.seq[i - 1] < rw.seq[i]));
  f.pincode = 400001;
  assert_int_equal(query(s, &f, &rw), 4); /* across buckets 0..400 days */
  snprintf(f.product, sizeof f.product, "loan");
  assert_int_equal(query(s, &f, &rw), 2);
  sales_filter_init(&f);
  snprintf(f.channel, sizeof f.channel, "offline");
  assert_int_equal(query(s, &f, &rw), 1);
  assert_int_equal(rw.pin[0], 560001);
  /* from inclusive, to exclusive, to the millisecond */
  sales_filter_init(&f);
  f.from_ms = b[2].ts_ms;
  f.to_ms = b[4].ts_ms;
  assert_int_equal(query(s, &f, &rw), 2);
  f.to_ms = b[4].ts_ms + 1;
  assert_int_equal(query(s, &f, &rw), 3);
  f.pincode = 400001;
  assert_int_equal(query(s, &f, &rw), 2);
  f.pincode = 999999; /* unknown: nothing, not an error */
  assert_int_equal(query(s, &f, &rw), 0);
  store_close(s);
}

static void test_store__cursor_visits_each_row_once(void **state) {
  struct store *s = open_ok();
  struct sale b[50];
  for (int i = 0; i < 50; i++) /* many equal timestamps */
    b[i] = rec(i / 7, i % 2 ? 400001 : 400002, "loan", NULL);
  assert_int_equal(store_sales_insert(s, b, 50, NULL, NULL, NULL), 0);
  for (int with_pin = 0; with_pin < 2; with_pin++) {
    struct sales_filter f;
    sales_filter_init(&f);
    f.limit = 6;
    if (with_pin)
      f.pincode = 400001;
    int64_t seen[50] = {0};
    size_t total = 0;
    for (;;) {
      struct rows rw;
      size_t n = query(s, &f, &rw);
      for (size_t i = 0; i < n; i++) {
        assert_true(rw.seq[i] >= 1 && rw.seq[i] <= 50);
        assert_int_equal(seen[rw.seq[i] - 1]++, 0);
      }
      total += n;
      if (n < f.limit)
        break;
      f.has_cursor = 1;
      f.after_ts_ms = rw.ts[n - 1];
      f.after_seq = rw.seq[n - 1];
    }
    assert_int_equal(total, with_pin ? 25 : 50);
  }
  store_close(s);
}

static void test_store__meta(void **state) {
  struct store *s = open_ok();
  char v[32];
  assert_int_equal(store_meta_get(s, "k", v, sizeof v, NULL), 1);
  assert_int_equal(store_meta_set(s, "k", "one", NULL), 0);
  assert_int_equal(store_meta_set(s, "k", "two", NULL), 0);
  assert_int_equal(store_meta_get(s, "k", v, sizeof v, NULL), 0);
  assert_string_equal(v, "two");
  store_close(s);
}

/* A database made by the first schema, by hand, is migrated with its rows. */
static void test_store__migrates_old_schema(void **state) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "CREATE TABLE sales(seq INTEGER PRIMARY KEY, client_id TEXT UNIQUE,"
                   " ts_ms INTEGER NOT NULL, pincode INTEGER NOT NULL, city TEXT,"
                   " product TEXT NOT NULL, channel TEXT NOT NULL, agent_id TEXT,"
                   " customer_age INTEGER NOT NULL, customer_income REAL NOT NULL);"
                   "INSERT INTO sales VALUES (1, 'old-1', 1735700000000, 400001, 'Mumbai',"
                   " 'loan', 'online', NULL, 30, 1000.5);"
                   "INSERT INTO sales VALUES (2, NULL, 1735800000000, 110001, NULL,"
                   " 'insurance', 'offline', NULL, 60, 0);"
                   "PRAGMA user_version = 1;",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  struct store *s = open_ok();
  assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
  assert_int_equal(count(s), 2);
  struct sales_filter f;
  struct rows rw;
  sales_filter_init(&f);
  f.pincode = 400001;
  assert_int_equal(query(s, &f, &rw), 1);
  /* The old client id still makes a retry a duplicate. */
  struct sale r = rec(0, 400001, "loan", "old-1");
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, &r, 1, NULL, &st, NULL), 0);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(store_meta_set(s, "migrated", "yes", NULL), 0); /* new table */
  store_close(s);
}

/* ---- the model registry ---- */

static struct model_row model(const char *trained_at, int64_t rows) {
  struct model_row r;
  memset(&r, 0, sizeof r);
  snprintf(r.kind, sizeof r.kind, "suite");
  snprintf(r.algorithm, sizeof r.algorithm, "xgboost");
  snprintf(r.trained_at, sizeof r.trained_at, "%s", trained_at);
  snprintf(r.data_from, sizeof r.data_from, "2024-01-01");
  snprintf(r.data_to, sizeof r.data_to, "2025-12-31");
  r.rows = rows;
  r.duration_ms = 1234;
  r.features = "[\"pincode\",\"product\"]";
  r.metrics = "{\"r2\":0.5}";
  return r;
}

static int64_t insert_model(struct store *s, const char *trained_at) {
  struct model_row r = model(trained_at, 100);
  int64_t v = -1;
  struct gerr err;
  if (store_model_insert(s, &r, &v, &err) < 0)
    fail_msg("insert: %s", err.msg);
  return v;
}

struct listing {
  int64_t version[16];
  int serving[16];
  int with_blob;
  size_t n;
};

static int list_row(void *ctx, const struct model_row *r) {
  struct listing *l = ctx;
  if (r->blob)
    l->with_blob = 1;
  if (l->n < 16) {
    l->version[l->n] = r->version;
    l->serving[l->n] = r->serving;
  }
  l->n++;
  return 0;
}

static size_t list(struct store *s, struct listing *l) {
  memset(l, 0, sizeof *l);
  struct gerr err;
  if (store_model_scan(s, list_row, l, &err) < 0)
    fail_msg("scan: %s", err.msg);
  return l->n;
}

/* Rows with serving = 1, counted behind the interface's back. */
static int serving_rows(void) {
  if (pg_base)
    return (int)pg_admin(pg_db, "SELECT count(*) FROM models WHERE serving = 1");
  sqlite3 *db;
  sqlite3_stmt *st;
  int n = -1;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM models WHERE serving = 1", -1, &st,
                         NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void test_store__models_insert_scan_get(void **state) {
  struct store *s = open_ok();
  struct model_row got;
  struct gerr err;
  int64_t v;
  assert_int_equal(store_model_get(s, 0, &got, &err), 1); /* nothing serves */
  assert_int_equal(store_model_serving_version(s, &v, &err), 1);
  assert_int_equal(insert_model(s, "2025-05-01T10:00:00Z"), 1);
  assert_int_equal(insert_model(s, "2025-05-02T10:00:00Z"), 2);
  assert_int_equal(insert_model(s, "2025-05-03T10:00:00Z"), 3);
  struct listing l;
  assert_int_equal(list(s, &l), 3);
  assert_int_equal(l.version[0], 3); /* newest first */
  assert_int_equal(l.version[2], 1);
  assert_int_equal(l.with_blob, 0);
  assert_int_equal(l.serving[0] + l.serving[1] + l.serving[2], 0);

  assert_int_equal(store_model_get(s, 2, &got, &err), 0);
  assert_int_equal(got.version, 2);
  assert_string_equal(got.kind, "suite");
  assert_string_equal(got.algorithm, "xgboost");
  assert_string_equal(got.trained_at, "2025-05-02T10:00:00Z");
  assert_string_equal(got.data_from, "2024-01-01");
  assert_string_equal(got.data_to, "2025-12-31");
  assert_int_equal(got.rows, 100);
  assert_int_equal(got.duration_ms, 1234);
  assert_int_equal(got.serving, 0);
  assert_string_equal(got.features, "[\"pincode\",\"product\"]");
  assert_string_equal(got.metrics, "{\"r2\":0.5}");
  assert_null(got.blob);
  model_row_release(&got);
  assert_null(got.features);
  model_row_release(&got); /* twice is harmless */
  assert_int_equal(store_model_get(s, 9, &got, &err), 1);
  assert_int_equal(store_model_get(s, -1, &got, &err), -1);

  /* A row missing what every row needs is refused. */
  struct model_row bad = model("", 1);
  assert_int_equal(store_model_insert(s, &bad, &v, &err), -1);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
  assert_int_equal(list(s, &l), 3);
  store_close(s);
}

/* A version's promotion record round-trips: stored with the row, read back
 * by get and scan, replaced by a later promotion together with the serving
 * mark, and left alone when the version does not exist. */
static int promotion_of_row(void *ctx, const struct model_row *r) {
  if (r->version == 2)
    snprintf(ctx, 128, "%s", r->promotion ? r->promotion : "(null)");
  return 0;
}

static void test_store__models_promotion_round_trips(void **state) {
  struct store *s = open_ok();
  struct gerr err;
  int64_t v = 0;
  struct model_row r = model("2025-05-01T10:00:00Z", 1);
  r.promotion = "{\"decision\":\"promoted\",\"champion\":null}";
  r.serving = 1;
  assert_int_equal(store_model_insert(s, &r, &v, &err), 0);
  assert_int_equal(v, 1);
  r = model("2025-05-02T10:00:00Z", 2);
  r.promotion = "{\"decision\":\"candidate\",\"champion\":1}";
  assert_int_equal(store_model_insert(s, &r, &v, &err), 0);
  assert_int_equal(v, 2);
  insert_model(s, "2025-05-03T10:00:00Z"); /* none recorded */

  struct model_row got;
  assert_int_equal(store_model_get(s, 2, &got, &err), 0);
  assert_int_equal(got.serving, 0);
  assert_string_equal(got.promotion, "{\"decision\":\"candidate\",\"champion\":1}");
  model_row_release(&got);
  assert_null(got.promotion);
  assert_int_equal(store_model_get(s, 3, &got, &err), 0);
  assert_null(got.promotion);
  model_row_release(&got);
  char seen[128] = "";
  assert_int_equal(store_model_scan(s, promotion_of_row, seen, &err), 0);
  assert_string_equal(seen, "{\"decision\":\"candidate\",\"champion\":1}");

  /* Promoting the candidate: serving and its record change together. */
  const char *over = "{\"decision\":\"promoted\",\"override\":{\"by\":\"key 7\"}}";
  assert_int_equal(store_model_promote(s, 2, over, &err), 0);
  assert_int_equal(serving_rows(), 1);
  assert_int_equal(store_model_serving_version(s, &v, &err), 0);
  assert_int_equal(v, 2);
  assert_int_equal(store_model_get(s, 0, &got, &err), 0);
  assert_int_equal(got.version, 2);
  assert_string_equal(got.promotion, over);
  model_row_release(&got);
  assert_int_equal(store_model_get(s, 1, &got, &err), 0); /* the old one keeps its own */
  assert_string_equal(got.promotion, "{\"decision\":\"promoted\",\"champion\":null}");
  model_row_release(&got);

  assert_int_equal(store_model_promote(s, 99, "{}", &err), 1);
  assert_int_equal(store_model_promote(s, 0, "{}", &err), -1);
  assert_int_equal(store_model_serving_version(s, &v, &err), 0);
  assert_int_equal(v, 2);
  store_close(s);
}

static void test_store__models_one_serving(void **state) {
  struct store *s = open_ok();
  struct gerr err;
  char trained[64];
  int64_t v = 0;
  assert_int_equal(store_models_last_trained(s, trained, sizeof trained, &err), 1);
  for (int i = 1; i <= 3; i++) {
    char at[32];
    snprintf(at, sizeof at, "2025-05-0%dT10:00:00Z", i);
    insert_model(s, at);
  }
  /* Stored is not serving: health and version read the serving one. */
  assert_int_equal(store_models_last_trained(s, trained, sizeof trained, &err), 1);
  assert_int_equal(store_model_set_serving(s, 2, &err), 0);
  assert_int_equal(serving_rows(), 1);
  assert_int_equal(store_model_serving_version(s, &v, &err), 0);
  assert_int_equal(v, 2);
  assert_int_equal(store_models_last_trained(s, trained, sizeof trained, &err), 0);
  assert_string_equal(trained, "2025-05-02T10:00:00Z");
  struct model_row got;
  assert_int_equal(store_model_get(s, 0, &got, &err), 0);
  assert_int_equal(got.version, 2);
  assert_int_equal(got.serving, 1);
  model_row_release(&got);

  assert_int_equal(store_model_set_serving(s, 3, &err), 0);
  assert_int_equal(serving_rows(), 1);
  assert_int_equal(store_model_set_serving(s, 3, &err), 0); /* again: no change */
  assert_int_equal(serving_rows(), 1);
  assert_int_equal(store_model_set_serving(s, 99, &err), 1);
  assert_int_equal(store_model_set_serving(s, 0, &err), -1);
  assert_int_equal(store_model_serving_version(s, &v, &err), 0);
  assert_int_equal(v, 3); /* unchanged by the failures */

  /* Inserted as serving: the others stop serving in the same transaction. */
  struct model_row r = model("2025-05-09T10:00:00Z", 7);
  r.serving = 1;
  assert_int_equal(store_model_insert(s, &r, &v, &err), 0);
  assert_int_equal(v, 4);
  assert_int_equal(serving_rows(), 1);
  struct listing l;
  list(s, &l);
  assert_int_equal(l.serving[0], 1); /* version 4 */
  assert_int_equal(l.serving[1] + l.serving[2] + l.serving[3], 0);

  /* A second connection (another process, say) sees the change at once. */
  struct store *other = open_ok();
  assert_int_equal(store_model_set_serving(other, 1, &err), 0);
  store_close(other);
  assert_int_equal(store_model_serving_version(s, &v, &err), 0);
  assert_int_equal(v, 1);
  store_close(s);
}

static void test_store__models_prune_never_reuses(void **state) {
  struct store *s = open_ok();
  struct gerr err;
  for (int i = 0; i < 6; i++)
    insert_model(s, "2025-05-01T10:00:00Z");
  assert_int_equal(store_model_set_serving(s, 2, &err), 0);
  assert_int_equal(store_model_prune(s, 3, &err), 0);
  struct listing l;
  assert_int_equal(list(s, &l), 4); /* 6, 5, 4 and the serving 2 */
  assert_int_equal(l.version[0], 6);
  assert_int_equal(l.version[2], 4);
  assert_int_equal(l.version[3], 2);
  assert_int_equal(l.serving[3], 1);
  assert_int_equal(store_model_prune(s, 0, &err), 0);
  assert_int_equal(list(s, &l), 1); /* only the serving one is left */
  assert_int_equal(l.version[0], 2);
  assert_int_equal(store_model_prune(s, -1, &err), -1);
  /* Numbers are never reused, also across connections. */
  store_close(s);
  s = open_ok();
  assert_int_equal(insert_model(s, "2025-05-02T10:00:00Z"), 7);
  store_close(s);
}

static void test_store__models_in_caller_transaction(void **state) {
  struct store *s = open_ok();
  struct gerr err;
  assert_int_equal(insert_model(s, "2025-05-01T10:00:00Z"), 1);
  assert_int_equal(store_model_set_serving(s, 1, &err), 0);
  /* insert + serve + prune as one unit, rolled back: nothing changed. */
  assert_int_equal(store_begin(s, &err), 0);
  struct model_row r = model("2025-05-02T10:00:00Z", 1);
  r.serving = 1;
  int64_t v;
  assert_int_equal(store_model_insert(s, &r, &v, &err), 0);
  assert_int_equal(v, 2);
  assert_int_equal(store_model_prune(s, 1, &err), 0);
  store_rollback(s);
  struct listing l;
  assert_int_equal(list(s, &l), 1);
  assert_int_equal(l.version[0], 1);
  assert_int_equal(l.serving[0], 1);
  assert_int_equal(insert_model(s, "2025-05-03T10:00:00Z"), 2); /* counter rolled back too */
  /* The same, committed. */
  assert_int_equal(store_begin(s, &err), 0);
  r.serving = 1;
  assert_int_equal(store_model_insert(s, &r, &v, &err), 0);
  assert_int_equal(store_model_prune(s, 1, &err), 0);
  assert_int_equal(store_commit(s, &err), 0);
  assert_int_equal(list(s, &l), 1);
  assert_int_equal(l.version[0], 3);
  assert_int_equal(l.serving[0], 1);
  store_close(s);
}

static void test_store__models_blob_round_trip(void **state) {
  struct store *s = open_ok();
  size_t n = 5 * 1024 * 1024 + 17; /* a few MB, not a multiple of a page */
  unsigned char *blob = malloc(n);
  assert_non_null(blob);
  uint64_t x = 88172645463325252ULL;
  for (size_t i = 0; i < n; i++) /* incompressible, no pattern */
    blob[i] = (unsigned char)splitmix64(&x);
  blob[0] = 0; /* binary, NULs included */
  struct model_row r = model("2025-05-01T10:00:00Z", 1);
  r.blob = blob;
  r.blob_len = n;
  r.serving = 1;
  int64_t v;
  struct gerr err;
  assert_int_equal(store_model_insert(s, &r, &v, &err), 0);
  insert_model(s, "2025-05-02T10:00:00Z"); /* a newer one without blob */
  store_close(s);
  s = open_ok();
  struct model_row got;
  assert_int_equal(store_model_get(s, 0, &got, &err), 0);
  assert_int_equal(got.version, v);
  assert_int_equal(got.blob_len, n);
  assert_non_null(got.blob);
  assert_memory_equal(got.blob, blob, n);
  model_row_release(&got);
  assert_null(got.blob);
  /* Listing does not read the blobs. */
  struct listing l;
  assert_int_equal(list(s, &l), 2);
  assert_int_equal(l.with_blob, 0);
  free(blob);
  store_close(s);
}

struct numberer {
  int64_t got[10];
  int failures;
};

static void *number_many(void *arg) {
  struct numberer *nb = arg;
  struct store *s = NULL;
  if (store_open(path, &s, NULL) < 0) {
    nb->failures++;
    return NULL;
  }
  for (int i = 0; i < 10; i++) {
    struct model_row r = model("2025-05-01T10:00:00Z", i);
    r.serving = i % 2;
    if (store_model_insert(s, &r, &nb->got[i], NULL) < 0)
      nb->failures++;
  }
  store_close(s);
  return NULL;
}

static void test_store__models_concurrent_numbers(void **state) {
  store_close(open_ok()); /* create the schema before the race */
  pthread_t t[3];
  struct numberer nb[3];
  memset(nb, 0, sizeof nb);
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, number_many, &nb[i]);
  int seen[31] = {0};
  for (int i = 0; i < 3; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(nb[i].failures, 0);
    for (int k = 0; k < 10; k++) {
      assert_true(nb[i].got[k] >= 1 && nb[i].got[k] <= 30);
      assert_int_equal(seen[nb[i].got[k]]++, 0); /* each number once */
    }
  }
  assert_int_equal(serving_rows(), 1);
}

/* A v2 database with a models table (made by hand as v2 made it) moves to
 * v3 keeping its rows; the newest promoted row becomes the serving one. */
static void test_store__migrates_v2_models(void **state) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  int rc = sqlite3_exec(
      db,
      "CREATE TABLE sales(seq INTEGER PRIMARY KEY, client_id TEXT, ts_ms INTEGER NOT NULL,"
      " pincode INTEGER NOT NULL, city TEXT, product TEXT NOT NULL, channel TEXT NOT NULL,"
      " agent_id TEXT, customer_age INTEGER NOT NULL, customer_income REAL NOT NULL,"
      " ingested_at INTEGER NOT NULL DEFAULT 0);"
      "CREATE UNIQUE INDEX sales_client_id ON sales(client_id) WHERE client_id IS NOT NULL;"
      "CREATE INDEX sales_ts ON sales(ts_ms);"
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE api_keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
      " role TEXT NOT NULL, prefix TEXT NOT NULL, hash BLOB NOT NULL UNIQUE,"
      " created_at TEXT NOT NULL, revoked_at TEXT);"
      "CREATE TABLE models(version INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
      " algorithm TEXT NOT NULL, trained_at TEXT NOT NULL, rows INTEGER NOT NULL,"
      " features TEXT, metrics TEXT, blob BLOB, promoted INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX models_trained_at ON models(trained_at);"
      "CREATE TABLE regions(model_version INTEGER NOT NULL, pincode INTEGER NOT NULL,"
      " region_id INTEGER NOT NULL, PRIMARY KEY (model_version, pincode)) WITHOUT ROWID;"
      "INSERT INTO sales(ts_ms, pincode, product, channel, customer_age, customer_income)"
      " VALUES (1735700000000, 400001, 'loan', 'online', 30, 1000);"
      "INSERT INTO models VALUES (1, 'suite', 'xgboost', '2025-01-01T00:00:00Z', 10,"
      " '[]', '{}', x'00ff', 1);"
      "INSERT INTO models VALUES (2, 'suite', 'xgboost', '2025-02-01T00:00:00Z', 20,"
      " '[]', '{}', x'0102', 1);"
      "INSERT INTO models VALUES (3, 'suite', 'xgboost', '2025-03-01T00:00:00Z', 30,"
      " '[]', '{}', NULL, 0);"
      "INSERT INTO regions VALUES (1, 400001, 1), (3, 400001, 2);"
      "PRAGMA user_version = 2;",
      NULL, NULL, NULL);
  assert_int_equal(rc, SQLITE_OK);
  sqlite3_close(db);
  struct store *s = open_ok();
  assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
  assert_int_equal(count(s), 1);
  struct listing l;
  assert_int_equal(list(s, &l), 3);
  assert_int_equal(l.serving[0], 0); /* 3 */
  assert_int_equal(l.serving[1], 1); /* 2: the newest promoted */
  assert_int_equal(l.serving[2], 0); /* 1 */
  struct model_row got;
  struct gerr err;
  assert_int_equal(store_model_get(s, 1, &got, &err), 0);
  assert_int_equal(got.blob_len, 2);
  assert_int_equal(got.blob[1], 0xff);
  assert_int_equal(got.rows, 10);
  assert_string_equal(got.data_from, ""); /* unknown for old rows */
  assert_int_equal(got.duration_ms, 0);
  model_row_release(&got);
  char trained[64];
  assert_int_equal(store_models_last_trained(s, trained, sizeof trained, &err), 0);
  assert_string_equal(trained, "2025-02-01T00:00:00Z");
  assert_int_equal(insert_model(s, "2025-04-01T00:00:00Z"), 4);
  /* Pruning takes the region assignments of the versions it deletes. */
  assert_int_equal(store_model_prune(s, 1, &err), 0); /* keeps 4 and serving 2 */
  assert_int_equal(list(s, &l), 2);
  store_close(s);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM regions", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Names of the indexes on sales, behind the interface's back. */
static void sales_indexes(char *out, size_t cap) {
  sqlite3 *db;
  sqlite3_stmt *st;
  out[0] = '\0';
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT group_concat(name, ' ') FROM (SELECT name"
                                      " FROM sqlite_schema WHERE type = 'index' AND"
                                      " tbl_name = 'sales' ORDER BY name)",
                                      -1, &st, NULL),
                   SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* A v3 database, made as v2 and v3 made it, moves to v4 (the pincode
 * index keyed by one integer) keeping its rows: queries by pincode find
 * the same rows in the same order, and stored ids still make duplicates. */
static void test_store__migrates_v3_pincode_index(void **state) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  int rc = sqlite3_exec(
      db,
      "CREATE TABLE sales(seq INTEGER PRIMARY KEY, client_id TEXT, ts_ms INTEGER NOT NULL,"
      " pincode INTEGER NOT NULL CHECK (pincode BETWEEN 100000 AND 999999), city TEXT,"
      " product TEXT NOT NULL, channel TEXT NOT NULL, agent_id TEXT,"
      " customer_age INTEGER NOT NULL CHECK (customer_age BETWEEN 18 AND 100),"
      " customer_income REAL NOT NULL CHECK (customer_income >= 0),"
      " ingested_at INTEGER NOT NULL DEFAULT 0);"
      "CREATE UNIQUE INDEX sales_client_id ON sales(client_id) WHERE client_id IS NOT NULL;"
      "CREATE INDEX sales_ts ON sales(ts_ms);"
      "CREATE INDEX sales_bucket_pincode ON sales(ts_ms / 2592000000, pincode, ts_ms);"
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE api_keys(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
      " role TEXT NOT NULL CHECK (role IN ('admin','analyst','viewer')),"
      " prefix TEXT NOT NULL, hash BLOB NOT NULL UNIQUE, created_at TEXT NOT NULL,"
      " revoked_at TEXT);"
      "CREATE INDEX api_keys_prefix ON api_keys(prefix);"
      "CREATE TABLE models(version INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
      " algorithm TEXT NOT NULL, trained_at TEXT NOT NULL, rows INTEGER NOT NULL,"
      " data_from TEXT, data_to TEXT, duration_ms INTEGER NOT NULL DEFAULT 0,"
      " serving INTEGER NOT NULL DEFAULT 0 CHECK (serving IN (0, 1)), features TEXT,"
      " metrics TEXT, blob BLOB);"
      "CREATE UNIQUE INDEX models_serving ON models(serving) WHERE serving = 1;"
      "CREATE TABLE regions(model_version INTEGER NOT NULL, pincode INTEGER NOT NULL,"
      " region_id INTEGER NOT NULL, PRIMARY KEY (model_version, pincode)) WITHOUT ROWID;"
      /* 300 sales over 150 days (six buckets) in three pincodes, two per
       * day at the same instant; every tenth with an id. */
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)"
      " INSERT INTO sales(client_id, ts_ms, pincode, product, channel, customer_age,"
      " customer_income)"
      " SELECT CASE WHEN i % 10 = 0 THEN 'v3-' || i END,"
      " 1735689600000 + (i / 2) * 86400000, 400001 + i % 3, 'loan', 'online', 30, i"
      " FROM n;"
      "INSERT INTO meta VALUES ('kept', 'yes');"
      "PRAGMA user_version = 3;",
      NULL, NULL, NULL);
  assert_int_equal(rc, SQLITE_OK);
  sqlite3_close(db);
  char names[256];
  sales_indexes(names, sizeof names);
  assert_string_equal(names, "sales_bucket_pincode sales_client_id sales_ts");

  struct store *s = open_ok();
  assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
  assert_int_equal(count(s), 300);
  char v[16];
  assert_int_equal(store_meta_get(s, "kept", v, sizeof v, NULL), 0);
  for (int32_t pin = 400001; pin <= 400003; pin++) {
    struct sales_filter f;
    struct rows rw;
    sales_filter_init(&f);
    f.pincode = pin;
    assert_int_equal(query(s, &f, &rw), 100);
    for (size_t i = 0; i < 64; i++) { /* rows keeps the first 64 */
      assert_int_equal(rw.pin[i], pin);
      assert_int_equal((rw.seq[i] - 1) % 3, pin - 400001);
      if (i)
        assert_true(rw.seq[i - 1] < rw.seq[i]); /* (ts, seq) order */
    }
    /* A date range within the third bucket and on into the fourth. */
    f.from_ms = 1735689600000LL + 70 * DAY_MS;
    f.to_ms = 1735689600000LL + 95 * DAY_MS;
    size_t want = 0; /* sales 140..189 are on those days */
    for (int i = 140; i < 190; i++)
      want += i % 3 == pin - 400001;
    assert_int_equal(query(s, &f, &rw), want);
    for (size_t i = 0; i < rw.n; i++)
      assert_true(rw.ts[i] >= f.from_ms && rw.ts[i] < f.to_ms);
  }
  struct sales_filter f;
  struct rows rw;
  sales_filter_init(&f);
  f.pincode = 110001; /* none there */
  assert_int_equal(query(s, &f, &rw), 0);
  struct sale r = rec(0, 400001, "loan", "v3-10");
  struct store_insert_stats st;
  assert_int_equal(store_sales_insert(s, &r, 1, NULL, &st, NULL), 0);
  assert_int_equal(st.duplicates, 1);
  store_close(s);
  sales_indexes(names, sizeof names);
  assert_string_equal(names, "sales_bucket_pincode_key sales_client_id sales_ts");
}

static void test_store__refuses_newer_schema(void **state) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  struct store *s = NULL;
  struct gerr err;
  assert_int_equal(store_open(path, &s, &err), -1);
  assert_null(s);
  assert_non_null(strstr(err.msg, "newer"));
}

/* PostgreSQL keeps its versions in schema_versions. */
static void test_store__pg_refuses_newer_schema(void **state) {
  store_close(open_ok());
  assert_int_equal(pg_admin(pg_db, "INSERT INTO schema_versions(version) VALUES (99)"), 0);
  struct store *s = NULL;
  struct gerr err;
  assert_int_equal(store_open(path, &s, &err), -1);
  assert_null(s);
  assert_non_null(strstr(err.msg, "newer"));
}

/* PostgreSQL's "disk full" (53100, raised here by a trigger, as the server
 * raises it when a write finds no space) is insufficient_storage, and the
 * batch is undone. */
static void test_store__pg_disk_full(void **state) {
  struct store *s = open_ok();
  assert_int_equal(pg_admin(pg_db, "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql"
                                   " AS $$BEGIN RAISE EXCEPTION 'could not extend file'"
                                   " USING ERRCODE = '53100'; END$$;"
                                   "CREATE TRIGGER full_disk BEFORE INSERT ON sales"
                                   " FOR EACH ROW EXECUTE FUNCTION full_disk()"), 0);
  struct sale batch[2] = {rec(0, 400001, "loan", "f1"), rec(1, 400001, "loan", "f2")};
  unsigned char dup[2];
  struct store_insert_stats st;
  struct gerr err;
  assert_int_equal(store_sales_insert(s, batch, 2, dup, &st, &err), -1);
  assert_int_equal(err.code, GERR_INSUFFICIENT_STORAGE);
  assert_non_null(strstr(err.msg, "no space"));
  assert_int_equal(pg_admin(pg_db, "DROP TRIGGER full_disk ON sales"), 0);
  assert_int_equal(count(s), 0);
  store_close(s);
}

/* A database that is not there, or a server that is not: unavailable. */
static void test_store__pg_bad_uris(void **state) {
  struct store *s = NULL;
  struct gerr err;
  char uri[300];
  snprintf(uri, sizeof uri, "%sno_such_database", pg_base);
  assert_int_equal(store_open(uri, &s, &err), -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
  assert_null(s);
  assert_int_equal(store_open("postgres://127.0.0.1:1/gromo", &s, &err), -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
}

/* Migrating twice, from several connections at once, is harmless: the
 * advisory lock lets one migrate and the others find the schema. */
static void *open_close(void *arg) {
  struct store *s = NULL;
  *(int *)arg = store_open(path, &s, NULL);
  store_close(s);
  return NULL;
}

static void test_store__pg_concurrent_first_open(void **state) {
  pthread_t t[4];
  int rc[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, open_close, &rc[i]);
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(rc[i], 0);
  }
  assert_int_equal(pg_admin(pg_db, "SELECT max(version) FROM schema_versions"),
                   STORE_SCHEMA_VERSION);
}

/* Writers of two connections (two servers) commit in any order: a row
 * with a lower sequence number than the newest one seen may appear later,
 * and the mark must change when it does. */
static void test_store__pg_mark_sees_late_commits(void **state) {
  struct store *a = open_ok(), *b = open_ok(), *r = open_ok();
  struct gerr err;
  struct sale x = rec(0, 400001, "loan", NULL), y = rec(1, 400001, "loan", NULL);
  assert_int_equal(store_begin(a, &err), 0);
  assert_int_equal(store_sales_insert(a, &x, 1, NULL, NULL, &err), 0); /* seq 1, open */
  assert_int_equal(store_sales_insert(b, &y, 1, NULL, NULL, &err), 0);  /* seq 2, committed */
  int64_t before = 0, after = 0, n = 0;
  assert_int_equal(store_sales_mark(r, &before, &err), 0);
  assert_int_equal(store_sales_count(r, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(store_commit(a, &err), 0);
  assert_int_equal(store_sales_mark(r, &after, &err), 0);
  assert_int_equal(store_sales_count(r, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_true(after != before);
  store_close(a);
  store_close(b);
  store_close(r);
}

/* The definitions of the indexes of sales, one line, sorted. */
static void pg_sales_indexes(char *out, size_t cap) {
  char uri[256];
  snprintf(uri, sizeof uri, "%s%s", pg_base, pg_db);
  PGconn *c = PQconnectdb(uri);
  PGresult *r = PQexec(c, "SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes"
                          " WHERE tablename = 'sales'");
  snprintf(out, cap, "%s", PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?");
  PQclear(r);
  PQfinish(c);
}

/* A bulk load into an empty table drops the secondary indexes and builds
 * them again before its commit: afterwards they are as they were and
 * answer queries. Meanwhile the table is locked (a reader waits for at
 * most its lock timeout); a rolled-back load leaves everything as it was;
 * a table that has rows is loaded with its indexes, readers never waiting. */
static void test_store__pg_bulk_load_indexes(void **state) {
  struct store *s = open_ok(), *r = open_ok();
  struct gerr err;
  char before[1024], after[1024];
  pg_sales_indexes(before, sizeof before);
  assert_non_null(strstr(before, "sales_pincode_ts"));
  store_set_busy_timeout(r, 200);
  struct sale b[100];
  int64_t n = 0;
  for (int round = 0; round < 3; round++) { /* rolled back, committed, onto rows */
    store_hint_bulk_load(s);
    assert_int_equal(store_begin(s, &err), 0);
    for (int k = 0; k < 10; k++) {
      for (int i = 0; i < 100; i++)
        b[i] = rec(k, 400001 + (i * 7919) % 500, "loan", NULL);
      assert_int_equal(store_sales_insert(s, b, 100, NULL, NULL, &err), 0);
    }
    struct rows rw;
    struct sales_filter f;
    sales_filter_init(&f);
    f.pincode = 400001;
    int readable = store_sales_query(r, &f, collect, &rw, &err) == 0;
    if (round < 2) { /* an empty table was locked for the load */
      assert_false(readable);
      assert_int_equal(err.code, GERR_UNAVAILABLE);
    } else {
      assert_true(readable);
    }
    if (round == 0) {
      store_rollback(s);
    } else {
      assert_int_equal(store_commit(s, &err), 0);
      n += 1000;
    }
    assert_int_equal(count(r), n);
    pg_sales_indexes(after, sizeof after);
    assert_string_equal(after, before);
    if (n)
      assert_int_equal(query(r, &f, &rw), n / 100); /* once in each hundred */
  }
  store_close(r);
  store_close(s);
}

/* An SQLite file is not shared: no lock beyond the process, no notices. */
static void test_store__sqlite_not_shared(void **state) {
  struct store *a = open_ok(), *b = open_ok();
  struct gerr err;
  assert_int_equal(store_shared(a), 0);
  assert_int_equal(store_training_lock(a, &err), 0);
  assert_int_equal(store_training_lock(b, &err), 0);
  store_training_unlock(a);
  assert_int_equal(store_models_listen(a, &err), 1);
  store_close(a);
  store_close(b);
}

/* One training lock across connections (processes): taken without
 * waiting, refused to the others, given back by an unlock or a close. */
static void test_store__pg_training_lock(void **state) {
  struct store *a = open_ok(), *b = open_ok();
  struct gerr err;
  assert_int_equal(store_shared(a), 1);
  assert_int_equal(store_training_lock(a, &err), 0);
  assert_int_equal(store_training_lock(b, &err), 1);
  assert_int_equal(store_training_lock(b, &err), 1);
  store_training_unlock(a);
  assert_int_equal(store_training_lock(b, &err), 0);
  assert_int_equal(store_training_lock(a, &err), 1);
  store_close(b); /* a process that dies lets go of it (once its backend has ended) */
  int rc = 1;
  for (int64_t t0 = mono_us(); rc == 1 && mono_us() - t0 < 10000000;)
    rc = store_training_lock(a, &err);
  assert_int_equal(rc, 0);
  store_training_unlock(a);
  store_close(a);
}

/* A listening connection hears of every committed change of the serving
 * version, made through any connection, and of none rolled back. */
static void test_store__pg_model_notices(void **state) {
  struct store *l = open_ok(), *w = open_ok();
  struct gerr err;
  int64_t v;
  assert_int_equal(store_models_listen(l, &err), 0);
  assert_int_equal(store_models_wait(l, 0, &err), 0);
  assert_int_equal(insert_model(w, "2025-05-01T10:00:00Z"), 1); /* not serving */
  assert_int_equal(insert_model(w, "2025-05-02T10:00:00Z"), 2);
  assert_int_equal(store_models_wait(l, 200, &err), 0);

  assert_int_equal(store_model_set_serving(w, 1, &err), 0);
  assert_int_equal(store_models_wait(l, 10000, &err), 1);
  assert_int_equal(store_models_wait(l, 0, &err), 0); /* consumed */

  /* Inserted as serving. */
  struct model_row r = model("2025-05-03T10:00:00Z", 7);
  r.serving = 1;
  assert_int_equal(store_model_insert(w, &r, &v, &err), 0);
  assert_int_equal(store_models_wait(l, 10000, &err), 1);

  /* Rolled back: nothing to hear. */
  assert_int_equal(store_begin(w, &err), 0);
  assert_int_equal(store_model_set_serving(w, 2, &err), 0);
  store_rollback(w);
  assert_int_equal(store_models_wait(l, 300, &err), 0);
  assert_int_equal(store_model_serving_version(w, &v, &err), 0);
  assert_int_equal(v, 3);

  /* Several before a wait: one wait takes them all. */
  assert_int_equal(store_model_set_serving(w, 1, &err), 0);
  assert_int_equal(store_model_set_serving(w, 2, &err), 0);
  int64_t t0 = mono_us();
  while (mono_us() - t0 < 200000) /* both delivered */
    if (store_models_wait(l, 50, &err) < 0)
      fail_msg("wait: %s", err.msg);
  assert_int_equal(store_models_wait(l, 0, &err), 0);
  store_close(w);
  store_close(l);
}

/* The listening connection's server goes away: the wait fails instead of
 * waiting for notices that can no longer come. */
static void test_store__pg_notices_connection_lost(void **state) {
  struct store *l = open_ok();
  struct gerr err;
  assert_int_equal(store_models_listen(l, &err), 0);
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
           " WHERE datname = '%s' AND query LIKE 'LISTEN%%'",
           pg_db);
  assert_int_equal(pg_admin("gromo", sql), 1);
  int rc = 0;
  int64_t t0 = mono_us();
  while (rc == 0 && mono_us() - t0 < 10000000)
    rc = store_models_wait(l, 100, &err);
  assert_int_equal(rc, -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
  store_close(l);
}

static void test_store__bad_uris(void **state) {
  struct store *s = NULL;
  struct gerr err;
  assert_int_equal(store_open("/nonexistent/dir/x.db", &s, &err), -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
  /* A PostgreSQL server that does not answer: unavailable, not a hang. */
  assert_int_equal(store_open("postgresql://127.0.0.1:1/gromo", &s, &err), -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
  assert_non_null(strstr(err.msg, "PostgreSQL"));
  assert_int_equal(store_open("", &s, &err), -1);
  /* A file that is not a database. */
  FILE *f = fopen(path, "w");
  fputs("this is not a database, just text that is long enough to matter......", f);
  fclose(f);
  assert_int_equal(store_open(path, &s, &err), -1);
  assert_int_equal(err.code, GERR_UNAVAILABLE);
}

struct writer {
  struct store_pool *pool;
  int id;
  int failures;
};

static void *write_many(void *arg) {
  struct writer *w = arg;
  for (int b = 0; b < 20; b++) {
    struct gerr err;
    struct store *s = store_pool_get(w->pool, &err);
    if (!s) {
      w->failures++;
      continue;
    }
    struct sale batch[50];
    for (int i = 0; i < 50; i++) {
      char id[32];
      snprintf(id, sizeof id, "w%d-%d-%d", w->id, b, i);
      batch[i] = rec(i, 400001 + w->id, "loan", id);
    }
    if (store_sales_insert(s, batch, 50, NULL, NULL, &err) < 0)
      w->failures++;
    store_pool_put(w->pool, s);
  }
  return NULL;
}

/* ---- training's read: the period cells aggregated by the database ---- */

struct cells_seen {
  struct sales_span span;
  size_t ncells;
  int age_band[256], income_band[256];
};

static int seen_span(void *ctx, const struct sales_span *sp) {
  ((struct cells_seen *)ctx)->span = *sp;
  return 0;
}

/* Each test sale has a pincode of its own: 110001 + its index. */
static int seen_cell(void *ctx, const struct sales_cell *c) {
  struct cells_seen *s = ctx;
  long i = (long)c->pincode - 110001;
  if (i < 0 || i >= 256 || c->period != 0 || c->sales != 1)
    fail_msg("unexpected cell: pincode %d, period %d, %lld sales", (int)c->pincode,
             (int)c->period, (long long)c->sales);
  s->age_band[i] = c->age_band;
  s->income_band[i] = c->income_band;
  s->ncells++;
  return 0;
}

/* The segment bands the SQL computes are the C functions', on each edge
 * and on the doubles just beside the income edges. */
static void test_store__cells_bands_are_the_c_bands(void **state) {
  (void)state;
  static const int32_t ages[] = {18, 25, 26, 35, 36, 45, 46, 60, 61, 100};
  const double incomes[] = {0, 24999.99, nextafter(25000, 0), 25000, 49999.995, 50000,
                            nextafter(100000, 0), 100000, 199999.999, 200000,
                            nextafter(200000, 1e9), 1e8};
  enum { NA = sizeof ages / sizeof *ages, NI = sizeof incomes / sizeof *incomes };
  struct store *s = open_ok();
  struct sale recs[NA * NI];
  for (size_t i = 0; i < NA * NI; i++) {
    recs[i] = rec(10, 110001 + (int32_t)i, "loan", NULL);
    recs[i].customer_age = ages[i / NI];
    recs[i].customer_income = incomes[i % NI];
  }
  struct gerr err;
  assert_int_equal(store_sales_insert(s, recs, NA * NI, NULL, NULL, &err), 0);
  struct cells_seen seen = {0};
  struct sales_cells_query q = {30, 1, 0, 0};
  struct sales_cells_reader rd = {seen_span, seen_cell, NULL, &seen, NULL};
  if (store_sales_cells(s, &q, &rd, &err) < 0)
    fail_msg("cells: %s", err.msg);
  assert_int_equal(seen.ncells, NA * NI);
  for (size_t i = 0; i < NA * NI; i++) {
    assert_int_equal(seen.age_band[i], ml_age_band(ages[i / NI]));
    assert_int_equal(seen.income_band[i], ml_income_band(incomes[i % NI]));
  }
  /* the edges themselves, as docs/rules.md §3 states them */
  assert_int_equal(seen.age_band[0 * NI], 0);
  assert_int_equal(seen.age_band[1 * NI], 0);
  assert_int_equal(seen.age_band[2 * NI], 1);
  assert_int_equal(seen.age_band[9 * NI], 4);
  assert_int_equal(seen.income_band[2], 0);
  assert_int_equal(seen.income_band[3], 1);
  assert_int_equal(seen.income_band[9], 4);
  assert_int_equal(seen.span.sales, NA * NI);
  store_close(s);
}

/* A store of n generated sales over `days` days to 2026-03-01. */
static void generate_into(struct store *s, uint64_t seed, size_t n, int days) {
  struct gerr err;
  struct gen_config gc = {.seed = seed, .end_ist_ms = days_from_civil(2026, 3, 1) * DAY_MS,
                          .days = days, .count = n};
  struct gen *g = NULL;
  assert_int_equal(gen_new(test_gaz, &gc, &g, &err), 0);
  struct sale *recs = calloc(n, sizeof *recs);
  assert_non_null(recs);
  for (size_t i = 0; i < n; i++)
    gen_next(g, &recs[i]);
  gen_free(g);
  assert_int_equal(store_sales_insert(s, recs, n, NULL, NULL, &err), 0);
  free(recs);
}

struct build_ctx {
  struct dataset_builder *b;
  int failed;
};

static int build_sale(void *ctx, const struct sale *r, int64_t seq) {
  struct build_ctx *c = ctx;
  (void)seq;
  struct ml_sale_src s = {r->ts_ms, r->pincode, r->product, r->channel, r->customer_age,
                          r->customer_income};
  c->failed |= dataset_builder_add(c->b, &s) < 0;
  return c->failed;
}

static int build_span(void *ctx, const struct sales_span *sp) {
  struct build_ctx *c = ctx;
  c->failed |= dataset_builder_set_span(c->b, (size_t)sp->sales, sp->first_ms, sp->last_ms) < 0;
  return c->failed;
}

static int build_cell(void *ctx, const struct sales_cell *cell) {
  struct build_ctx *c = ctx;
  struct ml_cell_src s = {cell->period,  cell->pincode,     cell->product, cell->channel,
                          cell->age_band, cell->income_band, cell->sales};
  c->failed |= dataset_builder_add_cell(c->b, &s) < 0;
  return c->failed;
}

static int build_day(void *ctx, const struct sales_day *dy) {
  struct build_ctx *c = ctx;
  c->failed |= dataset_builder_add_day(c->b, dy->back, dy->product, dy->sales) < 0;
  return c->failed;
}

static int build_recent(void *ctx, const struct sale *r, int64_t seq) {
  struct build_ctx *c = ctx;
  (void)seq;
  struct ml_sale_src s = {r->ts_ms, r->pincode, r->product, r->channel, r->customer_age,
                          r->customer_income};
  c->failed |= dataset_builder_add_recent(c->b, &s) < 0;
  return c->failed;
}

/* The data set of the store's sales, read one by one (cells 0) or
 * aggregated by the database (1): nper periods, the sales of `keep`. */
static struct dataset *build_from(struct store *s, int cells, int nper, int keep,
                                  struct ml_sale **ks, size_t *nk) {
  struct gerr err;
  struct build_ctx c = {NULL, 0};
  assert_int_equal(dataset_builder_new(30, &c.b, &err), 0);
  int rc;
  if (cells) {
    struct sales_cells_query q = {30, nper, keep, ML_DAYS(nper, 30)};
    struct sales_cells_reader rd = {build_span, build_cell, build_recent, &c, build_day};
    rc = store_sales_cells(s, &q, &rd, &err);
  } else {
    struct sales_filter f;
    sales_filter_init(&f);
    rc = store_sales_query(s, &f, build_sale, &c, &err);
  }
  if (rc < 0)
    fail_msg("reading: %s", err.msg);
  assert_false(c.failed);
  struct dataset *d = NULL;
  if (dataset_builder_finish(c.b, test_gaz, nper, keep, &d, ks, nk, &err) < 0)
    fail_msg("finish: %s", err.msg);
  return d;
}

static void same_u32(const uint32_t *a, const uint32_t *b, size_t n) {
  assert_memory_equal(a, b, n * sizeof *a);
}

static void same_dataset(const struct dataset *a, const struct dataset *b) {
  assert_int_equal(a->asof_day, b->asof_day);
  assert_int_equal(a->nper, b->nper);
  assert_int_equal(a->known, b->known);
  assert_int_equal(a->first_ms, b->first_ms);
  assert_int_equal(a->last_ms, b->last_ms);
  assert_int_equal(a->nsales_read, b->nsales_read);
  assert_int_equal(a->nprod, b->nprod);
  assert_int_equal(a->nchan, b->nchan);
  for (size_t i = 0; i < a->nprod; i++)
    assert_string_equal(a->prod[i], b->prod[i]);
  for (size_t i = 0; i < a->nchan; i++)
    assert_string_equal(a->chan[i], b->chan[i]);
  assert_int_equal(a->npin, b->npin);
  assert_memory_equal(a->pins, b->pins, a->npin * sizeof *a->pins);
  assert_memory_equal(a->near, b->near, a->npin * ML_NEAR * sizeof *a->near);
  assert_int_equal(a->ncell, b->ncell);
  size_t P = (size_t)a->nper, K = a->nprod;
  assert_memory_equal(a->cell_key, b->cell_key, a->ncell * sizeof *a->cell_key);
  same_u32(a->counts, b->counts, a->ncell * P);
  same_u32(a->pin_all, b->pin_all, a->npin * P);
  same_u32(a->pin_prod, b->pin_prod, a->npin * K * P);
  same_u32(a->pin_chan, b->pin_chan, a->npin * a->nchan * P);
  same_u32(a->nat_prod, b->nat_prod, K * P);
  same_u32(a->state_prod, b->state_prod, a->nstate * K * P);
  same_u32(a->nat_seg_prod, b->nat_seg_prod, ML_SEGMENTS * K * P);
  /* the products' national sales by day (the seasonal baseline's) */
  assert_int_equal(a->ndays, b->ndays);
  assert_int_equal(a->days_known, b->days_known);
  same_u32(a->nat_day, b->nat_day, K * (size_t)a->ndays);
  uint64_t sold = 0;
  for (size_t i = 0; i < K * (size_t)a->ndays; i++)
    sold += a->nat_day[i];
  assert_true(sold > 0);
}

/* The same data set whichever way the sales are read, to every count, every
 * sale the top-product model reads and every training row's features;
 * sales older than the periods kept only rank the products. */
static void test_store__cells_build_the_same_data_set(void **state) {
  (void)state;
  struct store *s = open_ok();
  generate_into(s, 7, 3000, 500);
  for (int nper = 8; nper <= 20; nper += 12) { /* older sales left out, or none */
    struct ml_sale *ka = NULL, *kb = NULL;
    size_t na = 0, nb = 0;
    struct dataset *a = build_from(s, 0, nper, 6, &ka, &na);
    struct dataset *b = build_from(s, 1, nper, 6, &kb, &nb);
    same_dataset(a, b);
    assert_true(a->ncell > 500);
    assert_int_equal(na, nb);
    assert_true(na > 500);
    for (size_t i = 0; i < na; i++) {
      assert_int_equal(ka[i].day, kb[i].day);
      assert_int_equal(ka[i].pin, kb[i].pin);
      assert_int_equal(ka[i].prod, kb[i].prod);
      assert_int_equal(ka[i].chan, kb[i].chan);
      assert_int_equal(ka[i].seg, kb[i].seg);
      assert_int_equal(ka[i].age, kb[i].age);
      assert_true(ka[i].income == kb[i].income);
    }
    /* the features of every row the cell models could learn from (each
     * cell at each origin and horizon), and of the top-product model's */
    float xa[CF__COUNT], xb[CF__COUNT];
    for (size_t c = 0; c < a->ncell; c++) {
      uint64_t key = a->cell_key[c];
      long pin = (long)(key >> 24);
      int prod = (int)(key >> 16 & 0xff), chan = (int)(key >> 8 & 0xff), seg = (int)(key & 0xff);
      for (int j = 1; j <= 4; j++)
        for (int h = 1; h <= ML_HORIZONS; h++) {
          ml_cell_features(a, pin, prod, chan, seg, j, h, xa);
          ml_cell_features(b, pin, prod, chan, seg, j, h, xb);
          assert_memory_equal(xa, xb, sizeof xa);
        }
    }
    size_t nf = ml_cust_nfeatures(a);
    float *ua = calloc(nf, sizeof *ua), *ub = calloc(nf, sizeof *ub);
    assert_non_null(ua);
    assert_non_null(ub);
    for (size_t i = 0; i < na; i++) {
      ml_cust_features(a, ka[i].pin, ka[i].chan, ka[i].age, ka[i].income, 1, ua);
      ml_cust_features(b, kb[i].pin, kb[i].chan, kb[i].age, kb[i].income, 1, ub);
      assert_memory_equal(ua, ub, nf * sizeof *ua);
    }
    free(ua);
    free(ub);
    free(ka);
    free(kb);
    dataset_free(a);
    dataset_free(b);
  }
  store_close(s);
}

/* A suite trained from the aggregates predicts what one trained from every
 * sale does, to the last bit. */
static void test_store__cells_train_the_same_suite(void **state) {
  (void)state;
  struct store *s = open_ok();
  generate_into(s, 9, 3000, 400);
  struct train_config cfg;
  train_config_defaults(&cfg);
  cfg.rounds = 8;
  cfg.origins = 4;
  cfg.threads = 1;
  cfg.regions = 3;
  struct suite *sa = NULL, *sb = NULL;
  struct gerr err;
  cfg.read = TRAIN_READ_ROWS;
  if (suite_train(s, test_gaz, &cfg, NULL, NULL, &sa, &err) < 0)
    fail_msg("training from rows: %s", err.msg);
  cfg.read = TRAIN_READ_CELLS;
  if (suite_train(s, test_gaz, &cfg, NULL, NULL, &sb, &err) < 0)
    fail_msg("training from cells: %s", err.msg);
  const struct dataset *d = sa->d;
  size_t checked = 0;
  for (size_t i = 0; i < d->npin; i += 7) {
    for (size_t p = 0; p < d->nprod; p++) {
      struct predict_query q = {.pincode = d->pins[i], .horizon = 1 + (int)(i % 3)};
      snprintf(q.product, sizeof q.product, "%s", d->prod[p]);
      snprintf(q.channel, sizeof q.channel, "%s", d->chan[i % d->nchan]);
      q.has_customer = i % 2;
      q.customer_age = 20 + (int32_t)(i % 60);
      q.customer_income = 1000.0 * (double)(i % 300);
      for (int k = 0; k < PREDICT__COUNT; k++) {
        struct predict_answer x, y;
        if (k == PREDICT_TOP_PRODUCT)
          q.product[0] = '\0';
        suite_predict(sa, (enum predict_kind)k, &q, 0, &x);
        suite_predict(sb, (enum predict_kind)k, &q, 0, &y);
        assert_true(x.predicted_demand == y.predicted_demand);
        assert_true(x.low == y.low && x.high == y.high);
        assert_true(x.confidence == y.confidence);
        assert_true(x.probability == y.probability);
        assert_int_equal(x.nproducts, y.nproducts);
        for (size_t t = 0; t < x.nproducts; t++)
          assert_true(x.product_prob[t] == y.product_prob[t]);
        assert_int_equal(x.region_id, y.region_id);
        checked++;
      }
    }
  }
  assert_true(checked > 100);
  suite_free(sa);
  suite_free(sb);
  store_close(s);
}

/* Training job records: stored, changed, read by id or as the newest,
 * and only the newest `keep` kept. */
static void test_store__job_records(void **state) {
  (void)state;
  struct store *s = open_ok();
  struct gerr err;
  struct job_row r, got;
  for (int i = 0; i < 5; i++) {
    memset(&r, 0, sizeof r);
    snprintf(r.job_id, sizeof r.job_id, "%016x", i + 1);
    snprintf(r.status, sizeof r.status, "running");
    snprintf(r.stage, sizeof r.stage, "reading sales");
    snprintf(r.started_at, sizeof r.started_at, "2026-03-0%dT10:00:00.000Z", i + 1);
    snprintf(r.options, sizeof r.options, "{\"rounds\":%d}", i + 5);
    snprintf(r.instance, sizeof r.instance, "host:%d", 100 + i);
    r.progress = 0.25;
    if (store_job_put(s, &r, 3, &err) < 0)
      fail_msg("put: %s", err.msg);
    /* its end: the same record, changed */
    snprintf(r.status, sizeof r.status, i == 3 ? "failed" : "succeeded");
    snprintf(r.stage, sizeof r.stage, "done");
    snprintf(r.finished_at, sizeof r.finished_at, "2026-03-0%dT10:05:00.000Z", i + 1);
    r.progress = 1;
    r.duration_ms = 300000 + i;
    char summary[64];
    snprintf(summary, sizeof summary, "{\"version\":%d}", i + 1);
    if (i == 3) {
      snprintf(r.error_code, sizeof r.error_code, "internal");
      snprintf(r.error_message, sizeof r.error_message, "it broke");
    } else {
      r.summary = summary;
    }
    assert_int_equal(store_job_put(s, &r, 3, &err), 0);
  }
  /* the newest three of five */
  assert_int_equal(store_job_get(s, "0000000000000001", &got, &err), 1);
  assert_int_equal(store_job_get(s, "0000000000000002", &got, &err), 1);
  assert_int_equal(store_job_get(s, "0000000000000003", &got, &err), 0);
  assert_string_equal(got.status, "succeeded");
  assert_string_equal(got.summary, "{\"version\":3}");
  assert_string_equal(got.options, "{\"rounds\":7}");
  assert_string_equal(got.instance, "host:102");
  assert_string_equal(got.finished_at, "2026-03-03T10:05:00.000Z");
  assert_true(got.progress == 1);
  assert_int_equal(got.duration_ms, 300002);
  assert_false(got.newest);
  job_row_release(&got);
  assert_int_equal(store_job_get(s, "0000000000000004", &got, &err), 0);
  assert_string_equal(got.status, "failed");
  assert_null(got.summary);
  assert_string_equal(got.error_code, "internal");
  assert_string_equal(got.error_message, "it broke");
  job_row_release(&got);
  assert_int_equal(store_job_get(s, NULL, &got, &err), 0);
  assert_string_equal(got.job_id, "0000000000000005");
  assert_true(got.newest);
  job_row_release(&got);
  assert_int_equal(store_job_get(s, "0000000000000005", &got, &err), 0);
  assert_true(got.newest);
  assert_string_equal(got.started_at, "2026-03-05T10:00:00.000Z");
  job_row_release(&got);
  /* refused: no id */
  memset(&r, 0, sizeof r);
  assert_int_equal(store_job_put(s, &r, 3, &err), -1);
  store_close(s);
}

static void test_store__pool_concurrent_writers(void **state) {
  struct store_pool *pool = NULL;
  assert_int_equal(store_pool_new(path, 2, &pool, NULL), 0);
  pthread_t t[4];
  struct writer w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (struct writer){.pool = pool, .id = i};
    pthread_create(&t[i], NULL, write_many, &w[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].failures, 0);
  }
  struct store *s = store_pool_get(pool, NULL);
  assert_non_null(s);
  assert_int_equal(count(s), 4 * 20 * 50);
  store_pool_put(pool, s);
  store_pool_free(pool);
}

/* A write waits for another connection's transaction as long as its
 * connection's lock wait, then fails as locked. (SQLite: the write lock of
 * the open transaction; PostgreSQL: the other's uncommitted row with the
 * same client id.) */
static void test_store__busy_timeout(void **state) {
  struct store *a = open_ok(), *b = open_ok();
  struct gerr err;
  struct sale r = rec(1, 400001, "loan", "w-1");
  assert_int_equal(store_begin(a, &err), 0);
  assert_int_equal(store_sales_insert(a, &r, 1, NULL, NULL, &err), 0);
  store_set_busy_timeout(b, 200);
  int64_t t0 = mono_us();
  assert_int_equal(store_sales_insert(b, &r, 1, NULL, NULL, &err), -1);
  int64_t waited_ms = (mono_us() - t0) / 1000;
  assert_int_equal(err.code, GERR_UNAVAILABLE);
  assert_non_null(strstr(err.msg, "locked"));
  /* it waited for the lock (a busy machine can only make the wait longer,
   * so nothing is asserted of how much longer) */
  assert_true(waited_ms >= 150);
  store_rollback(a);
  assert_int_equal(store_sales_insert(b, &r, 1, NULL, NULL, &err), 0);
  store_close(a);
  store_close(b);
}

/* A transaction that runs out of disk space part-way (a tmpfs, filled up):
 * the failure says so (GERR_INSUFFICIENT_STORAGE), and the transaction is
 * over for good. SQLite rolls a transaction back by itself when a write
 * fails for want of space; the records the caller goes on inserting must
 * not then be committed one batch at a time, nor its commit succeed. Once
 * there is room again, the same writes go in. Needs root (mount). */
static void test_store__disk_full_ends_the_transaction(void **state) {
  char dir[] = "/tmp/gromo-store-full-XXXXXX";
  assert_non_null(mkdtemp(dir));
  if (mount("tmpfs", dir, "tmpfs", 0, "size=24m") < 0) {
    rmdir(dir);
    print_message("cannot mount a tmpfs (not root?): skipped\n");
    skip();
  }
  char db[160], filler[160];
  snprintf(db, sizeof db, "%s/full.db", dir);
  snprintf(filler, sizeof filler, "%s/filler", dir);
  struct store *s = NULL;
  struct gerr err;
  int ok = store_open(db, &s, &err) == 0;
  /* Leave 4 MiB: less than the 16 MiB page cache spills while inserting. */
  int fd = open(filler, O_WRONLY | O_CREAT, 0600);
  static char zeros[1 << 16];
  struct statvfs v;
  while (ok && fd >= 0 && statvfs(dir, &v) == 0 &&
         (long long)v.f_bavail * (long long)v.f_frsize > (4 << 20))
    if (write(fd, zeros, sizeof zeros) <= 0)
      break;
  if (fd >= 0)
    close(fd);
  enum { BATCH = 2000 };
  struct sale *b = malloc(BATCH * sizeof *b);
  int failed_at = -1, later = 0, commit = 0;
  enum gerr_code code = GERR_OK;
  if (ok && b && store_begin(s, &err) == 0) {
    for (int k = 0; k < 200 && failed_at < 0; k++) {
      for (int i = 0; i < BATCH; i++) {
        char id[40];
        snprintf(id, sizeof id, "full-%d-%d", k, i);
        b[i] = rec(i % 300, 100000 + (i * 7919) % 800000, "loan", id);
      }
      if (store_sales_insert(s, b, BATCH, NULL, NULL, &err) < 0) {
        failed_at = k;
        code = err.code;
      }
    }
    /* The caller carries on regardless. */
    later = store_sales_insert(s, b, 1, NULL, NULL, &err);
    commit = store_commit(s, &err);
    store_rollback(s);
  }
  int64_t after = ok ? count(s) : -1;
  unlink(filler);
  int again = ok && b ? store_sales_insert(s, b, BATCH, NULL, NULL, &err) : -1;
  int64_t last = ok ? count(s) : -1;
  store_close(s);
  free(b);
  if (umount(dir) < 0)
    umount2(dir, MNT_DETACH);
  rmdir(dir);
  assert_true(ok);
  assert_true(failed_at > 0); /* the first batches fitted */
  assert_int_equal(code, GERR_INSUFFICIENT_STORAGE);
  assert_int_equal(later, -1);
  assert_int_equal(commit, -1);
  assert_int_equal(after, 0);
  assert_int_equal(again, 0);
  assert_int_equal(last, BATCH);
}

int main(void) {
  struct gerr gerr;
  if (gaz_load_default(&test_gaz, &gerr) < 0) {
    print_message("gazetteer: %s\n", gerr.msg);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_store__fresh_schema, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__summary_and_mark, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__idempotent_ids, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__batch_is_atomic, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__mixed_batch_keeps_order, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__run_is_atomic, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__many_ids_in_one_call, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__explicit_transactions, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__bulk_load_hint, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__query_filters, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cursor_visits_each_row_once, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__meta, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__migrates_old_schema, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__migrates_v2_models, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_insert_scan_get, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_one_serving, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_promotion_round_trips, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_prune_never_reuses, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_in_caller_transaction, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_blob_round_trip, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_concurrent_numbers, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__migrates_v3_pincode_index, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__refuses_newer_schema, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__bad_uris, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__sqlite_not_shared, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pool_concurrent_writers, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__busy_timeout, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__disk_full_ends_the_transaction, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cells_bands_are_the_c_bands, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cells_build_the_same_data_set, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cells_train_the_same_suite, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__job_records, fresh, cleanup),
  };
  int failed = cmocka_run_group_tests_name("store/sqlite", tests, NULL, NULL);
  pg_base = getenv("GROMO_TEST_PG");
  if (!pg_base || !*pg_base) {
    print_message("store/postgresql: not run: GROMO_TEST_PG is not set "
                  "(make check runs this under scripts/with-pg.sh)\n");
    return failed;
  }
  /* The backend-neutral cases; the SQLite files' own (migrations of old
   * SQLite schemas, a full tmpfs) have PostgreSQL counterparts or none. */
  const struct CMUnitTest pg_tests[] = {
      cmocka_unit_test_setup_teardown(test_store__fresh_schema, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__summary_and_mark, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__idempotent_ids, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__batch_is_atomic, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__mixed_batch_keeps_order, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__run_is_atomic, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__many_ids_in_one_call, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__explicit_transactions, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__bulk_load_hint, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__query_filters, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cursor_visits_each_row_once, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__meta, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_insert_scan_get, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_one_serving, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_promotion_round_trips, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_prune_never_reuses, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_in_caller_transaction, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_blob_round_trip, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__models_concurrent_numbers, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_refuses_newer_schema, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_disk_full, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_bad_uris, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_concurrent_first_open, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_training_lock, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_bulk_load_indexes, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_mark_sees_late_commits, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_model_notices, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pg_notices_connection_lost, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__pool_concurrent_writers, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__busy_timeout, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cells_bands_are_the_c_bands, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cells_build_the_same_data_set, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__cells_train_the_same_suite, fresh, cleanup),
      cmocka_unit_test_setup_teardown(test_store__job_records, fresh, cleanup),
  };
  failed += cmocka_run_group_tests_name("store/postgresql", pg_tests, NULL, NULL);
  gaz_free(test_gaz);
  return failed;
}
