/* End-to-end: uploads staged before they touch the store, the spool of
 * upload files, gromo import's checks of its files, and the lock waits
 * that keep a key revocation from being starved. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "gromo/store.h"

/* The server of the running test, stopped by its teardown also when the
 * test fails. */
static struct srv S;

static void start(const char *const *extra) {
  assert_int_equal(srv_start(&S, extra), 0);
}

/* A command the running test started in the background, killed by the
 * teardown if the test fails before it ends. */
static pid_t child;
/* Folders the running test made (temp_dir). */
static char temps[4][128];
static size_t ntemp;
static void remove_dir(const char *dir);

static int stop(void **state) {
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    child = 0;
  }
  int rc = 0;
  if (S.pid > 0)
    rc = srv_stop(&S) == 0 ? 0 : -1;
  else if (S.dir[0])
    srv_stop(&S); /* killed by the test: only its folder is left */
  memset(&S, 0, sizeof S);
  for (size_t i = 0; i < ntemp; i++) {
    umount2(temps[i], MNT_DETACH); /* a small file system, if it is one */
    remove_dir(temps[i]);
  }
  ntemp = 0;
  return rc;
}

/* Generous bound for what must not wait for a lock: the old faults made
 * these requests wait 5 s (SQLite's busy wait) or forever. */
#define PROMPT_MS 4000

static const char ROW[] = "2025-01-05,400001,loan,online,35,75000\n";
static const char HEADER[] = "date,pincode,product,channel,customer_age,customer_income\n";
static const char RECORD[] =
    "{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":\"loan\","
    "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":40000}";

/* ---- raw HTTP: requests that send their body slowly, or never ---------- */

static int raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static int send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Opens an upload of `length` bytes and sends its headers only. */
static int upload_begin(const char *key, const char *ctype, size_t length) {
  int fd = raw_connect(S.port);
  char head[512];
  int n = snprintf(head, sizeof head,
                   "POST /sales/upload HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
                   "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   key, ctype, length);
  assert_int_equal(send_all(fd, head, (size_t)n), 0);
  return fd;
}

/* Reads the answer until the server closes; its status (0: none). */
static int read_answer(int fd, char *out, size_t cap, int timeout_ms) {
  size_t got = 0;
  int64_t until = now_ms() + timeout_ms;
  while (got + 1 < cap && now_ms() < until) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 100) <= 0)
      continue;
    ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  out[got] = '\0';
  int status = 0;
  return sscanf(out, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

/* A client that sends an upload's rows one at a time, pausing between
 * them: the body takes several seconds to arrive. */
struct dribbler {
  int fd;
  int rows;
  int pause_ms;
  atomic_int sent;
  pthread_t thread;
};

static void *dribble(void *arg) {
  struct dribbler *d = arg;
  if (send_all(d->fd, HEADER, sizeof HEADER - 1) < 0)
    return NULL;
  for (int i = 0; i < d->rows; i++) {
    if (send_all(d->fd, ROW, sizeof ROW - 1) < 0)
      return NULL;
    atomic_store(&d->sent, i + 1);
    sleep_ms(d->pause_ms);
  }
  return NULL;
}

static size_t dribble_length(int rows) {
  return sizeof HEADER - 1 + (size_t)rows * (sizeof ROW - 1);
}

static void wait_sent(struct dribbler *d, int rows) {
  int64_t until = now_ms() + 30000;
  while (atomic_load(&d->sent) < rows && now_ms() < until)
    sleep_ms(10);
  assert_true(atomic_load(&d->sent) >= rows);
}

/* ---- the checks every writer fault broke ------------------------------- */

/* POST /sales/add answers 200 without waiting for a lock. */
static void add_promptly(void) {
  struct http_res r;
  int64_t t0 = now_ms();
  assert_int_equal(http_do(&S, "POST", "/sales/add", "application/json", RECORD,
                           sizeof RECORD - 1, &r), 0);
  int64_t ms = now_ms() - t0;
  if (r.status != 200 || ms > PROMPT_MS)
    fail_msg("/sales/add: %ld after %lld ms: %s", r.status, (long long)ms, r.body);
  http_res_free(&r);
}

static void health_promptly(void) {
  struct http_res r;
  int64_t t0 = now_ms();
  assert_int_equal(http_do_as(&S, NULL, NULL, "GET", "/health", NULL, NULL, 0, &r), 0);
  int64_t ms = now_ms() - t0;
  if (r.status != 200 || ms > PROMPT_MS)
    fail_msg("/health: %ld after %lld ms: %s", r.status, (long long)ms, r.body);
  http_res_free(&r);
}

/* gromo keys revoke of a fresh key succeeds at once. */
static void revoke_promptly(const char *name) {
  char key[128], err[4096];
  assert_int_equal(make_key(&S, "viewer", name, key, sizeof key), 0);
  const char *const rv[] = {"keys", "revoke", name, "--db", S.db, NULL};
  int64_t t0 = now_ms();
  int rc = run_cli(rv, NULL, 0, err, sizeof err);
  int64_t ms = now_ms() - t0;
  if (rc != 0 || ms > PROMPT_MS)
    fail_msg("keys revoke: exit %d after %lld ms: %s", rc, (long long)ms, err);
}

/* ---- uploads: staged while they arrive, stored when complete --------- */

/* One slow upload (rows dribbled over seconds) holds no lock: writes,
 * health checks and key revocations go on; one HTTP thread is enough. */
static void test_staging__slow_upload_blocks_no_writer(void **state) {
  static const char *const extra[] = {"--threads", "1", NULL};
  start(extra);
  long long before = db_sales_count(&S);
  static struct dribbler d; /* static: the thread may outlive a failed test */
  d = (struct dribbler){.rows = 30, .pause_ms = 150};
  atomic_init(&d.sent, 0);
  d.fd = upload_begin(S.key, "text/csv", dribble_length(d.rows));
  assert_int_equal(pthread_create(&d.thread, NULL, dribble, &d), 0);
  wait_sent(&d, 2);
  add_promptly();
  health_promptly();
  revoke_promptly("during-slow-upload");
  add_promptly();
  assert_true(atomic_load(&d.sent) < d.rows); /* all of it while the upload went on */
  pthread_join(d.thread, NULL);
  char answer[8192];
  int status = read_answer(d.fd, answer, sizeof answer, 60000);
  close(d.fd);
  if (status != 200 || !strstr(answer, "\"inserted_count\":30"))
    fail_msg("the slow upload: %d %s", status, answer);
  assert_int_equal(db_sales_count(&S), before + 2 + 30);
}

/* Headers with no body at all: nothing waits for it. */
static void test_staging__headers_without_body_block_nothing(void **state) {
  start(NULL);
  long long before = db_sales_count(&S);
  int fd = upload_begin(S.key, "text/csv", 1000000);
  sleep_ms(200); /* time for the server to read the headers and open the
                     upload (the checks below hold whenever it does) */
  add_promptly();
  health_promptly();
  revoke_promptly("during-silent-upload");
  /* Another upload, complete, is stored meanwhile. */
  char body[512];
  int n = snprintf(body, sizeof body, "%s%s%s", HEADER, ROW, ROW);
  struct http_res r;
  int64_t t0 = now_ms();
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", body, (size_t)n, &r), 0);
  if (r.status != 200 || now_ms() - t0 > PROMPT_MS)
    fail_msg("a second upload: %ld %s", r.status, r.body);
  http_res_free(&r);
  close(fd);
  assert_int_equal(db_sales_count(&S), before + 1 + 2);
}

/* A key revoked while its own upload is being sent: the revocation succeeds
 * at once, the upload's commit is refused (401, nothing stored) and so is
 * the key's next request. */
static void test_staging__key_revoked_during_its_upload(void **state) {
  start(NULL);
  char key[128], err[4096];
  assert_int_equal(make_key(&S, "admin", "uploader", key, sizeof key), 0);
  long long before = db_sales_count(&S);
  static struct dribbler d; /* static: the thread may outlive a failed test */
  d = (struct dribbler){.rows = 30, .pause_ms = 200}; /* 6 s: longer than PROMPT_MS */
  atomic_init(&d.sent, 0);
  d.fd = upload_begin(key, "text/csv", dribble_length(d.rows));
  assert_int_equal(pthread_create(&d.thread, NULL, dribble, &d), 0);
  wait_sent(&d, 2);
  const char *const rv[] = {"keys", "revoke", "uploader", "--db", S.db, NULL};
  int64_t t0 = now_ms();
  int rc = run_cli(rv, NULL, 0, err, sizeof err);
  if (rc != 0 || now_ms() - t0 > PROMPT_MS)
    fail_msg("keys revoke during the key's upload: exit %d: %s", rc, err);
  assert_true(atomic_load(&d.sent) < d.rows);
  pthread_join(d.thread, NULL);
  char answer[8192];
  int status = read_answer(d.fd, answer, sizeof answer, 60000);
  close(d.fd);
  if (status != 401 || !strstr(answer, "revoked"))
    fail_msg("the revoked key's upload: %d %s", status, answer);
  assert_int_equal(db_sales_count(&S), before);
  struct http_res r;
  assert_int_equal(http_do_as(&S, key, NULL, "POST", "/sales/add", "application/json",
                              RECORD, sizeof RECORD - 1, &r), 0);
  assert_int_equal(r.status, 401);
  http_res_free(&r);
}

/* The store's write lock held by another process for longer than a
 * connection's usual 5 s wait: gromo keys revoke waits its turn (30 s)
 * instead of failing with "database is locked". */
struct lock_holder {
  const char *db;
  int hold_ms;
  atomic_int held; /* 1: holding, 2: released, -1: could not */
  pthread_t thread;
};

static void *hold_lock(void *arg) {
  struct lock_holder *h = arg;
  struct store *st = NULL;
  struct gerr err;
  if (store_open(h->db, &st, &err) < 0 || store_begin(st, &err) < 0) {
    store_close(st);
    atomic_store(&h->held, -1);
    return NULL;
  }
  atomic_store(&h->held, 1);
  sleep_ms(h->hold_ms);
  store_rollback(st);
  store_close(st);
  atomic_store(&h->held, 2);
  return NULL;
}

static void test_staging__revocation_waits_out_a_long_commit(void **state) {
  start(NULL);
  char key[128], err[4096];
  assert_int_equal(make_key(&S, "viewer", "patient", key, sizeof key), 0);
  static struct lock_holder h; /* static: the thread may outlive a failed test */
  h = (struct lock_holder){.db = S.db, .hold_ms = 6500};
  atomic_init(&h.held, 0);
  assert_int_equal(pthread_create(&h.thread, NULL, hold_lock, &h), 0);
  while (atomic_load(&h.held) == 0)
    sleep_ms(5);
  assert_int_equal(atomic_load(&h.held), 1);
  /* The health check does not wait for the writer either. */
  health_promptly();
  const char *const rv[] = {"keys", "revoke", "patient", "--db", S.db, NULL};
  int rc = run_cli(rv, NULL, 0, err, sizeof err);
  int held = atomic_load(&h.held);
  pthread_join(h.thread, NULL);
  if (rc != 0)
    fail_msg("keys revoke behind a 6.5 s write: exit %d: %s", rc, err);
  /* It waited for the lock, then revoked. PostgreSQL has no lock over the
   * whole database: there the revocation need not wait for the other
   * transaction, only succeed. */
  if (!getenv("GROMO_E2E_PG"))
    assert_int_equal(held, 2);
  struct http_res r;
  assert_int_equal(http_do_as(&S, key, NULL, "GET", "/models", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 401);
  http_res_free(&r);
}

/* ---- the spool ------------------------------------------------------------ */

/* A fresh folder for a spool, a small file system or files, removed by
 * the teardown (also when the test fails). */
static void temp_dir(char *out, size_t cap, const char *what) {
  snprintf(out, cap, "/tmp/gromo-e2e-%s-XXXXXX", what);
  assert_non_null(mkdtemp(out));
  assert_true(ntemp < sizeof temps / sizeof temps[0]);
  snprintf(temps[ntemp++], sizeof temps[0], "%s", out);
}

static void remove_dir(const char *dir) {
  if (access(dir, F_OK) != 0)
    return;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

/* 1 when dir exists and holds nothing. */
static int dir_is_empty(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test -d '%s' && test -z \"$(ls -A '%s')\"", dir, dir);
  return system(cmd) == 0;
}

/* The size of the largest file process pid has open under dir (an unnamed
 * spool file shows as "DIR/#123 (deleted)" or "DIR/gromo-spool-... (deleted)"),
 * or -1 when it has none open there. */
static long long open_bytes_under(pid_t pid, const char *dir) {
  long long best = -1;
  size_t dn = strlen(dir);
  for (int fd = 0; fd < 1024; fd++) {
    char link[64], target[1024];
    snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    if (strncmp(target, dir, dn) != 0 || target[dn] != '/')
      continue;
    struct stat st;
    if (stat(link, &st) == 0 && (long long)st.st_size > best)
      best = (long long)st.st_size;
  }
  return best;
}

/* Waits until the server keeps `bytes` in a file under dir: on disk, all
 * but what its write buffer (64 KiB) may still hold. */
static void wait_spooled(const char *dir, long long bytes) {
  bytes -= 64 * 1024;
  int64_t until = now_ms() + 30000;
  long long got = -1;
  while ((got = open_bytes_under(S.pid, dir)) < bytes && now_ms() < until)
    sleep_ms(10);
  if (got < bytes)
    fail_msg("the server keeps %lld bytes under %s, not %lld", got, dir, bytes);
}

/* Sends n bytes of a would-be XLSX body (a zip's first bytes, then filler). */
static void send_xlsx_bytes(int fd, size_t n) {
  char *b = malloc(n);
  assert_non_null(b);
  memset(b, 'z', n);
  memcpy(b, "PK\x03\x04", 4);
  assert_int_equal(send_all(fd, b, n), 0);
  free(b);
}

/* kill -9 in the middle of an XLSX upload leaves nothing in the spool
 * folder (by default $TMPDIR): the file never had a name there. */
static void test_spool__killed_mid_upload_leaves_nothing(void **state) {
  char spool[128];
  temp_dir(spool, sizeof spool, "spool");
  setenv("TMPDIR", spool, 1); /* for the server started now */
  int started = srv_start(&S, NULL);
  unsetenv("TMPDIR");
  assert_int_equal(started, 0);
  int fd = upload_begin(S.key, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        4u << 20);
  send_xlsx_bytes(fd, 1u << 20);
  wait_spooled(spool, 1 << 20);
  kill(S.pid, SIGKILL);
  waitpid(S.pid, NULL, 0);
  S.pid = 0;
  close(fd);
  int empty = dir_is_empty(spool);
  remove_dir(spool);
  assert_true(empty);
}

/* --max-spool bounds what all uploads in progress keep: a second large
 * upload beside one in progress is refused (507, Retry-After), and the
 * room comes back when the first one ends. */
static void test_spool__bound_refuses_a_second_large_upload(void **state) {
  char spool[128];
  temp_dir(spool, sizeof spool, "spool");
  const char *const extra[] = {"--spool-dir", spool, "--max-spool", "1048576", NULL};
  start(extra);
  const char *xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  int fd = upload_begin(S.key, xlsx, 2u << 20);
  send_xlsx_bytes(fd, 700u << 10);
  wait_spooled(spool, 700 << 10);
  size_t n = 600u << 10;
  char *b = malloc(n);
  assert_non_null(b);
  memset(b, 'z', n);
  memcpy(b, "PK\x03\x04", 4);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload", xlsx, b, n, &r), 0);
  char retry[32];
  if (r.status != 507 || !strstr(r.body, "insufficient_storage") ||
      !strstr(r.body, "--max-spool") || http_header(&r, "Retry-After", retry, sizeof retry) < 0)
    fail_msg("a second upload past the bound: %ld %s", r.status, r.body);
  http_res_free(&r);
  close(fd); /* the first one ends: its room comes back */
  int64_t until = now_ms() + 30000;
  while (open_bytes_under(S.pid, spool) >= 0 && now_ms() < until)
    sleep_ms(10);
  assert_int_equal(http_do(&S, "POST", "/sales/upload", xlsx, b, n, &r), 0);
  if (r.status != 400 || !strstr(r.body, "XLSX")) /* read, and found corrupt */
    fail_msg("an upload once the room is back: %ld %s", r.status, r.body);
  http_res_free(&r);
  free(b);
  /* The refusal is logged with its cause. */
  FILE *f = fopen(S.log, "r");
  assert_non_null(f);
  char line[4096];
  int warned = 0;
  while (fgets(line, sizeof line, f))
    warned |= strstr(line, "\"level\":\"warn\"") && strstr(line, "\"event\":\"storage\"") &&
              strstr(line, "--max-spool");
  fclose(f);
  assert_true(warned);
  assert_true(dir_is_empty(spool));
  remove_dir(spool);
}

/* ---- full disks -------------------------------------------------------- */

/* Small file systems (tmpfs) for the disk-full tests, mounted in a mount
 * namespace of this process's own: its children (servers, commands) see
 * them, the rest of the system does not, and they vanish with the process.
 * 1 when they can be made (as root, or in a user namespace). */
static int small_fs_ok;

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Before any thread starts: unshare(2) refuses threaded processes. */
static void private_mounts(void) {
  if (unshare(CLONE_NEWNS) != 0) {
    char map[64];
    int uid = (int)geteuid(), gid = (int)getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
      return;
    snprintf(map, sizeof map, "0 %d 1", uid);
    if (write_text("/proc/self/setgroups", "deny") < 0 ||
        write_text("/proc/self/uid_map", map) < 0)
      return;
    snprintf(map, sizeof map, "0 %d 1", gid);
    if (write_text("/proc/self/gid_map", map) < 0)
      return;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return;
  char probe[128];
  snprintf(probe, sizeof probe, "/tmp/gromo-e2e-probe-XXXXXX");
  if (!mkdtemp(probe))
    return;
  if (mount("tmpfs", probe, "tmpfs", 0, "size=64k") == 0) {
    small_fs_ok = 1;
    umount2(probe, MNT_DETACH);
  }
  rmdir(probe);
}

static void small_fs(char *dir, size_t cap, const char *size) {
  if (!small_fs_ok)
    skip(); /* neither root nor user namespaces: nothing to fill */
  temp_dir(dir, cap, "smallfs");
  char opts[32];
  snprintf(opts, sizeof opts, "size=%s", size);
  assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, opts), 0);
}

static void small_fs_remove(const char *dir) {
  umount2(dir, MNT_DETACH);
  rmdir(dir);
}

/* A line of the server's log holding every one of the texts. */
static int log_has(const char *const *texts) {
  FILE *f = fopen(S.log, "r");
  assert_non_null(f);
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    found = 1;
    for (size_t i = 0; texts[i]; i++)
      found &= strstr(line, texts[i]) != NULL;
  }
  fclose(f);
  return found;
}

/* The spool's disk fills up (a spreadsheet kept whole, a CSV's staged
 * records): 507 insufficient_storage, logged with its cause; the server
 * stays up and the room comes back. */
static void test_spool__disk_full_refuses_and_recovers(void **state) {
  char fs[128];
  small_fs(fs, sizeof fs, "256k");
  const char *const extra[] = {"--spool-dir", fs, NULL};
  start(extra);
  size_t n = 1u << 20;
  char *b = malloc(n);
  assert_non_null(b);
  memset(b, 'z', n);
  memcpy(b, "PK\x03\x04", 4);
  struct http_res r;
  assert_int_equal(http_do(&S, "POST", "/sales/upload",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           b, n, &r), 0);
  if (r.status != 507 || !strstr(r.body, "insufficient_storage") || !strstr(r.body, "full"))
    fail_msg("an XLSX upload on a full spool disk: %ld %s", r.status, r.body);
  http_res_free(&r);
  /* 20,000 valid rows: about 800 kB staged. */
  size_t rows = 20000, len = sizeof HEADER - 1 + rows * (sizeof ROW - 1);
  char *csv = realloc(b, len + 1);
  assert_non_null(csv);
  memcpy(csv, HEADER, sizeof HEADER - 1);
  for (size_t i = 0; i < rows; i++)
    memcpy(csv + sizeof HEADER - 1 + i * (sizeof ROW - 1), ROW, sizeof ROW - 1);
  long long before = db_sales_count(&S);
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", csv, len, &r), 0);
  if (r.status != 507 || !strstr(r.body, "full"))
    fail_msg("a CSV upload whose staged records fill the disk: %ld %s", r.status, r.body);
  http_res_free(&r);
  free(csv);
  assert_int_equal(db_sales_count(&S), before);
  health_promptly();
  char small[512];
  int k = snprintf(small, sizeof small, "%s%s", HEADER, ROW);
  assert_int_equal(http_do(&S, "POST", "/sales/upload", "text/csv", small, (size_t)k, &r), 0);
  assert_int_equal(r.status, 200);
  http_res_free(&r);
  const char *const warn[] = {"\"level\":\"warn\"", "\"event\":\"storage\"",
                              "\"status\":507", "No space left", NULL};
  assert_true(log_has(warn));
  assert_int_equal(srv_stop(&S), 0);
  memset(&S, 0, sizeof S);
  assert_true(dir_is_empty(fs)); /* before the teardown removes it */
  small_fs_remove(fs);
}

/* The store's disk fills up: 507 insufficient_storage, and a warning in
 * the log with the cause. */
static void test_store__disk_full_is_logged_with_its_cause(void **state) {
  char fs[128], db[192], key[128];
  small_fs(fs, sizeof fs, "1536k");
  snprintf(db, sizeof db, "%s/full.db", fs);
  struct srv keyed;
  memset(&keyed, 0, sizeof keyed);
  snprintf(keyed.db, sizeof keyed.db, "%s", db);
  assert_int_equal(make_key(&keyed, "admin", "filler", key, sizeof key), 0);
  const char *const extra[] = {"--db", db, NULL}; /* the last --db counts */
  start(extra);
  struct http_res r;
  assert_int_equal(http_do_as(&S, key, NULL, "POST", "/generate-sample-data/50000?seed=3",
                              NULL, NULL, 0, &r), 0);
  if (r.status != 507 || !strstr(r.body, "no space is left"))
    fail_msg("sample data past a full disk: %ld %s", r.status, r.body);
  http_res_free(&r);
  health_promptly();
  const char *const warn[] = {"\"level\":\"warn\"", "\"event\":\"storage\"",
                              "\"status\":507", "no space is left", NULL};
  assert_true(log_has(warn));
}

/* ---- gromo import: its files checked first, read without a map ------- */

/* Starts gromo with args, its standard error into err_path. */
static pid_t spawn_cli(const char *const *args, const char *err_path) {
  const char *argv[40];
  size_t n = 0;
  argv[n++] = gromo_bin();
  for (size_t i = 0; args[i] && n < 38; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int er = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || er < 0)
      _exit(127);
    dup2(in, 0);
    dup2(er, 1);
    dup2(er, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* Its exit status (128 + signal when killed by one), or -1 when it is
 * still running after timeout_ms (then it is killed, if `kill_late`). */
static int wait_exit(pid_t pid, int timeout_ms, int kill_late) {
  int64_t until = now_ms() + timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (pid == child)
        child = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (now_ms() > until) {
      if (!kill_late)
        return -1;
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      if (pid == child)
        child = 0;
      return -1;
    }
    sleep_ms(5);
  }
}

static void read_text(const char *path, char *out, size_t cap) {
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(out, 1, cap - 1, f) : 0;
  out[n] = '\0';
  if (f)
    fclose(f);
}

/* A FIFO named to gromo import: refused at once, naming the file, before
 * any transaction; a running server's writes go on meanwhile. Directories
 * and devices likewise; standard input is read by -. */
static void test_import__fifo_refused_before_any_lock(void **state) {
  start(NULL);
  char fifo[400], errp[400], err[4096];
  snprintf(fifo, sizeof fifo, "%s/sales.csv", S.dir);
  snprintf(errp, sizeof errp, "%s/import.err", S.dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  const char *const imp[] = {"import", "--db", S.db, fifo, NULL};
  child = spawn_cli(imp, errp);
  int rc = wait_exit(child, 10000, 0);
  add_promptly(); /* also while an import that waits on the FIFO would run */
  if (rc < 0)
    rc = wait_exit(child, 1, 1);
  read_text(errp, err, sizeof err);
  if (rc != 1 || !strstr(err, fifo) || !strstr(err, "FIFO"))
    fail_msg("gromo import of a FIFO: exit %d: %s", rc, err);
  static const char *const others[] = {"/dev/null", "/tmp"};
  for (size_t i = 0; i < 2; i++) {
    const char *const o[] = {"import", "--db", S.db, others[i], NULL};
    assert_int_equal(run_cli(o, NULL, 0, err, sizeof err), 1);
    if (!strstr(err, others[i]) || !strstr(err, i ? "directory" : "device"))
      fail_msg("gromo import %s: %s", others[i], err);
  }
  /* Standard input, by -: a CSV piped in. */
  char csv[400], cmd[1400];
  snprintf(csv, sizeof csv, "%s/piped.csv", S.dir);
  FILE *f = fopen(csv, "w");
  assert_non_null(f);
  fprintf(f, "%s%s%s", HEADER, ROW, ROW);
  fclose(f);
  long long before = db_sales_count(&S);
  snprintf(cmd, sizeof cmd, "cat '%s' | '%s' import -q --db '%s' -", csv, gromo_bin(), S.db);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(db_sales_count(&S), before + 2);
}

/* Whether process pid has begun reading the file at path: 1 when it has
 * it open and has read more than 2 MiB (/proc/PID/io's rchar: pread moves
 * no file position), or has it mapped in memory; 0 before. */
static int reading_begun(pid_t pid, const char *path) {
  char p[64], target[1024], line[4096];
  int open_here = 0, mapped = 0;
  long long rchar = 0;
  for (int fd = 0; fd < 256 && !open_here; fd++) {
    snprintf(p, sizeof p, "/proc/%d/fd/%d", (int)pid, fd);
    ssize_t n = readlink(p, target, sizeof target - 1);
    if (n > 0) {
      target[n] = '\0';
      open_here = strcmp(target, path) == 0;
    }
  }
  snprintf(p, sizeof p, "/proc/%d/io", (int)pid);
  FILE *f = fopen(p, "r");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "rchar: %lld", &rchar) == 1)
      break;
  if (f)
    fclose(f);
  snprintf(p, sizeof p, "/proc/%d/maps", (int)pid);
  f = fopen(p, "r");
  while (f && !mapped && fgets(line, sizeof line, f))
    mapped = strstr(line, path) != NULL;
  if (f)
    fclose(f);
  return mapped || (open_here && rchar > (2 << 20));
}

/* A large CSV cut short while gromo import reads it: a clear error naming
 * the file, exit status 1 (not a signal), nothing stored. */
static void test_import__file_shrinking_meanwhile(void **state) {
  char dir[128], csv[256], db[256], errp[256], err[4096];
  temp_dir(dir, sizeof dir, "shrink");
  snprintf(csv, sizeof csv, "%s/big.csv", dir);
  snprintf(db, sizeof db, "%s/import.db", dir);
  snprintf(errp, sizeof errp, "%s/import.err", dir);
  FILE *f = fopen(csv, "w");
  assert_non_null(f);
  fputs(HEADER, f);
  for (int i = 0; i < 1000000; i++)
    fputs(ROW, f);
  assert_int_equal(fclose(f), 0);
  struct stat st;
  assert_int_equal(stat(csv, &st), 0);
  const char *const imp[] = {"import", "-q", "--db", db, csv, NULL};
  child = spawn_cli(imp, errp);
  int64_t until = now_ms() + 30000;
  while (!reading_begun(child, csv) && now_ms() < until)
    sleep_ms(1);
  assert_int_equal(truncate(csv, (st.st_size / 4) & ~(off_t)4095), 0); /* a page edge */
  int rc = wait_exit(child, 120000, 1);
  read_text(errp, err, sizeof err);
  if (rc != 1 || !strstr(err, csv) || !(strstr(err, "shrank") || strstr(err, "changed")) ||
      !strstr(err, "nothing was stored"))
    fail_msg("gromo import of a shrinking file: exit %d: %s", rc, err);
  struct store *s = NULL;
  int64_t n = -1;
  assert_int_equal(store_open(db, &s, NULL), 0);
  assert_int_equal(store_sales_count(s, &n, NULL), 0);
  store_close(s);
  remove_dir(dir);
  assert_int_equal(n, 0);
}

/* ---- gromo keys revoke ---------------------------------------------------- */

/* The audit line of a revocation names the revoked key's role. */
static void test_staging__revoke_audit_names_the_role(void **state) {
  start(NULL);
  char key[128], err[4096];
  assert_int_equal(make_key(&S, "analyst", "audited", key, sizeof key), 0);
  const char *const rv[] = {"keys", "revoke", "audited", "--db", S.db, NULL};
  assert_int_equal(run_cli(rv, NULL, 0, err, sizeof err), 0);
  if (!strstr(err, "\"action\":\"key_revoked\",\"key\":\"audited\",\"role\":\"analyst\""))
    fail_msg("the audit line does not name the role: %s", err);
}

int main(void) {
  private_mounts();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_staging__slow_upload_blocks_no_writer, stop),
      cmocka_unit_test_teardown(test_staging__headers_without_body_block_nothing, stop),
      cmocka_unit_test_teardown(test_staging__key_revoked_during_its_upload, stop),
      cmocka_unit_test_teardown(test_staging__revocation_waits_out_a_long_commit, stop),
      cmocka_unit_test_teardown(test_spool__killed_mid_upload_leaves_nothing, stop),
      cmocka_unit_test_teardown(test_spool__bound_refuses_a_second_large_upload, stop),
      cmocka_unit_test_teardown(test_spool__disk_full_refuses_and_recovers, stop),
      cmocka_unit_test_teardown(test_store__disk_full_is_logged_with_its_cause, stop),
      cmocka_unit_test_teardown(test_import__fifo_refused_before_any_lock, stop),
      cmocka_unit_test_teardown(test_import__file_shrinking_meanwhile, stop),
      cmocka_unit_test_teardown(test_staging__revoke_audit_names_the_role, stop),
  };
  return cmocka_run_group_tests_name("e2e_staging", tests, NULL, NULL);
}
