/* What the tabular readers share: header names to fields, one row at a time
 * into struct sale with the cell and row limits, spreadsheet numbers and
 * serial dates as text. See docs/files.md for the user's view. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/tabular.h"
#include "ingest/tabular_int.h"
#include "gromo/timeutil.h"

void tab_limits_default(struct tab_limits *l) {
  l->max_cell = TAB_DEFAULT_MAX_CELL;
  l->max_row = TAB_DEFAULT_MAX_ROW;
  l->max_rows = TAB_DEFAULT_MAX_ROWS;
  l->max_uncompressed = TAB_DEFAULT_MAX_UNCOMPRESSED;
  l->max_ratio = TAB_DEFAULT_MAX_RATIO;
}

/* Header names as compared: lower case, without ' ', '_', '-'. */
static const struct {
  const char *name;
  enum sale_field field;
} aliases[] = {
    {"date", SF_DATE},
    {"saledate", SF_DATE},
    {"transactiondate", SF_DATE},
    {"txndate", SF_DATE},
    {"timestamp", SF_DATE},
    {"createdat", SF_DATE},
    {"orderdate", SF_DATE},
    {"pincode", SF_PINCODE},
    {"pin", SF_PINCODE},
    {"postalcode", SF_PINCODE},
    {"zip", SF_PINCODE},
    {"zipcode", SF_PINCODE},
    {"city", SF_CITY},
    {"town", SF_CITY},
    {"district", SF_CITY},
    {"product", SF_PRODUCT},
    {"productname", SF_PRODUCT},
    {"producttype", SF_PRODUCT},
    {"category", SF_PRODUCT},
    {"channel", SF_CHANNEL},
    {"saleschannel", SF_CHANNEL},
    {"mode", SF_CHANNEL},
    {"source", SF_CHANNEL},
    {"agentid", SF_AGENT_ID},
    {"agent", SF_AGENT_ID},
    {"agentuuid", SF_AGENT_ID},
    {"customerage", SF_CUSTOMER_AGE},
    {"age", SF_CUSTOMER_AGE},
    {"custage", SF_CUSTOMER_AGE},
    {"customerincome", SF_CUSTOMER_INCOME},
    {"income", SF_CUSTOMER_INCOME},
    {"monthlyincome", SF_CUSTOMER_INCOME},
    {"salary", SF_CUSTOMER_INCOME},
    {"id", SF_ID},
    {"recordid", SF_ID},
    {"saleid", SF_ID},
    {"transactionid", SF_ID},
    {"txnid", SF_ID},
};

static const enum sale_field required[] = {SF_DATE,    SF_PINCODE,
                                           SF_PRODUCT, SF_CHANNEL,
                                           SF_CUSTOMER_AGE, SF_CUSTOMER_INCOME};

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_blank_text(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_space((unsigned char)s[i]))
      return 0;
  return 1;
}

static void trim(const char **s, size_t *n) {
  while (*n && is_space((unsigned char)**s))
    (*s)++, (*n)--;
  while (*n && is_space((unsigned char)(*s)[*n - 1]))
    (*n)--;
}

int tab_field_for_name(const char *name, size_t n) {
  char key[32];
  size_t k = 0;
  if (n >= 3 && memcmp(name, "\xEF\xBB\xBF", 3) == 0) /* a stray BOM */
    name += 3, n -= 3;
  trim(&name, &n);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (c == ' ' || c == '_' || c == '-' || c == '\t')
      continue;
    if (k == sizeof key - 1)
      return -1;
    key[k++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  key[k] = '\0';
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(key, aliases[i].name) == 0)
      return (int)aliases[i].field;
  return -1;
}

/* Valid UTF-8 without NUL bytes. Plain ASCII, the usual case, is checked
 * eight bytes at a time. */
static int utf8_ok(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      /* no byte >= 0x80 and no zero byte */
      if (!(w & 0x8080808080808080ull) &&
          !((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    unsigned c = p[i];
    if (c < 0x80) {
      if (c == 0)
        return 0;
      i++;
      continue;
    }
    size_t len;
    unsigned cp;
    if ((c & 0xe0) == 0xc0)
      len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      len = 4, cp = c & 0x07;
    else
      return 0;
    if (i + len > n)
      return 0;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += len;
  }
  return 1;
}

void tab_rows_init(struct tab_rows *t, const struct sale_rules *rules,
                   const struct tab_limits *lim, tab_row_fn fn, void *ctx) {
  memset(t, 0, sizeof *t);
  t->rules = rules;
  if (lim)
    t->lim = *lim;
  else
    tab_limits_default(&t->lim);
  t->fn = fn;
  t->ctx = ctx;
  sale_text_begin(&t->rec, &t->pr);
}

void tab_rows_release(struct tab_rows *t) {
  free(t->map);
  t->map = NULL;
  t->ncols = 0;
}

void tab_row_begin(struct tab_rows *t, size_t row) {
  t->row = row;
  t->nonblank = 0;
  t->row_too_long = 0;
  t->row_bytes = 0;
  if (t->have_header)
    sale_text_begin(&t->rec, &t->pr);
}

/* Appends a header name to t->found for messages: printable ASCII only (the
 * message may end up in JSON), "..." once full. */
static void found_add(struct tab_rows *t, const char *s, size_t n) {
  size_t len = strlen(t->found);
  const size_t room = sizeof t->found - 4; /* keep space for "..." */
  if (len >= room)
    return;
  if (len && len + 2 < room) {
    memcpy(t->found + len, ", ", 2);
    len += 2;
  }
  for (size_t i = 0; i < n && len < room; i++) {
    unsigned char c = (unsigned char)s[i];
    t->found[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (len >= room)
    memcpy(t->found + len, "...", 3), len += 3;
  t->found[len] = '\0';
}

static void header_cell(struct tab_rows *t, size_t col, const char *s, size_t n) {
  trim(&s, &n);
  if (n == 0)
    return;
  t->nonblank = 1;
  found_add(t, s, n > 40 ? 40 : n);
  int f = col < TAB_MAX_COLUMNS ? tab_field_for_name(s, n) : -1;
  if (f < 0)
    return;
  if (t->col_of[f]) {
    if (!t->dup[0])
      snprintf(t->dup, sizeof t->dup,
               "columns %zu and %zu both give %s; keep one of them",
               t->col_of[f], col + 1, sale_field_name((enum sale_field)f));
    return;
  }
  if (col >= t->ncols) {
    size_t want = t->ncols ? t->ncols : 16;
    while (want <= col)
      want *= 2;
    if (want > TAB_MAX_COLUMNS)
      want = TAB_MAX_COLUMNS;
    signed char *m = realloc(t->map, want);
    if (!m)
      return; /* the column stays unmapped: reported as missing */
    memset(m + t->ncols, -1, want - t->ncols);
    t->map = m;
    t->ncols = want;
  }
  t->map[col] = (signed char)f;
  t->col_of[f] = col + 1;
}

static int header_end(struct tab_rows *t, struct gerr *err) {
  if (t->row_too_long) /* its names are not all known: refused whole */
    return gerr_set(err, GERR_INVALID_INPUT,
                    "the header row (row %zu) is longer than the limit of %zu "
                    "bytes",
                    t->row, t->lim.max_row);
  if (t->dup[0])
    return gerr_set(err, GERR_INVALID_INPUT, "the header row (row %zu): %s",
                    t->row, t->dup);
  int known = 0;
  for (int f = 0; f < SF_RECORD; f++)
    known += t->col_of[f] != 0;
  char missing[160] = "";
  size_t len = 0;
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    if (t->col_of[required[i]])
      continue;
    int n = snprintf(missing + len, sizeof missing - len, "%s%s",
                     len ? ", " : "", sale_field_name(required[i]));
    if (n > 0 && (size_t)n < sizeof missing - len)
      len += (size_t)n;
  }
  if (known == 0)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "row %zu is not a header row: no known column names "
                    "(need date, pincode, product, channel, customer_age, "
                    "customer_income; found: %s)",
                    t->row, t->found);
  if (len)
    return gerr_set(err, GERR_INVALID_INPUT, "missing columns: %s (found: %s)",
                    missing, t->found);
  t->have_header = 1;
  return 0;
}

void tab_row_cell(struct tab_rows *t, size_t col, const char *s, size_t n) {
  if (n > (t->have_header ? t->lim.max_cell : tab_cell_keep(&t->lim))) {
    tab_row_cell_too_long(t, col, n);
    return;
  }
  if (t->row_too_long)
    return;
  t->row_bytes += n + 1; /* the cell and its separator */
  if (t->row_bytes > t->lim.max_row + 1) {
    tab_row_too_long(t);
    return;
  }
  if (!t->have_header) {
    header_cell(t, col, s, n);
    return;
  }
  int f = col < t->ncols ? t->map[col] : -1;
  if (f < 0) {
    if (!t->nonblank && !is_blank_text(s, n))
      t->nonblank = 1;
    return;
  }
  if (is_blank_text(s, n))
    return;
  t->nonblank = 1;
  if (!utf8_ok(s, n)) {
    sale_problem_add(&t->pr, (enum sale_field)f, "must be valid UTF-8 text");
    return;
  }
  sale_text_set(&t->rec, (enum sale_field)f, s, n, t->rules, &t->pr);
}

void tab_row_cell_too_long(struct tab_rows *t, size_t col, size_t n) {
  t->nonblank = 1;
  if (t->row_too_long)
    return;
  t->row_bytes += n + 1;
  if (t->row_bytes > t->lim.max_row + 1) {
    tab_row_too_long(t);
    return;
  }
  if (!t->have_header) { /* no name of ours is that long */
    found_add(t, "(a long cell)", 13);
    return;
  }
  int f = col < t->ncols ? t->map[col] : -1;
  if (f >= 0)
    sale_problem_add(&t->pr, (enum sale_field)f,
                     "is longer than the limit of %zu bytes", t->lim.max_cell);
  else
    sale_problem_add(&t->pr, SF_RECORD,
                     "the cell in column %zu is longer than the limit of %zu "
                     "bytes",
                     col + 1, t->lim.max_cell);
}

void tab_row_too_long(struct tab_rows *t) {
  t->nonblank = 1;
  t->row_too_long = 1;
}

int tab_row_end(struct tab_rows *t, struct gerr *err) {
  if (!t->nonblank)
    return 0; /* blank rows are skipped */
  if (!t->have_header)
    return header_end(t, err);
  if (t->rows >= t->lim.max_rows)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "row %zu: the file has more than %zu data rows, the limit",
                    t->row, t->lim.max_rows);
  int valid;
  if (t->row_too_long) {
    sale_problems_clear(&t->pr);
    sale_problem_add(&t->pr, SF_RECORD,
                     "the row is longer than the limit of %zu bytes",
                     t->lim.max_row);
    valid = 0;
  } else {
    valid = sale_text_finish(&t->rec, &t->pr) == 0;
  }
  t->rows++;
  return t->fn(t->ctx, t->row, &t->rec, valid, &t->pr) != 0 ? -2 : 0;
}

int tab_rows_finish(struct tab_rows *t, const char *what, struct gerr *err) {
  if (!t->have_header)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "the %s is empty: a header row naming the columns is "
                    "required",
                    what);
  return 0;
}

int tab_excel_date(double serial, int date1904, char out[24]) {
  /* 2958466 days after 1899-12-30 is 10000-01-01 */
  if (!(serial >= 0) || serial >= 2958466.0)
    return -1;
  double whole = floor(serial);
  int64_t day = (int64_t)whole;
  int64_t ms = llround((serial - whole) * (double)DAY_MS);
  if (ms >= DAY_MS)
    day++, ms -= DAY_MS;
  int64_t days;
  if (date1904) {
    days = days_from_civil(1904, 1, 1) + day;
  } else if (day == 60) { /* Lotus 1-2-3's leap day, kept by Excel */
    unsigned s = (unsigned)(ms / 1000);
    return snprintf(out, 24, "1900-02-29 %02u:%02u:%02u", s / 3600,
                    s / 60 % 60, s % 60);
  } else {
    /* serials 1-59 count from 1900-01-01 = 1; later ones are one ahead */
    days = day < 60 ? days_from_civil(1899, 12, 31) + day
                    : days_from_civil(1899, 12, 30) + day;
  }
  if (days >= days_from_civil(10000, 1, 1))
    return -1;
  return (int)ist_format(days * DAY_MS + ms, out);
}

size_t tab_number_text(double v, char out[48]) {
  int n;
  if (!isfinite(v)) {
    n = snprintf(out, 48, "%s", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
  } else if (v == floor(v) && fabs(v) < 1e30) {
    n = snprintf(out, 48, "%.0f", v);
  } else {
    n = snprintf(out, 48, "%.15g", v);
    if (n > 0 && strchr(out, 'e') && fabs(v) < 1) {
      n = snprintf(out, 48, "%.20f", v);
      while (n > 1 && out[n - 1] == '0')
        out[--n] = '\0';
    }
  }
  if (n == 2 && out[0] == '-' && out[1] == '0') /* -0 */
    n = snprintf(out, 48, "0");
  return n > 0 ? (size_t)n : 0;
}
