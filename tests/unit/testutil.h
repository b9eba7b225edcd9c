/* Helpers the unit tests share. Header-only: each test program includes it
 * once (after <cmocka.h>), so everything here is static.
 *
 * Temporary folders: test_tmpdir() makes one under /tmp and registers it;
 * test_tmpdir_remove() removes it with everything in it. Whatever a test
 * leaves registered, because an assertion failed before its cleanup ran,
 * is removed when the program exits. */
#ifndef GROMO_TESTUTIL_H
#define GROMO_TESTUTIL_H

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* |got - want| <= tol, or the test fails naming both. */
#define assert_near(got, want, tol)                                           \
  do {                                                                        \
    double got_ = (got), want_ = (want);                                      \
    if (!(fabs(got_ - want_) <= (tol)))                                       \
      fail_msg("%s = %.12g, want %.12g within %g", #got, got_, want_,         \
               (double)(tol));                                                \
  } while (0)

/* Removes an SQLite database file and its -wal and -shm companions. */
static inline void test_remove_db(const char *path) {
  static const char *const ext[] = {"", "-wal", "-shm"};
  char p[512];
  for (size_t i = 0; i < N_OF(ext); i++) {
    snprintf(p, sizeof p, "%s%s", path, ext[i]);
    unlink(p);
  }
}

#define TEST_TMPDIRS_MAX 32
#define TEST_TMPDIR_CAP 64
static char test_tmpdirs[TEST_TMPDIRS_MAX][TEST_TMPDIR_CAP];

static inline int test_rm_entry(const char *path, const struct stat *st, int flag,
                                struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* Removes dir and all it holds, and forgets it. Only folders made by
 * test_tmpdir (under /tmp/gromo-test-) are touched. */
static inline void test_tmpdir_remove(const char *dir) {
  if (!dir || strncmp(dir, "/tmp/gromo-test-", 16) != 0)
    return;
  nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  for (size_t i = 0; i < TEST_TMPDIRS_MAX; i++)
    if (!strcmp(test_tmpdirs[i], dir))
      test_tmpdirs[i][0] = '\0';
}

static inline void test_tmpdirs_cleanup(void) {
  for (size_t i = 0; i < TEST_TMPDIRS_MAX; i++)
    if (test_tmpdirs[i][0]) {
      char dir[TEST_TMPDIR_CAP];
      memcpy(dir, test_tmpdirs[i], sizeof dir);
      test_tmpdir_remove(dir);
    }
}

/* Makes /tmp/gromo-test-TAG-XXXXXX into out (at least TEST_TMPDIR_CAP
 * bytes) and registers it for removal at exit. 0, or -1 (out "") when it
 * cannot be made or too many are registered. */
static inline int test_tmpdir(const char *tag, char *out) {
  static int hooked;
  size_t slot = 0;
  while (slot < TEST_TMPDIRS_MAX && test_tmpdirs[slot][0])
    slot++;
  out[0] = '\0';
  if (slot == TEST_TMPDIRS_MAX)
    return -1;
  if (!hooked && atexit(test_tmpdirs_cleanup) == 0)
    hooked = 1;
  char dir[TEST_TMPDIR_CAP];
  int n = snprintf(dir, sizeof dir, "/tmp/gromo-test-%s-XXXXXX", tag);
  if (n < 0 || (size_t)n >= sizeof dir || !mkdtemp(dir))
    return -1;
  memcpy(test_tmpdirs[slot], dir, sizeof dir);
  memcpy(out, dir, sizeof dir);
  return 0;
}

#endif
