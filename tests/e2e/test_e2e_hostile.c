/* Hostile and slow clients against the real server: bodies refused before
 * they are read, a memory budget for all request bodies together, a
 * deadline for headers however slowly they trickle in, a minimum body rate,
 * and connections bounded per address. Each test reproduces an attack on
 * sockets of its own and checks the server and its store afterwards. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"

/* A TCP connection to the server from the loopback address src
 * ("127.0.0.N"), non-blocking. -1 when it cannot be made. */
static int conn_open(int port, const char *src) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in from = {.sin_family = AF_INET};
  inet_pton(AF_INET, src, &from.sin_addr);
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

/* Sends as much of p[n] as the socket takes within timeout_ms; returns the
 * bytes sent (fewer when the server stops reading or closes). */
static size_t conn_send(int fd, const char *p, size_t n, int timeout_ms) {
  size_t sent = 0;
  long long until = now_ms() + timeout_ms;
  while (sent < n && now_ms() < until) {
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    if (poll(&pfd, 1, 50) <= 0)
      continue;
    if (pfd.revents & (POLLERR | POLLHUP))
      break;
    ssize_t w = send(fd, p + sent, n - sent, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    if (w <= 0)
      break;
    sent += (size_t)w;
  }
  return sent;
}

/* Reads what the server sends within timeout_ms into out (NUL-terminated).
 * Returns the bytes read; *closed is set when the server closed (or reset)
 * the connection. Stops early once a whole response head has arrived and
 * stop_at_head is set. */
static size_t conn_read(int fd, char *out, size_t cap, int timeout_ms, int stop_at_head,
                        int *closed) {
  size_t got = 0;
  *closed = 0;
  long long until = now_ms() + timeout_ms;
  while (now_ms() < until && got + 1 < cap) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 50) <= 0)
      continue;
    ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    if (r <= 0) {
      *closed = 1;
      break;
    }
    got += (size_t)r;
    out[got] = '\0';
    if (stop_at_head && strstr(out, "\r\n\r\n"))
      break;
  }
  out[got] = '\0';
  return got;
}

/* The server's resident memory in MiB, from /proc. */
static long rss_mib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6))
      kb = strtol(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return kb < 0 ? -1 : kb / 1024;
}

/* GET /health answers 200 within timeout_ms (from a fresh connection): a
 * liveness bound, generous for a loaded machine under sanitizers; the
 * latency itself is measured by scripts/bench.sh hostile. */
static void assert_health_within(const struct srv *s, long long timeout_ms) {
  long long t0 = now_ms();
  struct http_res r;
  assert_int_equal(http_do(s, "GET", "/health", NULL, NULL, 0, &r), 0);
  long long took = now_ms() - t0;
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  if (took > timeout_ms)
    fail_msg("GET /health took %lld ms (bound %lld ms)", took, timeout_ms);
}

/* A counter's value from GET /metrics. */
static long long metric(const struct srv *s, const char *name) {
  struct http_res r;
  assert_int_equal(http_do(s, "GET", "/metrics", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  char pat[96];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *p = r.body ? strstr(r.body, pat) : NULL;
  long long v = p ? strtoll(p + strlen(pat), NULL, 10) : -1;
  http_res_free(&r);
  return v;
}

static void expect_add_works(const struct srv *s, const char *id) {
  char body[512];
  snprintf(body, sizeof body,
           "[{\"date\":\"2025-04-15T12:30:45\",\"pincode\":\"400001\",\"product\":\"loan\","
           "\"channel\":\"online\",\"customer_age\":35,\"customer_income\":75000,"
           "\"id\":\"%s\"}]",
           id);
  struct http_res r;
  assert_int_equal(http_do(s, "POST", "/sales/add", "application/json", body, strlen(body), &r),
                   0);
  if (r.status != 200)
    fail_msg("POST /sales/add: HTTP %ld: %.300s", r.status, r.body ? r.body : "");
  http_res_free(&r);
}

/* One valid record of about 350 bytes (a long city name and a long id),
 * repeated to fill a body: 30 MB of them stay under the 100,000 records of
 * one request. */
static const char RECORD[] =
    "{\"date\":\"2025-04-15T12:30:45\",\"pincode\":\"400001\",\"city\":\"Mumbai "
    "Fort Churchgate Colaba Nariman Point Marine Lines Kalbadevi Girgaon Grant Road\","
    "\"id\":\"a-client-chosen-record-id-of-sixty-characters-0123456789abc\","
    "\"product\":\"loan\",\"channel\":\"online\",\"agent_id\":"
    "\"f47ac10b-58cc-4372-a567-0e02b2c3d479\",\"customer_age\":35,\"customer_income\":75000}";

/* The first `n` bytes of a /sales/add body of records (a JSON array whose
 * end is never sent). */
static char *records_prefix(size_t n) {
  char *b = malloc(n);
  assert_non_null(b);
  size_t off = 0;
  b[off++] = '[';
  while (off < n) {
    size_t k = sizeof RECORD - 1;
    if (off + k + 1 > n)
      k = n - off - 1;
    memcpy(b + off, RECORD, k);
    off += k;
    if (off < n)
      b[off++] = ',';
  }
  return b;
}

static int header_for(char *out, size_t cap, const char *path, const char *key,
                      unsigned long long length) {
  int n = snprintf(out, cap,
                   "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "%s%s%sContent-Length: %llu\r\n\r\n",
                   path, key ? "X-API-Key: " : "", key ? key : "", key ? "\r\n" : "", length);
  return n > 0 && (size_t)n < cap ? n : -1;
}

/* Bodies without a key are refused before any of them is read: the 401
 * comes while the client is still sending, and holding many such bodies
 * open costs the server nothing. (Before, each body was read whole, 64 MiB
 * a connection, and only then refused.) */
static void test_hostile__no_key_refused_before_body(void **state) {
  struct srv s;
  assert_int_equal(srv_start(&s, NULL), 0);
  enum { CONNS = 24 };
  const size_t declared = 30u << 20, sent_each = 2u << 20;
  char *body = records_prefix(sent_each);
  int fds[CONNS];
  char head[512];
  int hn = header_for(head, sizeof head, "/sales/add", NULL, declared);
  assert_true(hn > 0);
  long base = rss_mib(s.pid);
  for (int i = 0; i < CONNS; i++) {
    fds[i] = conn_open(s.port, "127.0.0.1");
    assert_true(fds[i] >= 0);
    assert_int_equal(conn_send(fds[i], head, (size_t)hn, 2000), (size_t)hn);
    conn_send(fds[i], body, sent_each, 300); /* as much as the server takes */
  }
  for (int i = 0; i < CONNS; i++) {
    char out[4096];
    int closed;
    conn_read(fds[i], out, sizeof out, 5000, 1, &closed);
    if (!strstr(out, " 401 "))
      fail_msg("connection %d: no 401 before the body was sent: '%.200s'", i, out);
  }
  long rss = rss_mib(s.pid);
  printf("RSS %ld MiB before, %ld MiB with %d unauthenticated 30 MB bodies open\n", base, rss,
         CONNS);
  assert_true(rss - base < 64);
  for (int i = 0; i < CONNS; i++)
    close(fds[i]);
  assert_health_within(&s, 5000);
  free(body);
  assert_int_equal(srv_stop(&s), 0);
}

/* With an admin key, large bodies held open by slow clients are bounded by
 * --max-inflight, counted across all connections: past it a new large body
 * is refused at once with 503 and Retry-After, /health keeps answering and
 * the store works afterwards. */
static void test_hostile__inflight_budget(void **state) {
  struct srv s;
  static const char *const extra[] = {"--max-inflight", "67108864", NULL}; /* 64 MiB */
  assert_int_equal(srv_start(&s, extra), 0);
  enum { CONNS = 8 };
  const size_t declared = 30u << 20, held = declared - 64;
  char *body = records_prefix(held);
  char head[512];
  int hn = header_for(head, sizeof head, "/sales/add", s.key, declared);
  assert_true(hn > 0);
  int fds[CONNS], refused = 0, holding = 0;
  for (int i = 0; i < CONNS; i++) {
    fds[i] = conn_open(s.port, "127.0.0.1");
    assert_true(fds[i] >= 0);
    assert_int_equal(conn_send(fds[i], head, (size_t)hn, 2000), (size_t)hn);
    char out[4096];
    int closed;
    conn_read(fds[i], out, sizeof out, 300, 1, &closed);
    if (strstr(out, " 503 ")) {
      assert_non_null(strstr(out, "Retry-After:"));
      refused++;
      continue;
    }
    assert_int_equal(out[0], '\0'); /* nothing yet: the body is awaited */
    /* All but the last bytes. */
    /* a liveness bound: a loaded machine reads slowly */
    assert_int_equal(conn_send(fds[i], body, held, 120000), held);
    holding++;
  }
  printf("%d bodies of 30 MB held, %d refused with 503; RSS %ld MiB\n", holding, refused,
         rss_mib(s.pid));
  assert_int_equal(holding, 2); /* 2 x 30 MB fit in 64 MiB, a third does not */
  assert_int_equal(refused, CONNS - 2);
  assert_true(rss_mib(s.pid) < 400);
  assert_health_within(&s, 5000);
  assert_true(metric(&s, "gromo_inflight_refused_total") >= CONNS - 2);
  assert_true(metric(&s, "gromo_inflight_request_bytes") >= 2 * (long long)declared);
  for (int i = 0; i < CONNS; i++)
    close(fds[i]);
  /* The budget is given back when the holders go away. */
  long long until = now_ms() + 10000;
  for (;;) {
    int fd = conn_open(s.port, "127.0.0.1");
    assert_true(fd >= 0);
    assert_int_equal(conn_send(fd, head, (size_t)hn, 2000), (size_t)hn);
    char out[4096];
    int closed;
    conn_read(fd, out, sizeof out, 300, 1, &closed);
    close(fd);
    if (!strstr(out, " 503 "))
      break;
    if (now_ms() > until)
      fail_msg("the budget was not given back: %.200s", out);
    usleep(100 * 1000);
  }
  expect_add_works(&s, "after-budget");
  free(body);
  assert_int_equal(srv_stop(&s), 0);
}

/* A request's headers have a deadline of their own: bytes that trickle in
 * (one every 300 ms) do not extend it, unlike the idle timeout. */
static void test_hostile__header_deadline(void **state) {
  struct srv s;
  static const char *const extra[] = {"--header-timeout", "2", NULL};
  assert_int_equal(srv_start(&s, extra), 0);
  int fd = conn_open(s.port, "127.0.0.1");
  assert_true(fd >= 0);
  const char *line = "GET /health HTTP/1.1\r\nX-Slow: ";
  assert_int_equal(conn_send(fd, line, strlen(line), 1000), strlen(line));
  long long t0 = now_ms();
  int closed = 0;
  while (!closed && now_ms() - t0 < 15000) {
    if (conn_send(fd, "a", 1, 100) != 1)
      break;
    char out[256];
    conn_read(fd, out, sizeof out, 300, 0, &closed);
  }
  long long took = now_ms() - t0;
  close(fd);
  printf("a trickling header was cut after %lld ms (deadline 2 s)\n", took);
  assert_true(took < 8000);
  assert_health_within(&s, 5000);
  assert_true(metric(&s, "gromo_header_timeouts_total") >= 1);
  assert_int_equal(srv_stop(&s), 0);
}

/* Slowloris from several addresses: many connections that never finish
 * their headers. Each address is held to --max-connections-per-ip and every
 * connection to the header deadline, so a fresh address is still served. */
static void test_hostile__slowloris_many_addresses(void **state) {
  struct srv s;
  static const char *const extra[] = {"--header-timeout", "3", "--max-connections-per-ip", "40",
                                      "--max-connections", "256", NULL};
  assert_int_equal(srv_start(&s, extra), 0);
  enum { ADDRS = 5, PER = 60 };
  static int fds[ADDRS * PER];
  int open_n = 0;
  for (int a = 0; a < ADDRS; a++) {
    char src[32];
    snprintf(src, sizeof src, "127.0.0.%d", a + 2);
    for (int i = 0; i < PER; i++) {
      int fd = conn_open(s.port, src);
      if (fd >= 0) {
        conn_send(fd, "GET /health HTTP/1.1\r\n", 22, 100);
        fds[open_n++] = fd;
      }
    }
  }
  /* Keep trickling for longer than the deadline, then ask from a fresh
   * address. */
  long long t0 = now_ms();
  while (now_ms() - t0 < 4500) {
    for (int i = 0; i < open_n; i++)
      if (fds[i] >= 0 && send(fds[i], "X", 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        close(fds[i]);
        fds[i] = -1;
      }
    usleep(500 * 1000);
  }
  assert_health_within(&s, 5000);
  int alive = 0;
  for (int i = 0; i < open_n; i++) {
    if (fds[i] < 0)
      continue;
    char out[64];
    int closed;
    conn_read(fds[i], out, sizeof out, 20, 0, &closed);
    alive += !closed;
    close(fds[i]);
  }
  printf("%d slow connections opened from %d addresses; %d still open after 4.5 s\n", open_n,
         ADDRS, alive);
  assert_int_equal(alive, 0);
  assert_int_equal(srv_stop(&s), 0);
}

/* A body slower than --min-body-rate is cut once its grace is over; a body
 * at a normal pace is not. */
static void test_hostile__min_body_rate(void **state) {
  struct srv s;
  static const char *const extra[] = {"--min-body-rate", "2000", "--body-rate-grace", "1",
                                      NULL};
  assert_int_equal(srv_start(&s, extra), 0);
  int fd = conn_open(s.port, "127.0.0.1");
  assert_true(fd >= 0);
  char head[512];
  int hn = header_for(head, sizeof head, "/sales/add", s.key, 100000);
  assert_int_equal(conn_send(fd, head, (size_t)hn, 1000), (size_t)hn);
  long long t0 = now_ms();
  int closed = 0;
  size_t sent = 0;
  while (!closed && now_ms() - t0 < 15000) {
    sent += conn_send(fd, "[", 1, 100); /* 1 byte every ~250 ms */
    char out[512];
    conn_read(fd, out, sizeof out, 250, 0, &closed);
  }
  close(fd);
  long long took = now_ms() - t0;
  printf("a body at 4 bytes/s was cut after %lld ms and %zu bytes\n", took, sent);
  assert_true(closed);
  assert_true(took < 8000);
  expect_add_works(&s, "after-slow-body");
  assert_int_equal(srv_stop(&s), 0);
}

/* Idle keep-alive connections and connections from one address are
 * bounded: past --max-connections-per-ip an address gets no more, and the
 * others are still served. */
static void test_hostile__connections_per_address(void **state) {
  struct srv s;
  static const char *const extra[] = {"--max-connections-per-ip", "10", NULL};
  assert_int_equal(srv_start(&s, extra), 0);
  int fds[16], served = 0;
  for (int i = 0; i < 16; i++) {
    fds[i] = conn_open(s.port, "127.0.0.9");
    if (fds[i] < 0)
      continue;
    /* A complete request on a keep-alive connection: answered, then idle. */
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    conn_send(fds[i], req, strlen(req), 500);
  }
  for (int i = 0; i < 16; i++) {
    if (fds[i] < 0)
      continue;
    char out[2048];
    int closed;
    conn_read(fds[i], out, sizeof out, 1000, 1, &closed);
    served += strstr(out, " 200 ") != NULL;
  }
  printf("%d of 16 connections from one address served (limit 10)\n", served);
  assert_int_equal(served, 10);
  assert_health_within(&s, 5000); /* another address */
  for (int i = 0; i < 16; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  assert_int_equal(srv_stop(&s), 0);
}

/* A predict body with a role too low is refused at its headers too (403),
 * and a streamed /sales/add body of many records is read as it arrives:
 * the server's memory grows by the records, not the text. */
static void test_hostile__role_refused_before_body(void **state) {
  struct srv s;
  assert_int_equal(srv_start(&s, NULL), 0);
  char viewer[128];
  assert_int_equal(make_key(&s, "viewer", "hostile-viewer", viewer, sizeof viewer), 0);
  char head[512];
  int hn = header_for(head, sizeof head, "/predict/demand", viewer, 16000000);
  int fd = conn_open(s.port, "127.0.0.1");
  assert_true(fd >= 0);
  assert_int_equal(conn_send(fd, head, (size_t)hn, 1000), (size_t)hn);
  char out[4096];
  int closed;
  conn_read(fd, out, sizeof out, 3000, 1, &closed);
  close(fd);
  if (!strstr(out, " 403 "))
    fail_msg("no 403 at the headers: '%.200s'", out);
  assert_int_equal(srv_stop(&s), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hostile__no_key_refused_before_body),
      cmocka_unit_test(test_hostile__role_refused_before_body),
      cmocka_unit_test(test_hostile__inflight_budget),
      cmocka_unit_test(test_hostile__header_deadline),
      cmocka_unit_test(test_hostile__slowloris_many_addresses),
      cmocka_unit_test(test_hostile__min_body_rate),
      cmocka_unit_test(test_hostile__connections_per_address),
  };
  return cmocka_run_group_tests_name("e2e_hostile", tests, NULL, NULL);
}
