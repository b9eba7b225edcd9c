#include "gromo/membudget.h"

void membudget_init(struct membudget *b, size_t cap) {
  atomic_init(&b->used, 0);
  atomic_init(&b->refused, 0);
  b->cap = cap;
}

int membudget_take(struct membudget *b, size_t n) {
  size_t cur = atomic_load(&b->used);
  for (;;) {
    if (b->cap && (n > b->cap || cur > b->cap - n)) {
      atomic_fetch_add(&b->refused, 1);
      return -1;
    }
    if (atomic_compare_exchange_weak(&b->used, &cur, cur + n))
      return 0;
  }
}

void membudget_give(struct membudget *b, size_t n) { atomic_fetch_sub(&b->used, n); }

size_t membudget_used(const struct membudget *b) {
  return atomic_load(&((struct membudget *)b)->used);
}

int memshare_hold(struct memshare *s, size_t n) {
  if (n <= s->held)
    return 0;
  if (s->budget && membudget_take(s->budget, n - s->held) < 0)
    return -1;
  s->held = n;
  return 0;
}

void memshare_release(struct memshare *s) {
  if (s->budget && s->held)
    membudget_give(s->budget, s->held);
  s->held = 0;
}
