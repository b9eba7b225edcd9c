/* libFuzzer harness of the XLS record reader (src/ingest/xlsrec.c), run as
 * in production: the reader's own scan of the compound file and of the BIFF
 * records, its limits and its reading of the child's frames run here, under
 * the sanitizers; freexl runs in the reader's child process. freexl is not
 * safe with hostile files, and containing it is the child's purpose: when
 * it crashes there, the reader must refuse the file and carry on, which is
 * what this harness checks. So in the child the fuzzer's own crash report
 * (which would save the input as a finding of ours) and its output are
 * switched off; what the sanitizers see in the parent still counts. */
#include <fcntl.h>
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

static int file_fd = -1;
static char file_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void in_child(void) {
  __sanitizer_set_death_callback(NULL);
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  file_fd = memfd_create("fuzz-xls", MFD_CLOEXEC);
  if (file_fd < 0 || pthread_atfork(NULL, NULL, in_child) != 0)
    abort();
  snprintf(file_path, sizeof file_path, "/proc/self/fd/%d", file_fd);
  return 0;
}

static void read_file(const struct tab_limits *lim, struct transcript *t) {
  struct gerr err = {GERR_OK, ""};
  size_t rows = (size_t)-1;
  int rc = xlsrec_read(file_path, fuzz_rules(), lim, tr_on_record, t, &rows, &err);
  if ((rc != 0 && rc != -1 && rc != -2) || (rc == -2 && !t->stop_after))
    abort();
  if (rows != t->records)
    abort();
  tr_finish(t, rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (ftruncate(file_fd, 0) < 0 || (size && pwrite(file_fd, data, size, 0) != (ssize_t)size))
    abort();
  struct tab_limits small;
  fuzz_small_limits(&small);
  struct transcript t;
  tr_init(&t, 0);
  read_file(NULL, &t);
  tr_init(&t, 0);
  read_file(&small, &t);
  return 0;
}
