/* End-to-end: POST /sales/upload, streamed, in every format and both body
 * forms, one transaction per upload. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "gromo/buf.h"

static struct srv S;

static int setup(void **state) {
  static const char *const extra[] = {"--max-upload", "4194304", NULL};
  return srv_start(&S, extra);
}

static int teardown(void **state) { return srv_stop(&S) == 0 ? 0 : -1; }

static const char CSV[] =
    "\xEF\xBB\xBF" "Sale Date;PIN;Product;Channel;Customer Age;Income;Notes\r\n"
    "2025-01-05;400001;Loan;online;35;\"75,000\";\"said \"\"yes\"\"\"\r\n"
    "2025-01-06;110001;insurance;offline;61;42000;\"two\nlines\"\r\n"
    "2025-01-07;12345;loan;online;35;1000;bad pin\r\n";

static json_t *data_of(struct http_res *r) { return json_object_get(r->json, "data"); }

static void test_upload__csv_body(void **state) {
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", CSV, sizeof CSV - 1, &r), 0);
  if (r.status != 200)
    fail_msg("%ld %s", r.status, r.body);
  json_t *d = data_of(&r);
  assert_string_equal(json_string_value(json_object_get(d, "format")), "csv");
  assert_int_equal(json_integer_value(json_object_get(d, "records")), 3);
  assert_int_equal(json_integer_value(json_object_get(d, "inserted_count")), 2);
  assert_int_equal(json_integer_value(json_object_get(d, "rejected_count")), 1);
  json_t *bad = json_array_get(json_object_get(d, "invalid_records"), 0);
  assert_int_equal(json_integer_value(json_object_get(bad, "row")), 4); /* header = 1 */
  assert_string_equal(json_string_value(json_object_get(bad, "field")), "pincode");
  assert_int_equal(db_sales_count(&S), before + 2);
  http_res_free(&r);
}

static void test_upload__atomic_stores_nothing(void **state) {
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload?atomic=true", "text/csv", CSV,
                           sizeof CSV - 1, &r), 0);
  assert_int_equal(r.status, 422);
  assert_int_equal(db_sales_count(&S), before);
  http_res_free(&r);
}

static void test_upload__ndjson_and_json_detected(void **state) {
  const char nd[] =
      "{\"id\":\"u-1\",\"date\":\"2025-02-01\",\"pincode\":\"560001\",\"product\":\"loan\","
      "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":5000}\n"
      "{broken\n"
      "{\"id\":\"u-2\",\"date\":\"2025-02-02\",\"pincode\":\"560001\",\"product\":\"loan\","
      "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":5000}";
  long long before = db_sales_count(&S);
  struct http_res r;
  /* No content type: the first bytes say NDJSON. */
  assert_int_equal(http_do(&S, "POST", "/sales/upload", NULL, nd, sizeof nd - 1, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(json_object_get(data_of(&r), "format")), "ndjson");
  assert_int_equal(json_integer_value(json_object_get(data_of(&r), "inserted_count")), 2);
  json_t *bad = json_array_get(json_object_get(data_of(&r), "invalid_records"), 0);
  assert_int_equal(json_integer_value(json_object_get(bad, "row")), 2);
  http_res_free(&r);
  /* The same ids again, as a JSON array: duplicates, nothing new. */
  const char arr[] =
      "[{\"id\":\"u-1\",\"date\":\"2025-02-01\",\"pincode\":\"560001\",\"product\":\"loan\","
      "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":5000}]";
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "application/json", arr,
                           sizeof arr - 1, &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_integer_value(json_object_get(data_of(&r), "duplicate_count")), 1);
  assert_int_equal(db_sales_count(&S), before + 2);
  http_res_free(&r);
}

static void test_upload__multipart(void **state) {
  char body[2048];
  int n = snprintf(body, sizeof body,
                   "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                   "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                   "filename=\"sales.csv\"\r\nContent-Type: text/csv\r\n\r\n"
                   "date,pincode,product,channel,customer_age,customer_income\n"
                   "2025-03-01,700001,loan,offline,40,30000\n"
                   "2025-03-02,700001,credit_card,online,29,90000\n"
                   "\r\n--XyZ--\r\n");
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload",
                           "multipart/form-data; boundary=XyZ", body, (size_t)n, &r), 0);
  if (r.status != 200)
    fail_msg("%ld %s", r.status, r.body);
  assert_int_equal(json_integer_value(json_object_get(data_of(&r), "inserted_count")), 2);
  assert_int_equal(db_sales_count(&S), before + 2);
  http_res_free(&r);
  /* A form without a file field. */
  n = snprintf(body, sizeof body,
               "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ--\r\n");
  assert_int_equal(http_do(&S, "POST", "/sales/upload",
                           "multipart/form-data; boundary=XyZ", body, (size_t)n, &r), 0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "file"));
  http_res_free(&r);
}

static void test_upload__refusals(void **state) {
  long long before = db_sales_count(&S);
  struct http_res r;
  static const struct {
    const char *ctype, *body;
    long status;
    const char *word;
  } cases[] = {
      {"image/png", "\x89PNG", 415, "cannot read"},
      {"text/csv", "", 400, "empty"},
      {"text/csv", "name,colour\nx,y\n", 400, "column"},
      {"application/json", "[{\"date\":", 400, "truncated"},
      {"application/x-ndjson", "\n\n", 200, NULL},
      {"text/csv", "date,pincode,product,channel,customer_age,customer_income\n", 200, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(http_do(&S, "POST", "/sales/upload", cases[i].ctype, cases[i].body,
                             strlen(cases[i].body), &r), 0);
    if (r.status != cases[i].status || (cases[i].word && !strstr(r.body, cases[i].word)))
      fail_msg("case %zu: %ld %s", i, r.status, r.body);
    http_res_free(&r);
  }
  /* Over --max-upload (4 MiB): 413, nothing stored. */
  size_t big = 5u << 20;
  char *b = malloc(big);
  assert_non_null(b);
  memcpy(b, "date,pincode,product,channel,customer_age,customer_income\n", 58);
  for (size_t off = 58; off + 40 <= big; off += 40)
    memcpy(b + off, "2025-01-01,400001,loan,online,30,1000\n\n\n", 40);
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", b, big, &r), 0);
  assert_int_equal(r.status, 413);
  if (!strstr(r.body, "4194304 bytes") || !strstr(r.body, "--max-upload"))
    fail_msg("the refusal does not name the limit: %s", r.body);
  http_res_free(&r);
  free(b);
  assert_int_equal(db_sales_count(&S), before + 0);
}

/* Rejected rows are named by spreadsheet row (the header is row 1): the
 * first 1,000 problems listed, every row counted. */
static void test_upload__rejected_rows_listed_and_counted(void **state) {
  struct buf b;
  buf_init(&b, 1 << 20);
  assert_int_equal(buf_puts(&b, "date,pincode,product,channel,customer_age,customer_income\n"), 0);
  for (int i = 0; i < 1500; i++) /* rows 2-1501: a pincode of 5 digits */
    assert_int_equal(buf_puts(&b, "2025-01-01,40000,loan,online,30,1000\n"), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(buf_puts(&b, "2025-01-01,400001,loan,online,30,1000\n"), 0);
  long long before = db_sales_count(&S);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", b.data, b.len, &r), 0);
  if (r.status != 200)
    fail_msg("%ld %s", r.status, r.body);
  json_t *d = data_of(&r), *bad = json_object_get(d, "invalid_records");
  assert_int_equal(json_integer_value(json_object_get(d, "records")), 1510);
  assert_int_equal(json_integer_value(json_object_get(d, "rejected_count")), 1500);
  assert_int_equal(json_integer_value(json_object_get(d, "inserted_count")), 10);
  assert_int_equal(json_array_size(bad), 1000);
  for (size_t i = 0; i < 1000; i += 333) {
    json_t *p = json_array_get(bad, i);
    assert_int_equal(json_integer_value(json_object_get(p, "row")), (json_int_t)i + 2);
    assert_string_equal(json_string_value(json_object_get(p, "field")), "pincode");
  }
  assert_int_equal(db_sales_count(&S), before + 10);
  http_res_free(&r);
  buf_release(&b);
}

/* The format: the content type first, then the part's file name, then the
 * first bytes. */
static void test_upload__format_type_then_name_then_bytes(void **state) {
  static const char rows[] = "date,pincode,product,channel,customer_age,customer_income\n"
                             "2025-03-05,700001,loan,offline,40,30000\n";
  static const struct {
    const char *part_type, *filename;
    const char *want; /* format, or NULL: refused */
  } cases[] = {
      {"text/csv", "sales.json", "csv"},                  /* the type wins */
      {"application/octet-stream", "sales.csv", "csv"},   /* then the name */
      {"application/octet-stream", "sales.json", NULL},   /* the name wins over bytes */
      {"application/octet-stream", "sales.dat", "csv"},   /* then the bytes */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "--B0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                     "Content-Type: %s\r\n\r\n%s\r\n--B0--\r\n",
                     cases[i].filename, cases[i].part_type, rows);
    struct http_res r;
    assert_int_equal(http_do(&S, "POST", "/sales/upload", "multipart/form-data; boundary=B0",
                             body, (size_t)n, &r), 0);
    if (cases[i].want) {
      if (r.status != 200)
        fail_msg("case %zu: %ld %s", i, r.status, r.body);
      assert_string_equal(json_string_value(json_object_get(data_of(&r), "format")),
                          cases[i].want);
    } else {
      assert_int_equal(r.status, 400);
      assert_non_null(strstr(r.body, "JSON"));
    }
    http_res_free(&r);
  }
  /* A body's own type beats its first bytes: NDJSON sent as CSV is read as
   * CSV, and has no header row. */
  static const char nd[] = "{\"date\":\"2025-02-01\"}\n";
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", nd, sizeof nd - 1, &r), 0);
  assert_int_equal(r.status, 400);
  http_res_free(&r);
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "application/octet-stream", nd,
                           sizeof nd - 1, &r), 0);
  assert_int_equal(r.status, 422); /* read as NDJSON: its one record is invalid */
  assert_string_equal(json_string_value(json_object_get(r.json, "status")), "error");
  http_res_free(&r);
}

/* A client that goes away in the middle leaves nothing behind. */
static void test_upload__disconnect_stores_nothing(void **state) {
  long long before = db_sales_count(&S);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char head[512];
  int n = snprintf(head, sizeof head,
                   "POST /sales/upload HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
                   "Content-Type: text/csv\r\nContent-Length: 10000000\r\n\r\n"
                   "date,pincode,product,channel,customer_age,customer_income\n",
                   S.key);
  assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
  for (int i = 0; i < 30000; i++) { /* more than a batch: some are inserted */
    const char row[] = "2025-01-01,400001,loan,online,30,1000\n";
    if (send(fd, row, sizeof row - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof row - 1))
      break;
  }
  struct timespec ts = {0, 300 * 1000 * 1000};
  nanosleep(&ts, NULL);
  close(fd);
  nanosleep(&ts, NULL);
  assert_int_equal(db_sales_count(&S), before);
  /* And the store is free for the next writer at once. */
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", CSV, sizeof CSV - 1, &r), 0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
}

/* Exports stream every row; an export uploaded to another store gives the
 * same records back. */
static void test_export__round_trip_every_format(void **state) {
  struct http_res r, r2, a, b;
  assert_int_equal(
      http_do(&S, "GET", "/generate-sample-data/2500?seed=9&end=2026-06-30", NULL, NULL, 0, &r),
      0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  long long total = db_sales_count(&S);
  static const char *const fmts[] = {"csv", "ndjson", "json", "xlsx"};
  assert_int_equal(http_do(&S, "GET", "/sales?format=ndjson", NULL, NULL, 0, &a), 0);
  assert_int_equal(a.status, 200);
  size_t lines = 0;
  for (size_t i = 0; i < a.len; i++)
    lines += a.body[i] == '\n';
  assert_int_equal(lines, (size_t)total);
  for (size_t k = 0; k < 4; k++) {
    char path[64];
    snprintf(path, sizeof path, "/sales?format=%s", fmts[k]);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    char disp[128];
    assert_int_equal(http_header(&r, "Content-Disposition", disp, sizeof disp), 0);
    assert_non_null(strstr(disp, fmts[k]));
    if (k == 3)
      assert_memory_equal(r.body, "PK\x03\x04", 4);
    struct srv t;
    assert_int_equal(srv_start(&t, NULL), 0);
    assert_int_equal(http_do(&t, "POST", "/sales/upload", NULL, r.body, r.len, &r2), 0);
    if (r2.status != 200)
      fail_msg("%s: %ld %s", fmts[k], r2.status, r2.body);
    assert_int_equal(json_integer_value(json_object_get(data_of(&r2), "inserted_count")),
                     total);
    assert_int_equal(http_do(&t, "GET", "/sales?format=ndjson", NULL, NULL, 0, &b), 0);
    assert_int_equal(b.len, a.len);
    assert_memory_equal(b.body, a.body, a.len);
    http_res_free(&b);
    http_res_free(&r2);
    http_res_free(&r);
    assert_int_equal(srv_stop(&t), 0);
  }
  http_res_free(&a);
  /* Filters and limit apply; a bad format is refused. */
  assert_int_equal(http_do(&S, "GET", "/sales?format=csv&limit=3", NULL, NULL, 0, &r), 0);
  lines = 0;
  for (size_t i = 0; i < r.len; i++)
    lines += r.body[i] == '\n';
  assert_int_equal(lines, 4); /* header + 3 */
  http_res_free(&r);
  assert_int_equal(http_do(&S, "GET", "/sales?format=pdf", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 400);
  http_res_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_upload__csv_body),
      cmocka_unit_test(test_upload__atomic_stores_nothing),
      cmocka_unit_test(test_upload__ndjson_and_json_detected),
      cmocka_unit_test(test_upload__multipart),
      cmocka_unit_test(test_upload__refusals),
      cmocka_unit_test(test_upload__rejected_rows_listed_and_counted),
      cmocka_unit_test(test_upload__format_type_then_name_then_bytes),
      cmocka_unit_test(test_upload__disconnect_stores_nothing),
      cmocka_unit_test(test_export__round_trip_every_format),
  };
  return cmocka_run_group_tests_name("e2e_upload", tests, setup, teardown);
}
