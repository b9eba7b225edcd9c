/* POST /sales/add and GET /sales. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/export.h"
#include "gromo/gazetteer.h"
#include "gromo/ingest.h"
#include "gromo/record.h"
#include "gromo/salesquery.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

#define SALES_ADD_MAX 100000   /* records in one request */
#define DETAILS_MAX 1000       /* problems listed; all are counted */

/* Collects the records of a body as the streaming reader yields them. */
struct batch {
  struct sale *recs;
  size_t *index_of; /* position in the body of each valid record */
  size_t n, cap;
  size_t total, rejected;
  json_t *invalid; /* the first DETAILS_MAX problems */
  int oom;
};

static int batch_add(void *ctx, size_t index, const struct sale *rec, int valid,
                     const struct sale_problems *pr) {
  struct batch *b = ctx;
  if (++b->total > SALES_ADD_MAX)
    return 1;
  if (!valid) {
    b->rejected++;
    int kept = pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
    for (int k = 0; k < kept && json_array_size(b->invalid) < DETAILS_MAX; k++)
      json_array_append_new(
          b->invalid,
          json_pack("{s:I,s:s,s:s}", "index", (json_int_t)index, "field",
                    sale_field_name(pr->p[k].field), "problem", pr->p[k].problem));
    return 0;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    struct sale *r = realloc(b->recs, cap * sizeof *r);
    if (r)
      b->recs = r;
    size_t *ix = r ? realloc(b->index_of, cap * sizeof *ix) : NULL;
    if (!r || !ix) {
      b->oom = 1;
      return 1;
    }
    b->index_of = ix;
    b->cap = cap;
  }
  b->recs[b->n] = *rec;
  b->index_of[b->n++] = index;
  return 0;
}

int api_sales_add(struct req *rq, struct resp *rs) {
  int atomic = param_bool(req_query(rq, "atomic"), 0);
  if (atomic < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "atomic must be true or false");
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct batch b = {.invalid = json_array()};
  struct jsonrec *jr = NULL;
  unsigned char *dup = NULL;
  json_t *dups = NULL;
  struct gerr err;
  int ret = -1;
  /* Room for the records the body can hold (at least ~100 bytes each), so
   * the array is not regrown record by record. */
  size_t guess = rq->body_len / 100 + 1;
  b.cap = guess < SALES_ADD_MAX ? guess : SALES_ADD_MAX;
  b.recs = malloc(b.cap * sizeof *b.recs);
  b.index_of = malloc(b.cap * sizeof *b.index_of);
  if (!b.recs || !b.index_of)
    b.cap = 0;
  if (!b.invalid || jsonrec_new(&rules, batch_add, &b, &jr) < 0) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  int rc = jsonrec_feed(jr, rq->body, rq->body_len, &err);
  if (rc == 0)
    rc = jsonrec_finish(jr, &err);
  if (b.oom) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  if (rc == -2 || b.total > SALES_ADD_MAX) {
    resp_error(rs, GERR_TOO_LARGE, NULL,
               "more than %d records in one request; send them in batches",
               SALES_ADD_MAX);
    goto out;
  }
  if (rc < 0) {
    resp_error(rs, GERR_INVALID_INPUT, NULL, "%s", err.msg);
    goto out;
  }
  size_t n = b.total, nvalid = b.n, rejected = b.rejected;
  if (rejected && (atomic || nvalid == 0)) {
    resp_error(rs, GERR_INVALID_RECORDS, json_incref(b.invalid),
               "%zu of %zu records are invalid; nothing was stored%s", rejected,
               n, atomic && nvalid ? " (atomic=true)" : "");
    goto out;
  }

  struct store_insert_stats st = {0};
  dup = calloc(nvalid ? nvalid : 1, 1);
  struct store *db = dup ? req_store(rq, &err) : NULL;
  if (!dup) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  if (!db || store_sales_insert(db, b.recs, nvalid, dup, &st, &err) < 0) {
    resp_error_from(rs, &err);
    goto out;
  }
  dups = json_array();
  for (size_t k = 0; dups && k < nvalid && json_array_size(dups) < DETAILS_MAX; k++)
    if (dup[k])
      json_array_append_new(dups, json_integer((json_int_t)b.index_of[k]));

  json_t *data = json_pack(
      "{s:I,s:I,s:I,s:o,s:o}", "inserted_count", (json_int_t)st.inserted,
      "duplicate_count", (json_int_t)st.duplicates, "rejected_count",
      (json_int_t)rejected, "invalid_records",
      rejected ? json_incref(b.invalid) : json_null(), "duplicate_indexes",
      dups ? json_incref(dups) : json_array());
  if (!data) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  if (rejected || st.duplicates)
    resp_ok(rs, data,
            "Successfully added %zu sales records; %zu rejected, %zu duplicates "
            "skipped",
            st.inserted, rejected, st.duplicates);
  else
    resp_ok(rs, data, "Successfully added %zu sales records", st.inserted);
  ret = 0;
out:
  jsonrec_free(jr);
  json_decref(b.invalid);
  json_decref(dups);
  free(b.recs);
  free(b.index_of);
  free(dup);
  return ret;
}

struct page {
  struct buf *out;
  const struct gaz *gaz;
  size_t limit;
  size_t count;
  int more;
  int failed;
  int64_t last_ts, last_seq;
};

static int page_row(void *ctx, const struct sale *s, int64_t seq) {
  struct page *pg = ctx;
  if (pg->count == pg->limit) {
    pg->more = 1;
    return 1;
  }
  const struct gaz_entry *ge = pg->gaz ? gaz_find(pg->gaz, s->pincode) : NULL;
  if ((pg->count && buf_puts(pg->out, ",") < 0) ||
      sale_to_json_buf(s, ge ? ge->district : NULL, pg->out) < 0) {
    pg->failed = 1;
    return 1;
  }
  pg->count++;
  pg->last_ts = s->ts_ms;
  pg->last_seq = seq;
  return 0;
}

/* Reads the filters of GET /sales; -1 after resp_error. */
static int sales_filter_from_query(struct req *rq, struct resp *rs,
                                   struct sales_filter *f) {
  struct sales_query_text t = {
      .pincode = req_query(rq, "pincode"), .product = req_query(rq, "product"),
      .channel = req_query(rq, "channel"), .from = req_query(rq, "from"),
      .to = req_query(rq, "to"), .limit = req_query(rq, "limit"),
      .cursor = req_query(rq, "cursor")};
  char why[200];
  if (sales_filter_parse(&t, SALES_PAGE_MAX, f, why, sizeof why) < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "%s", why);
  return 0;
}

/* An export streamed page by page, each page on a pooled connection. */
struct export_stream {
  struct export_cursor c;
  struct store_pool *pool;
};

static int export_read(void *ctx, struct buf *out, int *done) {
  struct export_stream *x = ctx;
  struct gerr err;
  struct store *db = store_pool_get(x->pool, &err);
  if (!db)
    return -1;
  int rc = export_next_page(&x->c, db, 2000, out, &err);
  store_pool_put(x->pool, db);
  *done = x->c.done;
  return rc;
}

/* GET /sales?format=csv|ndjson|json|xlsx: every matching row (or the first
 * `limit`), as a download. */
static int sales_export(struct req *rq, struct resp *rs, struct sales_filter *f,
                        enum export_format fmt, int limited) {
  if (!limited)
    f->limit = 0;
  const struct gaz *gaz = rq->app ? rq->app->gaz : NULL;
  resp_header(rs, "Content-Disposition", "attachment; filename=\"sales.%s\"",
              export_extension(fmt));
  rs->content_type = export_content_type(fmt);
  struct gerr err;
  if (fmt == EXPORT_XLSX) {
    char path[] = "/tmp/gromo-export-XXXXXX";
    int fd = mkstemp(path);
    struct store *db = fd >= 0 ? req_store(rq, &err) : NULL;
    if (fd < 0)
      return resp_error(rs, GERR_UNAVAILABLE, NULL, "cannot create the workbook");
    size_t rows = 0;
    int rc = db ? export_xlsx(db, f, gaz, path, &rows, &err) : -1;
    int rfd = rc == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    unlink(path);
    close(fd);
    if (rc < 0 || rfd < 0)
      return rc < 0 ? resp_error_from(rs, &err)
                    : resp_error(rs, GERR_INTERNAL, NULL, "cannot read the workbook");
    rs->body_fd = rfd;
    return 0;
  }
  struct export_stream *x = calloc(1, sizeof *x);
  if (!x || !rq->app) {
    free(x);
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  }
  export_cursor_init(&x->c, fmt, f, gaz);
  x->pool = rq->app->pool;
  rs->stream_read = export_read;
  rs->stream_free = free;
  rs->stream_ctx = x;
  return 0;
}

int api_sales_list(struct req *rq, struct resp *rs) {
  struct sales_filter f;
  if (sales_filter_from_query(rq, rs, &f) < 0)
    return -1;
  const char *format = req_query(rq, "format");
  if (format) {
    enum export_format fmt;
    if (export_format_parse(format, &fmt) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "format must be csv, ndjson, json or xlsx");
    return sales_export(rq, rs, &f, fmt, req_query(rq, "limit") != NULL);
  }
  struct page pg = {.out = &rs->data_raw, .gaz = rq->app ? rq->app->gaz : NULL,
                    .limit = f.limit};
  size_t want = f.limit;
  f.limit = want + 1; /* one more tells whether there is a next page */
  struct gerr err;
  struct store *db = req_store(rq, &err);
  if (!db)
    return resp_error_from(rs, &err);
  if (buf_puts(&rs->data_raw, "{\"sales\":[") < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  if (store_sales_query(db, &f, page_row, &pg, &err) < 0)
    return resp_error_from(rs, &err);
  if (pg.failed)
    return resp_error(rs, GERR_INTERNAL, NULL, "the page could not be rendered");
  int rc = buf_printf(&rs->data_raw, "],\"count\":%zu,\"next_cursor\":", pg.count);
  if (rc == 0 && pg.more) {
    char cursor[48];
    sales_cursor_format(pg.last_ts, pg.last_seq, cursor);
    rc = buf_printf(&rs->data_raw, "\"%s\"}", cursor);
  }
  else if (rc == 0)
    rc = buf_puts(&rs->data_raw, "null}");
  if (rc < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok_raw(rs, "%zu sales records%s", pg.count,
                     pg.more ? "; more with next_cursor" : "");
}
