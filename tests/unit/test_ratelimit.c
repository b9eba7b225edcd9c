/* The rate limiter (src/http/ratelimit.c) with explicit times: a bucket
 * starts full, refills at its rate up to its burst, refuses with the wait
 * that would help; buckets are per client and role; a role without a rate
 * is never limited. And the rules' text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/ratelimit.h"

#define SEC 1000000LL /* microseconds */

static struct ratelimit *limiter(double rate, double burst) {
  struct rate_rule rules[ROLE_ADMIN + 1];
  rate_rules_default(rules);
  rules[ROLE_VIEWER] = (struct rate_rule){rate, burst};
  rules[ROLE_ANALYST] = (struct rate_rule){0, 0}; /* no limit */
  struct ratelimit *rl = ratelimit_new(rules);
  assert_non_null(rl);
  return rl;
}

static void test_ratelimit__burst_then_refusal(void **state) {
  struct ratelimit *rl = limiter(2, 5);
  struct rate_info ri;
  int64_t t = 1000 * SEC;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 1);
    assert_int_equal(ri.limit, 5);
    assert_int_equal(ri.remaining, 4 - i);
    assert_int_equal(ri.retry_after, 0);
  }
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 0);
  assert_int_equal(ri.remaining, 0);
  assert_int_equal(ri.retry_after, 1); /* one token at 2/s: half a second, rounded up */
  assert_int_equal(ri.reset, 3);       /* 5 tokens at 2/s: 2.5 s, rounded up */
  ratelimit_free(rl);
}

static void test_ratelimit__refills_at_its_rate_up_to_the_burst(void **state) {
  struct ratelimit *rl = limiter(2, 5);
  struct rate_info ri;
  int64_t t = 1000 * SEC;
  for (int i = 0; i < 5; i++)
    assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t + SEC / 4, &ri), 0);
  /* Half a second after the last refusal: one more token. */
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t + SEC / 2, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t + SEC / 2, &ri), 0);
  /* A long pause fills the bucket to its burst, not beyond. */
  t += 3600 * SEC;
  for (int i = 0; i < 5; i++)
    assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 0);
  ratelimit_free(rl);
}

static void test_ratelimit__buckets_per_client_and_role(void **state) {
  struct ratelimit *rl = limiter(1, 1);
  struct rate_info ri;
  int64_t t = 50 * SEC;
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 0);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:2", t, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "ip:127.0.0.1", t, &ri), 1);
  /* Admin has its own (default) rule and bucket. */
  assert_int_equal(ratelimit_take(rl, ROLE_ADMIN, "k:1", t, &ri), 1);
  assert_int_equal(ri.limit, 400);
  assert_int_equal(ratelimit_buckets(rl), 4);
  ratelimit_free(rl);
}

static void test_ratelimit__no_rate_no_limit(void **state) {
  struct ratelimit *rl = limiter(1, 1);
  struct rate_info ri;
  for (int i = 0; i < 1000; i++)
    assert_int_equal(ratelimit_take(rl, ROLE_ANALYST, "k:9", 7 * SEC, &ri), 1);
  assert_int_equal(ri.limit, 0);
  assert_int_equal(ratelimit_buckets(rl), 0); /* nothing held for it */
  ratelimit_free(rl);
}

static void test_ratelimit__rules_text(void **state) {
  struct rate_rule r[ROLE_ADMIN + 1];
  char why[120];
  rate_rules_default(r);
  assert_int_equal(rate_rules_parse("analyst=500,public=20:40", r, why, sizeof why), 0);
  assert_true(r[ROLE_ANALYST].rate == 500);
  assert_true(r[ROLE_PUBLIC].rate == 20 && r[ROLE_PUBLIC].burst == 40);
  assert_true(r[ROLE_ADMIN].rate == 200); /* untouched */
  static const char *const bad[] = {"analyst", "wizard=5", "viewer=-1", "viewer=x",
                                    "viewer=5:y"};
  for (size_t i = 0; i < N_OF(bad); i++) {
    why[0] = '\0';
    if (rate_rules_parse(bad[i], r, why, sizeof why) != -1 || !why[0])
      fail_msg("'%s' was taken", bad[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ratelimit__burst_then_refusal),
      cmocka_unit_test(test_ratelimit__refills_at_its_rate_up_to_the_burst),
      cmocka_unit_test(test_ratelimit__buckets_per_client_and_role),
      cmocka_unit_test(test_ratelimit__no_rate_no_limit),
      cmocka_unit_test(test_ratelimit__rules_text),
  };
  return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
