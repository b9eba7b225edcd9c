#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "e2e.h"
#include "gromo/store.h"

const char *gromo_bin(void) {
  const char *b = getenv("GROMO_BIN");
  return b && *b ? b : "./gromo";
}

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Finds "\"port\":N" in the listening line of the log. */
int make_key(const struct srv *s, const char *role, const char *name, char *out,
             size_t cap) {
  char text[1024];
  const char *const args[] = {"keys", "create", "--role", role, "--name", name,
                              "--db", s->db, NULL};
  if (run_cli(args, text, sizeof text, NULL, 0) != 0)
    return -1;
  size_t n = strlen(text);
  while (n && text[n - 1] == '\n')
    text[--n] = '\0';
  const char *last = strrchr(text, '\n');
  last = last ? last + 1 : text;
  if (strncmp(last, "gromo_", 6) != 0)
    return -1;
  snprintf(out, cap, "%s", last);
  return 0;
}

int e2e_on_pg(void) {
  const char *base = getenv("GROMO_E2E_PG");
  return base && *base;
}

/* A new database on the server GROMO_E2E_PG names (a base URI ending in
 * '/', as scripts/with-pg.sh's GROMO_TEST_PG), made through its `gromo`
 * database; its URI in out. */
static int pg_new_database(char *out, size_t cap, const char *name) {
  const char *base = getenv("GROMO_E2E_PG");
  static int n; /* with the pid: a name no other test process uses */
  char db[64], uri[300], sql[128];
  snprintf(db, sizeof db, "e2e_%d_%d_%.24s", (int)getpid(), n++, name);
  for (char *p = db; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
      *p = '_';
  snprintf(uri, sizeof uri, "%sgromo", base);
  PGconn *c = PQconnectdb(uri);
  int ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    PGresult *r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
      fprintf(stderr, "e2e: %s", PQresultErrorMessage(r));
    PQclear(r);
  } else {
    fprintf(stderr, "e2e: cannot reach PostgreSQL at %s: %s", uri, PQerrorMessage(c));
  }
  PQfinish(c);
  if (!ok)
    return -1;
  int w = snprintf(out, cap, "%s%s", base, db);
  return w > 0 && (size_t)w < cap ? 0 : -1;
}

int e2e_store_uri(char *out, size_t cap, const char *dir, const char *name) {
  if (e2e_on_pg())
    return pg_new_database(out, cap, name);
  int w = snprintf(out, cap, "%s/%s.db", dir, name);
  return w > 0 && (size_t)w < cap ? 0 : -1;
}

int srv_start(struct srv *s, const char *const *extra) {
  if (srv_prepare(s) < 0 || make_key(s, "admin", "e2e-admin", s->key, sizeof s->key) < 0)
    return -1;
  for (size_t i = 0; extra && extra[i]; i++)
    if (!strcmp(extra[i], "--tls-cert"))
      s->tls = 1;
  return srv_spawn(s, extra);
}

static void rm_rf(const char *dir) {
  char cmd[600];
  if (strncmp(dir, "/tmp/gromo-e2e-", 15) != 0)
    return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

int srv_stop(struct srv *s) {
  int status = -1;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    /* liveness bound: a server stops only once a running training job has
     * finished (docs/operations.md), and a scheduled job with the default
     * settings takes most of a minute under the sanitizers on a busy machine */
    for (int i = 0; i < 3600; i++) {
      int st;
      if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      sleep_ms(50);
    }
    if (status < 0) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
  }
  if (!getenv("GROMO_KEEP_TEST_DIRS"))
    rm_rf(s->dir);
  return status;
}

int run_cli(const char *const *args, char *out, size_t cap, char *errout,
            size_t errcap) {
  char opath[] = "/tmp/gromo-cli-out-XXXXXX", epath[] = "/tmp/gromo-cli-err-XXXXXX";
  int ofd = mkstemp(opath), efd = mkstemp(epath);
  if (ofd < 0 || efd < 0)
    return -1;
  const char *argv[40];
  size_t n = 0;
  argv[n++] = gromo_bin();
  for (size_t i = 0; args[i] && n < 38; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(ofd, 1);
    dup2(efd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (out && cap) {
    ssize_t r = pread(ofd, out, cap - 1, 0);
    out[r > 0 ? r : 0] = '\0';
  }
  if (errout && errcap) {
    ssize_t r = pread(efd, errout, errcap - 1, 0);
    errout[r > 0 ? r : 0] = '\0';
  }
  close(ofd);
  close(efd);
  unlink(opath);
  unlink(epath);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct sink {
  char *p;
  size_t n;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct sink *s = ud;
  size_t add = size * nmemb;
  char *q = realloc(s->p, s->n + add + 1);
  if (!q)
    return 0;
  memcpy(q + s->n, ptr, add);
  s->p = q;
  s->n += add;
  s->p[s->n] = '\0';
  return add;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct http_res *r = ud;
  size_t add = size * nmemb, have = strlen(r->headers);
  if (have + add < sizeof r->headers) {
    memcpy(r->headers + have, ptr, add);
    r->headers[have + add] = '\0';
  }
  return add;
}

int http_do(const struct srv *s, const char *method, const char *path,
            const char *ctype, const char *body, size_t len,
            struct http_res *res) {
  return http_do_as(s, s->key[0] ? s->key : NULL, NULL, method, path, ctype, body,
                    len, res);
}

int http_do_as(const struct srv *s, const char *key, const char *const *headers,
               const char *method, const char *path, const char *ctype,
               const char *body, size_t len, struct http_res *res) {
  memset(res, 0, sizeof *res);
  CURL *c = curl_easy_init();
  if (!c)
    return -1;
  char url[2048];
  snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", s->tls ? "https" : "http",
           s->port, path);
  struct curl_slist *h = NULL;
  char keyh[200];
  if (key) {
    snprintf(keyh, sizeof keyh, "X-API-Key: %s", key);
    h = curl_slist_append(h, keyh);
  }
  for (size_t i = 0; headers && headers[i]; i++)
    h = curl_slist_append(h, headers[i]);
  if (s->tls) { /* the test certificate is self-signed */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  char ct[256];
  if (ctype) {
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    h = curl_slist_append(h, ct);
  } else {
    h = curl_slist_append(h, "Content-Type:");
  }
  h = curl_slist_append(h, "Expect:");
  struct sink sk = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sk);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (!strcmp(method, "HEAD"))
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
  else /* the reason shows beside the failed assertion */
    fprintf(stderr, "e2e: %s %s: %s\n", method, path, curl_easy_strerror(rc));
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  res->body = sk.p ? sk.p : calloc(1, 1);
  res->len = sk.n;
  if (res->len)
    res->json = json_loadb(res->body, res->len, 0, NULL);
  return rc == CURLE_OK ? 0 : -1;
}

void http_res_free(struct http_res *r) {
  free(r->body);
  json_decref(r->json);
  r->body = NULL;
  r->json = NULL;
}

int http_header(const struct http_res *r, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  const char *p = r->headers;
  while (p && *p) {
    const char *eol = strstr(p, "\r\n");
    if (!eol)
      break;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      snprintf(out, cap, "%.*s", (int)(eol - v), v);
      return 0;
    }
    p = eol + 2;
  }
  return -1;
}

long raw_exchange(int port, const char *data, size_t len, char *out, size_t cap,
                  int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  /* Send and read at once, as a real client does: a server may answer
   * (e.g. 413) before it has read everything. */
  size_t sent = 0, got = 0;
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
    if (poll(&pfd, 1, timeout_ms) <= 0)
      break;
    if (pfd.revents & POLLIN) {
      if (got + 1 >= cap)
        break;
      ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
      if (r <= 0)
        break;
      got += (size_t)r;
      continue;
    }
    if (pfd.revents & POLLOUT) {
      ssize_t w = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
      if (w <= 0)
        len = sent; /* the server stopped reading: only listen now */
      else
        sent += (size_t)w;
      continue;
    }
    if (pfd.revents & (POLLERR | POLLHUP))
      break;
  }
  out[got] = '\0';
  close(fd);
  return (long)got;
}

long long db_sales_count(const struct srv *s) {
  struct store *st = NULL;
  int64_t n = -1;
  if (store_open(s->db, &st, NULL) == 0) {
    if (store_sales_count(st, &n, NULL) < 0)
      n = -1;
  }
  store_close(st);
  return n;
}

/* ---- faults: the same store across a kill, stores elsewhere ---- */

int srv_prepare(struct srv *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/gromo-e2e-XXXXXX");
  if (!mkdtemp(s->dir))
    return -1;
  if (e2e_store_uri(s->db, sizeof s->db, s->dir, "test") < 0)
    return -1;
  snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
  return 0;
}

/* The port of the first "listening" line at or after byte `from` of the
 * log: a restarted server appends to the log of the one before. */
static int read_port_from(const char *log, long from) {
  FILE *f = fopen(log, "r");
  if (!f)
    return -1;
  int port = -1;
  if (fseek(f, from, SEEK_SET) == 0) {
    char line[4096];
    while (port < 0 && fgets(line, sizeof line, f)) {
      if (!strstr(line, "\"event\":\"listening\""))
        continue;
      char *p = strstr(line, "\"port\":");
      if (p)
        port = atoi(p + 7);
    }
  }
  fclose(f);
  return port;
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
  fclose(f);
  return n < 0 ? 0 : n;
}

int srv_spawn(struct srv *s, const char *const *extra) {
  if (s->pid > 0)
    return -1;
  const char *argv[40];
  size_t n = 0;
  argv[n++] = gromo_bin();
  argv[n++] = "serve";
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--db";
  argv[n++] = s->db;
  argv[n++] = "--log-file";
  argv[n++] = s->log;
  for (size_t i = 0; extra && extra[i] && n < 38; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  long from = file_size(s->log);
  s->port = 0;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 600; i++) { /* up to 30 s under sanitizers */
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = 0;
      return -1;
    }
    s->port = read_port_from(s->log, from);
    if (s->port > 0)
      return 0;
    sleep_ms(50);
  }
  return -1;
}

int srv_kill9(struct srv *s) {
  if (s->pid <= 0)
    return -1;
  kill(s->pid, SIGKILL);
  int st = 0;
  pid_t r = waitpid(s->pid, &st, 0);
  s->pid = 0;
  return r > 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : -1;
}

json_t *jget(json_t *j, const char *path) {
  char seg[64];
  while (j && *path) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof seg)
      return NULL;
    memcpy(seg, path, n);
    seg[n] = '\0';
    if (json_is_array(j) && n && strspn(seg, "0123456789") == n)
      j = json_array_get(j, (size_t)atol(seg));
    else
      j = json_object_get(j, seg);
    path += n + (path[n] == '.');
  }
  return j;
}

const char *jstr(json_t *j, const char *path) { return json_string_value(jget(j, path)); }

double jnum(json_t *j, const char *path) {
  json_t *v = jget(j, path);
  if (!json_is_number(v))
    fail_msg("%s is not a number", path);
  return json_number_value(v);
}

long long jint(json_t *j, const char *path) {
  json_t *v = jget(j, path);
  if (!json_is_integer(v))
    fail_msg("%s is not an integer", path);
  return (long long)json_integer_value(v);
}
