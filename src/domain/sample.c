#include "gromo/sample.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/rng.h"
#include "gromo/generator.h"
#include "gromo/timeutil.h"

#define SAMPLE_BATCH 10000

/* Generation runs in a second thread, one batch ahead of the inserts, so
 * the two cores share the work. */
#define SAMPLE_SLOTS 3

struct pipeline {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct sale *slot[SAMPLE_SLOTS];
  size_t fill[SAMPLE_SLOTS]; /* records in a full slot; 0: empty */
  size_t count;              /* records to generate */
  int stop;                  /* the consumer gave up */
  struct gen *gen;
};

static void *produce(void *arg) {
  struct pipeline *p = arg;
  size_t done = 0, k = 0;
  while (done < p->count) {
    pthread_mutex_lock(&p->lock);
    while (p->fill[k] && !p->stop)
      pthread_cond_wait(&p->cond, &p->lock);
    int stop = p->stop;
    pthread_mutex_unlock(&p->lock);
    if (stop)
      break;
    size_t n = p->count - done < SAMPLE_BATCH ? p->count - done : SAMPLE_BATCH;
    for (size_t i = 0; i < n; i++)
      gen_next(p->gen, &p->slot[k][i]);
    pthread_mutex_lock(&p->lock);
    p->fill[k] = n;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    done += n;
    k = (k + 1) % SAMPLE_SLOTS;
  }
  return NULL;
}

int sample_insert(struct store *db, const struct gaz *g, size_t count,
                  uint64_t seed, int64_t end_ist_ms, struct sale *first,
                  size_t nfirst, progress_fn progress, void *ctx,
                  size_t *inserted, struct gerr *err) {
  *inserted = 0;
  if (count == 0 || count > SAMPLE_MAX)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "count must be from 1 to %d", SAMPLE_MAX);
  struct gen_config cfg = {.seed = seed, .end_ist_ms = end_ist_ms, .days = 730,
                           .count = count};
  struct pipeline p = {.count = count};
  pthread_mutex_init(&p.lock, NULL);
  pthread_cond_init(&p.cond, NULL);
  int in_tx = 0, started = 0, rc = -1;
  size_t done = 0, k = 0;
  for (int i = 0; i < SAMPLE_SLOTS; i++)
    if (!(p.slot[i] = malloc(SAMPLE_BATCH * sizeof *p.slot[i]))) {
      gerr_set(err, GERR_INTERNAL, "out of memory");
      goto out;
    }
  if (gen_new(g, &cfg, &p.gen, err) < 0)
    goto out;
  if (store_begin(db, err) < 0)
    goto out;
  in_tx = 1;
  pthread_t thread;
  if (pthread_create(&thread, NULL, produce, &p) != 0) {
    gerr_set(err, GERR_INTERNAL, "cannot start the generator thread");
    goto out;
  }
  started = 1;
  while (done < count) {
    pthread_mutex_lock(&p.lock);
    while (!p.fill[k])
      pthread_cond_wait(&p.cond, &p.lock);
    size_t n = p.fill[k];
    pthread_mutex_unlock(&p.lock);
    for (size_t i = 0; first && done + i < nfirst && i < n; i++)
      first[done + i] = p.slot[k][i];
    struct store_insert_stats st;
    if (store_sales_insert(db, p.slot[k], n, NULL, &st, err) < 0)
      goto out;
    pthread_mutex_lock(&p.lock);
    p.fill[k] = 0;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    done += n;
    k = (k + 1) % SAMPLE_SLOTS;
    if (progress)
      progress(ctx, done, count);
  }
  if (store_commit(db, err) < 0)
    goto out;
  in_tx = 0;
  *inserted = done;
  rc = 0;
out:
  if (started) {
    pthread_mutex_lock(&p.lock);
    p.stop = 1;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    pthread_join(thread, NULL);
  }
  if (in_tx)
    store_rollback(db);
  gen_free(p.gen);
  for (int i = 0; i < SAMPLE_SLOTS; i++)
    free(p.slot[i]);
  pthread_cond_destroy(&p.cond);
  pthread_mutex_destroy(&p.lock);
  return rc;
}

int sample_end_parse(const char *s, int64_t now_ist_ms, int64_t *end_ist_ms) {
  char why[120];
  int64_t day_ms;
  if (!s || strlen(s) != 10 || sale_parse_date(s, 10, &day_ms, why) < 0)
    return -1;
  int64_t today_ms = now_ist_ms - now_ist_ms % DAY_MS;
  if (day_ms < SALE_MIN_DATE_MS || day_ms > today_ms)
    return -1;
  *end_ist_ms = day_ms + DAY_MS - 1;
  return 0;
}

uint64_t sample_random_seed(void) {
  uint64_t s;
  if (getrandom(&s, sizeof s, 0) != sizeof s)
    s = (uint64_t)time(NULL) * RNG_GOLDEN;
  return s & ((1ULL << 53) - 1); /* exact in a JSON number */
}
