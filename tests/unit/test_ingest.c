/* src/ingest/json.c: JSON array and NDJSON readers; jsonrec.c; writer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/ingest.h"
#include "gromo/spool.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

/* "Now" for the records' dates (not more than a day in the future): fixed,
 * 2026-07-01 12:00 IST, so that nothing depends on the day the tests run. */
#define NOW_MS (days_from_civil(2026, 7, 1) * DAY_MS + 12 * 3600000LL)

#define REC(pin) \
  "{\"date\":\"2025-01-01\",\"pincode\":\"" pin "\",\"product\":\"loan\"," \
  "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1000}"

struct seen {
  int valid[16];
  size_t row[16];
  size_t n;
  int rc;
  struct gerr err;
};

/* Input handed out `chunk` bytes at a time, as a file read in pieces. */
struct pieces {
  const char *text;
  size_t len, off, chunk;
};

static long read_piece(void *ctx, char *dst, size_t cap, struct gerr *err) {
  struct pieces *p = ctx;
  size_t n = p->len - p->off;
  if (n > p->chunk)
    n = p->chunk;
  if (n > cap)
    n = cap;
  memcpy(dst, p->text + p->off, n);
  p->off += n;
  return (long)n;
}

/* chunk 0: over the buffer; else streamed in pieces of chunk bytes. */
static void read_mode(const char *text, enum ingest_format fmt, struct seen *s,
                      size_t chunk) {
  struct ingest_reader *r = NULL;
  struct pieces pc = {text, strlen(text), 0, chunk};
  memset(s, 0, sizeof *s);
  s->rc = chunk ? ingest_json_open_stream(read_piece, &pc, fmt, &r, &s->err)
                : ingest_json_open(text, strlen(text), fmt, &r, &s->err);
  if (s->rc < 0)
    return;
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct sale rec;
  struct sale_problems pr;
  size_t row, index;
  int valid;
  while ((s->rc = ingest_next(r, &rules, &rec, &valid, &pr, &row, &index, &s->err)) == 1) {
    assert_int_equal(index, s->n);
    s->valid[s->n] = valid;
    s->row[s->n++] = row;
  }
  if (chunk && s->rc == 0)
    assert_int_equal(ingest_offset(r), strlen(text));
  ingest_free(r);
}

/* Over the buffer, and streamed in pieces of every size from 1 byte: the
 * same records, rows and errors. */
static void read_all(const char *text, enum ingest_format fmt, struct seen *s) {
  read_mode(text, fmt, s, 0);
  static const size_t chunks[] = {1, 2, 3, 7, 64, 4096};
  for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
    struct seen t;
    read_mode(text, fmt, &t, chunks[i]);
    if (t.rc != s->rc || t.n != s->n || strcmp(t.err.msg, s->err.msg) != 0 ||
        memcmp(t.valid, s->valid, sizeof t.valid) || memcmp(t.row, s->row, sizeof t.row))
      fail_msg("streamed in pieces of %zu: rc %d n %zu \"%s\", not rc %d n %zu \"%s\"",
               chunks[i], t.rc, t.n, t.err.msg, s->rc, s->n, s->err.msg);
  }
}

static void test_ingest__detect(void **state) {
  assert_int_equal(ingest_detect("x.json", "  [", 3), INGEST_JSON_ARRAY);
  assert_int_equal(ingest_detect("x.json", "\xEF\xBB\xBF{", 4), INGEST_NDJSON);
  assert_int_equal(ingest_detect("x.JSONL", "[", 1), INGEST_NDJSON);
  assert_int_equal(ingest_detect("x.ndjson", "", 0), INGEST_NDJSON);
  assert_int_equal(ingest_detect("x.csv", "date,pincode", 12), INGEST_UNKNOWN);
  assert_int_equal(ingest_detect(NULL, "\x00\x01", 2), INGEST_UNKNOWN);
}

/* The file format of import and upload: type, then name, then bytes. */
static void test_ingest__file_detect(void **state) {
  static const struct {
    const char *type, *name, *head;
    size_t n;
    enum ingest_file want;
  } cases[] = {
      {"text/csv; charset=utf-8", "x.xlsx", "[", 1, FILE_CSV},
      {"application/x-ndjson", NULL, "[", 1, FILE_NDJSON},
      {"APPLICATION/JSON", NULL, "", 0, FILE_JSON},
      {"application/octet-stream", "sales.XLS", "", 0, FILE_XLS},
      {NULL, "sales.jsonl", "[", 1, FILE_NDJSON},
      {NULL, "sales.tsv", "PK\x03\x04", 4, FILE_CSV},
      {NULL, "sales", "PK\x03\x04", 4, FILE_XLSX},
      {NULL, NULL, "\xD0\xCF\x11\xE0", 4, FILE_XLS},
      {NULL, "-", " \n[", 3, FILE_JSON},
      {NULL, "a.dat", "\xEF\xBB\xBF{", 4, FILE_NDJSON},
      {NULL, NULL, "date,pincode", 12, FILE_CSV},
      {NULL, NULL, "", 0, FILE_CSV},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    enum ingest_file got =
        ingest_file_detect(cases[i].type, cases[i].name, cases[i].head, cases[i].n);
    if (got != cases[i].want)
      fail_msg("case %zu: %s, want %s", i, ingest_file_name(got),
               ingest_file_name(cases[i].want));
  }
  assert_string_equal(ingest_file_name(FILE_XLSX), "xlsx");
  assert_int_equal(ingest_file_of_type("application/octet-stream"), FILE_UNKNOWN);
}

static void test_ingest__json_array_rows(void **state) {
  struct seen s;
  read_all("[\n" REC("400001") ",\n" REC("12") ",\n\n" REC("110001") "\n]\n",
           INGEST_JSON_ARRAY, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 3);
  assert_true(s.valid[0]);
  assert_false(s.valid[1]);
  assert_true(s.valid[2]);
  assert_int_equal(s.row[0], 2);
  assert_int_equal(s.row[1], 3);
  assert_int_equal(s.row[2], 5);
  read_all("[]", INGEST_JSON_ARRAY, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 0);
}

static void test_ingest__json_array_broken(void **state) {
  static const char *const bad[] = {
      "[" REC("400001"),                    /* truncated */
      "[" REC("400001") " " REC("400001") "]", /* missing comma */
      "[" REC("400001") "] trailing",
      "[{\"date\":",
      "{}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct seen s;
    read_all(bad[i], INGEST_JSON_ARRAY, &s);
    assert_int_equal(s.rc, -1);
    assert_int_equal(s.err.code, GERR_INVALID_INPUT);
    assert_non_null(strstr(s.err.msg, "line 1"));
  }
  struct seen s;
  read_all("   \n ", INGEST_JSON_ARRAY, &s);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.err.msg, "empty"));
}

static void test_ingest__ndjson_keeps_going(void **state) {
  struct seen s;
  read_all(REC("400001") "\r\n\n{oops}\n" REC("1") "\n   \n" REC("560001"),
           INGEST_NDJSON, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 4);
  assert_true(s.valid[0]);
  assert_false(s.valid[1]); /* malformed line is one rejected record */
  assert_false(s.valid[2]);
  assert_true(s.valid[3]);
  assert_int_equal(s.row[1], 3);
  assert_int_equal(s.row[3], 6);
}


/* The streaming JSON reader (jsonrec.c), fed in chunks of every size. */
struct collected {
  size_t n, valid;
  int32_t pins[16];
  char problems[16][160];
};

static int collect(void *ctx, size_t index, const struct sale *rec, int valid,
                   const struct sale_problems *pr) {
  struct collected *c = ctx;
  if (c->n < 16) {
    c->pins[c->n] = valid ? rec->pincode : 0;
    c->problems[c->n][0] = '\0';
    if (!valid && pr->count)
      snprintf(c->problems[c->n], sizeof c->problems[0], "%s %s",
               sale_field_name(pr->p[0].field), pr->p[0].problem);
  }
  c->n++;
  c->valid += valid != 0;
  return 0;
}

static int feed_chunks(const char *text, size_t chunk, struct collected *c,
                       struct gerr *err) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct jsonrec *j = NULL;
  memset(c, 0, sizeof *c);
  assert_int_equal(jsonrec_new(&rules, collect, c, &j), 0);
  size_t len = strlen(text);
  int rc = 0;
  for (size_t off = 0; off < len && rc == 0; off += chunk)
    rc = jsonrec_feed(j, text + off, len - off < chunk ? len - off : chunk, err);
  if (rc == 0)
    rc = jsonrec_finish(j, err);
  jsonrec_free(j);
  return rc;
}

static void test_jsonrec__any_chunking_same_records(void **state) {
  const char *text = "[" REC("400001") ", " REC("12") ",\n" REC("110001") "]";
  for (size_t chunk = 1; chunk <= strlen(text); chunk += 7) {
    struct collected c;
    struct gerr err;
    assert_int_equal(feed_chunks(text, chunk, &c, &err), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.valid, 2);
    assert_int_equal(c.pins[0], 400001);
    assert_int_equal(c.pins[2], 110001);
    assert_non_null(strstr(c.problems[1], "pincode"));
  }
}

static void test_jsonrec__types_and_members(void **state) {
  static const struct {
    const char *json;
    const char *problem; /* NULL: valid */
  } rows[] = {
      {"{\"date\":\"2025-01-01\",\"pincode\":400001,\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":30.0,\"customer_income\":1e3,"
       "\"extra\":{\"deep\":[1,2,{\"x\":null}]},\"city\":null}",
       NULL},
      {"{\"date\":\"2025-01-01\",\"pincode\":400001.0,\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1}",
       "pincode must be a 6-digit string or integer, not a real"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":[\"loan\"],"
       "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1}",
       "product must be a string, not an array"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":\"30\",\"customer_income\":1}",
       "customer_age must be an integer, not a string"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":true}",
       "customer_income must be a number, not a boolean"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"pincode\":\"400002\","
       "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":30,"
       "\"customer_income\":1}",
       "pincode is given twice"},
      {"{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
       "\"customer_age\":30,\"customer_income\":99999999999999999999999}",
       "customer_income must be from 0 to 100000000"},
      {"{}", "date is required"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct collected c;
    struct gerr err;
    assert_int_equal(feed_chunks(rows[i].json, 5, &c, &err), 0);
    assert_int_equal(c.n, 1);
    if (!rows[i].problem) {
      assert_int_equal(c.valid, 1);
    } else {
      assert_int_equal(c.valid, 0);
      if (strcmp(c.problems[0], rows[i].problem) != 0)
        fail_msg("row %zu: got '%s', want '%s'", i, c.problems[0], rows[i].problem);
    }
  }
}

static void test_jsonrec__structural_errors(void **state) {
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 99);
  deep[199] = '\0';
  static const char *const bad[] = {
      "42", "\"x\"", "null", "[{}] [{}]", "[" REC("400001"), "[{\"date\":",
      "{\"a\":1", "[1,]", "", "   ", "[\"\xff\xfe\"]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct collected c;
    struct gerr err;
    if (feed_chunks(bad[i], 3, &c, &err) != -1)
      fail_msg("case %zu was accepted", i);
    assert_int_equal(err.code, GERR_INVALID_INPUT);
  }
  struct collected c;
  struct gerr err;
  assert_int_equal(feed_chunks(deep, 16, &c, &err), -1);
  assert_non_null(strstr(err.msg, "nested"));
  /* Array elements that are not objects are invalid records, not errors. */
  assert_int_equal(feed_chunks("[1, \"two\", [3], null]", 4, &c, &err), 0);
  assert_int_equal(c.n, 4);
  assert_int_equal(c.valid, 0);
  assert_string_equal(c.problems[2], "record must be a JSON object");
  assert_int_equal(feed_chunks("[]", 1, &c, &err), 0);
  assert_int_equal(c.n, 0);
}

static int stop_after_two(void *ctx, size_t index, const struct sale *rec, int valid,
                          const struct sale_problems *pr) {
  return index >= 1;
}

static void test_jsonrec__callback_stops(void **state) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct jsonrec *j = NULL;
  struct gerr err;
  const char *text = "[" REC("400001") "," REC("400001") "," REC("400001") "]";
  assert_int_equal(jsonrec_new(&rules, stop_after_two, NULL, &j), 0);
  assert_int_equal(jsonrec_feed(j, text, strlen(text), &err), -2);
  assert_int_equal(jsonrec_count(j), 2);
  jsonrec_free(j);
}

/* ---- the writer: batches stored from a second thread ------------------- */

struct temp_store {
  char dir[TEST_TMPDIR_CAP], path[96];
  struct store *st;
};

static void temp_store_open(struct temp_store *t) {
  assert_int_equal(test_tmpdir("writer", t->dir), 0);
  snprintf(t->path, sizeof t->path, "%s/w.db", t->dir);
  struct gerr err;
  assert_int_equal(store_open(t->path, &t->st, &err), 0);
}

static void temp_store_close(struct temp_store *t) {
  store_close(t->st);
  test_tmpdir_remove(t->dir);
}

static long long stored_count(struct store *st) {
  int64_t n = -1;
  struct gerr err;
  assert_int_equal(store_sales_count(st, &n, &err), 0);
  return (long long)n;
}

static struct sale sale_numbered(int i, int with_id) {
  struct sale r;
  memset(&r, 0, sizeof r);
  r.ts_ms = SALE_MIN_DATE_MS + (int64_t)i * 60000;
  r.pincode = 400001;
  r.customer_age = 35;
  r.customer_income = 1000 + i;
  snprintf(r.product, sizeof r.product, "loan");
  snprintf(r.channel, sizeof r.channel, "online");
  if (with_id)
    snprintf(r.id, sizeof r.id, "W-%d", i);
  return r;
}

/* Every record in batches of 7 (the last one short), duplicates counted. */
static void test_writer__stores_every_batch(void **state) {
  struct temp_store t;
  temp_store_open(&t);
  struct gerr err;
  struct ingest_writer *w = NULL;
  assert_int_equal(store_begin(t.st, &err), 0);
  assert_int_equal(ingest_writer_start(t.st, 7, &w, &err), 0);
  for (int i = 0; i < 100; i++) {
    struct sale r = sale_numbered(i < 90 ? i : i - 90, 1); /* 10 ids again */
    assert_int_equal(ingest_writer_add(w, &r, &err), 0);
  }
  struct store_insert_stats st;
  assert_int_equal(ingest_writer_finish(w, &st, &err), 0);
  ingest_writer_free(w);
  assert_int_equal(st.inserted, 90);
  assert_int_equal(st.duplicates, 10);
  assert_int_equal(store_commit(t.st, &err), 0);
  assert_int_equal(stored_count(t.st), 90);
  temp_store_close(&t);
}

/* A failed insert reaches the reader at its next hand-over, and finish
 * reports it; the caller rolls back. */
static void test_writer__failure_reaches_the_reader(void **state) {
  struct temp_store t;
  temp_store_open(&t);
  struct gerr err;
  struct ingest_writer *w = NULL;
  assert_int_equal(store_begin(t.st, &err), 0);
  assert_int_equal(ingest_writer_start(t.st, 10, &w, &err), 0);
  int failed_at = -1;
  for (int i = 0; i < 1000 && failed_at < 0; i++) {
    struct sale r = sale_numbered(i, 0);
    if (i == 25)
      r.pincode = 12; /* the store's own check refuses it */
    if (ingest_writer_add(w, &r, &err) < 0)
      failed_at = i;
  }
  assert_true(failed_at >= 29); /* the batch of 20-29 was handed over at 29 */
  assert_true(err.msg[0] != '\0');
  struct gerr err2;
  assert_int_equal(ingest_writer_finish(w, NULL, &err2), -1);
  assert_string_equal(err2.msg, err.msg);
  ingest_writer_free(w);
  store_rollback(t.st);
  assert_int_equal(stored_count(t.st), 0);
  temp_store_close(&t);
}

/* Freed without finish (a client gone): nothing more is stored, and the
 * rollback leaves the store as it was. */
static void test_writer__free_without_finish(void **state) {
  struct temp_store t;
  temp_store_open(&t);
  struct gerr err;
  struct ingest_writer *w = NULL;
  assert_int_equal(store_begin(t.st, &err), 0);
  assert_int_equal(ingest_writer_start(t.st, 16, &w, &err), 0);
  for (int i = 0; i < 500; i++) {
    struct sale r = sale_numbered(i, 0);
    assert_int_equal(ingest_writer_add(w, &r, &err), 0);
  }
  ingest_writer_free(w);
  store_rollback(t.st);
  assert_int_equal(stored_count(t.st), 0);
  ingest_writer_free(NULL);
  temp_store_close(&t);
}

/* Streamed over many windows: a large array, a line too long to keep, and
 * an input that fails part way. */
static long read_failing(void *ctx, char *dst, size_t cap, struct gerr *err) {
  struct pieces *p = ctx;
  if (p->off >= p->len / 2)
    return gerr_set(err, GERR_INVALID_INPUT, "x.json: the file shrank");
  return read_piece(ctx, dst, cap, err);
}

static void test_ingest__streamed_windows(void **state) {
  struct buf b;
  buf_init(&b, (size_t)64 << 20);
  assert_int_equal(buf_puts(&b, "["), 0);
  for (int i = 0; i < 20000; i++)
    assert_int_equal(buf_puts(&b, i ? ",\n" REC("400001") : REC("400001")), 0);
  assert_int_equal(buf_puts(&b, "]"), 0);
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct sale rec;
  struct sale_problems pr;
  size_t row, index, n = 0;
  int valid, got;
  struct gerr err;
  struct pieces pc = {b.data, b.len, 0, 100000};
  struct ingest_reader *r = NULL;
  assert_int_equal(ingest_json_open_stream(read_piece, &pc, INGEST_JSON_ARRAY, &r, &err), 0);
  while ((got = ingest_next(r, &rules, &rec, &valid, &pr, &row, &index, &err)) == 1)
    n += valid;
  assert_int_equal(got, 0);
  assert_int_equal(n, 20000);
  assert_int_equal(row, 20000);
  ingest_free(r);
  /* The input fails half way: the reading stops with its error. */
  pc = (struct pieces){b.data, b.len, 0, 4096};
  assert_int_equal(ingest_json_open_stream(read_failing, &pc, INGEST_JSON_ARRAY, &r, &err), 0);
  n = 0;
  while ((got = ingest_next(r, &rules, &rec, &valid, &pr, &row, &index, &err)) == 1)
    n++;
  assert_int_equal(got, -1);
  assert_string_equal(err.msg, "x.json: the file shrank");
  assert_true(n > 0 && n < 20000);
  ingest_free(r);
  /* An NDJSON line of 3 MiB: one rejected record, never held whole; the
   * lines around it are read. */
  buf_reset(&b);
  assert_int_equal(buf_puts(&b, REC("400001") "\n{\"x\":\""), 0);
  for (int i = 0; i < 3 * 1024; i++) {
    char kib[1024];
    memset(kib, 'a', sizeof kib);
    assert_int_equal(buf_append(&b, kib, sizeof kib), 0);
  }
  assert_int_equal(buf_puts(&b, "\"}\n" REC("110001") "\n"), 0);
  pc = (struct pieces){b.data, b.len, 0, 65536};
  assert_int_equal(ingest_json_open_stream(read_piece, &pc, INGEST_NDJSON, &r, &err), 0);
  int seen_valid[3] = {0};
  size_t rows[3] = {0};
  char problem[120] = "";
  n = 0;
  while ((got = ingest_next(r, &rules, &rec, &valid, &pr, &row, &index, &err)) == 1 && n < 3) {
    if (!valid)
      snprintf(problem, sizeof problem, "%s", pr.p[0].problem);
    seen_valid[n] = valid;
    rows[n++] = row;
  }
  assert_int_equal(got, 0);
  assert_int_equal(n, 3);
  assert_true(seen_valid[0] && !seen_valid[1] && seen_valid[2]);
  assert_int_equal(rows[1], 2);
  assert_int_equal(rows[2], 3);
  assert_non_null(strstr(problem, "longer than"));
  ingest_free(r);
  buf_release(&b);
}

/* Staged records come back as they went in: every field, the longest
 * texts, empty ones, across many read buffers. */
struct replayed {
  size_t n;
  int bad;
};

static struct sale sale_staged(int i) {
  struct sale r = sale_numbered(i, i % 3 == 0);
  r.customer_income = i % 5 == 0 ? 0.5 : 1000.25 * i;
  r.customer_age = 18 + i % 80;
  if (i % 7 == 0) {
    memset(r.city, 'c', SALE_CITY_MAX_BYTES);
    r.city[SALE_CITY_MAX_BYTES] = '\0';
    memset(r.id, 'i', SALE_ID_MAX);
    r.id[SALE_ID_MAX] = '\0';
    memset(r.product, 'p', SALE_IDENT_MAX);
    r.product[SALE_IDENT_MAX] = '\0';
    snprintf(r.agent_id, sizeof r.agent_id, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  } else if (i % 2) {
    snprintf(r.city, sizeof r.city, "Mumbai %d", i);
  }
  return r;
}

static int check_replayed(void *ctx, const struct sale *rec) {
  struct replayed *r = ctx;
  struct sale want = sale_staged((int)r->n++);
  if (rec->ts_ms != want.ts_ms || rec->pincode != want.pincode ||
      rec->customer_age != want.customer_age ||
      rec->customer_income != want.customer_income || strcmp(rec->product, want.product) ||
      strcmp(rec->channel, want.channel) || strcmp(rec->agent_id, want.agent_id) ||
      strcmp(rec->id, want.id) || strcmp(rec->city, want.city))
    r->bad++;
  return 0;
}

static void test_stage__round_trip(void **state) {
  struct gerr err;
  struct sale_stage *st = NULL;
  assert_int_equal(sale_stage_new(NULL, &st, &err), 0);
  for (int i = 0; i < 20000; i++) {
    struct sale r = sale_staged(i);
    assert_int_equal(sale_stage_add(st, &r, &err), 0);
  }
  assert_int_equal(sale_stage_count(st), 20000);
  assert_true(sale_stage_bytes(st) < 20000 * 200); /* compact */
  for (int pass = 0; pass < 2; pass++) {
    struct replayed r = {0, 0};
    assert_int_equal(sale_stage_replay(st, check_replayed, &r, &err), 0);
    assert_int_equal(r.n, 20000);
    assert_int_equal(r.bad, 0);
  }
  sale_stage_free(st);
  sale_stage_free(NULL);
}

/* The bound counts every file of the spool; freeing gives the room back.
 * Files have no name in the folder. */
static void test_spool__bound_and_no_names(void **state) {
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("spool", dir), 0);
  struct gerr err;
  struct spool *sp = NULL;
  assert_int_equal(spool_new(dir, 100000, &sp, &err), 0);
  struct spool_file *a = NULL, *b = NULL;
  assert_int_equal(spool_file_new(sp, &a, &err), 0);
  assert_int_equal(spool_file_new(sp, &b, &err), 0);
  char chunk[1000];
  memset(chunk, 'x', sizeof chunk);
  for (int i = 0; i < 60; i++)
    assert_int_equal(spool_file_write(a, chunk, sizeof chunk, &err), 0);
  int refused = -1;
  for (int i = 0; i < 60 && refused < 0; i++)
    if (spool_file_write(b, chunk, sizeof chunk, &err) < 0)
      refused = i;
  assert_int_equal(refused, 40);
  assert_int_equal(err.code, GERR_INSUFFICIENT_STORAGE);
  assert_non_null(strstr(err.msg, "--max-spool"));
  assert_int_equal(spool_used(sp), 100000);
  /* What a holds can be read back through its path. */
  assert_int_equal(spool_file_flush(a, &err), 0);
  FILE *f = fopen(spool_file_path(a), "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  assert_int_equal(ftell(f), 60000);
  fclose(f);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
  assert_int_equal(system(cmd), 0); /* nothing to see in the folder */
  spool_file_free(b);
  spool_file_free(a);
  assert_int_equal(spool_used(sp), 0);
  assert_int_equal(spool_file_new(sp, &a, &err), 0);
  assert_int_equal(spool_file_write(a, chunk, sizeof chunk, &err), 0);
  spool_file_free(a);
  spool_free(sp);
  assert_int_equal(rmdir(dir), 0); /* empty: the spool left nothing */
  test_tmpdir_remove(dir);
  /* A folder that is not one is refused by name. */
  assert_int_equal(spool_new("/nonexistent/spool", 0, &sp, &err), -1);
  assert_non_null(strstr(err.msg, "/nonexistent/spool"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stage__round_trip),
      cmocka_unit_test(test_spool__bound_and_no_names),
      cmocka_unit_test(test_ingest__detect),
      cmocka_unit_test(test_ingest__file_detect),
      cmocka_unit_test(test_ingest__json_array_rows),
      cmocka_unit_test(test_ingest__json_array_broken),
      cmocka_unit_test(test_ingest__ndjson_keeps_going),
      cmocka_unit_test(test_ingest__streamed_windows),
      cmocka_unit_test(test_jsonrec__any_chunking_same_records),
      cmocka_unit_test(test_jsonrec__types_and_members),
      cmocka_unit_test(test_jsonrec__structural_errors),
      cmocka_unit_test(test_jsonrec__callback_stops),
      cmocka_unit_test(test_writer__stores_every_batch),
      cmocka_unit_test(test_writer__failure_reaches_the_reader),
      cmocka_unit_test(test_writer__free_without_finish),
  };
  return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
