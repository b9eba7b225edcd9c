/* POST /sales/upload: a file of sales as the body, or as the "file" field
 * of multipart/form-data, read as it arrives. CSV, NDJSON and JSON arrays are
 * parsed and checked chunk by chunk; XLSX and XLS need random access, so they
 * are kept whole in a spool file (spool.h) and read once the body is
 * complete. Valid records are staged in a spool file of their own: while the
 * body arrives the upload holds no store connection, no transaction and no
 * lock, however slowly the client sends.
 *
 * Once the body is complete, close hands the rest to a parked thread
 * (rs->wait_fn), never an HTTP thread: it reads a spreadsheet, then takes a
 * connection, begins the transaction, checks that the key was not revoked
 * meanwhile, stores the staged records through an ingest_writer's thread and
 * commits. Nothing of an upload is stored unless the response says so. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/ingest.h"
#include "gromo/keys.h"
#include "gromo/spool.h"
#include "gromo/store.h"
#include "gromo/tabular.h"
#include "gromo/timeutil.h"

/* Records per insert: the writer holds at most three batches (about 1.2 MB
 * each). */
#define UPLOAD_BATCH 2000
#define UPLOAD_DETAILS_MAX 1000

struct upload {
  struct req *rq;
  int atomic;
  enum ingest_file fmt;
  enum ingest_file declared;  /* from the Content-Type, then the file name */
  struct sale_rules rules;
  struct jsonrec *jr;
  struct csvrec *cr;
  struct ndjsonrec *nr;
  struct spool_file *raw;   /* XLSX, XLS: the body as it came */
  struct sale_stage *stage; /* the valid records, until they are stored */
  struct ingest_writer *w;  /* while the staged records are stored */
  size_t records, inserted, duplicates, rejected;
  json_t *invalid;
  struct gerr err;
};

static struct spool *upload_spool(const struct upload *u) {
  return u->rq->app ? u->rq->app->spool : NULL;
}

/* An error of the upload as the answer; a full spool asks the client to
 * come back later. */
static int upload_fail(struct resp *rs, const struct gerr *e) {
  if (e->code == GERR_OK)
    return resp_error(rs, GERR_INTERNAL, NULL, "upload failed");
  if (e->code == GERR_INSUFFICIENT_STORAGE)
    resp_header(rs, "Retry-After", "%d", SPOOL_RETRY_AFTER_SECONDS);
  return resp_error_from(rs, e);
}

/* Every record of every format comes here; the valid ones are staged. */
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
  if (!u->stage && sale_stage_new(upload_spool(u), &u->stage, &u->err) < 0)
    return 1;
  return sale_stage_add(u->stage, rec, &u->err) < 0 ? 1 : 0;
}

static int on_tab_row(void *ctx, size_t row, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  return on_record(ctx, row, "row", rec, valid, pr);
}

static int on_json_record(void *ctx, size_t index, const struct sale *rec, int valid,
                          const struct sale_problems *pr) {
  return on_record(ctx, index, "index", rec, valid, pr);
}

static int upload_open(struct req *rq, struct resp *rs, void **state) {
  /* The key check's connection goes back to the pool: until its body is
   * complete an upload holds none. */
  req_release(rq);
  int atomic = param_bool(req_query(rq, "atomic"), 0);
  if (atomic < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "atomic must be true or false");
  struct upload *u = calloc(1, sizeof *u);
  if (!u)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  *state = u;
  u->rq = rq;
  u->atomic = atomic;
  u->rules.now_ist_ms = now_ist_ms();
  u->invalid = json_array();
  const char *ct = rq->content_type;
  if (ct && !strncasecmp(ct, "multipart/form-data", 19))
    ct = NULL; /* the part says */
  u->declared = ingest_file_of_type(ct);
  if (ct && u->declared == FILE_UNKNOWN && strncasecmp(ct, "application/octet-stream", 24))
    return resp_error(rs, GERR_MEDIA_TYPE, NULL,
                      "cannot read %.80s: send CSV, XLSX, XLS, a JSON array or NDJSON", ct);
  if (!u->invalid)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return 0;
}

static int upload_part(void *state, const char *filename, const char *ctype,
                       struct resp *rs) {
  struct upload *u = state;
  enum ingest_file f = ingest_file_of_type(ctype);
  if (f == FILE_UNKNOWN)
    f = ingest_file_of_name(filename);
  if (f != FILE_UNKNOWN)
    u->declared = f;
  return 0;
}

/* Decides the format on the first bytes and starts its reader. */
static int start_reader(struct upload *u, const char *p, size_t n, struct resp *rs) {
  u->fmt = u->declared != FILE_UNKNOWN ? u->declared : ingest_file_of_bytes(p, n);
  switch (u->fmt) {
  case FILE_CSV:
    if (csvrec_new(&u->rules, NULL, on_tab_row, u, &u->cr, &u->err) < 0)
      return resp_error_from(rs, &u->err);
    return 0;
  case FILE_JSON:
    if (jsonrec_new(&u->rules, on_json_record, u, &u->jr) < 0)
      return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    return 0;
  case FILE_NDJSON: /* rows are line numbers */
    if (ndjsonrec_new(&u->rules, on_tab_row, u, &u->nr) < 0)
      return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    return 0;
  case FILE_XLSX:
  case FILE_XLS:
    if (spool_file_new(upload_spool(u), &u->raw, &u->err) < 0)
      return upload_fail(rs, &u->err);
    return 0;
  default:
    return 0;
  }
}

static int upload_chunk(void *state, const char *p, size_t n, struct resp *rs) {
  struct upload *u = state;
  if (!n)
    return 0;
  if (u->fmt == FILE_UNKNOWN && start_reader(u, p, n, rs) < 0)
    return -1;
  int rc = 0;
  switch (u->fmt) {
  case FILE_CSV:
    rc = csvrec_feed(u->cr, p, n, &u->err);
    break;
  case FILE_JSON:
    rc = jsonrec_feed(u->jr, p, n, &u->err);
    break;
  case FILE_NDJSON:
    rc = ndjsonrec_feed(u->nr, p, n, &u->err);
    break;
  default:
    rc = spool_file_write(u->raw, p, n, &u->err);
  }
  return rc < 0 ? upload_fail(rs, &u->err) : 0;
}

/* Nothing may be stored: every record was rejected, or some were and the
 * upload is atomic. */
static int must_reject(const struct upload *u) {
  return u->rejected && (u->atomic || u->records == u->rejected);
}

static int reject(struct upload *u, struct resp *rs) {
  return resp_error(rs, GERR_INVALID_RECORDS, json_incref(u->invalid),
                    "%zu of %zu records are invalid; nothing was stored%s", u->rejected,
                    u->records, u->atomic && u->records > u->rejected ? " (atomic=true)" : "");
}

static int answer(struct upload *u, struct resp *rs) {
  json_t *data = json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "format", ingest_file_name(u->fmt),
                           "records", (json_int_t)u->records, "inserted_count",
                           (json_int_t)u->inserted, "duplicate_count",
                           (json_int_t)u->duplicates, "rejected_count",
                           (json_int_t)u->rejected, "invalid_records",
                           u->rejected ? json_incref(u->invalid) : json_null());
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "Stored %zu of %zu records (%zu duplicates, %zu rejected)",
                 u->inserted, u->records, u->duplicates, u->rejected);
}

struct key_state {
  int64_t id;
  int active;
};

static int key_seen(void *ctx, const struct key_row *k) {
  struct key_state *ks = ctx;
  if (k->id != ks->id)
    return 0;
  ks->active = k->revoked_at[0] == '\0';
  return 1;
}

/* 1 when the key with this id is no longer active, 0 when it is, -1 on a
 * store error. */
static int key_revoked(struct store *db, int64_t id, struct gerr *err) {
  struct key_state ks = {id, 0};
  if (id <= 0)
    return 0; /* no key: a caller without the HTTP layer */
  if (store_key_scan(db, NULL, key_seen, &ks, err) < 0)
    return -1;
  return ks.active ? 0 : 1;
}

static int stage_to_writer(void *ctx, const struct sale *rec) {
  struct upload *u = ctx;
  return ingest_writer_add(u->w, rec, &u->err) < 0 ? 1 : 0;
}

/* The staged records into the store, in one transaction. The statements
 * may wait for the write lock (another upload's commit, a revocation):
 * this is a parked thread, not an HTTP one. The key is checked again under
 * the lock, so a key revoked while its upload was sent stores nothing. */
static int store_staged(struct upload *u, struct resp *rs) {
  struct gerr *err = &u->err;
  gerr_clear(err);
  struct store *db = req_store(u->rq, err);
  if (!db)
    return upload_fail(rs, err);
  store_set_busy_timeout(db, STORE_BUSY_LONG_MS);
  struct store_insert_stats st = {0, 0};
  int revoked = 0;
  int rc = store_begin(db, err);
  if (rc == 0 && (rc = key_revoked(db, u->rq->key_id, err)) == 1) {
    revoked = 1;
    rc = -1;
  }
  if (rc == 0)
    rc = ingest_writer_start(db, UPLOAD_BATCH, &u->w, err);
  if (rc == 0)
    rc = sale_stage_replay(u->stage, stage_to_writer, u, err) == 0 ? 0 : -1;
  if (rc == 0)
    rc = ingest_writer_finish(u->w, &st, err);
  ingest_writer_free(u->w); /* first: it may be storing a batch */
  u->w = NULL;
  if (rc == 0)
    rc = store_commit(db, err);
  store_rollback(db); /* nothing, once committed */
  store_set_busy_timeout(db, STORE_BUSY_MS);
  req_release(u->rq);
  if (revoked) {
    resp_header(rs, "WWW-Authenticate", "Bearer realm=\"gromo\", error=\"invalid_token\"");
    return resp_error(rs, GERR_UNAUTHORIZED, NULL,
                      "the API key was revoked while the upload was sent; nothing was "
                      "stored");
  }
  if (rc < 0)
    return upload_fail(rs, err);
  u->inserted = st.inserted;
  u->duplicates = st.duplicates;
  return answer(u, rs);
}

/* The rest of an upload once its body is complete, on a parked thread: a
 * spreadsheet is read (into the stage), then the staged records stored. */
static int upload_finish(void *ctx, struct resp *rs) {
  struct upload *u = ctx;
  if (u->raw) {
    size_t rows = 0;
    int rc = u->fmt == FILE_XLSX ? xlsxrec_read(spool_file_path(u->raw), &u->rules, NULL,
                                               on_tab_row, u, &rows, &u->err)
                                : xlsrec_read(spool_file_path(u->raw), &u->rules, NULL,
                                              on_tab_row, u, &rows, &u->err);
    spool_file_free(u->raw); /* its room goes back to the spool */
    u->raw = NULL;
    if (rc < 0)
      return upload_fail(rs, &u->err);
  }
  if (must_reject(u))
    return reject(u, rs);
  if (!u->stage || sale_stage_count(u->stage) == 0)
    return answer(u, rs);
  return store_staged(u, rs);
}

static int upload_close(void *state, struct req *rq, struct resp *rs) {
  struct upload *u = state;
  int rc = 0;
  gerr_clear(&u->err);
  switch (u->fmt) {
  case FILE_UNKNOWN:
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "the file is empty");
  case FILE_CSV:
    rc = csvrec_finish(u->cr, &u->err);
    break;
  case FILE_JSON:
    rc = jsonrec_finish(u->jr, &u->err);
    break;
  case FILE_NDJSON:
    rc = ndjsonrec_finish(u->nr, &u->err);
    break;
  case FILE_XLSX:
  case FILE_XLS:
    rc = spool_file_flush(u->raw, &u->err);
    break;
  }
  if (rc != 0)
    return upload_fail(rs, &u->err);
  (void)rq;
  if (u->raw || (!must_reject(u) && u->stage && sale_stage_count(u->stage))) {
    rs->wait_fn = upload_finish; /* the server frees u only after it */
    rs->wait_ctx = u;
    rs->wait_free = NULL;
    return 0;
  }
  return must_reject(u) ? reject(u, rs) : answer(u, rs);
}

static void upload_free(void *state) {
  struct upload *u = state;
  if (!u)
    return;
  ingest_writer_free(u->w);
  spool_file_free(u->raw);
  sale_stage_free(u->stage);
  csvrec_free(u->cr);
  jsonrec_free(u->jr);
  ndjsonrec_free(u->nr);
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
