/* The JSON forms of a record. Typed setters for JSON readers: a JSON value
 * of a known type goes to the field's rule (strings to the text rules,
 * numbers to the number rules of record.c; wrong types are judged here), so
 * a streaming reader (src/ingest/jsonrec.c) and a document reader
 * (sale_from_json) give the same answers. Then the writers: one text form
 * (sale_to_json_buf), and the jansson object read back from it. Depends on
 * record.c, never the other way. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gromo/record_json.h"
#include "gromo/timeutil.h"

static const char *expected_type(enum sale_field f) {
  switch (f) {
  case SF_PINCODE: return "must be a 6-digit string or integer";
  case SF_CUSTOMER_AGE: return "must be an integer";
  case SF_CUSTOMER_INCOME: return "must be a number";
  default: return "must be a string";
  }
}

int sale_json_set_wrong_type(struct sale *out, enum sale_field f,
                             const char *type, struct sale_problems *pr) {
  sale_problem_add(pr, f, "%s, not %s %s", expected_type(f),
                   (type[0] == 'a' || type[0] == 'i' || type[0] == 'o') ? "an" : "a",
                   type);
  return -1;
}

int sale_json_set_string(struct sale *out, enum sale_field f, const char *s,
                         size_t n, const struct sale_rules *rules,
                         struct sale_problems *pr) {
  if (f == SF_CUSTOMER_AGE || f == SF_CUSTOMER_INCOME)
    return sale_json_set_wrong_type(out, f, "string", pr);
  return sale_text_set(out, f, s, n, rules, pr);
}

int sale_json_set_integer(struct sale *out, enum sale_field f, long long v,
                          const struct sale_rules *rules, struct sale_problems *pr) {
  switch (f) {
  case SF_PINCODE:
    if (v < 100000 || v > 999999) {
      sale_problem_add(pr, f, "must be 6 digits, the first 1-9");
      return -1;
    }
    out->pincode = (int32_t)v;
    return 0;
  case SF_CUSTOMER_AGE:
  case SF_CUSTOMER_INCOME: /* any integer is whole: the number rules judge it */
    return sale_number_set(out, f, (double)v, pr);
  default:
    return sale_json_set_wrong_type(out, f, "integer", pr);
  }
}

int sale_json_set_real(struct sale *out, enum sale_field f, double v,
                       const struct sale_rules *rules, struct sale_problems *pr) {
  if (f == SF_CUSTOMER_AGE || f == SF_CUSTOMER_INCOME)
    return sale_number_set(out, f, v, pr);
  return sale_json_set_wrong_type(out, f, "real", pr);
}

int sale_from_json(const json_t *obj, const struct sale_rules *rules,
                   struct sale *out, struct sale_problems *pr) {
  sale_text_begin(out, pr);
  if (!json_is_object(obj)) {
    sale_problem_add(pr, SF_RECORD, "must be a JSON object");
    return -1;
  }
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    int f = -1;
    for (int i = 0; i < SF_RECORD; i++)
      if (!strcmp(key, sale_field_name((enum sale_field)i))) {
        f = i;
        break;
      }
    if (f < 0)
      continue;
    enum sale_field sf = (enum sale_field)f;
    switch (json_typeof(v)) {
    case JSON_STRING:
      sale_json_set_string(out, sf, json_string_value(v), json_string_length(v),
                           rules, pr);
      break;
    case JSON_INTEGER:
      sale_json_set_integer(out, sf, json_integer_value(v), rules, pr);
      break;
    case JSON_REAL:
      sale_json_set_real(out, sf, json_real_value(v), rules, pr);
      break;
    case JSON_NULL:
      break;
    case JSON_TRUE:
    case JSON_FALSE:
      sale_json_set_wrong_type(out, sf, "boolean", pr);
      break;
    case JSON_OBJECT:
      sale_json_set_wrong_type(out, sf, "object", pr);
      break;
    case JSON_ARRAY:
      sale_json_set_wrong_type(out, sf, "array", pr);
      break;
    }
  }
  return sale_text_finish(out, pr);
}

/* Shortest text that reads back as the same double; integral values as
 * integers. out needs 32 bytes. */
static void format_number(double v, char out[32]) {
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(out, 32, "%.0f", v);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

int sale_to_json_buf(const struct sale *s, const char *city_fallback,
                     struct buf *b) {
  char date[24], income[32];
  ist_format(s->ts_ms, date);
  format_number(s->customer_income, income);
  const char *city = s->city[0] ? s->city : city_fallback;
  if (buf_printf(b, "{\"date\":\"%s\",\"pincode\":\"%06d\",\"city\":", date,
                 (int)s->pincode) < 0)
    return -1;
  if (city) {
    if (buf_puts(b, "\"") < 0 || buf_json_escape(b, city, strlen(city)) < 0 ||
        buf_puts(b, "\"") < 0)
      return -1;
  } else if (buf_puts(b, "null") < 0) {
    return -1;
  }
  if (buf_printf(b, ",\"product\":\"%s\",\"channel\":\"%s\"", s->product,
                 s->channel) < 0)
    return -1;
  if (s->agent_id[0] && buf_printf(b, ",\"agent_id\":\"%s\"", s->agent_id) < 0)
    return -1;
  if (buf_printf(b, ",\"customer_age\":%d,\"customer_income\":%s",
                 (int)s->customer_age, income) < 0)
    return -1;
  if (s->id[0]) {
    if (buf_puts(b, ",\"id\":\"") < 0 || buf_json_escape(b, s->id, strlen(s->id)) < 0 ||
        buf_puts(b, "\"") < 0)
      return -1;
  }
  return buf_puts(b, "}");
}

/* The jansson object is the text form read back, so the two cannot
 * disagree on a field. */
json_t *sale_to_json(const struct sale *s, const char *city_fallback) {
  struct buf b;
  buf_init(&b, 4096);
  json_t *o = sale_to_json_buf(s, city_fallback, &b) == 0
                  ? json_loadb(b.data, b.len, 0, NULL)
                  : NULL;
  buf_release(&b);
  return o;
}
