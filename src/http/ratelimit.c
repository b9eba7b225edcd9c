#include "gromo/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16
#define SLOTS 1024            /* chains per shard */
#define SHARD_MAX_DEFAULT 16384 /* buckets per shard: 262,144 in all, ~30 MB */
#define WHO_MAX 80

struct bucket {
  struct bucket *next;
  double tokens;
  int64_t last_us;
  unsigned char role;
  char who[WHO_MAX];
};

struct shard {
  pthread_mutex_t lock;
  struct bucket *slot[SLOTS];
  size_t count;
  /* When the shard is full of busy buckets, newcomers share one bucket a
   * role: many clients at once are then limited together, and the table
   * never grows past its bound, however many addresses ask. */
  struct bucket overflow[ROLE_ADMIN + 1];
};

struct ratelimit {
  struct rate_rule rules[ROLE_ADMIN + 1];
  size_t shard_max;
  struct shard shard[SHARDS];
};

void rate_rules_default(struct rate_rule r[ROLE_ADMIN + 1]) {
  r[ROLE_PUBLIC] = (struct rate_rule){50, 100};
  r[ROLE_VIEWER] = (struct rate_rule){200, 400};
  r[ROLE_ANALYST] = (struct rate_rule){20000, 40000};
  r[ROLE_ADMIN] = (struct rate_rule){200, 400};
}

int rate_rules_parse(const char *spec, struct rate_rule r[ROLE_ADMIN + 1], char *why,
                     size_t cap) {
  char buf[256];
  if (strlen(spec) >= sizeof buf) {
    snprintf(why, cap, "the rate-limit list is too long");
    return -1;
  }
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    enum role role;
    if (!eq) {
      snprintf(why, cap, "'%s' is not ROLE=RATE[:BURST]", item);
      return -1;
    }
    *eq = '\0';
    if (role_parse(item, 1, &role) < 0) {
      snprintf(why, cap, "'%s' is not a role (public, viewer, analyst, admin)", item);
      return -1;
    }
    char *end = NULL;
    double rate = strtod(eq + 1, &end), burst = rate * 2;
    if (end == eq + 1 || !(rate >= 0 && rate <= 1e9)) {
      snprintf(why, cap, "the rate for %s must be a number of requests a second", item);
      return -1;
    }
    if (*end == ':') {
      char *b = end + 1;
      burst = strtod(b, &end);
      if (end == b || !(burst >= 1 && burst <= 1e9)) {
        snprintf(why, cap, "the burst for %s must be at least 1", item);
        return -1;
      }
    }
    if (*end) {
      snprintf(why, cap, "'%s' has trailing text", eq + 1);
      return -1;
    }
    r[role] = (struct rate_rule){rate, burst < 1 ? 1 : burst};
  }
  return 0;
}

struct ratelimit *ratelimit_new_bounded(const struct rate_rule rules[ROLE_ADMIN + 1],
                                        size_t max_buckets) {
  struct ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl)
    return NULL;
  memcpy(rl->rules, rules, sizeof rl->rules);
  rl->shard_max = max_buckets / SHARDS ? max_buckets / SHARDS : 1;
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&rl->shard[i].lock, NULL);
    for (int r = 0; r <= ROLE_ADMIN; r++) {
      rl->shard[i].overflow[r].role = (unsigned char)r;
      rl->shard[i].overflow[r].tokens = rules[r].burst;
    }
  }
  return rl;
}

struct ratelimit *ratelimit_new(const struct rate_rule rules[ROLE_ADMIN + 1]) {
  return ratelimit_new_bounded(rules, (size_t)SHARD_MAX_DEFAULT * SHARDS);
}

size_t ratelimit_buckets(struct ratelimit *rl) {
  size_t n = 0;
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&rl->shard[i].lock);
    n += rl->shard[i].count;
    pthread_mutex_unlock(&rl->shard[i].lock);
  }
  return n;
}

void ratelimit_free(struct ratelimit *rl) {
  if (!rl)
    return;
  for (int i = 0; i < SHARDS; i++) {
    for (int j = 0; j < SLOTS; j++)
      for (struct bucket *b = rl->shard[i].slot[j], *n; b; b = n) {
        n = b->next;
        free(b);
      }
    pthread_mutex_destroy(&rl->shard[i].lock);
  }
  free(rl);
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void refill(struct bucket *b, const struct rate_rule *r, int64_t now_us) {
  if (now_us > b->last_us) {
    b->tokens = fmin(r->burst, b->tokens + r->rate * (double)(now_us - b->last_us) / 1e6);
    b->last_us = now_us;
  }
}

/* Drops buckets that have refilled completely: they hold no state. */
static void sweep(struct ratelimit *rl, struct shard *sh, int64_t now_us) {
  for (int j = 0; j < SLOTS; j++) {
    struct bucket **pp = &sh->slot[j];
    while (*pp) {
      struct bucket *b = *pp;
      refill(b, &rl->rules[b->role], now_us);
      if (b->tokens >= rl->rules[b->role].burst) {
        *pp = b->next;
        free(b);
        sh->count--;
      } else {
        pp = &b->next;
      }
    }
  }
}

int ratelimit_take(struct ratelimit *rl, enum role role, const char *who,
                   int64_t now_us, struct rate_info *info) {
  const struct rate_rule *r = &rl->rules[role];
  memset(info, 0, sizeof *info);
  if (r->rate <= 0)
    return 1;
  uint64_t h = hash_str(who);
  struct shard *sh = &rl->shard[h % SHARDS];
  size_t slot = (size_t)((h / SHARDS) % SLOTS);
  pthread_mutex_lock(&sh->lock);
  struct bucket *b = sh->slot[slot];
  while (b && (b->role != role || strcmp(b->who, who) != 0))
    b = b->next;
  if (!b && sh->count >= rl->shard_max) {
    sweep(rl, sh, now_us);
    if (sh->count >= rl->shard_max) {
      b = &sh->overflow[role];
      if (!b->last_us)
        b->last_us = now_us;
    }
  }
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b) {
      pthread_mutex_unlock(&sh->lock);
      return 1; /* out of memory: do not refuse the client for it */
    }
    snprintf(b->who, sizeof b->who, "%s", who);
    b->role = (unsigned char)role;
    b->tokens = r->burst;
    b->last_us = now_us;
    b->next = sh->slot[slot];
    sh->slot[slot] = b;
    sh->count++;
  }
  refill(b, r, now_us);
  int ok = b->tokens >= 1.0;
  if (ok)
    b->tokens -= 1.0;
  info->limit = (long)r->burst;
  info->remaining = (long)floor(b->tokens);
  info->reset = (long)ceil((r->burst - b->tokens) / r->rate);
  info->retry_after = ok ? 0 : (long)ceil((1.0 - b->tokens) / r->rate);
  if (!ok && info->retry_after < 1)
    info->retry_after = 1;
  pthread_mutex_unlock(&sh->lock);
  return ok;
}
