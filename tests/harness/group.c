/* A cmocka program for tests/harness/check-run-tests.sh: one passing test
 * in a group whose setup or teardown fails when the program is built with
 * FAIL_SETUP or FAIL_TEARDOWN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void passes(void **state) { (void)state; }

static int group_fixture(void **state) {
  (void)state;
  return -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(passes)};
#if defined FAIL_SETUP
  return cmocka_run_group_tests(tests, group_fixture, NULL);
#elif defined FAIL_TEARDOWN
  return cmocka_run_group_tests(tests, NULL, group_fixture);
#else
  (void)group_fixture;
  return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
