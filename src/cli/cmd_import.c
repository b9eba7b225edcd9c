/* gromo import FILE...: CSV, XLSX, XLS, JSON array and NDJSON files into
 * the store, all in one transaction. Every file is opened and checked first
 * (regular files only, or standard input), before the transaction begins.
 * The files are read in bounded pieces in this thread (never mapped: a file
 * that shrinks meanwhile is an error, not a SIGBUS) by the streaming readers
 * uploads use (CSV, JSON arrays, NDJSON; spreadsheets from the file) and
 * stored by an ingest_writer's thread, batch by batch, at the same time. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gromo/ingest.h"
#include "gromo/spool.h"
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
    "bytes. FILE - reads standard input (kept whole in $TMPDIR first).\n"
    "Only regular files are read: a FIFO, a directory or a device is\n"
    "refused before anything is stored. Records are checked against the\n"
    "rules of the sales record; records whose id is already stored are\n"
    "skipped as duplicates.\n"
    "Everything is imported in one transaction: by default, if any record\n"
    "is rejected, nothing is stored and the exit status is 3.\n\n"
    "  -d, --db URI     store (env GROMO_DB, default gromo.db)\n"
    "      --partial    store the valid records even if some are rejected\n"
    "                   (exit status 0)\n"
    "  -q, --quiet      no progress bar or summary\n"
    "  -h, --help       this help\n";

/* One input, opened and checked before the store is touched: a regular
 * file, or standard input (named -) copied whole to an unnamed temporary
 * file first. Read with pread up to the size it had when opened; a file
 * that shrinks or changes meanwhile stops the import. */
struct input {
  const char *name;          /* as named on the command line */
  int fd;
  struct stat st;            /* when opened */
  uint64_t off;              /* bytes read so far */
  struct spool_file *copy;   /* standard input's copy */
  char path[32];             /* "/proc/self/fd/N", for the spreadsheet readers */
};

struct import_run {
  struct store *st;
  struct ingest_writer *w; /* stores the valid records */
  size_t rejected, records;
  double bytes;
  struct progress pb;
  int quiet;
  int store_failed; /* the error is the store's, not the file's */
};

/* What the readers' callbacks need, for one file. */
struct tab_ctx {
  struct import_run *ir;
  const char *path;
  struct gerr *err;
  struct jsonrec *jr; /* a JSON array's reader: where each record begins */
  size_t index;       /* JSON and NDJSON: records of this file so far */
};

/* A push reader (csvrec, jsonrec, ndjsonrec), fed by import_stream. */
struct push {
  int (*feed)(void *reader, const char *p, size_t n, struct gerr *err);
  int (*finish)(void *reader, struct gerr *err);
  void *reader;
};

/* What a file is, when it is not a regular file. */
static const char *not_regular(mode_t m) {
  if (S_ISREG(m))
    return NULL;
  if (S_ISFIFO(m))
    return "a FIFO (named pipe)";
  if (S_ISDIR(m))
    return "a directory";
  if (S_ISCHR(m) || S_ISBLK(m))
    return "a device";
  if (S_ISSOCK(m))
    return "a socket";
  return "not a regular file";
}

/* Standard input, kept whole in an unnamed file of $TMPDIR unless it is a
 * regular file already: a pipe is read to its end before the import begins,
 * so no transaction waits on a writer at the other end. */
static int input_stdin(struct input *in, struct gerr *err) {
  struct stat st;
  if (fstat(0, &st) < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "standard input: %s", strerror(errno));
  if (S_ISREG(st.st_mode)) {
    in->fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    in->st = st;
    return in->fd < 0 ? gerr_set(err, GERR_INVALID_INPUT, "standard input: %s",
                                 strerror(errno))
                      : 0;
  }
  if (spool_file_new(NULL, &in->copy, err) < 0)
    return -1;
  char *buf = malloc(IMPORT_CHUNK);
  if (!buf)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  int rc = 0;
  for (;;) {
    ssize_t n = read(0, buf, IMPORT_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = gerr_set(err, GERR_INVALID_INPUT, "standard input: %s", strerror(errno));
    if (n <= 0 || (rc = spool_file_write(in->copy, buf, (size_t)n, err)) < 0)
      break;
  }
  free(buf);
  if (rc < 0 || spool_file_flush(in->copy, err) < 0)
    return -1;
  in->fd = open(spool_file_path(in->copy), O_RDONLY | O_CLOEXEC);
  if (in->fd < 0 || fstat(in->fd, &in->st) < 0)
    return gerr_set(err, GERR_INVALID_INPUT, "standard input: %s", strerror(errno));
  return 0;
}

/* Opens and checks one input. O_NONBLOCK: opening a FIFO must not wait for
 * a writer; it is refused by what fstat says. */
static int input_open(struct input *in, const char *name, struct gerr *err) {
  memset(in, 0, sizeof *in);
  in->name = name;
  in->fd = -1;
  if (!strcmp(name, "-")) {
    if (input_stdin(in, err) < 0)
      return -1;
  } else {
    in->fd = open(name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (in->fd < 0)
      return gerr_set(err, GERR_INVALID_INPUT, "%s: %s", name, strerror(errno));
    if (fstat(in->fd, &in->st) < 0)
      return gerr_set(err, GERR_INVALID_INPUT, "%s: %s", name, strerror(errno));
    const char *what = not_regular(in->st.st_mode);
    if (what)
      return gerr_set(err, GERR_INVALID_INPUT,
                      "%s: is %s; gromo import reads regular files, or standard input "
                      "named -",
                      name, what);
    fcntl(in->fd, F_SETFL, fcntl(in->fd, F_GETFL) & ~O_NONBLOCK);
  }
  if (in->st.st_size == 0)
    return gerr_set(err, GERR_INVALID_INPUT, "%s: the file is empty", name);
  snprintf(in->path, sizeof in->path, "/proc/self/fd/%d", in->fd);
  return 0;
}

static void input_close(struct input *in) {
  if (in->fd >= 0)
    close(in->fd);
  in->fd = -1;
  spool_file_free(in->copy);
  in->copy = NULL;
}

/* The size the file has now, for messages. */
static unsigned long long size_now(const struct input *in) {
  struct stat st;
  return fstat(in->fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
}

/* Reads on from where the last read ended, up to the size at open: the
 * count, 0 at the end, -1 (*err). Errors are the file's; the caller names
 * it. */
static long input_read(void *ctx, char *dst, size_t cap, struct gerr *err) {
  struct input *in = ctx;
  uint64_t size = (uint64_t)in->st.st_size;
  if (in->off >= size)
    return 0;
  if (cap > size - in->off)
    cap = (size_t)(size - in->off);
  for (;;) {
    ssize_t n = pread(in->fd, dst, cap, (off_t)in->off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return gerr_set(err, GERR_INVALID_INPUT, "%s", strerror(errno));
    if (n == 0)
      return gerr_set(err, GERR_INVALID_INPUT,
                      "the file shrank while it was read (%llu bytes when opened, "
                      "%llu now)",
                      (unsigned long long)size, size_now(in));
    in->off += (uint64_t)n;
    return (long)n;
  }
}

/* 1 (with *err) when the file is not as it was when opened. */
static int input_changed(const struct input *in, struct gerr *err) {
  struct stat st;
  if (fstat(in->fd, &st) < 0) {
    gerr_set(err, GERR_INVALID_INPUT, "%s", strerror(errno));
    return 1;
  }
  if (st.st_size == in->st.st_size && st.st_mtim.tv_sec == in->st.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == in->st.st_mtim.tv_nsec)
    return 0;
  gerr_set(err, GERR_INVALID_INPUT,
           "the file changed while it was read (%llu bytes when opened, %llu now)",
           (unsigned long long)in->st.st_size, (unsigned long long)st.st_size);
  return 1;
}

/* Counts a record and hands a valid one to the writer: 1 when it was
 * rejected and is among those shown, 0 when not, -1 when the store failed
 * (*t->err). */
static int take_record(struct tab_ctx *t, const struct sale *rec, int valid) {
  struct import_run *ir = t->ir;
  int show = 0;
  ir->records++;
  t->index++;
  if (valid && ingest_writer_add(ir->w, rec, t->err) < 0) {
    ir->store_failed = 1;
    return -1;
  }
  if (!valid)
    show = ir->rejected++ < IMPORT_SHOW_REJECTED;
  if ((ir->records & 4095) == 0)
    progress_update(&ir->pb, ir->records, 0);
  return show;
}

static int kept_problems(const struct sale_problems *pr) {
  return pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
}

/* Rows of CSV and spreadsheets: "FILE: row ROW: FIELD PROBLEM". */
static int import_row(void *ctx, size_t row, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  struct tab_ctx *t = ctx;
  int rc = take_record(t, rec, valid);
  for (int k = 0; rc == 1 && k < kept_problems(pr); k++)
    fprintf(stderr, "%s: row %zu: %s %s\n", t->path, row, sale_field_name(pr->p[k].field),
            pr->p[k].problem);
  return rc < 0;
}

/* Records of JSON and NDJSON: "FILE:LINE: record INDEX: FIELD PROBLEM". */
static int json_record(struct tab_ctx *t, size_t line, size_t index, const struct sale *rec,
                       int valid, const struct sale_problems *pr) {
  int rc = take_record(t, rec, valid);
  for (int k = 0; rc == 1 && k < kept_problems(pr); k++)
    fprintf(stderr, "%s:%zu: record %zu: %s %s\n", t->path, line, index,
            sale_field_name(pr->p[k].field), pr->p[k].problem);
  return rc < 0;
}

static int import_array_record(void *ctx, size_t index, const struct sale *rec, int valid,
                               const struct sale_problems *pr) {
  struct tab_ctx *t = ctx;
  return json_record(t, jsonrec_record_line(t->jr), index, rec, valid, pr);
}

static int import_ndjson_record(void *ctx, size_t line, const struct sale *rec, int valid,
                                const struct sale_problems *pr) {
  struct tab_ctx *t = ctx;
  return json_record(t, line, t->index, rec, valid, pr);
}

static int csv_feed(void *r, const char *p, size_t n, struct gerr *err) {
  return csvrec_feed(r, p, n, err);
}
static int csv_finish(void *r, struct gerr *err) { return csvrec_finish(r, err); }
static int array_feed(void *r, const char *p, size_t n, struct gerr *err) {
  return jsonrec_feed(r, p, n, err);
}
static int array_finish(void *r, struct gerr *err) { return jsonrec_finish(r, err); }
static int ndjson_feed(void *r, const char *p, size_t n, struct gerr *err) {
  return ndjsonrec_feed(r, p, n, err);
}
static int ndjson_finish(void *r, struct gerr *err) { return ndjsonrec_finish(r, err); }

/* Reads the input to its end in pieces of IMPORT_CHUNK into a push reader,
 * as an upload arrives. 0; -1 (*err) when the input could not be read
 * (*read_failed set), the reader refused it or the store failed. */
static int import_stream(struct import_run *ir, struct input *in, const struct push *ps,
                         char *chunk, int *read_failed, struct gerr *err) {
  int rc = 0;
  *read_failed = 0;
  for (;;) {
    long n = input_read(in, chunk, IMPORT_CHUNK, err);
    if (n < 0)
      *read_failed = 1;
    if (n <= 0) {
      rc = n < 0 ? -1 : ps->finish(ps->reader, err);
      break;
    }
    rc = ps->feed(ps->reader, chunk, (size_t)n, err);
    progress_update(&ir->pb, ir->records, ir->bytes + (double)in->off);
    if (rc != 0)
      break;
  }
  return rc < 0 ? -1 : 0;
}

/* XLSX and XLS are read from the file; CSV through its streaming reader. */
static int import_table(struct import_run *ir, struct input *in, enum ingest_file f,
                        char *chunk, struct gerr *err) {
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct tab_ctx t = {.ir = ir, .path = in->name, .err = err};
  size_t rows = 0;
  if (f == FILE_XLSX)
    return xlsxrec_read(in->path, &rules, NULL, import_row, &t, &rows, err) < 0 ? -1 : 0;
  if (f == FILE_XLS)
    return xlsrec_read(in->path, &rules, NULL, import_row, &t, &rows, err) < 0 ? -1 : 0;
  struct csvrec *c = NULL;
  if (csvrec_new(&rules, NULL, import_row, &t, &c, err) < 0)
    return -1;
  struct push ps = {csv_feed, csv_finish, c};
  int read_failed;
  int rc = import_stream(ir, in, &ps, chunk, &read_failed, err);
  csvrec_free(c);
  return rc;
}

/* A JSON array through jsonrec, NDJSON through ndjsonrec: the readers of
 * uploads. A JSON array that cannot be read on is refused naming the line
 * where the reading stopped; NDJSON rejects lines, never the file. A file
 * without a record in it, only blanks, is refused as empty. */
static int import_json(struct import_run *ir, struct input *in, enum ingest_file f,
                       char *chunk, struct gerr *err) {
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct tab_ctx t = {.ir = ir, .path = in->name, .err = err};
  struct ndjsonrec *nr = NULL;
  struct push ps = {array_feed, array_finish, NULL};
  int rc = f == FILE_JSON ? jsonrec_new(&rules, import_array_record, &t, &t.jr)
                          : ndjsonrec_new(&rules, import_ndjson_record, &t, &nr);
  if (rc < 0)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  if (f == FILE_JSON)
    ps.reader = t.jr;
  else
    ps = (struct push){ndjson_feed, ndjson_finish, nr};
  int read_failed;
  rc = import_stream(ir, in, &ps, chunk, &read_failed, err);
  if (rc < 0 && t.jr && !read_failed && !ir->store_failed) {
    char where[32];
    snprintf(where, sizeof where, "line %zu", jsonrec_line(t.jr));
    gerr_prefix(err, where);
  }
  if (rc == 0 && nr && ndjsonrec_count(nr) == 0)
    rc = gerr_set(err, GERR_INVALID_INPUT, "the file is empty");
  jsonrec_free(t.jr);
  ndjsonrec_free(nr);
  return rc;
}

/* 1 when head[n] holds nothing but white space (after a byte order mark). */
static int only_blanks(const char *head, size_t n) {
  size_t i = n >= 3 && !memcmp(head, "\xEF\xBB\xBF", 3) ? 3 : 0;
  while (i < n && strchr(" \t\r\n", head[i]))
    i++;
  return i == n;
}

/* The format of a file: from its name, then from its first bytes, as an
 * upload without a media type (ingest_file_detect). A .json file whose
 * first character is '{' is read as NDJSON. */
static enum ingest_file format_of(const char *path, const char *head, size_t n) {
  enum ingest_file f = ingest_file_detect(NULL, path, head, n);
  if (f == FILE_JSON && ingest_file_of_bytes(head, n) == FILE_NDJSON)
    f = FILE_NDJSON;
  return f;
}

/* One input into the writer. Errors are prefixed with the file's name,
 * unless they are the store's. A file changed meanwhile is reported as
 * such, whatever its reader made of it. */
static int import_file(struct import_run *ir, struct input *in, char *chunk,
                       struct gerr *err) {
  char head[4096];
  size_t want = (uint64_t)in->st.st_size < sizeof head ? (size_t)in->st.st_size : sizeof head;
  ssize_t n = pread(in->fd, head, want, 0);
  int rc;
  if (n != (ssize_t)want) {
    rc = gerr_set(err, GERR_INVALID_INPUT, "%s",
                  n < 0 ? strerror(errno) : "the file shrank while it was read");
  } else {
    enum ingest_file f = format_of(in->name, head, want);
    if (f != FILE_JSON && f != FILE_NDJSON)
      rc = import_table(ir, in, f, chunk, err);
    else if ((uint64_t)in->st.st_size == want && only_blanks(head, want))
      rc = gerr_set(err, GERR_INVALID_INPUT, "the file is empty");
    else
      rc = import_json(ir, in, f, chunk, err);
  }
  struct gerr changed;
  if (!ir->store_failed && input_changed(in, &changed)) {
    *err = changed;
    rc = -1;
  }
  if (rc < 0 && !ir->store_failed)
    gerr_prefix(err, in->name);
  ir->bytes += (double)in->st.st_size;
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
  int ninputs = argc - optind, opened = 0;
  struct input *inputs = calloc((size_t)ninputs, sizeof *inputs);
  char *chunk = malloc(IMPORT_CHUNK);
  if (!inputs || !chunk) {
    rc = cli_fail("import", "out of memory");
    goto out;
  }
  /* Every file is opened and checked before the store is touched. */
  for (int i = 0; i < ninputs; i++) {
    const char *name = argv[optind + i];
    for (int k = 0; k < i; k++)
      if (!strcmp(name, "-") && !strcmp(inputs[k].name, "-")) {
        rc = cli_fail("import", "standard input (-) can be named once");
        goto out;
      }
    opened = i + 1;
    if (input_open(&inputs[i], name, &err) < 0) {
      rc = cli_fail("import", "%s", err.msg);
      goto out;
    }
  }
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
  for (int i = 0; i < ninputs; i++) {
    if (import_file(&ir, &inputs[i], chunk, &err) < 0) {
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
  for (int i = 0; i < opened; i++)
    input_close(&inputs[i]);
  free(inputs);
  free(chunk);
  return rc;
}
