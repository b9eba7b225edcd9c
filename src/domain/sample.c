#include "gromo/sample.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "gromo/generator.h"

#define SAMPLE_BATCH 10000

int sample_insert(struct store *db, const struct gaz *g, size_t count,
                  uint64_t seed, int64_t end_ist_ms, struct sale *first,
                  size_t nfirst, progress_fn progress, void *ctx,
                  size_t *inserted, struct gerr *err) {
  *inserted = 0;
  if (count == 0 || count > SAMPLE_MAX)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "count must be from 1 to %d", SAMPLE_MAX);
  struct gen_config cfg = {.seed = seed, .end_ist_ms = end_ist_ms, .days = 730};
  struct gen *gen = NULL;
  struct sale *batch = malloc(SAMPLE_BATCH * sizeof *batch);
  int in_tx = 0, rc = -1;
  size_t done = 0;
  if (!batch) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  if (gen_new(g, &cfg, &gen, err) < 0)
    goto out;
  if (store_begin(db, err) < 0)
    goto out;
  in_tx = 1;
  while (done < count) {
    size_t n = count - done < SAMPLE_BATCH ? count - done : SAMPLE_BATCH;
    for (size_t i = 0; i < n; i++)
      gen_next(gen, &batch[i]);
    for (size_t i = 0; first && done + i < nfirst && i < n; i++)
      first[done + i] = batch[i];
    struct store_insert_stats st;
    if (store_sales_insert(db, batch, n, NULL, &st, err) < 0)
      goto out;
    done += n;
    if (progress)
      progress(ctx, done, count);
  }
  if (store_commit(db, err) < 0)
    goto out;
  in_tx = 0;
  *inserted = done;
  rc = 0;
out:
  if (in_tx)
    store_rollback(db);
  gen_free(gen);
  free(batch);
  return rc;
}

uint64_t sample_random_seed(void) {
  uint64_t s;
  if (getrandom(&s, sizeof s, 0) != sizeof s)
    s = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
  return s & ((1ULL << 53) - 1); /* exact in a JSON number */
}
