/* The bounds on what clients can make the server hold: the memory budget
 * of request bodies, the rate limiter's buckets, and the usage table behind
 * /stats. Each is driven past its bound with explicit times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gromo/http.h"
#include "gromo/membudget.h"
#include "gromo/metrics.h"
#include "gromo/ratelimit.h"

static void test_limits__budget_takes_and_gives(void **state) {
  struct membudget b;
  membudget_init(&b, 100);
  assert_int_equal(membudget_take(&b, 60), 0);
  assert_int_equal(membudget_take(&b, 41), -1); /* 101 > 100: nothing taken */
  assert_int_equal(membudget_used(&b), 60);
  assert_int_equal(membudget_take(&b, 40), 0);
  assert_int_equal(membudget_take(&b, 1), -1);
  membudget_give(&b, 100);
  assert_int_equal(membudget_used(&b), 0);
  assert_int_equal(membudget_take(&b, (size_t)-1), -1); /* no wrap-around */
  assert_int_equal(atomic_load(&b.refused), 3);
}

static void test_limits__share_grows_in_steps(void **state) {
  struct membudget b;
  membudget_init(&b, 1000);
  struct memshare a = {&b, 0}, c = {&b, 0};
  assert_int_equal(memshare_hold(&a, 300), 0);
  assert_int_equal(memshare_hold(&a, 200), 0); /* already held */
  assert_int_equal(memshare_hold(&a, 700), 0);
  assert_int_equal(membudget_used(&b), 700);
  assert_int_equal(memshare_hold(&c, 301), -1);
  assert_int_equal(c.held, 0);
  assert_int_equal(memshare_hold(&c, 300), 0);
  memshare_release(&a);
  memshare_release(&c);
  memshare_release(&c); /* twice is harmless */
  assert_int_equal(membudget_used(&b), 0);
  struct memshare none = {NULL, 0}; /* no budget: never refused */
  assert_int_equal(memshare_hold(&none, (size_t)1 << 40), 0);
}

static void test_limits__rate_buckets_bounded(void **state) {
  struct rate_rule rules[ROLE_ADMIN + 1];
  rate_rules_default(rules);
  rules[ROLE_PUBLIC] = (struct rate_rule){1, 2};
  struct ratelimit *rl = ratelimit_new_bounded(rules, 160);
  assert_non_null(rl);
  struct rate_info ri;
  int64_t now = 1000000;
  char who[32];
  int refused = 0;
  /* 20,000 addresses, each taking one token at the same instant: every
   * bucket is busy, so none can be dropped. */
  for (int i = 0; i < 20000; i++) {
    snprintf(who, sizeof who, "a:10.0.%d.%d", i / 256, i % 256);
    refused += !ratelimit_take(rl, ROLE_PUBLIC, who, now, &ri);
  }
  size_t held = ratelimit_buckets(rl);
  printf("buckets held after 20,000 addresses: %zu (bound 160); %d refused\n", held, refused);
  assert_true(held <= 160);
  /* Past the bound, newcomers shared a bucket and were limited together. */
  assert_true(refused > 19000);
  /* A known client keeps its own bucket meanwhile. */
  assert_int_equal(ratelimit_take(rl, ROLE_PUBLIC, "a:10.0.0.0", now, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_PUBLIC, "a:10.0.0.0", now, &ri), 0);
  assert_int_equal(ri.retry_after, 1);
  /* Once the buckets have refilled they hold no state and make room. */
  now += 10 * 1000000;
  assert_int_equal(ratelimit_take(rl, ROLE_PUBLIC, "a:192.0.2.1", now, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_PUBLIC, "a:192.0.2.1", now, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_PUBLIC, "a:192.0.2.1", now, &ri), 0);
  assert_true(ratelimit_buckets(rl) <= 160);
  ratelimit_free(rl);
}

static void test_limits__token_bucket_refills(void **state) {
  struct rate_rule rules[ROLE_ADMIN + 1];
  rate_rules_default(rules);
  rules[ROLE_VIEWER] = (struct rate_rule){2, 4};
  struct ratelimit *rl = ratelimit_new(rules);
  struct rate_info ri;
  int64_t t = 5000000;
  for (int i = 0; i < 4; i++)
    assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 1);
  assert_int_equal(ri.remaining, 0);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 0);
  assert_int_equal(ri.retry_after, 1);
  assert_int_equal(ri.limit, 4);
  t += 500000; /* half a second: one token at 2/s */
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 1);
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:1", t, &ri), 0);
  /* Another key is not affected. */
  assert_int_equal(ratelimit_take(rl, ROLE_VIEWER, "k:2", t, &ri), 1);
  ratelimit_free(rl);
}

/* /stats keeps (endpoint, key) pairs per hour: key names come only from
 * valid keys, and even 10,000 of them never grow the table past its bound;
 * the requests still count in the totals. */
static void test_limits__usage_table_bounded(void **state) {
  static const struct route table[] = {
      {.method = "GET", .pattern = "/a", .summary = "a"},
      {.method = "GET", .pattern = "/b", .summary = "b"},
      {0},
  };
  struct metrics *m = metrics_new(2);
  assert_non_null(m);
  char key[32];
  int64_t now = 1800000000;
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    metrics_request(m, i % 2, 200, 100, key, now);
  }
  json_t *st = metrics_stats(m, table, now);
  assert_non_null(st);
  json_t *by_key = json_object_get(st, "by_key");
  json_int_t total = json_integer_value(json_object_get(st, "requests"));
  printf("by_key entries: %zu; requests counted: %lld\n", json_object_size(by_key),
         (long long)total);
  assert_true(json_object_size(by_key) > 0);
  assert_true(json_object_size(by_key) <= 512);
  assert_int_equal(total, 10000);
  json_decref(st);
  metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_limits__budget_takes_and_gives),
      cmocka_unit_test(test_limits__share_grows_in_steps),
      cmocka_unit_test(test_limits__rate_buckets_bounded),
      cmocka_unit_test(test_limits__token_bucket_refills),
      cmocka_unit_test(test_limits__usage_table_bounded),
  };
  return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
