/* Hostile bodies: N connections each send POST /sales/add with a 30 MB body
 * of valid records and hold back its last bytes, against a running server.
 *   bench_hostile PORT SERVER_PID CONNECTIONS [MB]
 * with an admin key in GROMO_KEY. Connections come from 127.0.0.2 and up,
 * at most 100 an address. Prints how many bodies the server took and how
 * many it refused, its peak resident memory, the slowest GET /health
 * meanwhile, and whether a /sales/add is stored once the clients are gone. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gromo/timeutil.h"

static const char RECORD[] =
    "{\"date\":\"2025-04-15T12:30:45\",\"pincode\":\"400001\",\"city\":\"Mumbai "
    "Fort Churchgate Colaba Nariman Point Marine Lines Kalbadevi Girgaon Grant Road\","
    "\"id\":\"a-client-chosen-record-id-of-sixty-characters-0123456789abc\","
    "\"product\":\"loan\",\"channel\":\"online\",\"agent_id\":"
    "\"f47ac10b-58cc-4372-a567-0e02b2c3d479\",\"customer_age\":35,\"customer_income\":75000}";

struct client {
  int fd;
  size_t sent;    /* of head + body */
  int state;      /* 0 sending, 1 holding, 2 refused, 3 closed */
};

static long rss_mib(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6))
      kb = strtol(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return kb / 1024;
}

static int conn_open(int port, int addr_index) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in from = {.sin_family = AF_INET};
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)addr_index);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0 ||
      connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static size_t discard(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

/* One GET /health on a fresh connection: its time in ms, or -1. */
static double health_ms(int port) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  int64_t t0 = mono_us();
  long status = 0;
  int ok = curl_easy_perform(c) == CURLE_OK &&
           curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
  curl_easy_cleanup(c);
  return ok ? (double)(mono_us() - t0) / 1000.0 : -1;
}

static long add_one(int port, const char *key) {
  char url[64], auth[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/sales/add", port);
  snprintf(auth, sizeof auth, "X-API-Key: %s", key);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  h = curl_slist_append(h, auth);
  const char *body = "[{\"date\":\"2025-04-15\",\"pincode\":\"400001\",\"product\":\"loan\","
                     "\"channel\":\"online\",\"customer_age\":35,\"customer_income\":75000}]";
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  return status;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_hostile PORT SERVER_PID CONNECTIONS [MB]\n");
    return 2;
  }
  int port = atoi(argv[1]), pid = atoi(argv[2]), n = atoi(argv[3]);
  size_t mb = argc > 4 ? (size_t)atol(argv[4]) : 30;
  const char *key = getenv("GROMO_KEY");
  if (!key || n < 1) {
    fprintf(stderr, "GROMO_KEY must hold an admin key\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  size_t declared = mb << 20, held = declared - 64;
  char *body = malloc(held);
  size_t off = 0;
  body[off++] = '[';
  while (off < held) {
    size_t k = sizeof RECORD - 1;
    if (off + k + 1 > held)
      k = held - off - 1;
    memcpy(body + off, RECORD, k);
    off += k;
    if (off < held)
      body[off++] = ',';
  }
  char head[512];
  int hn = snprintf(head, sizeof head,
                    "POST /sales/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "X-API-Key: %s\r\nContent-Length: %zu\r\n\r\n",
                    key, declared);
  struct client *cl = calloc((size_t)n, sizeof *cl);
  long base = rss_mib(pid), peak = base;
  for (int i = 0; i < n; i++) {
    cl[i].fd = conn_open(port, i / 100);
    cl[i].state = cl[i].fd < 0 ? 3 : 0;
  }
  double worst_health = 0;
  int health_failed = 0;
  int64_t t0 = mono_us(), last_health = 0;
  size_t total = (size_t)hn + held;
  for (;;) {
    int sending = 0;
    for (int i = 0; i < n; i++) {
      struct client *c = &cl[i];
      if (c->state != 0)
        continue;
      sending++;
      const char *p = c->sent < (size_t)hn ? head + c->sent : body + (c->sent - (size_t)hn);
      size_t left = c->sent < (size_t)hn ? (size_t)hn - c->sent : total - c->sent;
      if (left > 256 * 1024)
        left = 256 * 1024;
      ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL);
      if (w > 0)
        c->sent += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        c->state = 3;
      char in[512];
      ssize_t r = recv(c->fd, in, sizeof in - 1, 0);
      if (r > 0) {
        in[r] = '\0';
        c->state = strstr(in, " 503 ") ? 2 : 3;
      } else if (r == 0) {
        c->state = 3;
      }
      if (c->state == 0 && c->sent == total)
        c->state = 1;
    }
    long r = rss_mib(pid);
    if (r > peak)
      peak = r;
    if (mono_us() - last_health > 200000) {
      double ms = health_ms(port);
      if (ms < 0)
        health_failed++;
      else if (ms > worst_health)
        worst_health = ms;
      last_health = mono_us();
    }
    if (!sending || mono_us() - t0 > 120 * 1000000LL)
      break;
  }
  /* Hold a moment longer, still watching. */
  for (int k = 0; k < 10; k++) {
    double ms = health_ms(port);
    if (ms < 0)
      health_failed++;
    else if (ms > worst_health)
      worst_health = ms;
    long r = rss_mib(pid);
    if (r > peak)
      peak = r;
    usleep(200000);
  }
  int holding = 0, refused = 0, closed = 0;
  for (int i = 0; i < n; i++) {
    holding += cl[i].state == 1 || cl[i].state == 0;
    refused += cl[i].state == 2;
    closed += cl[i].state == 3;
    if (cl[i].fd >= 0)
      close(cl[i].fd);
  }
  usleep(500000);
  long status = add_one(port, key);
  printf("hostile bodies: %d connections x %zu MB: %d held, %d refused (503), %d closed; "
         "server RSS %ld MiB before, peak %ld MiB; slowest GET /health %.1f ms (%d failed); "
         "POST /sales/add afterwards: HTTP %ld\n",
         n, mb, holding, refused, closed, base, peak, worst_health, health_failed, status);
  free(cl);
  free(body);
  curl_global_cleanup();
  return status == 200 && !health_failed ? 0 : 1;
}
