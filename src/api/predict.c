/* POST /predict/demand, /predict/demand-rise and /predict/top-product.
 *
 * The hot path: the body is read as it arrives by the flat-object reader
 * (jsonobj.h, on yajl's event parser) straight into queries (no document
 * tree, no copy of the text), each field judged by the sales record's own
 * rules (record.h), and the answers are written as JSON text into the
 * response buffer. One reference to the serving suite is held for the whole
 * request, so every answer of a request comes from the same model version
 * even while a retraining swaps in a new one. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gromo/answer_json.h"
#include "gromo/app.h"
#include "gromo/jsonobj.h"
#include "gromo/models.h"
#include "gromo/record.h"
#include "gromo/shares.h"

#define PREDICT_MAX_QUERIES 10000
#define DETAILS_MAX 1000 /* problems listed; all are counted */

/* One query as read, with what was given. Kept small (no problems list):
 * a batch holds up to 10,000 of them. */
struct pquery {
  struct predict_query q;
  unsigned seen; /* bit per enum sale_field */
};

/* The queries of a body, read as it arrives by the flat-object reader
 * (the same that reads sales records), each field judged by the record's
 * rules. */
struct pq_reader {
  enum predict_kind kind;
  struct req *rq;   /* for the memory the queries hold */
  struct jsonobj *jo;
  struct pquery *q; /* queries read */
  size_t n, cap;
  size_t invalid; /* queries with problems */
  int too_many;
  int oom, budget;
  struct sale scratch; /* the record rules write here */
  struct sale_problems pr; /* the current query's problems */
  const char *hz_problem;  /* the current query's horizon problem, or NULL */
  int horizon;             /* ?horizon=, the default of every query */
  json_t *details; /* problems of invalid queries so far, at most DETAILS_MAX */
};

/* Members of a query, by their enum sale_field; then the horizon. */
#define QF_HORIZON SF__COUNT
static const char *const query_names[SF__COUNT + 1] = {
    [SF_PINCODE] = "pincode",   [SF_PRODUCT] = "product",
    [SF_CHANNEL] = "channel",   [SF_CUSTOMER_AGE] = "customer_age",
    [SF_CUSTOMER_INCOME] = "customer_income", [QF_HORIZON] = "horizon",
};
static const struct jsonobj_schema query_schema = {query_names, SF__COUNT + 1, "query",
                                                   "queries"};
#define HORIZON_PROBLEM "must be an integer from 1 to " PREDICT_MAX_HORIZON_TEXT
#define PREDICT_MAX_HORIZON_TEXT "3"
_Static_assert(PREDICT_MAX_HORIZON == 3, "the horizon problem names the largest horizon");

static struct pquery *cur(struct pq_reader *r) { return &r->q[r->n]; }

static int query_begin(void *ctx, size_t index, int is_object) {
  struct pq_reader *r = ctx;
  if (r->n >= PREDICT_MAX_QUERIES) {
    r->too_many = 1;
    return 1;
  }
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > PREDICT_MAX_QUERIES)
      cap = PREDICT_MAX_QUERIES;
    if (req_mem_hold(r->rq, cap * sizeof *r->q) < 0) {
      r->budget = 1;
      return 1;
    }
    struct pquery *q = realloc(r->q, cap * sizeof *q);
    if (!q) {
      r->oom = 1;
      return 1;
    }
    r->q = q;
    r->cap = cap;
  }
  struct pquery *p = cur(r);
  memset(&p->q, 0, sizeof p->q);
  p->q.horizon = r->horizon;
  p->seen = 0;
  r->hz_problem = NULL;
  sale_problems_clear(&r->pr);
  sale_text_begin(&r->scratch, &r->pr);
  if (!is_object)
    sale_problem_add(&r->pr, SF_RECORD, "must be a JSON object");
  (void)index;
  return 0;
}

/* Counts the current query invalid and notes its problems (the first
 * DETAILS_MAX of all queries are listed). */
static void invalid_query(struct pq_reader *r) {
  r->invalid++;
  if (!r->details && !(r->details = json_array())) {
    r->oom = 1;
    return;
  }
  int kept = r->pr.count < SALE_MAX_PROBLEMS ? r->pr.count : SALE_MAX_PROBLEMS;
  for (int k = 0; k < kept && json_array_size(r->details) < DETAILS_MAX; k++)
    json_array_append_new(r->details,
                          json_pack("{s:I,s:s,s:s}", "index", (json_int_t)r->n, "field",
                                    sale_field_name(r->pr.p[k].field), "problem",
                                    r->pr.p[k].problem));
  if (r->hz_problem && json_array_size(r->details) < DETAILS_MAX)
    json_array_append_new(r->details, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)r->n,
                                                 "field", "horizon", "problem", r->hz_problem));
}

static int query_end(void *ctx, size_t index, int is_object) {
  struct pq_reader *r = ctx;
  struct pquery *p = cur(r);
  struct sale *s = &r->scratch;
  (void)index;
  if (!is_object) {
    invalid_query(r);
    r->n++;
    return r->oom;
  }
  unsigned ok = ~0u; /* fields set without a problem */
  int kept = r->pr.count < SALE_MAX_PROBLEMS ? r->pr.count : SALE_MAX_PROBLEMS;
  for (int i = 0; i < kept; i++)
    ok &= ~(1u << r->pr.p[i].field);
  if (!(p->seen & (1u << SF_PINCODE)))
    sale_problem_add(&r->pr, SF_PINCODE, "is required");
  if (r->kind != PREDICT_TOP_PRODUCT && !(p->seen & (1u << SF_PRODUCT)))
    sale_problem_add(&r->pr, SF_PRODUCT, "is required");
  if (!(p->seen & (1u << SF_CHANNEL)))
    sale_problem_add(&r->pr, SF_CHANNEL, "is required");
  int has_age = (p->seen >> SF_CUSTOMER_AGE) & 1, has_inc = (p->seen >> SF_CUSTOMER_INCOME) & 1;
  if (has_age && !has_inc && ((ok >> SF_CUSTOMER_AGE) & 1))
    sale_problem_add(&r->pr, SF_CUSTOMER_INCOME,
                     "is required with customer_age (give both or neither)");
  if (has_inc && !has_age && ((ok >> SF_CUSTOMER_INCOME) & 1))
    sale_problem_add(&r->pr, SF_CUSTOMER_AGE,
                     "is required with customer_income (give both or neither)");
  if (r->pr.count || r->hz_problem) {
    invalid_query(r);
  } else {
    p->q.pincode = s->pincode;
    memcpy(p->q.product, s->product, sizeof p->q.product);
    memcpy(p->q.channel, s->channel, sizeof p->q.channel);
    p->q.has_customer = has_age && has_inc;
    p->q.customer_age = s->customer_age;
    p->q.customer_income = s->customer_income;
    if (r->kind == PREDICT_TOP_PRODUCT)
      p->q.product[0] = '\0';
  }
  r->n++;
  return r->oom;
}

/* The horizon member: an integer 1..PREDICT_MAX_HORIZON (null: the
 * default); demand and demand-rise only (top-product ignores it). */
static void query_horizon(struct pq_reader *r, const struct jsonobj_value *v) {
  if (r->kind == PREDICT_TOP_PRODUCT || v->type == JV_NULL)
    return;
  if (v->type == JV_TWICE)
    r->hz_problem = "is given twice";
  else if ((v->type == JV_INT && v->i >= 1 && v->i <= PREDICT_MAX_HORIZON) ||
           (v->type == JV_REAL && v->d >= 1 && v->d <= PREDICT_MAX_HORIZON &&
            v->d == floor(v->d)))
    cur(r)->q.horizon = v->type == JV_INT ? (int)v->i : (int)v->d;
  else
    r->hz_problem = HORIZON_PROBLEM;
}

static void query_value(void *ctx, int field, const struct jsonobj_value *v) {
  struct pq_reader *r = ctx;
  if (field == QF_HORIZON) {
    query_horizon(r, v);
    return;
  }
  enum sale_field sf = (enum sale_field)field;
  if (sf == SF_PRODUCT && r->kind == PREDICT_TOP_PRODUCT)
    return; /* not an input of top-product: ignored like any other */
  static const struct sale_rules rules = {0}; /* no dates in a query */
  struct sale_problems *pr = &r->pr;
  struct pquery *p = cur(r);
  p->seen |= 1u << sf;
  switch (v->type) {
  case JV_STRING:
    sale_json_set_string(&r->scratch, sf, v->s, v->n, &rules, pr);
    break;
  case JV_INT:
    sale_json_set_integer(&r->scratch, sf, v->i, &rules, pr);
    break;
  case JV_REAL:
    sale_json_set_real(&r->scratch, sf, v->d, &rules, pr);
    break;
  case JV_NULL: /* absent */
    p->seen &= ~(1u << sf);
    break;
  case JV_TWICE:
    sale_problem_add(pr, sf, "is given twice");
    break;
  default:
    sale_json_set_wrong_type(&r->scratch, sf,
                             v->type == JV_BOOL     ? "boolean"
                             : v->type == JV_OBJECT ? "object"
                                                    : "array",
                             pr);
  }
  /* A blank string counts as absent, as in records. */
  if (v->type == JV_STRING && (sf == SF_PRODUCT || sf == SF_CHANNEL || sf == SF_PINCODE)) {
    int blank = 1;
    for (size_t i = 0; i < v->n && blank; i++)
      blank = v->s[i] == ' ' || v->s[i] == '\t' || v->s[i] == '\r' || v->s[i] == '\n';
    if (blank)
      p->seen &= ~(1u << sf);
  }
}

static const struct jsonobj_ops query_ops = {query_begin, query_value, query_end};

/* The answer to a reading that stopped or failed: -1 after resp_error.
 * rc: jsonobj's (-1 malformed, -2 stopped). */
static int read_error(struct pq_reader *r, int rc, const struct gerr *err, struct resp *rs) {
  if (r->budget)
    return resp_budget_error(rs);
  if (r->oom)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  if (r->too_many)
    return resp_error(rs, GERR_TOO_LARGE, NULL,
                      "more than %d queries in one request; send them in batches",
                      PREDICT_MAX_QUERIES);
  if (!strncmp(err->msg, "malformed JSON: ", 16)) {
    json_t *d = json_pack("[{s:s,s:s}]", "field", "body", "problem", err->msg + 16);
    return resp_error(rs, GERR_INVALID_INPUT, d, "%s", err->msg);
  }
  (void)rc;
  return resp_error(rs, GERR_INVALID_INPUT, NULL, "%s", err->msg);
}

/* ---- answers as JSON text ---- */

static const char *const kind_names[PREDICT__COUNT] = {"demand", "demand-rise", "top-product"};

/* Queries [from, to) answered and rendered into out. */
struct answer_part {
  const struct suite *s;
  enum predict_kind kind;
  const struct pquery *q;
  size_t from, to;
  int explain;
  int64_t version;
  struct buf *out;
  size_t fallbacks;
  int failed;
};

static void *answer_part(void *arg) {
  struct answer_part *p = arg;
  for (size_t i = p->from; i < p->to && !p->failed; i++) {
    struct predict_answer a;
    suite_predict(p->s, p->kind, &p->q[i].q, p->explain, &a);
    p->fallbacks += a.fallback != 0;
    if (predict_render(p->out, i > 0, p->kind, &p->q[i].q, &a, p->version, p->explain) < 0)
      p->failed = 1;
  }
  return NULL;
}

/* From this many queries a batch's second half is answered on a thread of
 * its own (the suite is immutable and shared): a batch of 10,000 takes
 * half the time on two cores. Explanations cost far more a query. */
#define SPLIT_FROM 1000
#define SPLIT_FROM_EXPLAIN 64

/* Answers the queries read, all from one model version. */
static int predict_answer(struct req *rq, struct resp *rs, enum predict_kind kind,
                          int explain, const struct pq_reader *rd) {
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  const struct suite *s = h ? model_holder_get(h) : NULL;
  if (!s)
    return resp_error(rs, GERR_UNAVAILABLE, NULL,
                      "models are not trained yet: POST /models/train");
  const struct pq_reader r = *rd;
  struct buf second;
  buf_init(&second, (size_t)1 << 30);
  int ret = -1;
  int64_t version = suite_version(s);
  struct buf *b = &rs->data_raw;
  size_t per = explain ? 700 : 320; /* bytes an answer, about */
  size_t mid = r.n >= (explain ? SPLIT_FROM_EXPLAIN : SPLIT_FROM) ? r.n / 2 : r.n;
  if (req_mem_hold(rq, r.cap * sizeof *r.q + r.n * per * 2 + 16) < 0) {
    resp_budget_error(rs);
    goto out;
  }
  if (buf_reserve(b, r.n * per + 16) < 0 || buf_puts(b, "[") < 0 ||
      (mid < r.n && buf_reserve(&second, (r.n - mid) * per) < 0)) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  struct answer_part lo = {s, kind, r.q, 0, mid, explain, version, b, 0, 0};
  struct answer_part hi = {s, kind, r.q, mid, r.n, explain, version, &second, 0, 0};
  pthread_t t;
  int threaded = mid < r.n && pthread_create(&t, NULL, answer_part, &hi) == 0;
  answer_part(&lo);
  if (threaded)
    pthread_join(t, NULL);
  else
    answer_part(&hi); /* no thread to be had: this one does it */
  if (lo.failed || hi.failed) {
    resp_error(rs, GERR_INTERNAL, NULL, "the answer could not be rendered");
    goto out;
  }
  size_t fallbacks = lo.fallbacks + hi.fallbacks;
  if (buf_append(b, second.data, second.len) < 0 || buf_puts(b, "]") < 0) {
    resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
    goto out;
  }
  if (fallbacks)
    resp_ok_raw(rs, "%zu %s predictions from model version %lld (%zu from fallbacks)", r.n,
                kind_names[kind], (long long)version, fallbacks);
  else
    resp_ok_raw(rs, "%zu %s predictions from model version %lld", r.n, kind_names[kind],
                (long long)version);
  ret = 0;
out:
  model_holder_put(h, s);
  buf_release(&second);
  return ret;
}

/* A prediction request, from its headers to its answer. */
struct predict_req {
  enum predict_kind kind;
  int explain;
  struct pq_reader r;
};

static int predict_open(struct req *rq, struct resp *rs, void **state,
                        enum predict_kind kind) {
  int explain = param_bool(req_query(rq, "explain"), 0);
  if (explain < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "explain must be true or false");
  const char *hq = req_query(rq, "horizon");
  long long hv = 1;
  if (hq && kind == PREDICT_TOP_PRODUCT)
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "horizon applies to demand and demand-rise, not top-product");
  if (hq && param_int(hq, 1, PREDICT_MAX_HORIZON, &hv) < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "horizon " HORIZON_PROBLEM);
  int horizon = (int)hv;
  if (api_json_content_type(rq, rs) < 0)
    return -1;
  struct predict_req *p = calloc(1, sizeof *p);
  if (!p)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  *state = p;
  p->kind = kind;
  p->explain = explain;
  p->r.kind = kind;
  p->r.horizon = horizon;
  p->r.rq = rq;
  if (jsonobj_new(&query_schema, &query_ops, &p->r, &p->r.jo) < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return 0;
}

static int open_demand(struct req *rq, struct resp *rs, void **state) {
  return predict_open(rq, rs, state, PREDICT_DEMAND);
}
static int open_rise(struct req *rq, struct resp *rs, void **state) {
  return predict_open(rq, rs, state, PREDICT_RISE);
}
static int open_top(struct req *rq, struct resp *rs, void **state) {
  return predict_open(rq, rs, state, PREDICT_TOP_PRODUCT);
}

static int predict_chunk(void *state, const char *data, size_t n, struct resp *rs) {
  struct predict_req *p = state;
  struct gerr err;
  int rc = jsonobj_feed(p->r.jo, data, n, &err);
  return rc < 0 || p->r.oom || p->r.budget ? read_error(&p->r, rc, &err, rs) : 0;
}

static int predict_close(void *state, struct req *rq, struct resp *rs) {
  struct predict_req *p = state;
  struct pq_reader *r = &p->r;
  struct gerr err;
  int rc = jsonobj_finish(r->jo, &err);
  if (rc < 0 || r->oom || r->budget)
    return read_error(r, rc, &err, rs);
  if (r->invalid) {
    json_t *details = r->details;
    r->details = NULL;
    return resp_error(rs, GERR_INVALID_RECORDS, details,
                      "%zu of %zu queries are invalid; nothing was predicted", r->invalid,
                      r->n);
  }
  return predict_answer(rq, rs, p->kind, p->explain, r);
}

static void predict_free(void *state) {
  struct predict_req *p = state;
  if (!p)
    return;
  jsonobj_free(p->r.jo);
  free(p->r.q);
  json_decref(p->r.details);
  free(p);
}

const struct stream_ops api_predict_demand_ops = {
    .open = open_demand, .chunk = predict_chunk, .close = predict_close, .free = predict_free};
const struct stream_ops api_predict_rise_ops = {
    .open = open_rise, .chunk = predict_chunk, .close = predict_close, .free = predict_free};
const struct stream_ops api_predict_top_ops = {
    .open = open_top, .chunk = predict_chunk, .close = predict_close, .free = predict_free};
