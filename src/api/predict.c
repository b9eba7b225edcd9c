/* POST /predict/demand, /predict/demand-rise and /predict/top-product.
 *
 * The hot path: the body is read by yajl's event parser straight into
 * queries (no document tree), each field judged by the sales record's own
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
#include <yajl/yajl_parse.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/models.h"
#include "gromo/record.h"
#include "gromo/shares.h"

#define PREDICT_MAX_QUERIES 10000
#define PREDICT_MAX_DEPTH 32
#define DETAILS_MAX 1000 /* problems listed; all are counted */
#define ANSWER_MAX 32768 /* bytes of one rendered answer, at most */

/* One query as read, with what was given. Kept small (no problems list):
 * a batch holds up to 10,000 of them. */
struct pquery {
  struct predict_query q;
  unsigned seen; /* bit per enum sale_field */
};

enum pq_state { PQ_TOP, PQ_ARRAY, PQ_QUERY, PQ_DONE };

struct pq_reader {
  enum predict_kind kind;
  struct pquery *q; /* queries read */
  size_t n, cap;
  size_t invalid; /* queries with problems */
  int too_many;
  int oom;
  enum pq_state state;
  int single;
  int depth, skip_depth;
  int field; /* field of the next value; -1 unknown member */
  struct sale scratch; /* the record rules write here */
  struct sale_problems pr; /* the current query's problems */
  json_t *details; /* problems of invalid queries so far, at most DETAILS_MAX */
  char error[160];
};

static const struct {
  const char *name;
  enum sale_field f;
} query_fields[] = {
    {"pincode", SF_PINCODE},           {"product", SF_PRODUCT},
    {"channel", SF_CHANNEL},           {"customer_age", SF_CUSTOMER_AGE},
    {"customer_income", SF_CUSTOMER_INCOME},
};

static struct pquery *cur(struct pq_reader *r) { return &r->q[r->n]; }

static int query_begin(struct pq_reader *r) {
  if (r->n >= PREDICT_MAX_QUERIES) {
    r->too_many = 1;
    return 0;
  }
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > PREDICT_MAX_QUERIES)
      cap = PREDICT_MAX_QUERIES;
    struct pquery *q = realloc(r->q, cap * sizeof *q);
    if (!q) {
      r->oom = 1;
      return 0;
    }
    r->q = q;
    r->cap = cap;
  }
  struct pquery *p = cur(r);
  memset(&p->q, 0, sizeof p->q);
  p->seen = 0;
  sale_problems_clear(&r->pr);
  sale_text_begin(&r->scratch, &r->pr);
  r->state = PQ_QUERY;
  r->field = -1;
  return 1;
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
}

static int query_end(struct pq_reader *r) {
  struct pquery *p = cur(r);
  struct sale *s = &r->scratch;
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
  if (r->pr.count) {
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
  r->state = r->single ? PQ_DONE : PQ_ARRAY;
  return 1;
}

/* An element that is not an object: one invalid query. */
static int element_not_object(struct pq_reader *r) {
  if (!query_begin(r))
    return 0;
  sale_problem_add(&r->pr, SF_RECORD, "must be a JSON object");
  invalid_query(r);
  r->n++;
  r->state = PQ_ARRAY;
  return 1;
}

static int top_level_error(struct pq_reader *r) {
  snprintf(r->error, sizeof r->error,
           "the body must be a JSON array of queries or one query object");
  return 0;
}

static int on_scalar(struct pq_reader *r, char type, const char *s, size_t n, long long iv,
                     double dv) {
  if (r->skip_depth)
    return 1;
  switch (r->state) {
  case PQ_TOP:
  case PQ_DONE:
    return top_level_error(r);
  case PQ_ARRAY:
    return element_not_object(r);
  case PQ_QUERY:
    break;
  }
  int f = r->field;
  r->field = -1;
  if (f < 0)
    return 1; /* an unknown member: ignored */
  static const struct sale_rules rules = {0}; /* no dates in a query */
  enum sale_field sf = (enum sale_field)f;
  struct sale_problems *pr = &r->pr;
  switch (type) {
  case 's':
    sale_json_set_string(&r->scratch, sf, s, n, &rules, pr);
    break;
  case 'i':
    sale_json_set_integer(&r->scratch, sf, iv, &rules, pr);
    break;
  case 'r':
    sale_json_set_real(&r->scratch, sf, dv, &rules, pr);
    break;
  case 'n': /* null: absent */
    cur(r)->seen &= ~(1u << sf);
    break;
  default:
    sale_json_set_wrong_type(&r->scratch, sf, "boolean", pr);
  }
  /* A blank string counts as absent, as in records. */
  if (type == 's' && (sf == SF_PRODUCT || sf == SF_CHANNEL || sf == SF_PINCODE)) {
    int blank = 1;
    for (size_t i = 0; i < n && blank; i++)
      blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n';
    if (blank)
      cur(r)->seen &= ~(1u << sf);
  }
  return 1;
}

static int cb_null(void *c) { return on_scalar(c, 'n', NULL, 0, 0, 0); }
static int cb_bool(void *c, int b) { return on_scalar(c, 'b', NULL, 0, 0, 0); }
static int cb_number(void *c, const char *s, size_t n) {
  char text[64];
  if (n >= sizeof text)
    return on_scalar(c, 'r', NULL, 0, 0, HUGE_VAL);
  memcpy(text, s, n);
  text[n] = '\0';
  if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == 0)
      return on_scalar(c, 'i', NULL, 0, v, 0);
  }
  return on_scalar(c, 'r', NULL, 0, 0, strtod(text, NULL));
}
static int cb_string(void *c, const unsigned char *s, size_t n) {
  return on_scalar(c, 's', (const char *)s, n, 0, 0);
}

static int open_container(struct pq_reader *r, int is_map) {
  if (++r->depth > PREDICT_MAX_DEPTH) {
    snprintf(r->error, sizeof r->error, "JSON nested deeper than %d levels", PREDICT_MAX_DEPTH);
    return 0;
  }
  if (r->skip_depth) {
    r->skip_depth++;
    return 1;
  }
  switch (r->state) {
  case PQ_TOP:
    if (is_map) {
      r->single = 1;
      return query_begin(r);
    }
    r->state = PQ_ARRAY;
    return 1;
  case PQ_ARRAY:
    if (is_map)
      return query_begin(r);
    r->skip_depth = 1;
    return element_not_object(r);
  case PQ_QUERY:
    if (r->field >= 0) {
      sale_json_set_wrong_type(&r->scratch, (enum sale_field)r->field,
                               is_map ? "object" : "array", &r->pr);
    }
    r->field = -1;
    r->skip_depth = 1;
    return 1;
  case PQ_DONE:
    return top_level_error(r);
  }
  return 1;
}

static int close_container(struct pq_reader *r) {
  r->depth--;
  if (r->skip_depth) {
    r->skip_depth--;
    return 1;
  }
  if (r->state == PQ_QUERY)
    return query_end(r);
  if (r->state == PQ_ARRAY)
    r->state = PQ_DONE;
  return 1;
}

static int cb_start_map(void *c) { return open_container(c, 1); }
static int cb_start_array(void *c) { return open_container(c, 0); }
static int cb_end(void *c) { return close_container(c); }

static int cb_key(void *c, const unsigned char *k, size_t n) {
  struct pq_reader *r = c;
  if (r->skip_depth)
    return 1;
  r->field = -1;
  for (size_t i = 0; i < sizeof query_fields / sizeof query_fields[0]; i++)
    if (strlen(query_fields[i].name) == n && !memcmp(query_fields[i].name, k, n)) {
      enum sale_field f = query_fields[i].f;
      if (f == SF_PRODUCT && r->kind == PREDICT_TOP_PRODUCT)
        return 1; /* not an input of top-product: ignored like any other */
      struct pquery *p = cur(r);
      if (p->seen & (1u << f)) {
        sale_problem_add(&r->pr, f, "is given twice");
        return 1;
      }
      p->seen |= 1u << f;
      r->field = (int)f;
      return 1;
    }
  return 1;
}

static const yajl_callbacks pq_callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

/* Reads the queries of a body. 0; or -1 after resp_error (malformed JSON,
 * too many queries, invalid queries). */
static int read_queries(struct req *rq, struct resp *rs, struct pq_reader *r) {
  yajl_handle h = yajl_alloc(&pq_callbacks, NULL, r);
  if (!h)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  yajl_status st = yajl_parse(h, (const unsigned char *)rq->body, rq->body_len);
  if (st == yajl_status_ok)
    st = yajl_complete_parse(h);
  int ret = 0;
  if (r->oom) {
    ret = resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  } else if (r->too_many) {
    ret = resp_error(rs, GERR_TOO_LARGE, NULL,
                     "more than %d queries in one request; send them in batches",
                     PREDICT_MAX_QUERIES);
  } else if (r->error[0]) {
    ret = resp_error(rs, GERR_INVALID_INPUT, NULL, "%s", r->error);
  } else if (st != yajl_status_ok || r->state != PQ_DONE) {
    if (st == yajl_status_ok || r->state == PQ_ARRAY || r->state == PQ_QUERY) {
      ret = resp_error(rs, GERR_INVALID_INPUT, NULL,
                       r->state == PQ_TOP
                           ? "the body is empty; a JSON array of queries is required"
                           : "the JSON ends before the array or query is closed (truncated)");
    } else {
      unsigned char *m = yajl_get_error(h, 0, (const unsigned char *)rq->body, rq->body_len);
      char msg[200];
      snprintf(msg, sizeof msg, "%s", m ? (const char *)m : "parse error");
      if (m)
        yajl_free_error(h, m);
      size_t n = strlen(msg);
      while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
      json_t *d = json_pack("[{s:s,s:s}]", "field", "body", "problem", msg);
      ret = resp_error(rs, GERR_INVALID_INPUT, d, "malformed JSON: %s", msg);
    }
  }
  yajl_free(h);
  if (ret < 0 || r->invalid == 0)
    return ret;
  json_t *details = r->details;
  r->details = NULL;
  return resp_error(rs, GERR_INVALID_RECORDS, details,
                    "%zu of %zu queries are invalid; nothing was predicted", r->invalid, r->n);
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
    PUT_NUM(o, ",\"predicted_demand\":", a->predicted_demand);
    PUT_NUM(o, ",\"confidence\":", a->confidence);
    PUT_NUM(o, ",\"interval\":{\"low\":", a->low);
    PUT_NUM(o, ",\"high\":", a->high);
    PUT_NUM(o, ",\"level\":", a->level);
    PUT_NUM(o, "},\"last_period_demand\":", a->last_period_demand);
    break;
  case PREDICT_RISE:
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

static int predict(struct req *rq, struct resp *rs, enum predict_kind kind) {
  int explain = param_bool(req_query(rq, "explain"), 0);
  if (explain < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "explain must be true or false");
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  const struct suite *s = h ? model_holder_get(h) : NULL;
  if (!s)
    return resp_error(rs, GERR_UNAVAILABLE, NULL,
                      "models are not trained yet: POST /models/train");
  struct pq_reader r = {.kind = kind, .field = -1};
  struct buf second;
  buf_init(&second, (size_t)1 << 30);
  int ret = -1;
  if (read_queries(rq, rs, &r) < 0)
    goto out;
  int64_t version = suite_version(s);
  struct buf *b = &rs->data_raw;
  size_t per = explain ? 700 : 320; /* bytes an answer, about */
  size_t mid = r.n >= (explain ? SPLIT_FROM_EXPLAIN : SPLIT_FROM) ? r.n / 2 : r.n;
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
  free(r.q);
  json_decref(r.details);
  return ret;
}

int api_predict_demand(struct req *rq, struct resp *rs) {
  return predict(rq, rs, PREDICT_DEMAND);
}

int api_predict_rise(struct req *rq, struct resp *rs) { return predict(rq, rs, PREDICT_RISE); }

int api_predict_top_product(struct req *rq, struct resp *rs) {
  return predict(rq, rs, PREDICT_TOP_PRODUCT);
}
