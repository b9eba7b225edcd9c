/* The sales record: its text and number rules, and dates. The JSON forms
 * of a record are in record_json.c, which builds on these. See
 * docs/records.md. */
#include "gromo/record.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/timeutil.h"

#define TS_ABSENT INT64_MIN
#define INCOME_ABSENT (-1.0)

static const char *const field_names[] = {
#define SF_NAME(e, name) name,
    SALE_FIELD_MAP(SF_NAME)
#undef SF_NAME
};

const char *sale_field_name(enum sale_field f) {
  return (unsigned)f < SF__COUNT ? field_names[f] : "record";
}

void sale_problems_clear(struct sale_problems *pr) { pr->count = 0; }

void sale_problem_add(struct sale_problems *pr, enum sale_field f,
                      const char *fmt, ...) {
  if (pr->count < SALE_MAX_PROBLEMS) {
    struct field_problem *p = &pr->p[pr->count];
    va_list ap;
    p->field = f;
    va_start(ap, fmt);
    vsnprintf(p->problem, sizeof p->problem, fmt, ap);
    va_end(ap);
  }
  pr->count++;
}

static int has_problem(const struct sale_problems *pr, enum sale_field f) {
  int kept = pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
  for (int i = 0; i < kept; i++)
    if (pr->p[i].field == f)
      return 1;
  return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void trim(const char **s, size_t *n) {
  while (*n && is_blank(**s))
    (*s)++, (*n)--;
  while (*n && is_blank((*s)[*n - 1]))
    (*n)--;
}

static int digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static unsigned num(const char *s, size_t n) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (unsigned)(s[i] - '0');
  return v;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int y, unsigned m) {
  static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

#define DATE_FORMS "must be an ISO 8601 date (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM] or YYYY-MM-DD HH:MM:SS)"

int sale_parse_date(const char *s, size_t n, int64_t *ist_ms, char why[120]) {
  trim(&s, &n);
  if (n < 10 || n > 40 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
      s[7] != '-' || !digits(s + 8, 2)) {
    snprintf(why, 120, "%s", DATE_FORMS);
    return -1;
  }
  int y = (int)num(s, 4);
  unsigned mo = num(s + 5, 2), d = num(s + 8, 2);
  if (mo < 1 || mo > 12) {
    snprintf(why, 120, "has no month %u", mo);
    return -1;
  }
  if (d < 1 || d > days_in_month(y, mo)) {
    snprintf(why, 120, "has no day %u in %04d-%02u", d, y, mo);
    return -1;
  }
  int64_t ms = days_from_civil(y, mo, d) * DAY_MS;
  if (n == 10) {
    *ist_ms = ms;
    return 0;
  }
  const char *t = s + 10;
  size_t tn = n - 10;
  if ((t[0] != 'T' && t[0] != 't' && t[0] != ' ') || tn < 9 || !digits(t + 1, 2) ||
      t[3] != ':' || !digits(t + 4, 2) || t[6] != ':' || !digits(t + 7, 2)) {
    snprintf(why, 120, "%s", DATE_FORMS);
    return -1;
  }
  unsigned hh = num(t + 1, 2), mi = num(t + 4, 2), ss = num(t + 7, 2);
  if (hh > 23 || mi > 59 || ss > 59) {
    snprintf(why, 120, "has no time %02u:%02u:%02u", hh, mi, ss);
    return -1;
  }
  ms += ((int64_t)hh * 3600 + mi * 60 + ss) * 1000;
  size_t i = 9;
  if (i < tn && t[i] == '.') { /* fraction: 1-9 digits, kept to ms */
    size_t k = 0;
    unsigned frac = 0;
    for (i++; i < tn && t[i] >= '0' && t[i] <= '9'; i++, k++)
      if (k < 3)
        frac = frac * 10 + (unsigned)(t[i] - '0');
    if (k == 0 || k > 9) {
      snprintf(why, 120, "%s", DATE_FORMS);
      return -1;
    }
    for (; k < 3; k++)
      frac *= 10;
    ms += frac;
  }
  if (i == tn) { /* no zone: IST already */
    *ist_ms = ms;
    return 0;
  }
  int64_t offset_ms;
  if ((t[i] == 'Z' || t[i] == 'z') && i + 1 == tn) {
    offset_ms = 0;
  } else if ((t[i] == '+' || t[i] == '-') &&
             ((tn - i == 6 && digits(t + i + 1, 2) && t[i + 3] == ':' &&
               digits(t + i + 4, 2)) ||
              (tn - i == 5 && digits(t + i + 1, 4)))) {
    unsigned oh = num(t + i + 1, 2);
    unsigned om = num(t + i + (tn - i == 6 ? 4 : 3), 2);
    if (oh > 14 || om > 59) {
      snprintf(why, 120, "has an impossible time zone offset");
      return -1;
    }
    offset_ms = ((int64_t)oh * 60 + om) * 60000;
    if (t[i] == '-')
      offset_ms = -offset_ms;
  } else {
    snprintf(why, 120, "%s", DATE_FORMS);
    return -1;
  }
  *ist_ms = ms - offset_ms + IST_OFFSET_MS;
  return 0;
}

int sale_parse_pincode(const char *s, size_t n, int32_t *pin) {
  trim(&s, &n);
  if (n != 6 || !digits(s, 6) || s[0] == '0')
    return -1;
  *pin = (int32_t)num(s, 6);
  return 0;
}

/* Counts UTF-8 code points; -1 for invalid UTF-8 or a control character. */
static long utf8_chars(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  long count = 0;
  for (size_t i = 0; i < n; count++) {
    unsigned c = p[i];
    size_t len;
    unsigned cp;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f)
        return -1;
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + len > n)
      return -1;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return -1;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
      return -1;
    i += len;
  }
  return count;
}

static int set_ident(char *dst, enum sale_field f, const char *s, size_t n,
                     struct sale_problems *pr) {
  if (n > SALE_IDENT_MAX) {
    sale_problem_add(pr, f, "must be at most %d characters", SALE_IDENT_MAX);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    int ok = (c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '_'));
    if (!ok) {
      sale_problem_add(pr, f,
                       "must be a lower-case identifier [a-z][a-z0-9_]* of at "
                       "most %d characters",
                       SALE_IDENT_MAX);
      return -1;
    }
    dst[i] = c;
  }
  dst[n] = '\0';
  return 0;
}

/* The lower-case form of a hex digit, or 0 when c is not one. */
static char hex_lower(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
    return c;
  if (c >= 'A' && c <= 'F')
    return (char)(c - 'A' + 'a');
  return 0;
}

/* UUID, 8-4-4-4-12 hex digits, or the 32 digits alone; braces allowed.
 * One pass (every file row with an agent has one); dst is written only
 * when the whole id is good. */
static int set_uuid(char *dst, const char *s, size_t n, struct sale_problems *pr) {
  if (n >= 2 && s[0] == '{' && s[n - 1] == '}')
    s++, n -= 2;
  static const char layout[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  char out[37];
  if (n != 36 && n != 32)
    goto bad;
  for (size_t i = 0, j = 0; i < 36; i++) {
    if (layout[i] == '-') {
      if (n == 36 && s[j++] != '-')
        goto bad;
      out[i] = '-';
    } else if (!(out[i] = hex_lower(s[j++]))) {
      goto bad;
    }
  }
  out[36] = '\0';
  memcpy(dst, out, sizeof out);
  return 0;
bad:
  sale_problem_add(pr, SF_AGENT_ID, "must be a UUID (8-4-4-4-12 hex digits)");
  return -1;
}

/* Decimal text: digits, optional fraction; commas between digits (thousands
 * separators, also the Indian 1,00,000 grouping) are ignored. A whole
 * number of up to 15 digits (most ages and incomes in files) is converted
 * here, exactly as strtod would (it is below 2^53); the rest by strtod. */
static int parse_decimal(const char *s, size_t n, double *out) {
  char buf[64];
  size_t k = 0;
  int dot = 0, nd = 0, neg = 0;
  int64_t whole = 0;
  if (n && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    buf[k++] = s[0];
    s++, n--;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      if (++nd <= 15 && !dot)
        whole = whole * 10 + (c - '0');
    } else if (c == '.' && !dot) {
      dot = 1;
    } else if (c == ',' && i > 0 && i + 1 < n && !dot && s[i - 1] >= '0' &&
               s[i - 1] <= '9' && s[i + 1] >= '0' && s[i + 1] <= '9') {
      continue;
    } else {
      return -1;
    }
    if (k + 1 >= sizeof buf)
      return -1;
    buf[k++] = c;
  }
  if (nd == 0)
    return -1;
  if (!dot && nd <= 15) {
    *out = neg ? -(double)whole : (double)whole;
    return 0;
  }
  buf[k] = '\0';
  *out = strtod(buf, NULL);
  return 0;
}

void sale_text_begin(struct sale *out, struct sale_problems *pr) {
  memset(out, 0, sizeof *out);
  out->ts_ms = TS_ABSENT;
  out->customer_income = INCOME_ABSENT;
  sale_problems_clear(pr);
}

int sale_text_set(struct sale *out, enum sale_field f, const char *s, size_t n,
                  const struct sale_rules *rules, struct sale_problems *pr) {
  char why[120];
  trim(&s, &n);
  if (n == 0)
    return 0; /* absent; sale_text_finish checks required fields */
  switch (f) {
  case SF_DATE: {
    int64_t ms;
    if (sale_parse_date(s, n, &ms, why) < 0) {
      sale_problem_add(pr, f, "%s", why);
      return -1;
    }
    if (ms < SALE_MIN_DATE_MS) {
      sale_problem_add(pr, f, "is before 2000-01-01");
      return -1;
    }
    if (ms > rules->now_ist_ms + DAY_MS) {
      sale_problem_add(pr, f, "is more than 1 day in the future");
      return -1;
    }
    out->ts_ms = ms;
    return 0;
  }
  case SF_PINCODE:
    if (sale_parse_pincode(s, n, &out->pincode) < 0) {
      sale_problem_add(pr, f, "must be 6 digits, the first 1-9");
      return -1;
    }
    return 0;
  case SF_CITY: {
    long chars = utf8_chars(s, n);
    if (chars < 0) {
      sale_problem_add(pr, f, "must be valid UTF-8 text without control characters");
      return -1;
    }
    if (chars > SALE_CITY_MAX_CHARS || n > SALE_CITY_MAX_BYTES) {
      sale_problem_add(pr, f, "must be at most %d characters", SALE_CITY_MAX_CHARS);
      return -1;
    }
    memcpy(out->city, s, n);
    out->city[n] = '\0';
    return 0;
  }
  case SF_PRODUCT:
    return set_ident(out->product, f, s, n, pr);
  case SF_CHANNEL:
    return set_ident(out->channel, f, s, n, pr);
  case SF_AGENT_ID:
    return set_uuid(out->agent_id, s, n, pr);
  case SF_CUSTOMER_AGE: {
    double v;
    if (parse_decimal(s, n, &v) < 0 || memchr(s, ',', n)) {
      sale_problem_add(pr, f, "must be an integer");
      return -1;
    }
    return sale_number_set(out, f, v, pr);
  }
  case SF_CUSTOMER_INCOME: {
    double v;
    if (parse_decimal(s, n, &v) < 0) {
      sale_problem_add(pr, f, "must be a number");
      return -1;
    }
    return sale_number_set(out, f, v, pr);
  }
  case SF_ID:
    if (n > SALE_ID_MAX) {
      sale_problem_add(pr, f, "must be at most %d characters", SALE_ID_MAX);
      return -1;
    }
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
        sale_problem_add(pr, f, "must be printable ASCII");
        return -1;
      }
    memcpy(out->id, s, n);
    out->id[n] = '\0';
    return 0;
  default:
    return 0;
  }
}

int sale_number_set(struct sale *out, enum sale_field f, double v,
                    struct sale_problems *pr) {
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
    sale_problem_add(pr, f, "is not a number field");
    return -1;
  }
}

int sale_text_finish(struct sale *out, struct sale_problems *pr) {
  static const struct {
    enum sale_field f;
  } required[] = {{SF_DATE}, {SF_PINCODE}, {SF_PRODUCT}, {SF_CHANNEL},
                  {SF_CUSTOMER_AGE}, {SF_CUSTOMER_INCOME}};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    enum sale_field f = required[i].f;
    int missing = (f == SF_DATE && out->ts_ms == TS_ABSENT) ||
                  (f == SF_PINCODE && out->pincode == 0) ||
                  (f == SF_PRODUCT && !out->product[0]) ||
                  (f == SF_CHANNEL && !out->channel[0]) ||
                  (f == SF_CUSTOMER_AGE && out->customer_age == 0) ||
                  (f == SF_CUSTOMER_INCOME && out->customer_income < 0);
    if (missing && !has_problem(pr, f))
      sale_problem_add(pr, f, "is required");
  }
  return pr->count ? -1 : 0;
}
