/* libFuzzer harness of the XLSX record reader (src/ingest/xlsxrec.c).
 * An input that starts like a zip archive ("PK\3\4") is the workbook file
 * itself: libzip's reading of the archive and the entry limits are fuzzed.
 * Any other input is the workbook's XML, parts split at NUL bytes (which XML
 * cannot hold): the sheet, then the shared strings, the styles, the workbook
 * and its relationships; the harness stores them in a zip archive without
 * compression (a part not given is left out, a workbook not given is a
 * minimal one), so that mutations reach the XML readers rather than break
 * deflate. The reader takes a path: the file is a memfd, read through
 * /proc/self/fd, as a spooled upload is read from its file. Each input is
 * read with the default limits, with small ones (cells, or also rows), and
 * asked to stop after two rows. */
#include <sys/mman.h>
#include <unistd.h>
#include <zip.h>

#include "fuzz.h"

static int file_fd = -1;
static char file_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  file_fd = memfd_create("fuzz-xlsx", MFD_CLOEXEC);
  if (file_fd < 0)
    abort();
  snprintf(file_path, sizeof file_path, "/proc/self/fd/%d", file_fd);
  return 0;
}

static void file_set(const void *p, size_t n) {
  if (ftruncate(file_fd, 0) < 0)
    abort();
  if (n && pwrite(file_fd, p, n, 0) != (ssize_t)n)
    abort();
}

static void add_part(zip_t *z, const char *name, const uint8_t *p, size_t n) {
  zip_source_t *s = zip_source_buffer(z, p, n, 0);
  if (!s)
    abort();
  zip_int64_t idx = zip_file_add(z, name, s, ZIP_FL_OVERWRITE);
  if (idx < 0) {
    zip_source_free(s);
    abort();
  }
  if (zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0)
    abort();
}

/* Builds the archive of the parts in memory and writes it to the file. */
static void file_from_parts(const uint8_t *data, size_t size) {
  static const char *const names[] = {
      "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml",
      "xl/workbook.xml", "xl/_rels/workbook.xml.rels"};
  static const char workbook[] =
      "<workbook xmlns:r=\"r\"><sheets><sheet name=\"s\" sheetId=\"1\" "
      "r:id=\"rId1\"/></sheets></workbook>";
  static const char rels[] =
      "<Relationships><Relationship Id=\"rId1\" "
      "Target=\"worksheets/sheet1.xml\"/></Relationships>";
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  if (!src)
    abort();
  zip_source_keep(src);
  zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  if (!z)
    abort();
  size_t part = 0, start = 0;
  for (size_t i = 0; i <= size && part < 5; i++) {
    if (i < size && data[i] != 0)
      continue;
    add_part(z, names[part++], data + start, i - start);
    start = i + 1;
  }
  if (part <= 3)
    add_part(z, names[3], (const uint8_t *)workbook, sizeof workbook - 1);
  if (part <= 4)
    add_part(z, names[4], (const uint8_t *)rels, sizeof rels - 1);
  if (zip_close(z) < 0)
    abort();
  zip_stat_t st;
  if (zip_source_stat(src, &st) < 0 || zip_source_open(src) < 0)
    abort();
  void *bytes = malloc(st.size ? st.size : 1);
  if (!bytes || zip_source_read(src, bytes, st.size) != (zip_int64_t)st.size)
    abort();
  zip_source_close(src);
  zip_source_free(src);
  zip_error_fini(&ze);
  file_set(bytes, st.size);
  free(bytes);
}

static void read_file(const struct tab_limits *lim, struct transcript *t) {
  struct gerr err = {GERR_OK, ""};
  size_t rows = (size_t)-1;
  int rc = xlsxrec_read(file_path, fuzz_rules(), lim, tr_on_record, t, &rows, &err);
  if ((rc != 0 && rc != -1 && rc != -2) || (rc == -2 && !t->stop_after))
    abort();
  if (rows != t->records)
    abort();
  tr_finish(t, rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0)
    file_set(data, size);
  else
    file_from_parts(data, size);
  struct tab_limits small, medium;
  fuzz_small_limits(&small);
  fuzz_medium_limits(&medium);
  struct transcript t;
  tr_init(&t, 0);
  read_file(NULL, &t);
  tr_init(&t, 0);
  read_file(&small, &t);
  tr_init(&t, 0);
  read_file(&medium, &t);
  tr_init(&t, 2);
  read_file(NULL, &t);
  return 0;
}
