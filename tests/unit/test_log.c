/* Structured logging (src/core/log.c): one JSON object a line, the level
 * filter, messages escaped, lines from many threads whole. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include <jansson.h>

#include "gromo/log.h"

static char dir[TEST_TMPDIR_CAP], path[TEST_TMPDIR_CAP + 16];

static int setup(void **state) {
  struct gerr err;
  if (test_tmpdir("log", dir) < 0)
    return -1;
  snprintf(path, sizeof path, "%s/x.log", dir);
  return log_open(path, &err);
}

static int teardown(void **state) {
  log_close();
  log_set_level(LOG_INFO);
  test_tmpdir_remove(dir);
  return 0;
}

/* The file's lines, each parsed; fails on a line that is not an object. */
static json_t *read_lines(void) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  json_t *all = json_array();
  char line[16384];
  while (fgets(line, sizeof line, f)) {
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    if (!json_is_object(j))
      fail_msg("not a JSON object: %s (%s)", line, je.text);
    json_array_append_new(all, j);
  }
  fclose(f);
  return all;
}

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_log__lines_levels_and_escapes(void **state) {
  log_set_level(LOG_INFO);
  log_msg(LOG_DEBUG, "hidden", "not written");
  log_msg(LOG_INFO, "startup", "a \"quoted\" word,\na new line and a tab\t");
  log_msg(LOG_ERROR, "store", "%d%% full", 97);
  static const char warn[] = "\"status\":503,\"path\":\"/x\"", debug[] = "\"status\":200";
  log_fields(LOG_WARN, "request", warn, strlen(warn));
  log_fields(LOG_DEBUG, "request", debug, strlen(debug));
  json_t *all = read_lines();
  assert_int_equal(json_array_size(all), 3);
  json_t *a = json_array_get(all, 0), *b = json_array_get(all, 1),
         *c = json_array_get(all, 2);
  assert_string_equal(str(a, "level"), "info");
  assert_string_equal(str(a, "event"), "startup");
  assert_string_equal(str(a, "msg"), "a \"quoted\" word,\na new line and a tab\t");
  assert_int_equal(strlen(str(a, "ts")), 24); /* 2026-01-02T03:04:05.678Z */
  assert_int_equal(str(a, "ts")[23], 'Z');
  assert_string_equal(str(b, "level"), "error");
  assert_string_equal(str(b, "msg"), "97% full");
  assert_string_equal(str(c, "level"), "warn");
  assert_int_equal(json_integer_value(json_object_get(c, "status")), 503);
  assert_string_equal(str(c, "path"), "/x");
  json_decref(all);
  log_set_level(LOG_DEBUG);
  log_msg(LOG_DEBUG, "shown", "now written");
  all = read_lines();
  assert_int_equal(json_array_size(all), 4);
  json_decref(all);
}

#define THREADS 4
#define LINES 500

static void *writer(void *arg) {
  for (int i = 0; i < LINES; i++)
    log_msg(LOG_INFO, "thread", "writer %ld line %d %s", (long)(intptr_t)arg, i,
            "padding padding padding padding padding padding padding padding");
  return NULL;
}

static void test_log__threads_never_interleave(void **state) {
  pthread_t t[THREADS];
  for (intptr_t i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  json_t *all = read_lines(); /* each line parses whole */
  assert_int_equal(json_array_size(all), THREADS * LINES);
  json_decref(all);
}

static void test_log__open_failure_says_why(void **state) {
  struct gerr err;
  assert_int_equal(log_open("/nonexistent/dir/x.log", &err), -1);
  assert_non_null(strstr(err.msg, "/nonexistent/dir/x.log"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_log__lines_levels_and_escapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_log__threads_never_interleave, setup, teardown),
      cmocka_unit_test(test_log__open_failure_says_why),
  };
  return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
