/* JSON array and NDJSON readers, over a buffer or over a window of input
 * read as it goes (a file, read in pieces). Elements are decoded one at a
 * time, so memory stays bounded by the largest record.
 *
 * A streamed reader keeps data[pos, len) of the input in its window and
 * reads more when an element does not end inside it: an element that
 * parses but ends at the window's end, or fails there, is parsed again
 * once more has been read (a number or a truncated object could go on). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gromo/ingest.h"
#include "gromo/record_json.h"

#define NDJSON_LINE_MAX INGEST_NDJSON_LINE_MAX
#define WINDOW_START ((size_t)1 << 20)
/* A JSON array's element may be this long; an NDJSON line past
 * NDJSON_LINE_MAX is rejected as a record without being kept. */
#define ELEMENT_MAX ((size_t)64 << 20)
/* A streamed NDJSON line is kept up to this many bytes, white space
 * included; a longer one is dropped as it is read. */
#define NDJSON_KEEP (NDJSON_LINE_MAX + (64 << 10))

struct ingest_reader {
  const char *data; /* the buffer, or buf */
  size_t len, pos;
  /* streamed input: */
  ingest_read_fn read;
  void *ctx;
  char *buf;
  size_t cap;
  size_t base;    /* input bytes before data[0] */
  int eof;        /* no more input (always, for a buffer) */
  int read_failed;
  struct gerr read_err;
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

/* Reads more input into the window, keeping data[pos, len): its start
 * moves to the front, and the window grows when it is full (up to
 * ELEMENT_MAX). 1 when bytes were added, 0 at the end, on a read failure
 * (read_failed) or when the window may not grow (*too_long, may be NULL). */
static int more(struct ingest_reader *r, int *too_long) {
  if (r->eof)
    return 0;
  if (r->pos) {
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->base += r->pos;
    r->len -= r->pos;
    r->pos = 0;
  }
  if (r->len == r->cap) {
    size_t cap = r->cap * 2;
    if (cap > ELEMENT_MAX + 1) {
      if (too_long)
        *too_long = 1;
      return 0;
    }
    char *b = realloc(r->buf, cap);
    if (!b) {
      r->read_failed = 1;
      gerr_set(&r->read_err, GERR_INTERNAL, "out of memory");
      r->eof = 1;
      return 0;
    }
    r->buf = b;
    r->cap = cap;
  }
  r->data = r->buf;
  long n = r->read(r->ctx, r->buf + r->len, r->cap - r->len, &r->read_err);
  if (n <= 0) {
    r->eof = 1;
    r->read_failed = n < 0;
    return 0;
  }
  r->len += (size_t)n;
  return 1;
}

/* Advances over whitespace, counting lines. */
static void skip_ws(struct ingest_reader *r) {
  for (;;) {
    while (r->pos < r->len) {
      char c = r->data[r->pos];
      if (c == '\n')
        r->line++;
      else if (c != ' ' && c != '\t' && c != '\r')
        return;
      r->pos++;
    }
    if (!more(r, NULL))
      return;
  }
}

static void count_lines(struct ingest_reader *r, size_t from, size_t to) {
  const char *p = r->data + from, *end = r->data + to;
  while ((p = memchr(p, '\n', (size_t)(end - p)))) {
    r->line++;
    p++;
  }
}

/* The start of the input: a BOM, white space, the '[' of an array. */
static int open_common(struct ingest_reader *r, struct ingest_reader **out,
                       struct gerr *err) {
  r->line = 1;
  while (r->len - r->pos < 3 && more(r, NULL))
    ;
  if (r->len >= 3 && memcmp(r->data, "\xEF\xBB\xBF", 3) == 0)
    r->pos = 3;
  skip_ws(r);
  int rc = 0;
  if (r->read_failed) {
    rc = -1;
    *err = r->read_err;
  } else if (r->pos == r->len) {
    rc = gerr_set(err, GERR_INVALID_INPUT, "the file is empty");
  } else if (r->fmt == INGEST_JSON_ARRAY) {
    if (r->data[r->pos] != '[')
      rc = gerr_set(err, GERR_INVALID_INPUT, "line %zu: a JSON array must start with '['",
                    r->line);
    r->pos++;
  }
  if (rc < 0) {
    ingest_free(r);
    return -1;
  }
  *out = r;
  return 0;
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
  r->eof = 1;
  return open_common(r, out, err);
}

int ingest_json_open_stream(ingest_read_fn fn, void *ctx, enum ingest_format fmt,
                            struct ingest_reader **out, struct gerr *err) {
  *out = NULL;
  if (fmt != INGEST_JSON_ARRAY && fmt != INGEST_NDJSON)
    return gerr_set(err, GERR_MEDIA_TYPE, "not a JSON array or NDJSON file");
  struct ingest_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->buf = malloc(WINDOW_START))) {
    free(r);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  r->data = r->buf;
  r->cap = WINDOW_START;
  r->read = fn;
  r->ctx = ctx;
  r->fmt = fmt;
  return open_common(r, out, err);
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
  json_t *j;
  int too_long = 0;
  for (;;) { /* until the element ends inside the window, or the input ends */
    j = json_loadb(r->data + r->pos, r->len - r->pos,
                   JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
    if (r->eof || (size_t)je.position < r->len - r->pos)
      break;
    json_decref(j);
    j = NULL;
    if (!more(r, &too_long) && (too_long || r->read_failed))
      break; /* else more data, or the end: parse again */
  }
  if (too_long)
    return gerr_set(err, GERR_INVALID_INPUT, "line %zu: record %zu is longer than %zu bytes",
                    r->line, r->index, ELEMENT_MAX);
  if (r->read_failed)
    return -1; /* ingest_next reports it */
  size_t start = r->pos;
  *row = r->line;
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

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

void ingest_ndjson_too_long(struct sale_problems *pr) {
  sale_problems_clear(pr);
  sale_problem_add(pr, SF_RECORD, "the line is longer than %d bytes", NDJSON_LINE_MAX);
}

int ingest_ndjson_line(const char *p, size_t n, const struct sale_rules *rules,
                       struct sale *out, int *valid, struct sale_problems *pr) {
  size_t a = 0, b = n;
  while (a < b && is_blank(p[a]))
    a++;
  while (b > a && is_blank(p[b - 1]))
    b--;
  if (a == b)
    return 0;
  if (b - a > NDJSON_LINE_MAX) {
    ingest_ndjson_too_long(pr);
    *valid = 0;
    return 1;
  }
  json_error_t je;
  json_t *j = json_loadb(p + a, b - a, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    sale_problems_clear(pr);
    sale_problem_add(pr, SF_RECORD, "malformed JSON at column %d: %s", je.column + (int)a,
                     je.text);
    *valid = 0;
    return 1;
  }
  *valid = sale_from_json(j, rules, out, pr) == 0;
  json_decref(j);
  return 1;
}

static int next_ndjson(struct ingest_reader *r, const struct sale_rules *rules,
                       struct sale *out, int *valid, struct sale_problems *pr,
                       size_t *row) {
  for (;;) {
    if (r->pos >= r->len && !more(r, NULL)) {
      r->done = 1;
      return 0;
    }
    const char *p = r->data + r->pos;
    const char *nl = memchr(p, '\n', r->len - r->pos);
    if (!nl && !r->eof) {
      if (r->len - r->pos <= NDJSON_KEEP) {
        more(r, NULL);
        continue;
      }
      /* Too long to keep: dropped up to its end, rejected as a record. */
      *row = r->line++;
      for (;;) {
        r->pos = r->len;
        if (!more(r, NULL))
          break;
        if ((nl = memchr(r->data + r->pos, '\n', r->len - r->pos))) {
          r->pos = (size_t)(nl - r->data) + 1;
          break;
        }
      }
      ingest_ndjson_too_long(pr);
      *valid = 0;
      return 1;
    }
    size_t n = nl ? (size_t)(nl - p) : r->len - r->pos;
    size_t this_line = r->line;
    r->pos += n + (nl ? 1 : 0);
    r->line++;
    if (ingest_ndjson_line(p, n, rules, out, valid, pr) == 0)
      continue; /* blank lines are allowed */
    *row = this_line;
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
  if (r->read_failed) { /* the input failed: nothing read is trusted */
    if (err)
      *err = r->read_err;
    r->done = 1;
    return -1;
  }
  if (rc == 1)
    *index = r->index++;
  return rc;
}

size_t ingest_offset(const struct ingest_reader *r) { return r->base + r->pos; }

void ingest_free(struct ingest_reader *r) {
  if (r)
    free(r->buf);
  free(r);
}
