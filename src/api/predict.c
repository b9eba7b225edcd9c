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
#include "gromo/app.h"
#include "gromo/jsonobj.h"
#include "gromo/models.h"
#include "gromo/record.h"
#include "gromo/shares.h"

#define PREDICT_MAX_QUERIES 10000
#define DETAILS_MAX 1000 /* problems listed; all are counted */
#define ANSWER_MAX 32768 /* bytes of one rendered answer, at most */

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

/* A number rounded to 4 decimals, trailing zeros dropped; null when not
 * finite. out has 40 bytes. */
static size_t fmt_num(double v, char *out) {
  if (!isfinite(v) || fabs(v) >= 1e14) {
    if (isfinite(v))
      return (size_t)snprintf(out, 40, "%.6g", v);
    memcpy(out, "null", 5);
    return 4;
  }
  long long scaled = llround(v * 10000.0);
  char *p = out;
  if (scaled < 0) {
    *p++ = '-';
    scaled = -scaled;
  }
  long long ip = scaled / 10000, fp = scaled % 10000;
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + ip % 10);
    ip /= 10;
  } while (ip);
  while (n)
    *p++ = tmp[--n];
  if (fp) {
    *p++ = '.';
    char d[4];
    for (int i = 3; i >= 0; i--) {
      d[i] = (char)('0' + fp % 10);
      fp /= 10;
    }
    int last = 3;
    while (d[last] == '0')
      last--;
    for (int i = 0; i <= last; i++)
      *p++ = d[i];
  }
  if (p - out == 2 && out[0] == '-' && out[1] == '0') /* -0 */
    p = out, *p++ = '0';
  *p = '\0';
  return (size_t)(p - out);
}

/* A bounded writer for one answer: rendering without printf, which cost a
 * fifth of a batch's time. An answer that would not fit sets `full`. */
struct out {
  char *p, *end;
  int full;
};

static void put(struct out *o, const char *s, size_t n) {
  if ((size_t)(o->end - o->p) < n) {
    o->full = 1;
    return;
  }
  memcpy(o->p, s, n);
  o->p += n;
}

#define PUT_LIT(o, lit) put(o, lit, sizeof lit - 1)

static void put_num(struct out *o, const char *key, size_t keylen, double v) {
  char num[40];
  size_t n = fmt_num(v, num);
  put(o, key, keylen);
  put(o, num, n);
}

#define PUT_NUM(o, lit, v) put_num(o, lit, sizeof lit - 1, v)

static void put_int(struct out *o, long long v) {
  char tmp[24];
  int n = 0;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    tmp[sizeof tmp - 1 - n++] = '-';
  put(o, tmp + sizeof tmp - n, (size_t)n);
}

/* A JSON string, quoted and escaped. */
static void put_str(struct out *o, const char *s) {
  static const char hex[] = "0123456789abcdef";
  put(o, "\"", 1);
  for (const char *run = s;; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    put(o, run, (size_t)(s - run));
    if (!c)
      break;
    char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
    if (c < 0x20) {
      esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
      put(o, esc, 6);
    } else {
      put(o, esc, 2);
    }
    run = s + 1;
  }
  put(o, "\"", 1);
}

static void put_pincode(struct out *o, int32_t pin) {
  char t[10] = "\"000000\"";
  for (int i = 6; i >= 1 && pin > 0; i--, pin /= 10)
    t[i] = (char)('0' + pin % 10);
  put(o, t, 8);
}

/* Identifiers are [a-z][a-z0-9_]*: nothing to escape. */
static void put_ident(struct out *o, const char *s) {
  put(o, "\"", 1);
  put(o, s, strnlen(s, SALE_IDENT_MAX));
  put(o, "\"", 1);
}

/* "horizon" and the forecast period's dates (YYYY-MM-DD: nothing to
 * escape). */
static void put_period(struct out *o, const struct predict_answer *a) {
  PUT_LIT(o, ",\"horizon\":");
  put_int(o, a->horizon);
  PUT_LIT(o, ",\"period\":{\"from\":");
  put_str(o, a->period_from);
  PUT_LIT(o, ",\"to\":");
  put_str(o, a->period_to);
  PUT_LIT(o, "}");
}

static void render_answer(struct out *o, enum predict_kind kind, const struct predict_query *q,
                          const struct predict_answer *a, long long version, int explain) {
  PUT_LIT(o, "{\"pincode\":");
  put_pincode(o, q->pincode);
  if (kind != PREDICT_TOP_PRODUCT) {
    PUT_LIT(o, ",\"product\":");
    put_ident(o, q->product);
  }
  PUT_LIT(o, ",\"channel\":");
  put_ident(o, q->channel);
  if (q->has_customer) {
    PUT_LIT(o, ",\"customer_age\":");
    put_int(o, q->customer_age);
    PUT_NUM(o, ",\"customer_income\":", q->customer_income);
  }
  switch (kind) {
  case PREDICT_DEMAND:
    put_period(o, a);
    PUT_NUM(o, ",\"predicted_demand\":", a->predicted_demand);
    PUT_NUM(o, ",\"confidence\":", a->confidence);
    PUT_NUM(o, ",\"interval\":{\"low\":", a->low);
    PUT_NUM(o, ",\"high\":", a->high);
    PUT_NUM(o, ",\"level\":", a->level);
    PUT_NUM(o, "},\"last_period_demand\":", a->last_period_demand);
    break;
  case PREDICT_RISE:
    put_period(o, a);
    if (a->demand_rise)
      PUT_LIT(o, ",\"demand_rise\":true");
    else
      PUT_LIT(o, ",\"demand_rise\":false");
    PUT_NUM(o, ",\"probability\":", a->probability);
    PUT_NUM(o, ",\"last_period_demand\":", a->last_period_demand);
    break;
  default: {
    size_t np = a->nproducts < PREDICT_MAX_PRODUCTS ? a->nproducts : PREDICT_MAX_PRODUCTS;
    /* Printed in units of 1e-4 that sum to exactly 1; the probability is the
     * top product's printed figure. */
    long units[PREDICT_MAX_PRODUCTS];
    int shared = shares_round(a->product_prob, np, 10000, units) == 0;
    PUT_LIT(o, ",\"top_product\":");
    put_str(o, np && a->top < np && a->products[a->top] ? a->products[a->top] : "");
    PUT_NUM(o, ",\"probability\":",
            shared && a->top < np ? (double)units[a->top] / 1e4 : a->probability);
    PUT_LIT(o, ",\"all_products\":{");
    for (size_t k = 0; k < np; k++) {
      if (k)
        PUT_LIT(o, ",");
      put_str(o, a->products[k] ? a->products[k] : "");
      PUT_NUM(o, ":", shared ? (double)units[k] / 1e4 : a->product_prob[k]);
    }
    PUT_LIT(o, "}");
  }
  }
  PUT_LIT(o, ",\"model_version\":");
  put_int(o, version);
  if (a->region_id > 0) {
    PUT_LIT(o, ",\"region_id\":");
    put_int(o, a->region_id);
  } else {
    PUT_LIT(o, ",\"region_id\":null");
  }
  PUT_LIT(o, ",\"source\":");
  put_str(o, a->source ? a->source : "model");
  if (a->fallback) {
    char reason[sizeof a->fallback_reason + 1];
    size_t n = strnlen(a->fallback_reason, sizeof a->fallback_reason);
    memcpy(reason, a->fallback_reason, n);
    reason[n] = '\0';
    PUT_LIT(o, ",\"fallback\":true,\"fallback_reason\":");
    put_str(o, reason);
  } else {
    PUT_LIT(o, ",\"fallback\":false");
  }
  if (explain) {
    PUT_LIT(o, ",\"drivers\":[");
    size_t nd = a->ndrivers < PREDICT_MAX_DRIVERS ? a->ndrivers : PREDICT_MAX_DRIVERS;
    for (size_t i = 0; i < nd; i++) {
      const struct predict_driver *d = &a->drivers[i];
      if (i)
        PUT_LIT(o, ",");
      PUT_LIT(o, "{\"feature\":");
      put_str(o, d->feature);
      PUT_NUM(o, ",\"value\":", d->value);
      PUT_NUM(o, ",\"contribution\":", d->contribution);
      PUT_LIT(o, "}");
    }
    PUT_LIT(o, "]");
  }
  PUT_LIT(o, "}");
}

int predict_render(struct buf *b, int comma, enum predict_kind kind,
                   const struct predict_query *q, const struct predict_answer *a,
                   int64_t version, int explain) {
  /* Every answer fits: its parts are bounded (64 products, 5 drivers of
   * 96-byte names, reasons of 512 bytes, each at most 6 bytes an escaped
   * byte). */
  char text[ANSWER_MAX];
  struct out o = {text, text + sizeof text, 0};
  if (comma)
    PUT_LIT(&o, ",");
  render_answer(&o, kind, q, a, (long long)version, explain);
  return o.full ? -1 : buf_append(b, text, (size_t)(o.p - text));
}

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
