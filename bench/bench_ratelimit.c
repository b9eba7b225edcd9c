/* The cost of one rate-limit check: ratelimit_take on one key from one and
 * from two threads (the worst case: every request shares one bucket), and
 * on many keys.
 *   bench_ratelimit [CALLS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "gromo/ratelimit.h"
#include "gromo/timeutil.h"

static struct ratelimit *rl;
static long calls;

static void *hammer(void *arg) {
  const char *who = arg;
  struct rate_info ri;
  for (long i = 0; i < calls; i++)
    ratelimit_take(rl, ROLE_ANALYST, who, mono_us(), &ri);
  return NULL;
}

int main(int argc, char **argv) {
  calls = argc > 1 ? atol(argv[1]) : 5000000;
  struct rate_rule rules[ROLE_ADMIN + 1];
  rate_rules_default(rules);
  rules[ROLE_ANALYST].rate = 1e12; /* never refuse: measure the bookkeeping */
  rules[ROLE_ANALYST].burst = 1e12;
  rl = ratelimit_new(rules);
  int64_t t0 = mono_us();
  hammer("k:1");
  double one = (double)(mono_us() - t0) * 1000.0 / (double)calls;
  pthread_t a, b;
  t0 = mono_us();
  pthread_create(&a, NULL, hammer, "k:1");
  pthread_create(&b, NULL, hammer, "k:1");
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  double two = (double)(mono_us() - t0) * 1000.0 / (double)(2 * calls);
  t0 = mono_us();
  pthread_create(&a, NULL, hammer, "k:1");
  pthread_create(&b, NULL, hammer, "a:127.0.0.1");
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  double apart = (double)(mono_us() - t0) * 1000.0 / (double)(2 * calls);
  printf("ratelimit_take: %.0f ns a call (one thread), %.0f ns (two threads, one "
         "key), %.0f ns (two threads, two keys)\n",
         one, two, apart);
  ratelimit_free(rl);
  return 0;
}
