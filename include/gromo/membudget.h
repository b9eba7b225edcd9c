/* A budget of bytes shared by all requests: request bodies and what is made
 * of them (records, queries) are held in memory only against it, so that
 * many clients together cannot make the server hold more than the setting
 * (--max-inflight), however they send. Thread-safe, lock-free. */
#ifndef GROMO_MEMBUDGET_H
#define GROMO_MEMBUDGET_H

#include <stdatomic.h>
#include <stddef.h>

#include "gromo/error.h"

struct membudget {
  atomic_size_t used;
  size_t cap;       /* 0: unlimited */
  atomic_size_t refused; /* takes refused, for /metrics */
};

void membudget_init(struct membudget *b, size_t cap);
/* Takes n bytes: 0, or -1 when that would pass the cap (nothing taken). */
int membudget_take(struct membudget *b, size_t n) GROMO_WUR;
/* Gives back n bytes taken earlier. */
void membudget_give(struct membudget *b, size_t n);
size_t membudget_used(const struct membudget *b);

/* One request's share: what it holds, taken in steps as it grows. */
struct memshare {
  struct membudget *budget; /* NULL: unlimited */
  size_t held;
};

/* Makes the share hold at least n bytes in all: 0, or -1 (nothing more
 * taken) when the budget cannot give them. */
int memshare_hold(struct memshare *s, size_t n) GROMO_WUR;
/* Gives everything back. */
void memshare_release(struct memshare *s);

#endif
