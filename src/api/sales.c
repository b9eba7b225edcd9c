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
#define INSERT_BATCH 1024      /* records unpacked for one insert */

/* POST /sales/add reads its body as it arrives: each record is validated
 * as soon as its object closes and kept in compact form, so a request
 * holds its records (about 100 bytes each), never its text. The records
 * are stored in one transaction by a parked thread once the body is
 * complete, so no HTTP thread waits for the store's write lock. */
struct sales_add {
  struct req *rq;
  struct app *app;
  int atomic;
  struct sale_rules rules;
  struct jsonrec *jr;
  struct buf packed;   /* the valid records, packed */
  uint32_t *index_of;  /* position in the body of each valid record */
  size_t n, cap;       /* valid records, room in index_of */
  size_t total, rejected;
  json_t *invalid;     /* the first DETAILS_MAX problems */
  int oom, budget;     /* memory ran out, or the server's budget did */
};

static int add_record(void *ctx, size_t index, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  struct sales_add *a = ctx;
  if (++a->total > SALES_ADD_MAX)
    return 1;
  if (!valid) {
    a->rejected++;
    int kept = pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
    for (int k = 0; k < kept && json_array_size(a->invalid) < DETAILS_MAX; k++)
      json_array_append_new(
          a->invalid,
          json_pack("{s:I,s:s,s:s}", "index", (json_int_t)index, "field",
                    sale_field_name(pr->p[k].field), "problem", pr->p[k].problem));
    return 0;
  }
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    if (req_mem_hold(a->rq, a->packed.cap + cap * sizeof *a->index_of) < 0) {
      a->budget = 1;
      return 1;
    }
    uint32_t *ix = realloc(a->index_of, cap * sizeof *ix);
    if (!ix) {
      a->oom = 1;
      return 1;
    }
    a->index_of = ix;
    a->cap = cap;
  }
  size_t before = a->packed.cap;
  if (sale_pack(rec, &a->packed) < 0) {
    a->oom = 1;
    return 1;
  }
  if (a->packed.cap != before &&
      req_mem_hold(a->rq, a->packed.cap + a->cap * sizeof *a->index_of) < 0) {
    a->budget = 1;
    return 1;
  }
  a->index_of[a->n++] = (uint32_t)index;
  return 0;
}

static int add_open(struct req *rq, struct resp *rs, void **state) {
  int atomic = param_bool(req_query(rq, "atomic"), 0);
  if (atomic < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "atomic must be true or false");
  if (api_json_content_type(rq, rs) < 0)
    return -1;
  struct sales_add *a = calloc(1, sizeof *a);
  if (!a)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  *state = a;
  a->rq = rq;
  a->app = rq->app;
  a->atomic = atomic;
  a->rules.now_ist_ms = now_ist_ms();
  buf_init(&a->packed, (size_t)1 << 31);
  a->invalid = json_array();
  if (!a->invalid || jsonrec_new(&a->rules, add_record, a, &a->jr) < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return 0;
}

/* The answer to a reading that stopped or failed; -1 after resp_error. */
static int add_read_error(struct sales_add *a, int rc, const struct gerr *err,
                          struct resp *rs) {
  if (a->budget)
    return resp_budget_error(rs);
  if (a->oom)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  if (rc == -2 || a->total > SALES_ADD_MAX)
    return resp_error(rs, GERR_TOO_LARGE, NULL,
                      "more than %d records in one request; send them in batches",
                      SALES_ADD_MAX);
  return resp_error(rs, GERR_INVALID_INPUT, NULL, "%s", err->msg);
}

static int add_chunk(void *state, const char *p, size_t n, struct resp *rs) {
  struct sales_add *a = state;
  struct gerr err;
  int rc = jsonrec_feed(a->jr, p, n, &err);
  return rc < 0 || a->budget || a->oom ? add_read_error(a, rc, &err, rs) : 0;
}

/* On a thread of its own: stores the records in one transaction. */
static int add_store(void *ctx, struct resp *rs) {
  struct sales_add *a = ctx;
  struct gerr err;
  struct store_insert_stats st = {0, 0};
  unsigned char *dup = calloc(a->n ? a->n : 1, 1);
  struct sale *batch = malloc(INSERT_BATCH * sizeof *batch);
  json_t *dups = NULL;
  struct store *db = NULL;
  int in_tx = 0, ret = -1;
  if (!dup || !batch) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  db = a->app && a->app->pool ? store_pool_get(a->app->pool, &err) : NULL;
  if (!db) {
    if (!a->app || !a->app->pool)
      gerr_set(&err, GERR_UNAVAILABLE, "no database configured");
    resp_error_from(rs, &err);
    goto out;
  }
  if (store_begin(db, &err) < 0) {
    resp_error_from(rs, &err);
    goto out;
  }
  in_tx = 1;
  size_t off = 0;
  for (size_t done = 0; done < a->n;) {
    size_t k = 0;
    while (k < INSERT_BATCH && done + k < a->n) {
      size_t used = sale_unpack(a->packed.data + off, a->packed.len - off, &batch[k]);
      if (!used) {
        resp_error(rs, GERR_INTERNAL, NULL, "a held record could not be read back");
        goto out;
      }
      off += used;
      k++;
    }
    struct store_insert_stats bs = {0, 0};
    if (store_sales_insert(db, batch, k, dup + done, &bs, &err) < 0) {
      resp_error_from(rs, &err);
      goto out;
    }
    st.inserted += bs.inserted;
    st.duplicates += bs.duplicates;
    done += k;
  }
  if (store_commit(db, &err) < 0) {
    resp_error_from(rs, &err);
    goto out;
  }
  in_tx = 0;
  dups = json_array();
  for (size_t k = 0; dups && k < a->n && json_array_size(dups) < DETAILS_MAX; k++)
    if (dup[k])
      json_array_append_new(dups, json_integer((json_int_t)a->index_of[k]));
  json_t *data = json_pack(
      "{s:I,s:I,s:I,s:o,s:o}", "inserted_count", (json_int_t)st.inserted,
      "duplicate_count", (json_int_t)st.duplicates, "rejected_count",
      (json_int_t)a->rejected, "invalid_records",
      a->rejected ? json_incref(a->invalid) : json_null(), "duplicate_indexes",
      dups ? json_incref(dups) : json_array());
  if (!data) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  if (a->rejected || st.duplicates)
    resp_ok(rs, data,
            "Successfully added %zu sales records; %zu rejected, %zu duplicates "
            "skipped",
            st.inserted, a->rejected, st.duplicates);
  else
    resp_ok(rs, data, "Successfully added %zu sales records", st.inserted);
  ret = 0;
out:
  if (in_tx)
    store_rollback(db);
  if (db)
    store_pool_put(a->app->pool, db);
  json_decref(dups);
  free(batch);
  free(dup);
  return ret;
}

static int add_close(void *state, struct req *rq, struct resp *rs) {
  struct sales_add *a = state;
  struct gerr err;
  int rc = jsonrec_finish(a->jr, &err);
  if (rc < 0 || a->budget || a->oom)
    return add_read_error(a, rc, &err, rs);
  if (a->rejected && (a->atomic || a->n == 0))
    return resp_error(rs, GERR_INVALID_RECORDS, json_incref(a->invalid),
                      "%zu of %zu records are invalid; nothing was stored%s", a->rejected,
                      a->total, a->atomic && a->n ? " (atomic=true)" : "");
  /* The state is the stream's: freed by add_free after the wait. */
  rs->wait_fn = add_store;
  rs->wait_ctx = a;
  rs->wait_free = NULL;
  (void)rq;
  return 0;
}

static void add_free(void *state) {
  struct sales_add *a = state;
  if (!a)
    return;
  jsonrec_free(a->jr);
  buf_release(&a->packed);
  json_decref(a->invalid);
  free(a->index_of);
  free(a);
}

const struct stream_ops api_sales_add_ops = {
    .open = add_open, .chunk = add_chunk, .close = add_close, .free = add_free};

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
