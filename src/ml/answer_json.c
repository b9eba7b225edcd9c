/* Prediction answers as JSON text (answer_json.h). */
#include "gromo/answer_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gromo/record.h"
#include "gromo/shares.h"

#define ANSWER_MAX 32768 /* bytes of one rendered answer, at most */

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

/* A JSON string, quoted and escaped (json_escape_byte, buf.h). */
static void put_str(struct out *o, const char *s) {
  put(o, "\"", 1);
  const char *run = s;
  for (; *s; s++) {
    char esc[6];
    size_t elen = json_escape_byte((unsigned char)*s, esc);
    if (!elen)
      continue;
    put(o, run, (size_t)(s - run));
    put(o, esc, elen);
    run = s + 1;
  }
  put(o, run, (size_t)(s - run));
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
