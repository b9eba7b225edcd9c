/* End-to-end: two `gromo serve` processes on one PostgreSQL database act as
 * one service. A sale stored through one is read through the other at once;
 * a key made by the command line counts on both at once, its revocation
 * within a second; one training runs across both (the other finds it,
 * follows it, and waits for it); every job of either is known to both after
 * it ended, older ones too; a new serving version, and a rollback, made
 * through one is served by the other. Both servers check the registry only every
 * hour (--models-poll 3600), so a version reaching the other server within
 * the test's deadlines came by the database's notices.
 * Needs the throwaway server of scripts/with-pg.sh (make check runs this
 * under it): without one it fails, saying so. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "e2e.h"

/* The store's advisory lock of registry writes (src/store/pg.c): holding
 * it keeps a training run at its save, "running", as long as a test needs. */
#define LOCK_REGISTRY "113741193375490" /* 0x67726f6d6f02 */

static struct srv A, B;
static PGconn *admin; /* the test's own session on the servers' database */
static int64_t v_first, v_second; /* model versions made by the tests */
static char job_first[64], job_second[64]; /* their jobs: through A, through B */

/* The first value of a query of the test's own (constant SQL), as a
 * number; -1 on failure. */
static long long admin_value(const char *sql) {
  PGresult *r = PQexec(admin, sql);
  long long v = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  else
    print_message("admin: %s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  return v;
}

/* The servers' connections listening for registry notices (those not
 * cut by the test: see test_pgmulti__listening_comes_back). */
static long long listeners(void) {
  return admin_value("SELECT count(*) FROM pg_stat_activity"
                     " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
                     " AND pid <> pg_backend_pid() AND pid NOT IN (SELECT pid FROM cut)");
}

static long call(const struct srv *s, const char *key, const char *method, const char *path,
                 const char *body, struct http_res *r) {
  assert_int_equal(http_do_as(s, key, NULL, method, path, body ? "application/json" : NULL,
                              body, body ? strlen(body) : 0, r),
                   0);
  return r->status;
}

static long long jint0(json_t *j, const char *path) {
  return (long long)json_integer_value(jget(j, path));
}

/* The version a server answers with (GET /models), 0 for none. */
static int64_t serving(const struct srv *s) {
  struct http_res r;
  long st = call(s, s->key, "GET", "/models", NULL, &r);
  int64_t v = st == 200 ? (int64_t)jint0(r.json, "data.version") : -1;
  http_res_free(&r);
  return v;
}

/* Waits up to limit_ms for server s to answer with version v. */
static void await_serving(const struct srv *s, int64_t v, int limit_ms, const char *what) {
  int64_t t0 = now_ms(), have = -1;
  while (now_ms() - t0 < limit_ms) {
    if ((have = serving(s)) == v)
      return;
    sleep_ms(50);
  }
  fail_msg("%s: the server still answers with version %lld after %d ms, not %lld", what,
           (long long)have, limit_ms, (long long)v);
}

static int group_setup(void **state) {
  const char *base = getenv("GROMO_TEST_PG");
  if (!base || !*base) {
    fprintf(stderr, "test_e2e_pgmulti: needs a PostgreSQL server: run it under "
                    "scripts/with-pg.sh (make check does)\n");
    return -1;
  }
  setenv("GROMO_E2E_PG", base, 1);
  /* B shares A's database (the one srv_prepare made for B stays unused)
   * and its admin key. */
  if (srv_prepare(&A) < 0 || make_key(&A, "admin", "e2e-admin", A.key, sizeof A.key) < 0 ||
      srv_prepare(&B) < 0)
    return -1;
  snprintf(B.db, sizeof B.db, "%s", A.db);
  snprintf(B.key, sizeof B.key, "%s", A.key);
  const char *const extra[] = {"--models-poll", "3600", NULL};
  if (srv_spawn(&A, extra) < 0 || srv_spawn(&B, extra) < 0)
    return -1;
  admin = PQconnectdb(A.db);
  if (PQstatus(admin) != CONNECTION_OK) {
    fprintf(stderr, "test_e2e_pgmulti: %s", PQerrorMessage(admin));
    return -1;
  }
  PGresult *res = PQexec(admin, "CREATE TEMP TABLE cut(pid integer)");
  int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!ok)
    return -1;
  /* Notices sent before a server listens are not heard: wait for both. */
  for (int64_t t0 = now_ms(); listeners() != 2;) {
    if (now_ms() - t0 > 30000) {
      fprintf(stderr, "test_e2e_pgmulti: the servers do not listen for model changes\n");
      return -1;
    }
    sleep_ms(50);
  }
  return 0;
}

static int group_teardown(void **state) {
  PQfinish(admin);
  int a = srv_stop(&A), b = srv_stop(&B);
  return a == 0 && b == 0 ? 0 : -1;
}

static const char SALE[] =
    "[{\"date\":\"2026-06-01\",\"pincode\":\"400001\",\"product\":\"loan\","
    "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":50000,"
    "\"id\":\"multi-1\"}]";

static void test_pgmulti__sales_shared(void **state) {
  struct http_res r;
  assert_int_equal(call(&B, B.key, "GET", "/sales/summary", NULL, &r), 200);
  long long before = jint0(r.json, "data.total_sales"); /* kept by B */
  http_res_free(&r);

  assert_int_equal(call(&A, A.key, "POST", "/sales/add", SALE, &r), 200);
  assert_int_equal(jint0(r.json, "data.inserted_count"), 1);
  http_res_free(&r);

  /* At once through the other. */
  assert_int_equal(call(&B, B.key, "GET", "/sales?pincode=400001&limit=10", NULL, &r), 200);
  assert_int_equal(json_array_size(jget(r.json, "data.sales")), 1);
  assert_string_equal(jstr(r.json, "data.sales.0.id"), "multi-1");
  http_res_free(&r);
  assert_int_equal(call(&B, B.key, "GET", "/sales/summary", NULL, &r), 200);
  assert_int_equal(jint0(r.json, "data.total_sales"), before + 1);
  http_res_free(&r);
  /* A client id is one sale across the service. */
  assert_int_equal(call(&B, B.key, "POST", "/sales/add", SALE, &r), 200);
  assert_int_equal(jint0(r.json, "data.inserted_count"), 0);
  assert_int_equal(jint0(r.json, "data.duplicate_count"), 1);
  http_res_free(&r);
  assert_int_equal(db_sales_count(&A), before + 1);
}

static void test_pgmulti__keys_shared(void **state) {
  char key[128], out[512], err[512];
  struct http_res r;
  /* Made by the command line while both run: valid on both. */
  assert_int_equal(make_key(&A, "viewer", "multi-viewer", key, sizeof key), 0);
  for (int i = 0; i < 2; i++) {
    const struct srv *s = i ? &B : &A;
    assert_int_equal(call(s, key, "GET", "/whoami", NULL, &r), 200);
    assert_string_equal(jstr(r.json, "data.name"), "multi-viewer");
    http_res_free(&r);
  }
  const char *const revoke[] = {"keys", "revoke", "multi-viewer", "--db", A.db, NULL};
  if (run_cli(revoke, out, sizeof out, err, sizeof err) != 0)
    fail_msg("keys revoke: %s %s", out, err);
  /* Refused by both within a second (a key the database accepted less
   * than a second ago is not asked about again); the test allows 10. */
  int64_t t0 = now_ms();
  for (int i = 0; i < 2; i++) {
    const struct srv *s = i ? &B : &A;
    long st;
    while ((st = call(s, key, "GET", "/whoami", NULL, &r)) == 200 && now_ms() - t0 < 10000) {
      http_res_free(&r);
      sleep_ms(50);
    }
    http_res_free(&r);
    assert_int_equal(st, 401);
  }
  /* And from then on, every time. */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(call(i % 2 ? &B : &A, key, "GET", "/whoami", NULL, &r), 401);
    http_res_free(&r);
  }
}

/* Lines of a server's log holding `what`. */
static int count_lines(const char *log, const char *what) {
  FILE *f = fopen(log, "r");
  char line[4096];
  int n = 0;
  while (f && fgets(line, sizeof line, f))
    n += strstr(line, what) != NULL;
  if (f)
    fclose(f);
  return n;
}

struct waiter {
  struct http_res r;
  int rc;
};

static void *train_and_wait(void *arg) {
  struct waiter *w = arg;
  w->rc = http_do_as(&B, B.key, NULL, "POST", "/models/train?wait=true", NULL, NULL, 0, &w->r);
  return NULL;
}

static void test_pgmulti__one_training(void **state) {
  struct http_res r;
  assert_int_equal(
      call(&A, A.key, "GET", "/generate-sample-data/3000?seed=5&end=2026-06-30", NULL, &r), 200);
  http_res_free(&r);

  /* The run stays at its save while the test holds the registry's lock. */
  assert_int_equal(admin_value("SELECT 1 FROM (SELECT pg_advisory_lock(" LOCK_REGISTRY ")) l"), 1);
  assert_int_equal(call(&A, A.key, "POST", "/models/train?rounds=5", NULL, &r), 202);
  assert_true(json_is_true(jget(r.json, "data.started")));
  char job[64];
  snprintf(job, sizeof job, "%s", jstr(r.json, "data.job_id"));
  http_res_free(&r);

  /* The other server starts none: it finds A's, as A itself would. */
  assert_int_equal(call(&B, B.key, "POST", "/models/train?rounds=5", NULL, &r), 202);
  assert_false(json_is_true(jget(r.json, "data.started")));
  assert_string_equal(jstr(r.json, "data.job_id"), job);
  assert_non_null(strstr(jstr(r.json, "message"), "already in progress"));
  char loc[128], want[128];
  snprintf(want, sizeof want, "/models/train/%s", job);
  assert_int_equal(http_header(&r, "Location", loc, sizeof loc), 0);
  assert_string_equal(loc, want);
  http_res_free(&r);
  assert_int_equal(call(&A, A.key, "POST", "/models/train", NULL, &r), 202);
  assert_false(json_is_true(jget(r.json, "data.started")));
  assert_string_equal(jstr(r.json, "data.job_id"), job);
  http_res_free(&r);
  /* Nor does the command line. */
  char out[512], err[1024];
  const char *const train[] = {"train", "--rounds", "5", "-q", "--db", A.db, NULL};
  assert_int_not_equal(run_cli(train, out, sizeof out, err, sizeof err), 0);
  assert_non_null(strstr(err, "already in progress"));

  /* Its status through either server, until it reaches its save. */
  int64_t t0 = now_ms();
  const char *stage = "";
  for (;;) {
    assert_int_equal(call(&B, B.key, "GET", want, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "data.job_id"), job);
    assert_string_equal(jstr(r.json, "data.status"), "running");
    assert_non_null(jstr(r.json, "data.instance"));
    stage = jstr(r.json, "data.stage");
    int saving = stage && !strcmp(stage, "saving");
    http_res_free(&r);
    if (saving)
      break;
    if (now_ms() - t0 > 120000)
      fail_msg("the job did not reach its save in 120 s");
    sleep_ms(100);
  }
  assert_int_equal(call(&B, B.key, "GET", "/models/train/0123456789abcdef", NULL, &r), 404);
  http_res_free(&r);

  /* B's ?wait=true waits for A's run: once B has logged the request's
   * audit line it has found A's job running (the registry's lock is still
   * held) and waits for that job, so the lock can go. */
  int audited = count_lines(B.log, "\"action\":\"POST /models/train\"");
  struct waiter w = {.rc = -1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, train_and_wait, &w), 0);
  for (t0 = now_ms(); count_lines(B.log, "\"action\":\"POST /models/train\"") == audited;) {
    if (now_ms() - t0 > 30000)
      fail_msg("the other server did not take the request in 30 s");
    sleep_ms(20);
  }
  assert_int_equal(admin_value("SELECT 1 FROM (SELECT pg_advisory_unlock(" LOCK_REGISTRY ")) l"),
                   1);
  pthread_join(th, NULL);
  assert_int_equal(w.rc, 0);
  if (w.r.status != 200)
    fail_msg("waiting through the other server: %ld %.300s", w.r.status, w.r.body);
  assert_string_equal(jstr(w.r.json, "data.job_id"), job);
  assert_string_equal(jstr(w.r.json, "data.status"), "succeeded");
  v_first = (int64_t)jint0(w.r.json, "data.summary.version");
  snprintf(job_first, sizeof job_first, "%s", job);
  assert_true(v_first > 0);
  http_res_free(&w.r);
  /* B answered after loading it; A trained it. */
  assert_int_equal(serving(&B), v_first);
  assert_int_equal(serving(&A), v_first);
  assert_int_equal(call(&B, B.key, "GET", want, NULL, &r), 200);
  assert_string_equal(jstr(r.json, "data.status"), "succeeded");
  http_res_free(&r);
}

static void rollback(const struct srv *s, int64_t v) {
  char body[64];
  snprintf(body, sizeof body, "{\"version\":%lld}", (long long)v);
  struct http_res r;
  if (call(s, s->key, "POST", "/models/rollback", body, &r) != 200)
    fail_msg("rollback to %lld: %ld %.300s", (long long)v, r.status, r.body);
  assert_int_equal(jint0(r.json, "data.serving"), v);
  http_res_free(&r);
}

static void test_pgmulti__promotion_and_rollback(void **state) {
  if (!v_first)
    skip();
  struct http_res r;
  /* Trained through B this time: A serves it. */
  if (call(&B, B.key, "POST", "/models/train?wait=true&rounds=5", NULL, &r) != 200)
    fail_msg("training through B: %ld %.300s", r.status, r.body);
  v_second = (int64_t)jint0(r.json, "data.summary.version");
  snprintf(job_second, sizeof job_second, "%s", jstr(r.json, "data.job_id"));
  http_res_free(&r);
  assert_true(v_second > v_first);
  await_serving(&A, v_second, 10000, "a version trained through the other server");

  rollback(&A, v_first);
  await_serving(&B, v_first, 10000, "a rollback through the other server");
  assert_int_equal(call(&B, B.key, "POST", "/predict/demand",
                        "[{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\"}]",
                        &r),
                   200);
  assert_int_equal(jint0(r.json, "data.0.model_version"), v_first);
  http_res_free(&r);
  rollback(&B, v_second);
  await_serving(&A, v_second, 10000, "a rollback through the other server");
}

/* Finished jobs are known to every server, not only the newest: a third
 * job through A, then each server answers for all three, each with the
 * server that ran it. */
static void expect_job(const struct srv *s, const char *job, const char *status) {
  char path[128];
  snprintf(path, sizeof path, "/models/train/%s", job);
  struct http_res r;
  if (call(s, s->key, "GET", path, NULL, &r) != 200)
    fail_msg("GET %s: %ld %.300s", path, r.status, r.body);
  assert_string_equal(jstr(r.json, "data.job_id"), job);
  assert_string_equal(jstr(r.json, "data.status"), status);
  assert_non_null(jstr(r.json, "data.instance"));
  assert_non_null(jstr(r.json, "data.finished_at"));
  assert_true(jint0(r.json, "data.summary.version") > 0);
  assert_true(jint0(r.json, "data.options.rounds") == 5);
  http_res_free(&r);
}

static void test_pgmulti__every_job_everywhere(void **state) {
  if (!job_first[0] || !job_second[0])
    skip();
  struct http_res r;
  if (call(&A, A.key, "POST", "/models/train?wait=true&rounds=5", NULL, &r) != 200)
    fail_msg("training through A: %ld %.300s", r.status, r.body);
  char third[64];
  snprintf(third, sizeof third, "%s", jstr(r.json, "data.job_id"));
  http_res_free(&r);
  const struct srv *both[] = {&A, &B};
  for (int i = 0; i < 2; i++) {
    expect_job(both[i], job_first, "succeeded");  /* A's, two jobs ago */
    expect_job(both[i], job_second, "succeeded"); /* B's, the one before */
    expect_job(both[i], third, "succeeded");      /* A's, the newest */
  }
  /* the instance is the one that ran it: A's first and third agree, B's
   * second differs */
  char pa[128], pb[128];
  snprintf(pa, sizeof pa, "/models/train/%s", job_first);
  snprintf(pb, sizeof pb, "/models/train/%s", job_second);
  struct http_res ra, rb;
  assert_int_equal(call(&B, B.key, "GET", pa, NULL, &ra), 200);
  assert_int_equal(call(&A, A.key, "GET", pb, NULL, &rb), 200);
  assert_string_not_equal(jstr(ra.json, "data.instance"), jstr(rb.json, "data.instance"));
  http_res_free(&ra);
  http_res_free(&rb);
  assert_int_equal(call(&B, B.key, "GET", "/models/train/0123456789abcdef", NULL, &r), 404);
  http_res_free(&r);
}

/* The listening connections are cut (a database restart, a network
 * blip): each server listens again by itself, and hears the next change. */
static void test_pgmulti__listening_comes_back(void **state) {
  if (!v_second)
    skip();
  PGresult *res = PQexec(admin, "INSERT INTO cut SELECT pid FROM pg_stat_activity"
                                " WHERE datname = current_database()"
                                " AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()");
  assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
  assert_string_equal(PQcmdTuples(res), "2");
  PQclear(res);
  assert_int_equal(admin_value("SELECT count(pg_terminate_backend(pid)) FROM cut"), 2);
  int64_t t0 = now_ms();
  while (listeners() != 2) { /* new connections, not the ones cut */
    if (now_ms() - t0 > 30000)
      fail_msg("the servers did not listen again within 30 s");
    sleep_ms(50);
  }
  /* Both new listeners are up before the change. */
  rollback(&A, v_first);
  await_serving(&B, v_first, 10000, "a rollback after the listening connection was cut");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pgmulti__sales_shared),
      cmocka_unit_test(test_pgmulti__keys_shared),
      cmocka_unit_test(test_pgmulti__one_training),
      cmocka_unit_test(test_pgmulti__promotion_and_rollback),
      cmocka_unit_test(test_pgmulti__every_job_everywhere),
      cmocka_unit_test(test_pgmulti__listening_comes_back),
  };
  return cmocka_run_group_tests_name("e2e_pgmulti", tests, group_setup, group_teardown);
}
