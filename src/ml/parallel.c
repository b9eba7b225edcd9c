/* Loops of independent items over the training's threads: each thread
 * takes one contiguous share of the items, so whatever the thread count
 * every item is computed the same way and written to its own place. */
#include <pthread.h>

#include "ml/train_int.h"

struct share {
  ml_range_fn fn;
  void *ctx;
  size_t from, to;
};

static void *share_run(void *arg) {
  struct share *s = arg;
  s->fn(s->ctx, s->from, s->to);
  return NULL;
}

void ml_parallel(size_t n, int threads, ml_range_fn fn, void *ctx) {
  if (threads > ML_PARALLEL_MAX)
    threads = ML_PARALLEL_MAX;
  if (threads < 2 || n < 2) {
    fn(ctx, 0, n);
    return;
  }
  struct share sh[ML_PARALLEL_MAX];
  pthread_t th[ML_PARALLEL_MAX];
  int started[ML_PARALLEL_MAX] = {0};
  size_t k = (size_t)threads < n ? (size_t)threads : n;
  for (size_t t = 0; t < k; t++)
    sh[t] = (struct share){fn, ctx, n * t / k, n * (t + 1) / k};
  /* the first share runs here; a share whose thread cannot be had too */
  for (size_t t = 1; t < k; t++)
    started[t] = pthread_create(&th[t], NULL, share_run, &sh[t]) == 0;
  share_run(&sh[0]);
  for (size_t t = 1; t < k; t++) {
    if (started[t])
      pthread_join(th[t], NULL);
    else
      share_run(&sh[t]);
  }
}
