/* End-to-end test support: start the real `gromo serve` on a free loopback
 * port (port 0, read back from its log) and talk HTTP to it with libcurl. */
#ifndef GROMO_E2E_H
#define GROMO_E2E_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct srv {
  pid_t pid;
  int tls;         /* started with --tls-cert: use https */
  int port;
  char dir[256];   /* a fresh temporary directory */
  char db[320];
  char log[320];
  char key[128];   /* an admin key made before the start; sent by http_do */
};

/* Starts the server with a fresh database in a new temp dir; extra flags
 * (NULL-terminated, may be NULL) are appended. 0 or -1. */
int srv_start(struct srv *s, const char *const *extra);
/* SIGTERM, then waits; returns the exit status (or -1). Removes the dir. */
int srv_stop(struct srv *s);
/* Path of the gromo executable under test ($GROMO_BIN or ./gromo). */
const char *gromo_bin(void);
/* Runs the gromo CLI with args (NULL-terminated); captures stdout/stderr
 * into out/err (may be NULL, each at most cap bytes); returns exit status. */
int run_cli(const char *const *args, char *out, size_t cap, char *errout,
            size_t errcap);

struct http_res {
  long status;
  char *body;
  size_t len;
  json_t *json;      /* parsed body, or NULL */
  char headers[8192];
};

/* One request with the server's admin key. body may be NULL; ctype NULL
 * sends no Content-Type. */
int http_do(const struct srv *s, const char *method, const char *path,
            const char *ctype, const char *body, size_t len,
            struct http_res *res);
/* The same with a given key (NULL: none) and extra header lines (NULL-
 * terminated, may be NULL); https when the server was started with TLS. */
int http_do_as(const struct srv *s, const char *key, const char *const *headers,
               const char *method, const char *path, const char *ctype,
               const char *body, size_t len, struct http_res *res);
/* Creates a key with the CLI; writes it to out. 0 or -1. */
int make_key(const struct srv *s, const char *role, const char *name, char *out,
             size_t cap);
void http_res_free(struct http_res *r);
/* Header value from a response (case-insensitive name), copied to out. */
int http_header(const struct http_res *r, const char *name, char *out, size_t cap);

/* Sends raw bytes over a fresh TCP connection and reads the answer until
 * the server closes or timeout_ms passes. Returns bytes read or -1. */
long raw_exchange(int port, const char *data, size_t len, char *out,
                  size_t cap, int timeout_ms);

/* Number of stored sales, read directly from the server's database. */
long long db_sales_count(const struct srv *s);

/* For fault tests. srv_prepare makes the temporary directory and names the
 * database and log in it, starting nothing (the test may put the store
 * elsewhere by changing s->db, and make keys, before srv_spawn). srv_spawn
 * starts `gromo serve` on s->db, appending to s->log, and waits for its
 * port; it also restarts a server on the same store after srv_kill9, which
 * kills it with SIGKILL (no shutdown, no checkpoint) and reaps it. 0 or -1. */
int srv_prepare(struct srv *s);
int srv_spawn(struct srv *s, const char *const *extra);
int srv_kill9(struct srv *s);

/* Whether the stores of this run are PostgreSQL databases (GROMO_E2E_PG
 * names a server) rather than SQLite files. */
int e2e_on_pg(void);
/* A fresh store for a test, its URI in out: the SQLite file DIR/NAME.db, or
 * with GROMO_E2E_PG a new, empty database of its own on that server (NAME,
 * a few lowercase letters, digits or '_', is part of its name). The
 * database is left for the throwaway server to take away. 0 or -1. */
int e2e_store_uri(char *out, size_t cap, const char *dir, const char *name);

/* The value at a dotted path of j ("data.summary.version"); a segment that
 * is all digits indexes an array. NULL when absent (borrowed). */
json_t *jget(json_t *j, const char *path);
/* The string, number or integer at that path: the string or NULL; a
 * number or integer the test fails without. */
const char *jstr(json_t *j, const char *path);
double jnum(json_t *j, const char *path);
long long jint(json_t *j, const char *path);

/* Sleeps ms milliseconds (pacing only: tests wait for conditions); a
 * monotonic clock in milliseconds. */
void sleep_ms(int ms);
int64_t now_ms(void);

#endif
