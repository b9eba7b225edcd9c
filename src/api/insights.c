/* GET /insights/pincodes and GET /insights/regions: every pincode (region)
 * ranked by predicted demand, growth or probability of a rise, per product
 * and channel, from the serving suite's predictions of every cell (made
 * once per model version, src/ml/insights.c). JSON, or CSV to download. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/gazetteer.h"
#include "gromo/models.h"
#include "gromo/record.h"

#define INSIGHTS_LIMIT_DEFAULT 100
#define INSIGHTS_LIMIT_MAX 100000

static const char *const sort_names[] = {"demand", "growth", "rise"};

struct insights_req {
  struct insight_query q;
  char product[SALE_IDENT_MAX + 1], channel[SALE_IDENT_MAX + 1];
  size_t limit;
  int csv;
};

/* An identifier as records take it (lower-cased); -1 after a 400. */
static int ident_param(struct req *rq, struct resp *rs, const char *name, char *out) {
  const char *v = req_query(rq, name);
  out[0] = '\0';
  if (!v || !*v)
    return 0;
  size_t n = strlen(v);
  if (n > SALE_IDENT_MAX)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "%s must be an identifier of at most %d "
                      "characters", name, SALE_IDENT_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c | 0x20);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9' && i) || (c == '_' && i)))
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "%s must be an identifier ([a-z][a-z0-9_]*), not '%.40s'", name, v);
    out[i] = c;
  }
  out[n] = '\0';
  return 0;
}

static int parse_request(struct req *rq, struct resp *rs, struct insights_req *ir, int pincodes) {
  memset(ir, 0, sizeof *ir);
  if (ident_param(rq, rs, "product", ir->product) < 0 ||
      ident_param(rq, rs, "channel", ir->channel) < 0)
    return -1;
  ir->q.product = ir->product;
  ir->q.channel = ir->channel;
  const char *sort = req_query(rq, "sort");
  ir->q.sort = INSIGHT_BY_DEMAND;
  if (sort) {
    size_t k = 0;
    while (k < 3 && strcmp(sort, sort_names[k]))
      k++;
    if (k == 3)
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "sort must be demand, growth or rise, not '%.40s'", sort);
    ir->q.sort = (enum insight_sort)k;
  }
  long long v = INSIGHTS_LIMIT_DEFAULT;
  const char *limit = req_query(rq, "limit");
  if (limit && param_int(limit, 1, INSIGHTS_LIMIT_MAX, &v) < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "limit must be an integer from 1 to %d",
                      INSIGHTS_LIMIT_MAX);
  ir->limit = (size_t)v;
  const char *format = req_query(rq, "format");
  if (format && strcmp(format, "json") && strcmp(format, "csv"))
    return resp_error(rs, GERR_INVALID_INPUT, NULL, "format must be json or csv");
  ir->csv = format && !strcmp(format, "csv");
  const char *region = req_query(rq, "region");
  if (region) {
    if (param_int(region, 1, INT32_MAX, &v) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL, "region must be a region id (1 or more)");
    ir->q.region = (int32_t)v;
  }
  const char *hz = req_query(rq, "horizon");
  ir->q.horizon = 1;
  if (hz) {
    if (param_int(hz, 1, 3, &v) < 0)
      return resp_error(rs, GERR_INVALID_INPUT,
                        json_pack("[{s:s,s:s}]", "field", "horizon", "problem",
                                  "must be an integer from 1 to 3"),
                        "horizon must be an integer from 1 to 3 (periods ahead)");
    ir->q.horizon = (int)v;
  }
  const char *pin = req_query(rq, "pincode");
  if (pin) {
    if (!pincodes)
      return resp_error(rs, GERR_INVALID_INPUT, NULL, "pincode filters /insights/pincodes only");
    if (sale_parse_pincode(pin, strlen(pin), &ir->q.pincode) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL, "pincode must be 6 digits, the first 1-9");
  }
  return 0;
}

/* Numbers are written by hand: snprintf's %f costs more than all the
 * rest of a ranking of every pincode. */

/* v rounded to `places` decimals (at most 6), without trailing zeros:
 * "12.5", "-0.0003", "7". Returns the end. */
static char *put_fixed(char *p, double v, int places) {
  static const double scale[7] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
  if (!isfinite(v) || fabs(v) >= 1e12) {
    *p++ = '0';
    return p;
  }
  long long q = llround(v * scale[places]);
  if (q < 0) {
    *p++ = '-';
    q = -q;
  }
  long long whole = q / (long long)scale[places], frac = q % (long long)scale[places];
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + whole % 10);
    whole /= 10;
  } while (whole);
  while (n)
    *p++ = tmp[--n];
  if (frac) {
    char digits[8];
    for (int i = places - 1; i >= 0; i--) {
      digits[i] = (char)('0' + frac % 10);
      frac /= 10;
    }
    int last = places;
    while (last > 0 && digits[last - 1] == '0')
      last--;
    *p++ = '.';
    memcpy(p, digits, (size_t)last);
    p += last;
  }
  return p;
}

static char *put_str(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

static char *put_uint(char *p, unsigned long long v) { return put_fixed(p, (double)v, 0); }

/* (next - last) relative to the last period's demand (at least 1 sale). */
static double growth_rate(const struct insight_row *r) {
  return r->growth / (r->last > 1 ? r->last : 1);
}

/* The figures shared by both kinds of row, as JSON members or CSV fields. */
static char *put_figures(char *p, const struct insight_row *r, int csv) {
  static const char *const json_names[5] = {
      ",\"last_period_demand\":", ",\"predicted_demand\":", ",\"growth\":",
      ",\"growth_rate\":", ",\"rise_probability\":"};
  double v[5] = {r->last, r->next, r->growth, growth_rate(r), r->rise};
  for (int i = 0; i < 5; i++) {
    p = put_str(p, csv ? "," : json_names[i]);
    p = put_fixed(p, v[i], 4);
  }
  return p;
}

/* A gazetteer text, as a CSV field (quoted when it has to be) or a JSON
 * string (escaped by json_escape_byte, the service's one escaper); they
 * are short (the gazetteer's fields are), at most 130 bytes are written. A
 * control byte, which no gazetteer text holds, is written as a blank in
 * both forms. */
static char *put_text(char *p, const char *s, int csv) {
  if (!s)
    return put_str(p, csv ? "" : "null");
  size_t n = strnlen(s, 64);
  int quote = !csv || strpbrk(s, ",\"\r\n");
  if (quote)
    *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6];
    size_t k;
    if (c < 0x20) {
      *p++ = ' ';
    } else if (csv && c == '"') {
      p = put_str(p, "\"\"");
    } else if (!csv && (k = json_escape_byte(c, esc)) > 0) {
      memcpy(p, esc, k); /* 2 bytes: '"' or '\\' */
      p += k;
    } else {
      *p++ = (char)c;
    }
  }
  if (quote)
    *p++ = '"';
  return p;
}

#define ROW_MAX 768

static int render_pincode(struct buf *b, const struct insight_row *r, size_t rank, int csv) {
  char line[ROW_MAX], *p = line;
  const struct gaz_entry *e = r->place;
  char pin[8];
  snprintf(pin, sizeof pin, "%06d", (int)r->id);
  if (csv) {
    p = put_uint(p, rank);
    *p++ = ',';
    p = put_str(p, pin);
    *p++ = ',';
    p = put_text(p, e ? e->district : NULL, 1);
    *p++ = ',';
    p = put_text(p, e ? e->state : NULL, 1);
    *p++ = ',';
    if (e) {
      p = put_fixed(p, e->lat, 5);
      *p++ = ',';
      p = put_fixed(p, e->lng, 5);
    } else {
      *p++ = ',';
    }
    *p++ = ',';
    if (r->region_id > 0)
      p = put_uint(p, (unsigned long long)r->region_id);
    p = put_figures(p, r, 1);
    p = put_str(p, "\r\n");
  } else {
    p = put_str(p, "{\"rank\":");
    p = put_uint(p, rank);
    p = put_str(p, ",\"pincode\":\"");
    p = put_str(p, pin);
    p = put_str(p, "\",\"district\":");
    p = put_text(p, e ? e->district : NULL, 0);
    p = put_str(p, ",\"state\":");
    p = put_text(p, e ? e->state : NULL, 0);
    if (e) {
      p = put_str(p, ",\"lat\":");
      p = put_fixed(p, e->lat, 5);
      p = put_str(p, ",\"lng\":");
      p = put_fixed(p, e->lng, 5);
    } else {
      p = put_str(p, ",\"lat\":null,\"lng\":null");
    }
    p = put_str(p, ",\"region_id\":");
    p = r->region_id > 0 ? put_uint(p, (unsigned long long)r->region_id) : put_str(p, "null");
    p = put_figures(p, r, 0);
    *p++ = '}';
  }
  return buf_append(b, line, (size_t)(p - line));
}

static int render_region(struct buf *b, const struct insight_row *r, size_t rank, int csv) {
  char line[ROW_MAX], *p = line;
  if (csv) {
    p = put_uint(p, rank);
    *p++ = ',';
    p = put_uint(p, (unsigned long long)r->id);
    *p++ = ',';
    p = put_uint(p, r->pincodes);
    p = put_figures(p, r, 1);
    p = put_str(p, "\r\n");
  } else {
    p = put_str(p, "{\"rank\":");
    p = put_uint(p, rank);
    p = put_str(p, ",\"region_id\":");
    p = put_uint(p, (unsigned long long)r->id);
    p = put_str(p, ",\"pincode_count\":");
    p = put_uint(p, r->pincodes);
    p = put_figures(p, r, 0);
    *p++ = '}';
  }
  return buf_append(b, line, (size_t)(p - line));
}

static int json_text(struct buf *b, const char *s) {
  if (!s)
    return buf_puts(b, "null");
  if (buf_puts(b, "\"") < 0 || buf_json_escape(b, s, strlen(s)) < 0)
    return -1;
  return buf_puts(b, "\"");
}

static int insights(struct req *rq, struct resp *rs, int pincodes) {
  struct insights_req ir;
  if (parse_request(rq, rs, &ir, pincodes) < 0)
    return -1;
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  const struct suite *s = h ? model_holder_get(h) : NULL;
  if (!s)
    return resp_error(rs, GERR_UNAVAILABLE, NULL,
                      "no model is trained yet: insights come from its predictions "
                      "(POST /models/train)");
  struct insight_row *rows = NULL;
  size_t n = 0;
  struct gerr err;
  int rc = pincodes ? suite_rank_pincodes(s, &ir.q, &rows, &n, &err)
                    : suite_rank_regions(s, &ir.q, &rows, &n, &err);
  if (rc < 0) {
    model_holder_put(h, s);
    return resp_error_from(rs, &err);
  }
  size_t count = n < ir.limit ? n : ir.limit;
  struct buf *b = ir.csv ? &rs->body : &rs->data_raw;
  char asof[11];
  int period = 0;
  suite_as_of(s, asof, &period);
  long long version = (long long)suite_version(s);
  const char *what = pincodes ? "pincodes" : "regions";
  rc = buf_reserve(b, 64 + count * (ir.csv ? 110 : 260));
  if (rc == 0 && ir.csv) {
    rc = buf_puts(b, pincodes ? "rank,pincode,district,state,lat,lng,region_id,"
                                "last_period_demand,predicted_demand,growth,growth_rate,"
                                "rise_probability\r\n"
                              : "rank,region_id,pincode_count,last_period_demand,"
                                "predicted_demand,growth,growth_rate,rise_probability\r\n");
  } else if (rc == 0) {
    char from[11], to[11];
    suite_period(s, ir.q.horizon, from, to);
    rc = buf_printf(b,
                    "{\"model_version\":%lld,\"as_of\":\"%s\",\"period_days\":%d,"
                    "\"horizon\":%d,\"period\":{\"from\":\"%s\",\"to\":\"%s\"},"
                    "\"product\":",
                    version, asof, period, ir.q.horizon, from, to);
    rc = rc ? rc : json_text(b, ir.product[0] ? ir.product : NULL);
    rc = rc ? rc : buf_puts(b, ",\"channel\":");
    rc = rc ? rc : json_text(b, ir.channel[0] ? ir.channel : NULL);
    if (!rc && ir.q.region)
      rc = buf_printf(b, ",\"region\":%d", (int)ir.q.region);
    if (!rc && ir.q.pincode)
      rc = buf_printf(b, ",\"pincode\":\"%06d\"", (int)ir.q.pincode);
    /* what a client may filter by */
    const char *name;
    rc = rc ? rc : buf_puts(b, ",\"products\":[");
    for (size_t i = 0; !rc && (name = suite_product(s, i)); i++)
      rc = (i && buf_puts(b, ",") < 0) || json_text(b, name) < 0 ? -1 : 0;
    rc = rc ? rc : buf_puts(b, "],\"channels\":[");
    for (size_t i = 0; !rc && (name = suite_channel(s, i)); i++)
      rc = (i && buf_puts(b, ",") < 0) || json_text(b, name) < 0 ? -1 : 0;
    rc = rc ? rc
            : buf_printf(b, "],\"sort\":\"%s\",\"total\":%zu,\"count\":%zu,\"%s\":[",
                         sort_names[ir.q.sort], n, count, what);
  }
  for (size_t i = 0; rc == 0 && i < count; i++) {
    if (!ir.csv && i && buf_puts(b, ",") < 0)
      rc = -1;
    else
      rc = pincodes ? render_pincode(b, &rows[i], i + 1, ir.csv)
                    : render_region(b, &rows[i], i + 1, ir.csv);
  }
  if (rc == 0 && !ir.csv)
    rc = buf_puts(b, "]}");
  free(rows);
  model_holder_put(h, s);
  if (rc < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  if (ir.csv) {
    rs->content_type = "text/csv; charset=utf-8";
    resp_header(rs, "Content-Disposition",
                "attachment; filename=\"gromo-%s-v%lld-%s%s%s%s%s%s.csv\"", what, version,
                sort_names[ir.q.sort], ir.product[0] ? "-" : "", ir.product,
                ir.channel[0] ? "-" : "", ir.channel,
                ir.q.horizon == 2 ? "-h2" : ir.q.horizon == 3 ? "-h3" : "");
    return 0;
  }
  return resp_ok_raw(rs, "%zu of %zu %s by %s, model version %lld, %d period(s) ahead", count,
                     n, what, sort_names[ir.q.sort], version, ir.q.horizon);
}

int api_insights_pincodes(struct req *rq, struct resp *rs) { return insights(rq, rs, 1); }

int api_insights_regions(struct req *rq, struct resp *rs) { return insights(rq, rs, 0); }
