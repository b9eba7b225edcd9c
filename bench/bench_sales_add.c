/* POST /sales/add throughput: N records in batches, over keep-alive
 * connections, against a running server.
 *   bench_sales_add URL [RECORDS [BATCH [CONNECTIONS [--ids]]]]
 * with an admin key in GROMO_KEY. The JSON bodies are built before the clock starts; the figure is records
 * stored per second of wall time, as the server reports them inserted. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/buf.h"
#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/timeutil.h"

struct body {
  char *p;
  size_t n;
};

struct worker {
  const char *url;
  struct body *bodies;
  size_t first, step, count;
  size_t inserted;
  int failed;
};

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct buf *b = ud;
  if (buf_append(b, ptr, size * nmemb) < 0)
    return 0;
  return size * nmemb;
}

static void *run(void *arg) {
  struct worker *w = arg;
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  char auth[256];
  const char *key = getenv("GROMO_KEY");
  if (key && *key) {
    snprintf(auth, sizeof auth, "X-API-Key: %s", key);
    h = curl_slist_append(h, auth);
  }
  struct buf resp;
  buf_init(&resp, 1 << 24);
  curl_easy_setopt(c, CURLOPT_URL, w->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  for (size_t i = w->first; i < w->count; i += w->step) {
    buf_reset(&resp);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, w->bodies[i].p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->bodies[i].n);
    long status = 0;
    if (curl_easy_perform(c) != CURLE_OK ||
        (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 200)) {
      fprintf(stderr, "batch %zu failed: HTTP %ld %.200s\n", i, status,
              resp.data ? resp.data : "");
      w->failed = 1;
      break;
    }
    const char *k = resp.data ? strstr(resp.data, "\"inserted_count\":") : NULL;
    if (k)
      w->inserted += strtoull(k + 17, NULL, 10);
  }
  buf_release(&resp);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [RECORDS [BATCH [CONNECTIONS [--ids]]]]\n", argv[0]);
    return 2;
  }
  size_t total = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
  size_t batch = argc > 3 ? strtoull(argv[3], NULL, 10) : 10000;
  size_t conns = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
  int ids = argc > 5 && strcmp(argv[5], "--ids") == 0;
  if (!total || !batch || !conns || conns > 64)
    return 2;
  struct gaz *g = NULL;
  struct gen *gen = NULL;
  struct gerr err;
  struct gen_config cfg = {.seed = 99, .end_ist_ms = now_ist_ms(), .days = 730,
                           .count = total};
  if (gaz_load_default(&g, &err) < 0 || gen_new(g, &cfg, &gen, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  size_t nb = (total + batch - 1) / batch;
  struct body *bodies = calloc(nb, sizeof *bodies);
  size_t bytes = 0, seq = 0;
  for (size_t b = 0; b < nb; b++) {
    struct buf out;
    buf_init(&out, (size_t)1 << 30);
    int rc = buf_puts(&out, "[");
    size_t n = b + 1 < nb ? batch : total - b * batch;
    for (size_t i = 0; i < n && rc == 0; i++) {
      struct sale s;
      gen_next(gen, &s);
      if (ids)
        snprintf(s.id, sizeof s.id, "bench-%zu", seq++);
      rc = (i ? buf_puts(&out, ",") : 0) || sale_to_json_buf(&s, NULL, &out);
    }
    if (rc || buf_puts(&out, "]") < 0)
      return 1;
    bytes += out.len;
    bodies[b].p = buf_detach(&out, &bodies[b].n);
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct worker w[64];
  pthread_t t[64];
  int64_t t0 = mono_us();
  for (size_t i = 0; i < conns; i++) {
    w[i] = (struct worker){.url = argv[1], .bodies = bodies, .first = i,
                           .step = conns, .count = nb};
    pthread_create(&t[i], NULL, run, &w[i]);
  }
  size_t inserted = 0;
  int failed = 0;
  for (size_t i = 0; i < conns; i++) {
    pthread_join(t[i], NULL);
    inserted += w[i].inserted;
    failed |= w[i].failed;
  }
  double secs = (double)(mono_us() - t0) / 1e6;
  printf("sales_add: %zu records in %zu batches of %zu over %zu connection(s)%s, "
         "%.1f MB of JSON\n",
         inserted, nb, batch, conns, ids ? " with client ids" : "", (double)bytes / 1e6);
  printf("sales_add: %.2f s, %.0f records/s, %.1f MB/s\n", secs,
         (double)inserted / secs, (double)bytes / 1e6 / secs);
  for (size_t b = 0; b < nb; b++)
    free(bodies[b].p);
  free(bodies);
  gen_free(gen);
  gaz_free(g);
  curl_global_cleanup();
  return failed || inserted != total ? 1 : 0;
}
