#include "gromo/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gromo/buf.h"

static int log_fd = 2;
static enum log_level log_min = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_open(const char *path, struct gerr *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    return gerr_set(err, GERR_INTERNAL, "cannot open log file %s: %s", path,
                    strerror(errno));
  pthread_mutex_lock(&log_lock);
  int old = log_fd;
  log_fd = fd;
  pthread_mutex_unlock(&log_lock);
  if (old > 2)
    close(old);
  return 0;
}

void log_close(void) {
  pthread_mutex_lock(&log_lock);
  if (log_fd > 2)
    close(log_fd);
  log_fd = 2;
  pthread_mutex_unlock(&log_lock);
}

void log_set_level(enum log_level min) { log_min = min; }

static void log_emit(enum log_level level, const char *event, const char *fields,
                     size_t flen) {
  char line[8192];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line,
                   "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\","
                   "\"level\":\"%s\",\"event\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level],
                   event);
  if (n < 0)
    return;
  size_t len = (size_t)n;
  if (flen && len + flen + 3 < sizeof line) {
    line[len++] = ',';
    memcpy(line + len, fields, flen);
    len += flen;
  }
  line[len++] = '}';
  line[len++] = '\n';
  pthread_mutex_lock(&log_lock);
  ssize_t w = write(log_fd, line, len);
  pthread_mutex_unlock(&log_lock);
  (void)w; /* nowhere better to report a failed log write */
}

void log_fields(enum log_level level, const char *event, const char *fields_json,
                size_t len) {
  if (level < log_min)
    return;
  log_emit(level, event, fields_json, len);
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...) {
  if (level < log_min)
    return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct buf b;
  buf_init(&b, 4096);
  if (buf_puts(&b, "\"msg\":\"") == 0 &&
      buf_json_escape(&b, msg, strlen(msg)) == 0 && buf_puts(&b, "\"") == 0)
    log_emit(level, event, b.data, b.len);
  else
    log_emit(level, event, NULL, 0);
  buf_release(&b);
}
