/* The two halves of a CSV import, apart: the reader alone (parsing and
 * validating into records) and the store alone (inserting those records in
 * batches of 10,000, in one transaction, into a fresh store).
 *   bench_ingest FILE.csv DB
 * The file is read into memory before either clock starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/store.h"
#include "gromo/tabular.h"
#include "gromo/timeutil.h"

#define BATCH 10000

/* Processor seconds of this process: steadier than the wall clock on a
 * shared machine. */
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct recs {
  struct sale *v;
  size_t n, cap, rejected;
};

static int keep(void *ctx, size_t row, const struct sale *rec, int valid,
                const struct sale_problems *pr) {
  struct recs *r = ctx;
  if (!valid) {
    r->rejected++;
    return 0;
  }
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 65536;
    struct sale *v = realloc(r->v, cap * sizeof *v);
    if (!v)
      return 1;
    r->v = v;
    r->cap = cap;
  }
  r->v[r->n++] = *rec;
  return 0;
}

static int count(void *ctx, size_t row, const struct sale *rec, int valid,
                 const struct sale_problems *pr) {
  ++*(size_t *)ctx;
  return 0;
}

/* Seconds to read text[n] as CSV in 1 MiB pieces, as gromo import feeds it. */
static double read_csv(const char *text, size_t n, tab_row_fn fn, void *ctx) {
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct csvrec *c = NULL;
  struct gerr err;
  int64_t t0 = mono_us();
  int rc = csvrec_new(&rules, NULL, fn, ctx, &c, &err);
  for (size_t off = 0; rc == 0 && off < n; off += 1u << 20)
    rc = csvrec_feed(c, text + off, n - off < (1u << 20) ? n - off : 1u << 20, &err);
  if (rc == 0)
    rc = csvrec_finish(c, &err);
  int64_t us = mono_us() - t0;
  csvrec_free(c);
  if (rc != 0) {
    fprintf(stderr, "reading failed: %s\n", err.msg);
    exit(1);
  }
  return us / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_ingest FILE.csv DB\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  size_t n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc(n ? n : 1);
  if (!text || fread(text, 1, n, f) != n) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);

  size_t rows = 0;
  double secs = read_csv(text, n, count, &rows);
  printf("reader: %zu rows (%.1f MB) in %.3f s: %.0f rows/s\n", rows, n / 1e6, secs,
         rows / secs);
  struct recs r = {.v = malloc(rows * sizeof *r.v), .cap = rows};
  if (!r.v) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  read_csv(text, n, keep, &r);
  free(text);

  struct store *st = NULL;
  struct gerr err;
  struct store_insert_stats s = {0};
  if (store_open(argv[2], &st, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  /* Each batch is copied to one buffer first, as a reader fills it, so that
   * the store reads records from the cache; the copies are not timed. */
  struct sale *batch = malloc(BATCH * sizeof *batch);
  int64_t copy_us = 0, t0 = mono_us();
  double cpu0 = cpu_seconds();
  int rc = store_begin(st, &err);
  for (size_t i = 0; rc == 0 && i < r.n; i += BATCH) {
    size_t k = r.n - i < BATCH ? r.n - i : BATCH;
    int64_t c0 = mono_us();
    memcpy(batch, r.v + i, k * sizeof *batch);
    copy_us += mono_us() - c0;
    struct store_insert_stats b;
    rc = store_sales_insert(st, batch, k, NULL, &b, &err);
    s.inserted += b.inserted;
  }
  int64_t t1 = mono_us();
  free(batch);
  t0 += copy_us;
  if (rc == 0)
    rc = store_commit(st, &err);
  int64_t t2 = mono_us();
  double cpu = cpu_seconds() - cpu0 - copy_us / 1e6;
  if (rc < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  printf("store: %zu rows inserted in %.3f s (commit %.3f s, processor %.3f s): %.0f rows/s\n",
         s.inserted, (t2 - t0) / 1e6, (t2 - t1) / 1e6, cpu, s.inserted / ((t2 - t0) / 1e6));
  store_close(st);
  free(r.v);
  return 0;
}
