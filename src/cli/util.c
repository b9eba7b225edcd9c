#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

int cli_store_open(const char *db, struct store **out, struct gerr *err) {
  if (store_open(db, out, err) < 0)
    return -1;
  store_set_busy_timeout(*out, STORE_BUSY_LONG_MS);
  return 0;
}

const char *cli_env(const char *name, const char *def) {
  const char *v = getenv(name);
  return v && *v ? v : def;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "gromo %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see: gromo %s --help)\n", cmd);
  return EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "gromo %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return EXIT_FAIL;
}

void progress_start(struct progress *p, const char *label, size_t total) {
  p->enabled = isatty(2);
  p->label = label;
  p->total = total;
  p->t0_us = mono_us();
  p->last_draw_us = 0;
}

static void human(double v, char *out, size_t cap) {
  if (v >= 1e6)
    snprintf(out, cap, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    snprintf(out, cap, "%.1fk", v / 1e3);
  else
    snprintf(out, cap, "%.0f", v);
}

void progress_update(struct progress *p, size_t done, double bytes_done) {
  if (!p->enabled)
    return;
  long long now = mono_us();
  if (now - p->last_draw_us < 100000 && (!p->total || done < p->total))
    return;
  p->last_draw_us = now;
  double secs = (double)(now - p->t0_us) / 1e6;
  double rate = secs > 0 ? (double)done / secs : 0;
  char d[16], r[16];
  human((double)done, d, sizeof d);
  human(rate, r, sizeof r);
  char mbs[32] = "";
  if (bytes_done > 0 && secs > 0)
    snprintf(mbs, sizeof mbs, " %.1f MB/s", bytes_done / secs / 1e6);
  if (p->total) {
    double frac = (double)done / (double)p->total;
    int width = 30, fill = (int)(frac * width);
    char bar[31];
    for (int i = 0; i < width; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "\r%s [%s] %3.0f%% %s rows, %s/s%s, ETA %.0fs  ", p->label,
            bar, frac * 100, d, r, mbs, eta);
  } else {
    fprintf(stderr, "\r%s %s rows, %s/s%s  ", p->label, d, r, mbs);
  }
  fflush(stderr);
}

void progress_stage(struct progress *p, const char *stage, double frac) {
  if (!p->enabled)
    return;
  long long now = mono_us();
  if (now - p->last_draw_us < 100000 && frac < 1)
    return;
  p->last_draw_us = now;
  if (frac < 0)
    frac = 0;
  if (frac > 1)
    frac = 1;
  int width = 30, fill = (int)(frac * width);
  char bar[31];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[width] = '\0';
  fprintf(stderr, "\r%s [%s] %3.0f%% %5.1fs %-40.40s", p->label, bar, frac * 100,
          (double)(now - p->t0_us) / 1e6, stage ? stage : "");
  fflush(stderr);
}

void progress_finish(struct progress *p) {
  if (p->enabled) {
    fputc('\n', stderr);
    fflush(stderr);
  }
}
