/* JSON array and NDJSON readers over a buffer (a mapped file). Elements are
 * decoded one at a time, so memory stays bounded by the largest record. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gromo/ingest.h"

#define NDJSON_LINE_MAX (1 << 20)

struct ingest_reader {
  const char *data;
  size_t len, pos;
  enum ingest_format fmt;
  size_t line;  /* 1-based line at pos */
  size_t index; /* records returned so far */
  int done;
};

const char *ingest_format_name(enum ingest_format f) {
  switch (f) {
  case INGEST_JSON_ARRAY: return "json";
  case INGEST_NDJSON: return "ndjson";
  default: return "unknown";
  }
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

enum ingest_format ingest_detect(const char *name, const char *head, size_t n) {
  if (name && (ends_with(name, ".ndjson") || ends_with(name, ".jsonl")))
    return INGEST_NDJSON;
  size_t i = 0;
  if (n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0)
    i = 3;
  while (i < n && strchr(" \t\r\n", head[i]))
    i++;
  if (i < n && head[i] == '[')
    return INGEST_JSON_ARRAY;
  if (i < n && head[i] == '{')
    return INGEST_NDJSON;
  return INGEST_UNKNOWN;
}

/* Advances over whitespace, counting lines. */
static void skip_ws(struct ingest_reader *r) {
  while (r->pos < r->len) {
    char c = r->data[r->pos];
    if (c == '\n')
      r->line++;
    else if (c != ' ' && c != '\t' && c != '\r')
      break;
    r->pos++;
  }
}

static void count_lines(struct ingest_reader *r, size_t from, size_t to) {
  const char *p = r->data + from, *end = r->data + to;
  while ((p = memchr(p, '\n', (size_t)(end - p)))) {
    r->line++;
    p++;
  }
}

int ingest_json_open(const char *data, size_t len, enum ingest_format fmt,
                     struct ingest_reader **out, struct gerr *err) {
  *out = NULL;
  if (fmt != INGEST_JSON_ARRAY && fmt != INGEST_NDJSON)
    return gerr_set(err, GERR_MEDIA_TYPE, "not a JSON array or NDJSON file");
  struct ingest_reader *r = calloc(1, sizeof *r);
  if (!r)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  r->data = data;
  r->len = len;
  r->fmt = fmt;
  r->line = 1;
  if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
    r->pos = 3;
  skip_ws(r);
  if (r->pos == r->len) {
    free(r);
    return gerr_set(err, GERR_INVALID_INPUT, "the file is empty");
  }
  if (fmt == INGEST_JSON_ARRAY) {
    if (r->data[r->pos] != '[') {
      size_t line = r->line;
      free(r);
      return gerr_set(err, GERR_INVALID_INPUT,
                      "line %zu: a JSON array must start with '['", line);
    }
    r->pos++;
  }
  *out = r;
  return 0;
}

static void validate(const json_t *j, const struct sale_rules *rules,
                     struct sale *out, int *valid, struct sale_problems *pr) {
  *valid = sale_from_json(j, rules, out, pr) == 0;
}

static int next_array(struct ingest_reader *r, const struct sale_rules *rules,
                      struct sale *out, int *valid, struct sale_problems *pr,
                      size_t *row, struct gerr *err) {
  skip_ws(r);
  if (r->pos < r->len && r->data[r->pos] == ']' && r->index == 0) {
    r->pos++;
    goto end;
  }
  if (r->index > 0) { /* after an element: ',' or ']' */
    if (r->pos < r->len && r->data[r->pos] == ']') {
      r->pos++;
      goto end;
    }
    if (r->pos >= r->len || r->data[r->pos] != ',')
      return gerr_set(err, GERR_INVALID_INPUT,
                      "line %zu: expected ',' or ']' after record %zu%s", r->line,
                      r->index - 1, r->pos >= r->len ? " (the file is truncated)" : "");
    r->pos++;
    skip_ws(r);
  }
  if (r->pos >= r->len)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "line %zu: the JSON array is truncated", r->line);
  json_error_t je;
  size_t start = r->pos;
  *row = r->line;
  json_t *j = json_loadb(r->data + r->pos, r->len - r->pos,
                         JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    int truncated = (size_t)je.position >= r->len - r->pos;
    return gerr_set(err, GERR_INVALID_INPUT,
                    "line %zu: malformed JSON in record %zu: %s%s",
                    r->line + (size_t)je.line - 1, r->index, je.text,
                    truncated ? " (the file is truncated)" : "");
  }
  r->pos += (size_t)je.position;
  count_lines(r, start, r->pos);
  validate(j, rules, out, valid, pr);
  json_decref(j);
  return 1;
end:
  skip_ws(r);
  if (r->pos != r->len)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "line %zu: unexpected data after the JSON array", r->line);
  r->done = 1;
  return 0;
}

static int next_ndjson(struct ingest_reader *r, const struct sale_rules *rules,
                       struct sale *out, int *valid, struct sale_problems *pr,
                       size_t *row) {
  for (;;) {
    if (r->pos >= r->len) {
      r->done = 1;
      return 0;
    }
    const char *p = r->data + r->pos;
    const char *nl = memchr(p, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - p) : r->len - r->pos;
    size_t this_line = r->line;
    r->pos += n + (nl ? 1 : 0);
    r->line++;
    size_t a = 0, b = n;
    while (a < b && strchr(" \t\r", p[a]))
      a++;
    while (b > a && strchr(" \t\r", p[b - 1]))
      b--;
    if (a == b)
      continue; /* blank lines are allowed */
    *row = this_line;
    if (b - a > NDJSON_LINE_MAX) {
      sale_problems_clear(pr);
      sale_problem_add(pr, SF_RECORD, "the line is longer than %d bytes",
                       NDJSON_LINE_MAX);
      *valid = 0;
      return 1;
    }
    json_error_t je;
    json_t *j = json_loadb(p + a, b - a, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
      sale_problems_clear(pr);
      sale_problem_add(pr, SF_RECORD, "malformed JSON at column %d: %s",
                       je.column + (int)a, je.text);
      *valid = 0;
      return 1;
    }
    validate(j, rules, out, valid, pr);
    json_decref(j);
    return 1;
  }
}

int ingest_next(struct ingest_reader *r, const struct sale_rules *rules,
                struct sale *out, int *valid, struct sale_problems *pr,
                size_t *row, size_t *index, struct gerr *err) {
  if (r->done)
    return 0;
  int rc = r->fmt == INGEST_JSON_ARRAY
               ? next_array(r, rules, out, valid, pr, row, err)
               : next_ndjson(r, rules, out, valid, pr, row);
  if (rc == 1)
    *index = r->index++;
  return rc;
}

size_t ingest_offset(const struct ingest_reader *r) { return r->pos; }

void ingest_free(struct ingest_reader *r) { free(r); }
