/* gromo import FILE...: CSV, XLSX, XLS, JSON array and NDJSON files into
 * the store, all in one transaction. The files are read in this thread and
 * stored by an ingest_writer's, batch by batch, at the same time. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gromo/ingest.h"
#include "gromo/store.h"
#include "gromo/tabular.h"
#include "gromo/timeutil.h"

#define IMPORT_BATCH 10000
#define IMPORT_SHOW_REJECTED 20
#define IMPORT_CHUNK ((size_t)1 << 20)

static const char import_help[] =
    "usage: gromo import [OPTIONS] FILE...\n\n"
    "Imports sales records from CSV, XLSX and XLS files (a header row naming\n"
    "the columns, see docs/files.md), JSON files (an array of records) and\n"
    "NDJSON files (one record a line). The format is taken from the file name\n"
    "(.csv .tsv .txt .xlsx .xls .json .ndjson .jsonl), else from the first\n"
    "bytes. Records are checked against the rules of the sales record;\n"
    "records whose id is already stored are skipped as duplicates.\n"
    "Everything is imported in one transaction: by default, if any record\n"
    "is rejected, nothing is stored and the exit status is 3.\n\n"
    "  -d, --db URI     store (env GROMO_DB, default gromo.db)\n"
    "      --partial    store the valid records even if some are rejected\n"
    "                   (exit status 0)\n"
    "  -q, --quiet      no progress bar or summary\n"
    "  -h, --help       this help\n";

struct import_run {
  struct store *st;
  struct ingest_writer *w; /* stores the valid records */
  size_t rejected, records;
  double bytes;
  struct progress pb;
  int quiet;
};

struct tab_ctx {
  struct import_run *ir;
  const char *path;
  struct gerr *err;
  int failed;
};

/* Rows of CSV and spreadsheets. */
static int import_row(void *ctx, size_t row, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  struct tab_ctx *t = ctx;
  struct import_run *ir = t->ir;
  ir->records++;
  if (valid) {
    if (ingest_writer_add(ir->w, rec, t->err) < 0) {
      t->failed = 1;
      return 1;
    }
  } else {
    if (ir->rejected < IMPORT_SHOW_REJECTED) {
      int kept = pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
      for (int k = 0; k < kept; k++)
        fprintf(stderr, "%s: row %zu: %s %s\n", t->path, row,
                sale_field_name(pr->p[k].field), pr->p[k].problem);
    }
    ir->rejected++;
  }
  if ((ir->records & 4095) == 0)
    progress_update(&ir->pb, ir->records, 0);
  return 0;
}

static int is_ext(const char *path, const char *ext) {
  size_t n = strlen(path), m = strlen(ext);
  return n > m && strcasecmp(path + n - m, ext) == 0;
}

/* XLSX and XLS are read from the file; CSV through its streaming reader. */
static int import_table(struct import_run *ir, const char *path, const char *data,
                        size_t len, int kind, struct gerr *err) {
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct tab_ctx t = {.ir = ir, .path = path, .err = err};
  size_t rows = 0;
  int rc;
  if (kind == 'x') {
    rc = xlsxrec_read(path, &rules, NULL, import_row, &t, &rows, err);
  } else if (kind == 'l') {
    rc = xlsrec_read(path, &rules, NULL, import_row, &t, &rows, err);
  } else {
    struct csvrec *c = NULL;
    rc = csvrec_new(&rules, NULL, import_row, &t, &c, err);
    /* Fed in pieces, as an upload arrives: progress shows as it goes. */
    for (size_t off = 0; rc == 0 && off < len; off += IMPORT_CHUNK) {
      rc = csvrec_feed(c, data + off, len - off < IMPORT_CHUNK ? len - off : IMPORT_CHUNK, err);
      progress_update(&ir->pb, ir->records, ir->bytes + (double)off);
    }
    if (rc == 0)
      rc = csvrec_finish(c, err);
    csvrec_free(c);
  }
  if (rc < 0 && !t.failed)
    gerr_prefix(err, path);
  ir->bytes += (double)len;
  return rc < 0 ? -1 : 0;
}

/* The format of a file: from its name, then from its first bytes (as an
 * upload without a content type). 'x' XLSX, 'l' XLS, 0 CSV, or 'j' with
 * *fmt the JSON kind (a .json file says which by its first character). */
static int kind_of(const char *path, const char *data, size_t len, enum ingest_format *fmt) {
  static const struct {
    const char *ext;
    int kind;
  } exts[] = {{".csv", 0},    {".tsv", 0},     {".txt", 0},    {".xlsx", 'x'},
              {".xls", 'l'},  {".json", 'j'},  {".ndjson", 'n'}, {".jsonl", 'n'}};
  size_t head = len < 4096 ? len : 4096;
  int kind = -1;
  for (size_t i = 0; i < sizeof exts / sizeof exts[0] && kind < 0; i++)
    if (is_ext(path, exts[i].ext))
      kind = exts[i].kind;
  if (kind < 0) {
    if (len >= 4 && !memcmp(data, "PK\x03\x04", 4))
      return 'x';
    if (len >= 4 && !memcmp(data, "\xD0\xCF\x11\xE0", 4))
      return 'l';
    *fmt = ingest_detect(NULL, data, head);
    return *fmt == INGEST_UNKNOWN ? 0 : 'j';
  }
  if (kind == 'n')
    *fmt = INGEST_NDJSON;
  else if (kind == 'j')
    *fmt = ingest_detect(NULL, data, head) == INGEST_NDJSON ? INGEST_NDJSON : INGEST_JSON_ARRAY;
  return kind == 'n' ? 'j' : kind;
}

static int import_file(struct import_run *ir, const char *path, struct gerr *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "%s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return gerr_set(err, GERR_INVALID_INPUT, "%s: not a regular file", path);
  }
  if (sb.st_size == 0) {
    close(fd);
    return gerr_set(err, GERR_INVALID_INPUT, "%s: the file is empty", path);
  }
  size_t len = (size_t)sb.st_size;
  char *data = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED)
    return gerr_set(err, GERR_INVALID_INPUT, "%s: %s", path, strerror(errno));
  madvise(data, len, MADV_SEQUENTIAL);

  int rc = -1;
  struct ingest_reader *rd = NULL;
  enum ingest_format fmt = INGEST_UNKNOWN;
  int kind = kind_of(path, data, len, &fmt);
  if (kind != 'j') { /* CSV, XLSX or XLS */
    rc = import_table(ir, path, data, len, kind, err);
    goto out;
  }
  if (ingest_json_open(data, len, fmt, &rd, err) < 0) {
    gerr_prefix(err, path);
    goto out;
  }
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct sale rec;
  struct sale_problems pr;
  size_t row, index;
  int valid, got;
  size_t base = (size_t)ir->bytes;
  while ((got = ingest_next(rd, &rules, &rec, &valid, &pr, &row, &index, err)) == 1) {
    ir->records++;
    if (valid) {
      if (ingest_writer_add(ir->w, &rec, err) < 0)
        goto out;
    } else {
      if (ir->rejected < IMPORT_SHOW_REJECTED) {
        int kept = pr.count < SALE_MAX_PROBLEMS ? pr.count : SALE_MAX_PROBLEMS;
        for (int k = 0; k < kept; k++)
          fprintf(stderr, "%s:%zu: record %zu: %s %s\n", path, row, index,
                  sale_field_name(pr.p[k].field), pr.p[k].problem);
      }
      ir->rejected++;
    }
    if ((ir->records & 4095) == 0)
      progress_update(&ir->pb, ir->records, (double)(base + ingest_offset(rd)));
  }
  if (got < 0) {
    gerr_prefix(err, path);
    goto out;
  }
  ir->bytes += (double)len;
  rc = 0;
out:
  ingest_free(rd);
  munmap(data, len);
  return rc;
}

int cmd_import(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  int partial = 0, quiet = 0;
  enum { O_PARTIAL = 256 };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"partial", no_argument, 0, O_PARTIAL},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_PARTIAL: partial = 1; break;
    case 'q': quiet = 1; break;
    case 'h': fputs(import_help, stdout); return EXIT_OK;
    default: return cli_usage_error("import", "unknown option");
    }
  }
  if (optind >= argc)
    return cli_usage_error("import", "name at least one FILE");

  struct gerr err;
  struct import_run ir = {.quiet = quiet};
  struct store_insert_stats stored = {0, 0};
  int rc = EXIT_FAIL, in_tx = 0;
  if (cli_store_open(db, &ir.st, &err) < 0 || store_begin(ir.st, &err) < 0) {
    rc = cli_fail("import", "%s", err.msg);
    goto out;
  }
  in_tx = 1;
  store_hint_bulk_load(ir.st); /* the store is closed right after the commit */
  if (ingest_writer_start(ir.st, IMPORT_BATCH, &ir.w, &err) < 0) {
    rc = cli_fail("import", "%s", err.msg);
    goto out;
  }
  progress_start(&ir.pb, "import", 0);
  if (quiet)
    ir.pb.enabled = 0;
  int64_t t0 = mono_us();
  for (int i = optind; i < argc; i++) {
    if (import_file(&ir, argv[i], &err) < 0) {
      progress_finish(&ir.pb);
      rc = cli_fail("import", "%s (nothing was stored)", err.msg);
      goto out;
    }
  }
  if (ingest_writer_finish(ir.w, &stored, &err) < 0) {
    progress_finish(&ir.pb);
    rc = cli_fail("import", "%s (nothing was stored)", err.msg);
    goto out;
  }
  progress_update(&ir.pb, ir.records, ir.bytes);
  progress_finish(&ir.pb);
  if (ir.rejected && !partial) {
    fprintf(stderr,
            "gromo import: %zu of %zu records rejected; nothing was stored "
            "(fix them, or use --partial to store the valid ones)\n",
            ir.rejected, ir.records);
    rc = EXIT_REJECTED;
    goto out;
  }
  if (store_commit(ir.st, &err) < 0) {
    rc = cli_fail("import", "%s (nothing was stored)", err.msg);
    goto out;
  }
  in_tx = 0;
  double secs = (double)(mono_us() - t0) / 1e6;
  if (!quiet)
    fprintf(stderr,
            "imported %zu records: %zu inserted, %zu duplicates skipped, %zu "
            "rejected, in %.2f s (%.0f records/s)\n",
            ir.records, stored.inserted, stored.duplicates, ir.rejected, secs,
            secs > 0 ? (double)ir.records / secs : 0.0);
  rc = EXIT_OK;
out:
  ingest_writer_free(ir.w); /* first: it may still be storing */
  if (in_tx)
    store_rollback(ir.st);
  store_close(ir.st);
  return rc;
}
