/* Valid records into the store in batches, from a second thread: while it
 * inserts one batch the caller fills the next, so a file is read and stored
 * at once. Three buffers go round: the one being filled, at most one
 * waiting, the one being inserted. The caller waits only when it reads
 * faster than the store writes. */
#include <pthread.h>
#include <stdlib.h>

#include "gromo/ingest.h"
#include "gromo/store.h"

#define WRITER_BUFFERS 3

struct ingest_writer {
  struct store *st;
  size_t batch;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct sale *bufs[WRITER_BUFFERS]; /* all of them, to free */
  struct sale *cur;                  /* the caller's: being filled */
  size_t ncur;
  /* under mu: */
  struct sale *spare[WRITER_BUFFERS];
  size_t nspare;
  struct sale *queue[WRITER_BUFFERS]; /* full, oldest at head */
  size_t queue_n[WRITER_BUFFERS];
  size_t head, nqueue;
  int closing, abandon, failed;
  struct store_insert_stats stats;
  struct gerr err;
};

static void *writer_run(void *arg) {
  struct ingest_writer *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->nqueue && !w->closing)
      pthread_cond_wait(&w->cv, &w->mu);
    if (!w->nqueue || w->abandon)
      break;
    struct sale *b = w->queue[w->head];
    size_t n = w->queue_n[w->head];
    w->head = (w->head + 1) % WRITER_BUFFERS;
    w->nqueue--;
    pthread_mutex_unlock(&w->mu);
    struct store_insert_stats s = {0, 0};
    struct gerr e;
    int rc = store_sales_insert(w->st, b, n, NULL, &s, &e);
    pthread_mutex_lock(&w->mu);
    w->stats.inserted += s.inserted;
    w->stats.duplicates += s.duplicates;
    w->spare[w->nspare++] = b;
    pthread_cond_broadcast(&w->cv);
    if (rc < 0) {
      w->failed = 1;
      w->err = e;
      break;
    }
  }
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int ingest_writer_start(struct store *st, size_t batch, struct ingest_writer **out,
                        struct gerr *err) {
  *out = NULL;
  struct ingest_writer *w = calloc(1, sizeof *w);
  if (!w)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  w->st = st;
  w->batch = batch ? batch : 1;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  for (size_t i = 0; i < WRITER_BUFFERS; i++) {
    w->bufs[i] = malloc(w->batch * sizeof *w->bufs[i]);
    if (!w->bufs[i]) {
      ingest_writer_free(w);
      return gerr_set(err, GERR_INTERNAL, "out of memory");
    }
    if (i)
      w->spare[w->nspare++] = w->bufs[i];
  }
  w->cur = w->bufs[0];
  if (pthread_create(&w->thread, NULL, writer_run, w) != 0) {
    ingest_writer_free(w);
    return gerr_set(err, GERR_INTERNAL, "cannot start the thread that stores records");
  }
  w->started = 1;
  *out = w;
  return 0;
}

/* Queues the batch being filled and takes a spare one. */
static int hand_over(struct ingest_writer *w, struct gerr *err) {
  pthread_mutex_lock(&w->mu);
  while (!w->nspare && !w->failed)
    pthread_cond_wait(&w->cv, &w->mu);
  if (w->failed) {
    if (err)
      *err = w->err;
    pthread_mutex_unlock(&w->mu);
    return -1;
  }
  size_t tail = (w->head + w->nqueue) % WRITER_BUFFERS;
  w->queue[tail] = w->cur;
  w->queue_n[tail] = w->ncur;
  w->nqueue++;
  w->cur = w->spare[--w->nspare];
  w->ncur = 0;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

int ingest_writer_add(struct ingest_writer *w, const struct sale *rec, struct gerr *err) {
  w->cur[w->ncur++] = *rec;
  return w->ncur < w->batch ? 0 : hand_over(w, err);
}

static void stop(struct ingest_writer *w, int abandon) {
  if (!w->started)
    return;
  pthread_mutex_lock(&w->mu);
  w->closing = 1;
  w->abandon = abandon;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  w->started = 0;
}

int ingest_writer_finish(struct ingest_writer *w, struct store_insert_stats *stats,
                         struct gerr *err) {
  int rc = w->ncur ? hand_over(w, err) : 0;
  stop(w, 0);
  if (rc == 0 && w->failed) {
    if (err)
      *err = w->err;
    rc = -1;
  }
  if (stats)
    *stats = w->stats;
  return rc;
}

void ingest_writer_free(struct ingest_writer *w) {
  if (!w)
    return;
  stop(w, 1);
  for (size_t i = 0; i < WRITER_BUFFERS; i++)
    free(w->bufs[i]);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}
