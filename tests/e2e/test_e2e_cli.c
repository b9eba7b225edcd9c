/* End-to-end: the gromo command line, and the server's lifecycle. Every
 * store is the test's own (e2e_store_uri): an SQLite file in its folder or,
 * with GROMO_E2E_PG, a PostgreSQL database; the files read and written
 * (imports, exports) are files either way. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"

static char dir[64];
static char db[320]; /* the shared store: a file or a PostgreSQL database */

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/gromo-e2e-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  return e2e_store_uri(db, sizeof db, dir, "cli");
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static long long count_rows(void) {
  char out[64];
  const char *const a[] = {"sales", "--db", db, "--count", NULL};
  assert_int_equal(run_cli(a, out, sizeof out, NULL, 0), 0);
  return atoll(out);
}

static void test_cli__help_everywhere(void **state) {
  static const char *const cmds[] = {"serve", "generate", "import", "sales"};
  char out[8192];
  for (size_t i = 0; i < 4; i++) {
    const char *const a[] = {cmds[i], "--help", NULL};
    assert_int_equal(run_cli(a, out, sizeof out, NULL, 0), 0);
    assert_non_null(strstr(out, "usage: gromo"));
  }
  const char *const top[] = {"--help", NULL};
  assert_int_equal(run_cli(top, out, sizeof out, NULL, 0), 0);
  const char *const bad[] = {"frobnicate", NULL};
  assert_int_equal(run_cli(bad, NULL, 0, out, sizeof out), 2);
  assert_non_null(strstr(out, "unknown command"));
  const char *const badflag[] = {"generate", "--nope", "5", NULL};
  assert_int_equal(run_cli(badflag, NULL, 0, NULL, 0), 2);
  const char *const badn[] = {"generate", "0", "--db", db, NULL};
  assert_int_equal(run_cli(badn, NULL, 0, NULL, 0), 2);
  static const char *const bad_end[] = {"2025-6-30", "2025-02-29", "1999-12-31", "2999-01-01"};
  for (size_t i = 0; i < sizeof bad_end / sizeof bad_end[0]; i++) {
    const char *const be[] = {"generate", "5", "--end", bad_end[i], "--db", db, NULL};
    assert_int_equal(run_cli(be, NULL, 0, out, sizeof out), 2);
    assert_non_null(strstr(out, "--end"));
  }
}

static void test_cli__generate_is_deterministic(void **state) {
  const char *const g[] = {"generate", "2000", "--seed", "11", "--end", "2025-06-30",
                           "--db", db, "-q", NULL};
  assert_int_equal(run_cli(g, NULL, 0, NULL, 0), 0);
  assert_int_equal(count_rows(), 2000);
  char a[65536], b[65536];
  const char *const q[] = {"sales", "--db", db, "--limit", "50", NULL};
  assert_int_equal(run_cli(q, a, sizeof a, NULL, 0), 0);
  /* A second database with the same seed holds the same first rows. */
  char db2[320];
  assert_int_equal(e2e_store_uri(db2, sizeof db2, dir, "cli2"), 0);
  const char *const g2[] = {"generate", "2000", "--seed", "11", "--end", "2025-06-30",
                            "--db", db2, "-q", NULL};
  assert_int_equal(run_cli(g2, NULL, 0, NULL, 0), 0);
  const char *const q2[] = {"sales", "--db", db2, "--limit", "50", NULL};
  assert_int_equal(run_cli(q2, b, sizeof b, NULL, 0), 0);
  assert_true(strlen(a) > 1000);
  assert_string_equal(a, b);
  /* Dates end on the given day. */
  const char *const late[] = {"sales", "--db", db, "--from", "2025-07-01", NULL};
  assert_int_equal(run_cli(late, a, sizeof a, NULL, 0), 0);
  assert_string_equal(a, "");
}

static void test_cli__import_json_and_ndjson(void **state) {
  char arr[200], nd[200];
  snprintf(arr, sizeof arr, "%s/a.json", dir);
  snprintf(nd, sizeof nd, "%s/b.ndjson", dir);
  write_file(arr,
             "[\n {\"id\":\"a1\",\"date\":\"2025-01-01\",\"pincode\":\"400001\","
             "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":30,"
             "\"customer_income\":40000},\n"
             " {\"id\":\"a2\",\"date\":\"2025-01-02\",\"pincode\":\"110001\","
             "\"product\":\"insurance\",\"channel\":\"offline\",\"customer_age\":50,"
             "\"customer_income\":90000}\n]\n");
  write_file(nd,
             "{\"id\":\"n1\",\"date\":\"2025-01-03\",\"pincode\":\"560001\","
             "\"product\":\"credit_card\",\"channel\":\"online\",\"customer_age\":25,"
             "\"customer_income\":150000}\n\n"
             "{\"id\":\"n2\",\"date\":\"2025-01-04\",\"pincode\":\"700001\","
             "\"product\":\"loan\",\"channel\":\"offline\",\"customer_age\":44,"
             "\"customer_income\":30000}\n");
  long long before = count_rows();
  char err[4096];
  const char *const imp[] = {"import", "--db", db, arr, nd, NULL};
  assert_int_equal(run_cli(imp, NULL, 0, err, sizeof err), 0);
  assert_non_null(strstr(err, "4 inserted"));
  assert_int_equal(count_rows(), before + 4);
  /* Again: all duplicates, nothing new. */
  assert_int_equal(run_cli(imp, NULL, 0, err, sizeof err), 0);
  assert_non_null(strstr(err, "4 duplicates"));
  assert_int_equal(count_rows(), before + 4);
}

static void test_cli__import_rejects(void **state) {
  char bad[200], broken[200], empty[200];
  snprintf(bad, sizeof bad, "%s/bad.ndjson", dir);
  snprintf(broken, sizeof broken, "%s/broken.json", dir);
  snprintf(empty, sizeof empty, "%s/empty.json", dir);
  write_file(bad,
             "{\"date\":\"2025-01-03\",\"pincode\":\"560001\",\"product\":\"loan\","
             "\"channel\":\"online\",\"customer_age\":25,\"customer_income\":1}\n"
             "{\"date\":\"2025-01-03\",\"pincode\":\"56000\",\"product\":\"loan\","
             "\"channel\":\"online\",\"customer_age\":25,\"customer_income\":1}\n"
             "{not json}\n");
  write_file(broken, "[{\"date\":\"2025-01-03\",\"pincode\":\"560001\"");
  write_file(empty, "");
  long long before = count_rows();
  char err[4096];
  const char *const imp[] = {"import", "--db", db, bad, NULL};
  assert_int_equal(run_cli(imp, NULL, 0, err, sizeof err), 3);
  assert_non_null(strstr(err, ":2: record 1: pincode"));
  assert_non_null(strstr(err, ":3: record 2: record malformed JSON"));
  assert_int_equal(count_rows(), before); /* all or nothing */
  const char *const part[] = {"import", "--partial", "--db", db, bad, NULL};
  assert_int_equal(run_cli(part, NULL, 0, err, sizeof err), 0);
  assert_int_equal(count_rows(), before + 1);
  const char *const br[] = {"import", "--db", db, broken, NULL};
  assert_int_equal(run_cli(br, NULL, 0, err, sizeof err), 1);
  assert_non_null(strstr(err, "truncated"));
  const char *const em[] = {"import", "--db", db, empty, NULL};
  assert_int_equal(run_cli(em, NULL, 0, err, sizeof err), 1);
  assert_non_null(strstr(err, "empty"));
  const char *const missing[] = {"import", "--db", db, "/nonexistent/file.json", NULL};
  assert_int_equal(run_cli(missing, NULL, 0, err, sizeof err), 1);
  assert_int_equal(count_rows(), before + 1);
}

static long long count_in(const char *path) {
  char out[64];
  const char *const a[] = {"sales", "--db", path, "--count", NULL};
  assert_int_equal(run_cli(a, out, sizeof out, NULL, 0), 0);
  return atoll(out);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  char *p = malloc((size_t)n + 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  p[n] = '\0';
  *len = (size_t)n;
  return p;
}

static void copy_file(const char *from, const char *to) {
  size_t n;
  char *p = slurp(from, &n);
  FILE *f = fopen(to, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
  free(p);
}

/* CSV, XLSX and XLS: rejected rows named by spreadsheet row; exit 3 and
 * nothing stored unless --partial; the file name decides the format before
 * the first bytes do. */
static void test_cli__import_tabular_files(void **state) {
  char csv[PATH_MAX], xlsx[PATH_MAX], xls[PATH_MAX], tdb[320], tdb2[320];
  assert_non_null(realpath("tests/fixtures/csv_basic.csv", csv));
  assert_non_null(realpath("tests/fixtures/xlsx_sales.xlsx", xlsx));
  assert_non_null(realpath("tests/fixtures/xls_sales.xls", xls));
  assert_int_equal(e2e_store_uri(tdb, sizeof tdb, dir, "tab"), 0);
  assert_int_equal(e2e_store_uri(tdb2, sizeof tdb2, dir, "tab2"), 0);
  char err[8192];
  const char *const one[] = {"import", "--db", tdb, csv, NULL};
  assert_int_equal(run_cli(one, NULL, 0, err, sizeof err), 3);
  assert_non_null(strstr(err, "csv_basic.csv: row 4: pincode"));
  assert_non_null(strstr(err, "csv_basic.csv: row 6: date"));
  assert_non_null(strstr(err, "2 of 5 records rejected; nothing was stored"));
  assert_int_equal(count_in(tdb), 0);
  /* valid rows: 3 of the CSV, 4 of the XLSX, 2 of the XLS (whose formula
   * cells read as empty) */
  const char *const all[] = {"import", "--partial", "--db", tdb, csv, xlsx, xls, NULL};
  assert_int_equal(run_cli(all, NULL, 0, err, sizeof err), 0);
  assert_non_null(strstr(err, "imported 15 records: 9 inserted"));
  assert_non_null(strstr(err, "xlsx_sales.xlsx: row 5: pincode"));
  assert_int_equal(count_in(tdb), 9);
  char as_csv[200], no_ext[200];
  snprintf(as_csv, sizeof as_csv, "%s/workbook.csv", dir);
  snprintf(no_ext, sizeof no_ext, "%s/workbook", dir);
  copy_file(xlsx, as_csv);
  copy_file(xlsx, no_ext);
  const char *const named[] = {"import", "--partial", "--db", tdb2, as_csv, NULL};
  assert_int_equal(run_cli(named, NULL, 0, err, sizeof err), 1);
  assert_non_null(strstr(err, "not a CSV file: it looks like an XLSX"));
  const char *const bytes[] = {"import", "--partial", "--db", tdb2, no_ext, NULL};
  assert_int_equal(run_cli(bytes, NULL, 0, err, sizeof err), 0);
  assert_non_null(strstr(err, "4 inserted"));
  assert_int_equal(count_in(tdb2), 4);
}

/* Every format gromo export writes, gromo import reads back into the same
 * records. */
static void test_cli__export_import_round_trip(void **state) {
  char src[320], ref[200];
  assert_int_equal(e2e_store_uri(src, sizeof src, dir, "rt"), 0);
  snprintf(ref, sizeof ref, "%s/rt-ref.ndjson", dir);
  const char *const g[] = {"generate", "3000", "--seed", "5", "--end", "2025-06-30",
                           "--db", src, "-q", NULL};
  assert_int_equal(run_cli(g, NULL, 0, NULL, 0), 0);
  const char *const e[] = {"export", "--format", "ndjson", "--db", src, "-q", "-o", ref, NULL};
  assert_int_equal(run_cli(e, NULL, 0, NULL, 0), 0);
  size_t n_ref;
  char *want = slurp(ref, &n_ref);
  static const char *const fmts[] = {"csv", "xlsx", "ndjson", "json"};
  for (size_t k = 0; k < 4; k++) {
    char file[200], db_k[320], back[200], name[16];
    snprintf(file, sizeof file, "%s/rt.%s", dir, fmts[k]);
    snprintf(name, sizeof name, "rt_%s", fmts[k]);
    assert_int_equal(e2e_store_uri(db_k, sizeof db_k, dir, name), 0);
    snprintf(back, sizeof back, "%s/rt-%s.ndjson", dir, fmts[k]);
    const char *const ex[] = {"export", "--format", fmts[k], "--db", src, "-q", "-o", file, NULL};
    assert_int_equal(run_cli(ex, NULL, 0, NULL, 0), 0);
    const char *const im[] = {"import", "--db", db_k, "-q", file, NULL};
    assert_int_equal(run_cli(im, NULL, 0, NULL, 0), 0);
    const char *const ex2[] = {"export", "--format", "ndjson", "--db", db_k, "-q", "-o", back, NULL};
    assert_int_equal(run_cli(ex2, NULL, 0, NULL, 0), 0);
    size_t n;
    char *got = slurp(back, &n);
    if (n != n_ref || memcmp(got, want, n) != 0)
      fail_msg("%s: the records read back differ", fmts[k]);
    free(got);
  }
  free(want);
}

static void test_cli__sales_table_and_filters(void **state) {
  char out[65536];
  const char *const q[] = {"sales", "--db", db, "--pincode", "400001", "--format",
                           "table", "--limit", "1000000", NULL};
  assert_int_equal(run_cli(q, out, sizeof out, NULL, 0), 0);
  assert_non_null(strstr(out, "400001"));
  const char *const badq[] = {"sales", "--db", db, "--from", "yesterday", NULL};
  assert_int_equal(run_cli(badq, NULL, 0, out, sizeof out), 2);
  assert_non_null(strstr(out, "from"));
}

struct slow_req {
  const struct srv *s;
  long status;
};

static void *slow_generate(void *arg) {
  struct slow_req *sr = arg;
  struct http_res r;
  if (http_do(sr->s, "GET", "/generate-sample-data/100000?seed=3&end=2026-06-30", NULL, NULL, 0,
              &r) == 0)
    sr->status = r.status;
  http_res_free(&r);
  return NULL;
}

/* SIGTERM while a request is running: it completes, then the server exits
 * cleanly and the store holds all of it. */
static void test_cli__graceful_shutdown(void **state) {
  struct srv s;
  assert_int_equal(srv_start(&s, NULL), 0);
  struct slow_req sr = {.s = &s};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, slow_generate, &sr), 0);
  usleep(300 * 1000);
  char keep_db[400];
  snprintf(keep_db, sizeof keep_db, "%s", s.db);
  kill(s.pid, SIGTERM);
  int st = 0;
  waitpid(s.pid, &st, 0);
  s.pid = 0;
  pthread_join(t, NULL);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(sr.status, 200);
  char out[64];
  const char *const a[] = {"sales", "--db", keep_db, "--count", NULL};
  assert_int_equal(run_cli(a, out, sizeof out, NULL, 0), 0);
  assert_int_equal(atoll(out), 100000);
  FILE *f = fopen(s.log, "r");
  assert_non_null(f);
  char line[2048];
  int stopped = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "\"event\":\"stopped\""))
      stopped = 1;
  fclose(f);
  assert_true(stopped);
  srv_stop(&s);
}

/* The registry's verbs on a store without models: clear errors, exit 1. */
static void test_cli__models_without_versions(void **state) {
  char out[4096], err[4096];
  const char *const imp[] = {"models", "importance", "--db", db, NULL};
  assert_int_equal(run_cli(imp, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no model is trained yet"));
  const char *const prom[] = {"models", "promote", "1", "--db", db, NULL};
  assert_int_equal(run_cli(prom, out, sizeof out, err, sizeof err), 1);
  assert_non_null(strstr(err, "no model version 1"));
  const char *const bad[] = {"models", "promote", "--db", db, NULL};
  assert_int_equal(run_cli(bad, out, sizeof out, err, sizeof err), 2);
  assert_non_null(strstr(err, "promote takes one VERSION"));
  const char *const reason[] = {"models", "promote", "1", "--reason",
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                                "--db", db, NULL};
  assert_int_equal(run_cli(reason, out, sizeof out, err, sizeof err), 2);
  assert_non_null(strstr(err, "at most 200 characters"));
  const char *const pol[] = {"train", "--promote", "never", "--db", db, NULL};
  assert_int_equal(run_cli(pol, out, sizeof out, err, sizeof err), 2);
  assert_non_null(strstr(err, "promote must be if_better or always"));
}

static void test_cli__serve_bad_settings(void **state) {
  char err[4096];
  const char *const a[] = {"serve", "--port", "70000", NULL};
  assert_int_equal(run_cli(a, NULL, 0, err, sizeof err), 2);
  const char *const b[] = {"serve", "--http-mode", "fastest", NULL};
  assert_int_equal(run_cli(b, NULL, 0, err, sizeof err), 2);
  /* A store that cannot be opened: a file in a missing folder, or a
   * database the PostgreSQL server does not have. */
  char missing[320];
  if (e2e_on_pg())
    snprintf(missing, sizeof missing, "%se2e_no_such_database", getenv("GROMO_E2E_PG"));
  else
    snprintf(missing, sizeof missing, "/nonexistent/dir/x.db");
  const char *const c[] = {"serve", "--port", "0", "--db", missing, NULL};
  assert_int_equal(run_cli(c, NULL, 0, err, sizeof err), 1);
  assert_non_null(strstr(err, "store"));
}

/* JSON arrays and NDJSON with bad records: each rejected record named by
 * file, line and index; the valid ones stored with --partial; a file that
 * cannot be read on (JSON only) stops the run naming its line. */
static void test_cli__import_json_bad_records(void **state) {
#define GOOD(pin, id)                                                              \
  "{\"id\":\"" id "\",\"date\":\"2025-02-01\",\"pincode\":\"" pin "\","            \
  "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":33,"               \
  "\"customer_income\":25000}"
  char arr[200], nd[200], stop[200], blank[200], jdb[320];
  snprintf(arr, sizeof arr, "%s/bad-array.json", dir);
  snprintf(nd, sizeof nd, "%s/bad-lines.jsonl", dir);
  snprintf(stop, sizeof stop, "%s/stops.json", dir);
  snprintf(blank, sizeof blank, "%s/blank.json", dir);
  assert_int_equal(e2e_store_uri(jdb, sizeof jdb, dir, "json_bad"), 0);
  write_file(arr, "\xEF\xBB\xBF[\n" GOOD("400001", "j1") ",\n" GOOD("4000", "j2") ",\n\n"
                  "  {\"date\":\"2025-02-01\",\"pincode\":\"400001\",\"pincode\":\"400002\"},\n"
                  "  [1, 2],\n" GOOD("110001", "j3") "\n]\n");
  write_file(nd, GOOD("560001", "n1") "\n{\"date\":\n\n" GOOD("700001", "n2") "\r\n");
  write_file(stop, "[\n" GOOD("400001", "s1") ",\n" GOOD("400001", "s2") "\n" /* no comma */
                   GOOD("400001", "s3") "]");
  write_file(blank, " \n\n");
  char err[8192];
  const char *const imp[] = {"import", "--db", jdb, arr, nd, NULL};
  assert_int_equal(run_cli(imp, NULL, 0, err, sizeof err), 3);
  assert_non_null(strstr(err, "bad-array.json:3: record 1: pincode must be 6 digits"));
  assert_non_null(strstr(err, "bad-array.json:5: record 2: pincode is given twice"));
  assert_non_null(strstr(err, "bad-array.json:6: record 3: record must be a JSON object"));
  assert_non_null(strstr(err, "bad-lines.jsonl:2: record 1: record malformed JSON"));
  assert_non_null(strstr(err, "4 of 8 records rejected; nothing was stored"));
  assert_int_equal(count_in(jdb), 0);
  const char *const part[] = {"import", "--partial", "--db", jdb, arr, nd, NULL};
  assert_int_equal(run_cli(part, NULL, 0, err, sizeof err), 0);
  assert_non_null(strstr(err, "imported 8 records: 4 inserted, 0 duplicates skipped, 4 rejected"));
  assert_int_equal(count_in(jdb), 4);
  const char *const st[] = {"import", "--partial", "--db", jdb, stop, NULL};
  assert_int_equal(run_cli(st, NULL, 0, err, sizeof err), 1);
  assert_non_null(strstr(err, "stops.json: line 4: malformed JSON"));
  assert_non_null(strstr(err, "(nothing was stored)"));
  const char *const bl[] = {"import", "--db", jdb, blank, NULL};
  assert_int_equal(run_cli(bl, NULL, 0, err, sizeof err), 1);
  assert_non_null(strstr(err, "blank.json: the file is empty"));
  assert_int_equal(count_in(jdb), 4);
#undef GOOD
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli__help_everywhere),
      cmocka_unit_test(test_cli__generate_is_deterministic),
      cmocka_unit_test(test_cli__import_json_and_ndjson),
      cmocka_unit_test(test_cli__import_rejects),
      cmocka_unit_test(test_cli__import_tabular_files),
      cmocka_unit_test(test_cli__export_import_round_trip),
      cmocka_unit_test(test_cli__sales_table_and_filters),
      cmocka_unit_test(test_cli__graceful_shutdown),
      cmocka_unit_test(test_cli__serve_bad_settings),
      cmocka_unit_test(test_cli__import_json_bad_records),
      cmocka_unit_test(test_cli__models_without_versions),
  };
  return cmocka_run_group_tests_name("e2e_cli", tests, setup, teardown);
}
