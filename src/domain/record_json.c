/* Typed setters for JSON readers: a JSON value of a known type goes to the
 * field's rule. Strings share the text rules (record.c); numbers and wrong
 * types are judged here, so a streaming reader (src/ingest/jsonrec.c) and a
 * document reader (sale_from_json) give the same answers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gromo/record.h"

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
    if (v < SALE_AGE_MIN || v > SALE_AGE_MAX) {
      sale_problem_add(pr, f, "must be from %d to %d", SALE_AGE_MIN, SALE_AGE_MAX);
      return -1;
    }
    out->customer_age = (int32_t)v;
    return 0;
  case SF_CUSTOMER_INCOME:
    return sale_json_set_real(out, f, (double)v, rules, pr);
  default:
    return sale_json_set_wrong_type(out, f, "integer", pr);
  }
}

int sale_json_set_real(struct sale *out, enum sale_field f, double v,
                       const struct sale_rules *rules, struct sale_problems *pr) {
  switch (f) {
  case SF_CUSTOMER_AGE:
    if (!isfinite(v) || v != floor(v)) {
      sale_problem_add(pr, f, "must be an integer");
      return -1;
    }
    if (v < SALE_AGE_MIN || v > SALE_AGE_MAX) {
      sale_problem_add(pr, f, "must be from %d to %d", SALE_AGE_MIN, SALE_AGE_MAX);
      return -1;
    }
    out->customer_age = (int32_t)v;
    return 0;
  case SF_CUSTOMER_INCOME:
    if (!isfinite(v) || v < 0 || v > SALE_INCOME_MAX) {
      sale_problem_add(pr, f, "must be from 0 to 100000000");
      return -1;
    }
    out->customer_income = v;
    return 0;
  default:
    return sale_json_set_wrong_type(out, f, "real", pr);
  }
}
