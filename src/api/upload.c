/* POST /sales/upload: a file of sales as the body, or as the "file" field
 * of multipart/form-data, read as it arrives. CSV, NDJSON and JSON arrays are
 * parsed chunk by chunk; XLSX and XLS need random access, so they are
 * spooled to an unlinked temporary file and read when the body is complete.
 * The whole upload is one transaction: nothing of it is stored unless the
 * response says so. Valid records are stored by an ingest_writer's thread
 * while the request's thread reads on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/ingest.h"
#include "gromo/store.h"
#include "gromo/tabular.h"
#include "gromo/timeutil.h"

/* Records per insert: the writer holds at most three batches (about 1.2 MB
 * each). */
#define UPLOAD_BATCH 2000
#define UPLOAD_DETAILS_MAX 1000
#define NDJSON_LINE_MAX (1 << 20)

enum fmt { FMT_UNKNOWN, FMT_CSV, FMT_JSON, FMT_NDJSON, FMT_XLSX, FMT_XLS };
static const char *const fmt_names[] = {"unknown", "csv", "json", "ndjson", "xlsx", "xls"};

struct upload {
  struct req *rq;
  struct store *db;
  int atomic, in_tx, failed;
  enum fmt fmt;
  enum fmt declared;  /* from the Content-Type, then the file name */
  struct sale_rules rules;
  struct jsonrec *jr;
  struct csvrec *cr;
  struct buf line;    /* NDJSON: the current line */
  size_t line_no;
  int skip_line;      /* NDJSON: the current line is too long */
  int spool_fd;
  char spool_path[64];
  struct ingest_writer *w; /* uses db from upload_open until upload_close */
  size_t records, inserted, duplicates, rejected;
  json_t *invalid;
  struct gerr err;
};

static enum fmt fmt_from_type(const char *ct) {
  if (!ct)
    return FMT_UNKNOWN;
  while (*ct == ' ')
    ct++;
  size_t n = strcspn(ct, "; ");
  static const struct {
    const char *type;
    enum fmt fmt;
  } types[] = {
      {"text/csv", FMT_CSV},
      {"application/csv", FMT_CSV},
      {"text/tab-separated-values", FMT_CSV},
      {"application/json", FMT_JSON},
      {"application/x-ndjson", FMT_NDJSON},
      {"application/ndjson", FMT_NDJSON},
      {"application/jsonl", FMT_NDJSON},
      {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", FMT_XLSX},
      {"application/vnd.ms-excel", FMT_XLS},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strlen(types[i].type) == n && !strncasecmp(ct, types[i].type, n))
      return types[i].fmt;
  return FMT_UNKNOWN;
}

static enum fmt fmt_from_name(const char *name) {
  const char *dot = name ? strrchr(name, '.') : NULL;
  if (!dot)
    return FMT_UNKNOWN;
  static const struct {
    const char *ext;
    enum fmt fmt;
  } exts[] = {{".csv", FMT_CSV},       {".tsv", FMT_CSV},       {".txt", FMT_CSV},
              {".json", FMT_JSON},     {".ndjson", FMT_NDJSON}, {".jsonl", FMT_NDJSON},
              {".xlsx", FMT_XLSX},     {".xls", FMT_XLS}};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (!strcasecmp(dot, exts[i].ext))
      return exts[i].fmt;
  return FMT_UNKNOWN;
}

/* From the first bytes, when neither the type nor the name said. */
static enum fmt fmt_from_bytes(const char *p, size_t n) {
  if (n >= 4 && !memcmp(p, "PK\x03\x04", 4))
    return FMT_XLSX;
  if (n >= 4 && !memcmp(p, "\xD0\xCF\x11\xE0", 4))
    return FMT_XLS;
  enum ingest_format jf = ingest_detect(NULL, p, n);
  return jf == INGEST_JSON_ARRAY ? FMT_JSON : jf == INGEST_NDJSON ? FMT_NDJSON : FMT_CSV;
}

/* Every record of every format comes here. */
static int on_record(struct upload *u, size_t row, const char *row_key,
                     const struct sale *rec, int valid, const struct sale_problems *pr) {
  u->records++;
  if (!valid) {
    u->rejected++;
    int kept = pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
    for (int k = 0; k < kept && json_array_size(u->invalid) < UPLOAD_DETAILS_MAX; k++)
      json_array_append_new(u->invalid,
                            json_pack("{s:I,s:s,s:s}", row_key, (json_int_t)row, "field",
                                      sale_field_name(pr->p[k].field), "problem",
                                      pr->p[k].problem));
    return 0;
  }
  return ingest_writer_add(u->w, rec, &u->err) < 0 ? 1 : 0;
}

static int on_tab_row(void *ctx, size_t row, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  return on_record(ctx, row, "row", rec, valid, pr);
}

static int on_json_record(void *ctx, size_t index, const struct sale *rec, int valid,
                          const struct sale_problems *pr) {
  return on_record(ctx, index, "index", rec, valid, pr);
}

static int ndjson_line(struct upload *u) {
  u->line_no++;
  const char *p = u->line.data ? u->line.data : "";
  size_t n = u->line.len;
  while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  while (n && (*p == ' ' || *p == '\t'))
    p++, n--;
  if (u->line_no == 1 && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
    p += 3, n -= 3;
  int rc = 0;
  if (n) {
    struct sale rec;
    struct sale_problems pr;
    json_error_t je;
    json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
      sale_problems_clear(&pr);
      sale_problem_add(&pr, SF_RECORD, "malformed JSON at column %d: %s", je.column, je.text);
      rc = on_record(u, u->line_no, "row", &rec, 0, &pr);
    } else {
      int ok = sale_from_json(j, &u->rules, &rec, &pr) == 0;
      json_decref(j);
      rc = on_record(u, u->line_no, "row", &rec, ok, &pr);
    }
  }
  buf_reset(&u->line);
  return rc;
}

/* A line past NDJSON_LINE_MAX is dropped as it arrives and rejected once
 * its end is seen. */
static int reject_long_line(struct upload *u) {
  struct sale rec;
  struct sale_problems pr;
  memset(&rec, 0, sizeof rec);
  sale_problems_clear(&pr);
  sale_problem_add(&pr, SF_RECORD, "the line is longer than %d bytes", NDJSON_LINE_MAX);
  u->skip_line = 0;
  buf_reset(&u->line);
  return on_record(u, ++u->line_no, "row", &rec, 0, &pr);
}

static int feed_ndjson(struct upload *u, const char *p, size_t n) {
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    if (!u->skip_line && buf_append(&u->line, p, take) < 0) {
      u->skip_line = 1;
      buf_reset(&u->line);
    }
    if (!nl)
      break;
    if (u->skip_line ? reject_long_line(u) : ndjson_line(u))
      return -1;
    p = nl + 1;
    n -= take + 1;
  }
  return 0;
}

static int upload_open(struct req *rq, struct resp *rs, void **state) {
  int atomic = param_bool(req_query(rq, "atomic"), 0);
  if (atomic < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "atomic must be true or false");
  struct upload *u = calloc(1, sizeof *u);
  if (!u)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  *state = u;
  u->rq = rq;
  u->atomic = atomic;
  u->spool_fd = -1;
  u->rules.now_ist_ms = now_ist_ms();
  u->invalid = json_array();
  buf_init(&u->line, NDJSON_LINE_MAX);
  const char *ct = rq->content_type;
  if (ct && !strncasecmp(ct, "multipart/form-data", 19))
    ct = NULL; /* the part says */
  u->declared = fmt_from_type(ct);
  if (ct && u->declared == FMT_UNKNOWN && strncasecmp(ct, "application/octet-stream", 24))
    return resp_error(rs, GERR_MEDIA_TYPE, NULL,
                      "cannot read %.80s: send CSV, XLSX, XLS, a JSON array or NDJSON", ct);
  if (!u->invalid)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  if (!(u->db = req_store(rq, &u->err)) || store_begin(u->db, &u->err) < 0)
    return resp_error_from(rs, &u->err);
  u->in_tx = 1;
  if (ingest_writer_start(u->db, UPLOAD_BATCH, &u->w, &u->err) < 0)
    return resp_error_from(rs, &u->err);
  return 0;
}

static int upload_part(void *state, const char *filename, const char *ctype,
                       struct resp *rs) {
  struct upload *u = state;
  enum fmt f = fmt_from_type(ctype);
  if (f == FMT_UNKNOWN)
    f = fmt_from_name(filename);
  if (f != FMT_UNKNOWN)
    u->declared = f;
  return 0;
}

/* Decides the format on the first bytes and starts its reader. */
static int start_reader(struct upload *u, const char *p, size_t n, struct resp *rs) {
  u->fmt = u->declared != FMT_UNKNOWN ? u->declared : fmt_from_bytes(p, n);
  switch (u->fmt) {
  case FMT_CSV:
    if (csvrec_new(&u->rules, NULL, on_tab_row, u, &u->cr, &u->err) < 0)
      return resp_error_from(rs, &u->err);
    return 0;
  case FMT_JSON:
    if (jsonrec_new(&u->rules, on_json_record, u, &u->jr) < 0)
      return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    return 0;
  case FMT_XLSX:
  case FMT_XLS:
    snprintf(u->spool_path, sizeof u->spool_path, "/tmp/gromo-upload-XXXXXX");
    u->spool_fd = mkstemp(u->spool_path);
    if (u->spool_fd < 0)
      return resp_error(rs, GERR_UNAVAILABLE, NULL, "cannot spool the upload: %s",
                        strerror(errno));
    return 0;
  default:
    return 0;
  }
}

static int upload_chunk(void *state, const char *p, size_t n, struct resp *rs) {
  struct upload *u = state;
  if (!n)
    return 0;
  if (u->fmt == FMT_UNKNOWN && start_reader(u, p, n, rs) < 0)
    return -1;
  int rc = 0;
  switch (u->fmt) {
  case FMT_CSV:
    rc = csvrec_feed(u->cr, p, n, &u->err);
    break;
  case FMT_JSON:
    rc = jsonrec_feed(u->jr, p, n, &u->err);
    break;
  case FMT_NDJSON:
    rc = feed_ndjson(u, p, n);
    break;
  default:
    for (size_t done = 0; done < n;) {
      ssize_t w = write(u->spool_fd, p + done, n - done);
      if (w <= 0)
        return resp_error(rs, GERR_UNAVAILABLE, NULL, "cannot spool the upload: %s",
                          strerror(errno));
      done += (size_t)w;
    }
  }
  if (rc < 0)
    return u->err.code == GERR_OK ? resp_error(rs, GERR_INTERNAL, NULL, "upload failed")
                                  : resp_error_from(rs, &u->err);
  return 0;
}

static int upload_close(void *state, struct req *rq, struct resp *rs) {
  struct upload *u = state;
  int rc = 0;
  size_t rows = 0;
  gerr_clear(&u->err);
  switch (u->fmt) {
  case FMT_UNKNOWN:
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "the file is empty");
  case FMT_CSV:
    rc = csvrec_finish(u->cr, &u->err);
    break;
  case FMT_JSON:
    rc = jsonrec_finish(u->jr, &u->err);
    break;
  case FMT_NDJSON:
    rc = u->skip_line ? reject_long_line(u) : u->line.len ? ndjson_line(u) : 0;
    break;
  case FMT_XLSX:
    rc = xlsxrec_read(u->spool_path, &u->rules, NULL, on_tab_row, u, &rows, &u->err);
    break;
  case FMT_XLS:
    rc = xlsrec_read(u->spool_path, &u->rules, NULL, on_tab_row, u, &rows, &u->err);
    break;
  }
  struct store_insert_stats st = {0, 0};
  if (rc == 0)
    rc = ingest_writer_finish(u->w, &st, &u->err);
  u->inserted = st.inserted;
  u->duplicates = st.duplicates;
  if (rc < 0)
    return u->err.code == GERR_OK ? resp_error(rs, GERR_INTERNAL, NULL, "upload failed")
                                  : resp_error_from(rs, &u->err);
  if (u->rejected && (u->atomic || u->records == u->rejected))
    return resp_error(rs, GERR_INVALID_RECORDS, json_incref(u->invalid),
                      "%zu of %zu records are invalid; nothing was stored%s", u->rejected,
                      u->records, u->atomic && u->records > u->rejected ? " (atomic=true)" : "");
  if (store_commit(u->db, &u->err) < 0)
    return resp_error_from(rs, &u->err);
  u->in_tx = 0;
  json_t *data = json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "format", fmt_names[u->fmt],
                           "records", (json_int_t)u->records, "inserted_count",
                           (json_int_t)u->inserted, "duplicate_count",
                           (json_int_t)u->duplicates, "rejected_count",
                           (json_int_t)u->rejected, "invalid_records",
                           u->rejected ? json_incref(u->invalid) : json_null());
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  (void)rq;
  return resp_ok(rs, data, "Stored %zu of %zu records (%zu duplicates, %zu rejected)",
                 u->inserted, u->records, u->duplicates, u->rejected);
}

static void upload_free(void *state) {
  struct upload *u = state;
  if (!u)
    return;
  ingest_writer_free(u->w); /* first: it may be storing a batch */
  if (u->in_tx)
    store_rollback(u->db); /* the client went away, or the upload failed */
  if (u->spool_fd >= 0) {
    close(u->spool_fd);
    unlink(u->spool_path);
  }
  csvrec_free(u->cr);
  jsonrec_free(u->jr);
  buf_release(&u->line);
  json_decref(u->invalid);
  free(u);
}

const struct stream_ops api_upload_ops = {
    .open = upload_open,
    .part = upload_part,
    .chunk = upload_chunk,
    .close = upload_close,
    .free = upload_free,
};
