/* Token buckets per client: one bucket per API key, or per address for
 * requests without a key, with a rate and burst per role. Thread-safe;
 * buckets live in sharded hash tables, so threads rarely contend. */
#ifndef GROMO_RATELIMIT_H
#define GROMO_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/keys.h"

struct rate_rule {
  double rate;  /* tokens a second; 0: no limit */
  double burst; /* bucket size */
};

/* Defaults: public 50/s (burst 100), viewer 200/s (400), analyst 20,000/s
 * (40,000), admin 200/s (400). */
void rate_rules_default(struct rate_rule rules[ROLE_ADMIN + 1]);
/* "analyst=500,public=20:40" (ROLE=RATE[:BURST], comma-separated) on top of
 * the current rules. 0, or -1 with a reason in why. */
int rate_rules_parse(const char *spec, struct rate_rule rules[ROLE_ADMIN + 1],
                     char *why, size_t cap);

struct rate_info {
  long limit;       /* RateLimit-Limit: the bucket size */
  long remaining;   /* RateLimit-Remaining */
  long reset;       /* RateLimit-Reset: seconds until the bucket is full */
  long retry_after; /* Retry-After, when refused */
};

struct ratelimit; /* opaque */
/* At most 262,144 buckets (about 30 MB), or max_buckets: when the table is
 * full of buckets still in use, newcomers share one bucket a role (so a
 * flood of addresses is limited together and never grows the table). */
struct ratelimit *ratelimit_new(const struct rate_rule rules[ROLE_ADMIN + 1]);
struct ratelimit *ratelimit_new_bounded(const struct rate_rule rules[ROLE_ADMIN + 1],
                                        size_t max_buckets);
/* Buckets held now. */
size_t ratelimit_buckets(struct ratelimit *rl);
void ratelimit_free(struct ratelimit *rl);
/* Takes a token from the bucket of `who` under `role`'s rule: 1 allowed,
 * 0 refused; *info is filled either way (unless the role has no limit,
 * then 1 and info->limit = 0). */
int ratelimit_take(struct ratelimit *rl, enum role role, const char *who,
                   int64_t now_us, struct rate_info *info);

#endif
