/* The store's write rate and the cost of a ping: 200,000 sales inserted in
 * batches of 10,000, then 10,000 pings, into a fresh store.
 *   bench_store [URI]   (default: a new SQLite file in /tmp, removed after) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gromo/record.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

#define BATCH 10000
#define BATCHES 20

static struct sale sale_at(int i) {
  struct sale s;
  memset(&s, 0, sizeof s);
  s.ts_ms = days_from_civil(2025, 1, 1) * DAY_MS + (i / 1000) * DAY_MS + 3600000;
  s.pincode = 100000 + (i * 7919) % 800000;
  s.customer_age = 30;
  s.customer_income = 50000;
  snprintf(s.product, sizeof s.product, "loan");
  snprintf(s.channel, sizeof s.channel, "online");
  return s;
}

int main(int argc, char **argv) {
  char tmp[64] = "";
  const char *uri = argc > 1 ? argv[1] : NULL;
  if (!uri) {
    snprintf(tmp, sizeof tmp, "/tmp/gromo-bench-store-%d.db", (int)getpid());
    uri = tmp;
  }
  struct gerr err;
  struct store *s = NULL;
  struct sale *b = malloc(BATCH * sizeof *b);
  int rc = 1;
  if (!b || store_open(uri, &s, &err) < 0) {
    fprintf(stderr, "bench_store: %s\n", b ? err.msg : "out of memory");
    goto out;
  }
  int64_t t0 = mono_us();
  for (int k = 0; k < BATCHES; k++) {
    for (int i = 0; i < BATCH; i++)
      b[i] = sale_at(k * BATCH + i);
    if (store_sales_insert(s, b, BATCH, NULL, NULL, &err) < 0) {
      fprintf(stderr, "bench_store: insert: %s\n", err.msg);
      goto out;
    }
  }
  double secs = (double)(mono_us() - t0) / 1e6;
  printf("store (%s): %d rows in batches of %d: %.0f rows/s\n", store_backend(s),
         BATCH * BATCHES, BATCH, BATCH * BATCHES / secs);
  int64_t p0 = mono_us();
  for (int i = 0; i < 10000; i++)
    if (store_ping(s, &err) < 0) {
      fprintf(stderr, "bench_store: ping: %s\n", err.msg);
      goto out;
    }
  printf("store (%s): ping %.2f us\n", store_backend(s), (double)(mono_us() - p0) / 10000);
  rc = 0;
out:
  store_close(s);
  free(b);
  if (tmp[0]) {
    char x[80];
    unlink(tmp);
    snprintf(x, sizeof x, "%s-wal", tmp);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", tmp);
    unlink(x);
  }
  return rc;
}
