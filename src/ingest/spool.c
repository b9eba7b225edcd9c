/* The spool of upload files: unnamed temporary files in one folder and an
 * atomic count of the bytes they hold, checked against the bound before
 * each write (so two uploads at once cannot both pass it). */
#include "gromo/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_BUF (64 * 1024)

struct spool {
  char *dir;
  uint64_t max; /* 0: no bound */
  atomic_uint_fast64_t used;
};

struct spool_file {
  struct spool *sp;
  int fd;
  int failed;
  uint64_t charged; /* bytes counted against the bound */
  uint64_t flushed; /* bytes in the file */
  size_t blen;
  char path[32];
  unsigned char buf[SPOOL_BUF];
};

/* A file without a name in dir: O_TMPFILE where the file system has it,
 * else mkstemp and unlink at once. The descriptor, or -1 (errno). */
static int open_unnamed(const char *dir) {
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
    return fd;
  size_t n = strlen(dir) + sizeof "/gromo-spool-XXXXXX";
  char *path = malloc(n);
  if (!path) {
    errno = ENOMEM;
    return -1;
  }
  snprintf(path, n, "%s/gromo-spool-XXXXXX", dir);
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0)
    unlink(path);
  int saved = errno;
  free(path);
  errno = saved;
  return fd;
}

static int io_error(const struct spool *sp, int e, const char *what, struct gerr *err) {
  if (e == ENOSPC || e == EDQUOT)
    return gerr_set(err, GERR_INSUFFICIENT_STORAGE,
                    "no room to keep the upload: the disk of the spool folder %s is "
                    "full (%s); retry later",
                    sp->dir, strerror(e));
  return gerr_set(err, GERR_UNAVAILABLE, "cannot %s in the spool folder %s: %s", what,
                  sp->dir, strerror(e));
}

static char default_dir[4096];
static struct spool default_spool = {.dir = default_dir};
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static const char *tmpdir(void) {
  const char *t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

static void default_init(void) {
  snprintf(default_dir, sizeof default_dir, "%s", tmpdir());
}

int spool_new(const char *dir, uint64_t max, struct spool **out, struct gerr *err) {
  *out = NULL;
  if (!dir || !*dir)
    dir = tmpdir();
  struct stat st;
  if (stat(dir, &st) < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "spool folder %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return gerr_set(err, GERR_INVALID_INPUT, "spool folder %s is not a folder", dir);
  int fd = open_unnamed(dir);
  if (fd < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "spool folder %s: cannot make a file there: %s",
                    dir, strerror(errno));
  close(fd);
  struct spool *sp = calloc(1, sizeof *sp);
  if (!sp || !(sp->dir = strdup(dir))) {
    free(sp);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  sp->max = max;
  atomic_init(&sp->used, 0);
  *out = sp;
  return 0;
}

void spool_free(struct spool *sp) {
  if (!sp || sp == &default_spool)
    return;
  free(sp->dir);
  free(sp);
}

const char *spool_dir(const struct spool *sp) { return sp->dir; }

uint64_t spool_used(const struct spool *sp) {
  return atomic_load(&((struct spool *)sp)->used);
}

/* Counts n more bytes, unless that passes the bound. */
static int charge(struct spool *sp, uint64_t n, struct gerr *err) {
  uint_fast64_t cur = atomic_load(&sp->used);
  do {
    if (sp->max && (n > sp->max || cur > sp->max - n))
      return gerr_set(err, GERR_INSUFFICIENT_STORAGE,
                      "no room to keep the upload: uploads in progress hold %llu of the "
                      "%llu bytes the spool may hold (--max-spool); retry later",
                      (unsigned long long)cur, (unsigned long long)sp->max);
  } while (!atomic_compare_exchange_weak(&sp->used, &cur, cur + n));
  return 0;
}

int spool_file_new(struct spool *sp, struct spool_file **out, struct gerr *err) {
  *out = NULL;
  if (!sp) {
    pthread_once(&default_once, default_init);
    sp = &default_spool;
  }
  struct spool_file *f = malloc(sizeof *f);
  if (!f)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  memset(f, 0, offsetof(struct spool_file, buf));
  f->sp = sp;
  f->fd = open_unnamed(sp->dir);
  if (f->fd < 0) {
    int e = errno;
    free(f);
    return io_error(sp, e, "make a file", err);
  }
  snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
  *out = f;
  return 0;
}

static int write_all(struct spool_file *f, const unsigned char *p, size_t n,
                     struct gerr *err) {
  while (n) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      f->failed = 1;
      return io_error(f->sp, w < 0 ? errno : ENOSPC, "write", err);
    }
    p += w;
    n -= (size_t)w;
    f->flushed += (uint64_t)w;
  }
  return 0;
}

int spool_file_flush(struct spool_file *f, struct gerr *err) {
  if (f->failed)
    return gerr_set(err, GERR_UNAVAILABLE, "the spool file failed earlier");
  size_t n = f->blen;
  f->blen = 0;
  return write_all(f, f->buf, n, err);
}

int spool_file_write(struct spool_file *f, const void *p, size_t n, struct gerr *err) {
  if (f->failed)
    return gerr_set(err, GERR_UNAVAILABLE, "the spool file failed earlier");
  if (charge(f->sp, n, err) < 0) {
    f->failed = 1;
    return -1;
  }
  f->charged += n;
  if (f->blen + n <= SPOOL_BUF) {
    memcpy(f->buf + f->blen, p, n);
    f->blen += n;
    return f->blen == SPOOL_BUF ? spool_file_flush(f, err) : 0;
  }
  if (spool_file_flush(f, err) < 0)
    return -1;
  if (n >= SPOOL_BUF)
    return write_all(f, p, n, err);
  memcpy(f->buf, p, n);
  f->blen = n;
  return 0;
}

long spool_file_read(struct spool_file *f, uint64_t off, void *p, size_t n,
                     struct gerr *err) {
  for (;;) {
    ssize_t r = pread(f->fd, p, n, (off_t)off);
    if (r >= 0)
      return (long)r;
    if (errno != EINTR)
      return io_error(f->sp, errno, "read", err);
  }
}

uint64_t spool_file_size(const struct spool_file *f) { return f->charged; }

const char *spool_file_path(const struct spool_file *f) { return f->path; }

void spool_file_free(struct spool_file *f) {
  if (!f)
    return;
  close(f->fd);
  atomic_fetch_sub(&f->sp->used, f->charged);
  free(f);
}
