/* The gromo command line: one table of commands (main.c), one file per
 * command. Commands return an exit status; only main() exits. */
#ifndef GROMO_CLI_H
#define GROMO_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit statuses, documented in docs/cli.md. */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,     /* the work failed (database, I/O, server) */
  EXIT_USAGE = 2,    /* bad flags or arguments */
  EXIT_REJECTED = 3, /* some input records were rejected */
};

struct cli_command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

int cmd_serve(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_sales(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_regions(int argc, char **argv);

struct store;
struct gerr;
/* store_open for a command: its statements wait up to STORE_BUSY_LONG_MS
 * (30 s) for another connection's write lock (a server's upload commit, a
 * training run's save), so a short write such as a key revocation waits its
 * turn instead of failing with "the database is locked". */
int cli_store_open(const char *db, struct store **out, struct gerr *err);

/* The value of environment variable `name`, or def when unset or empty. */
const char *cli_env(const char *name, const char *def);
/* Prints "gromo CMD: message" to stderr. Returns EXIT_USAGE / EXIT_FAIL. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_fail(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A progress bar on stderr, drawn only when stderr is a terminal. */
struct progress {
  int enabled;
  const char *label;
  size_t total;  /* 0: unknown */
  long long t0_us;
  long long last_draw_us;
  double bytes_total; /* optional: for MB/s */
};
void progress_start(struct progress *p, const char *label, size_t total);
void progress_update(struct progress *p, size_t done, double bytes_done);
void progress_finish(struct progress *p);
/* A bar for work measured in stages: the stage's name and the fraction
 * done (0-1) of the whole. */
void progress_stage(struct progress *p, const char *stage, double frac);

#endif
