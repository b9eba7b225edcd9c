/* Streaming reader of sales records in JSON: a top-level array of record
 * objects (or one record object), fed in chunks of any size. Built on yajl's
 * event parser, so records go straight into struct sale without building a
 * document tree, memory stays bounded whatever the input size, and nesting
 * is limited by counting, not recursion. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "gromo/ingest.h"

#define JSONREC_MAX_DEPTH 32

enum jr_state { JR_TOP, JR_ARRAY, JR_RECORD, JR_DONE };

struct jsonrec {
  yajl_handle h;
  const struct sale_rules *rules;
  jsonrec_fn fn;
  void *ctx;
  enum jr_state state;
  int single;          /* the top level was one object */
  int depth;           /* open arrays and maps */
  int skip_depth;      /* > 0: inside a value being skipped */
  int field;           /* field of the next value; -1 unknown; -2 none */
  unsigned seen;       /* fields set in this record (bit per field) */
  size_t index;        /* records completed */
  int stopped;         /* the callback asked to stop */
  struct sale rec;
  struct sale_problems pr;
  char error[200];     /* a structural error, set by a callback */
};

static int field_lookup(const unsigned char *k, size_t n) {
  for (int f = 0; f < SF__COUNT; f++) {
    const char *name = sale_field_name((enum sale_field)f);
    if (f != SF_RECORD && strlen(name) == n && memcmp(name, k, n) == 0)
      return f;
  }
  return -1;
}

static void record_begin(struct jsonrec *j) {
  sale_text_begin(&j->rec, &j->pr);
  j->seen = 0;
  j->field = -2;
  j->state = JR_RECORD;
}

static int record_emit(struct jsonrec *j, int valid) {
  size_t idx = j->index++;
  if (j->fn(j->ctx, idx, &j->rec, valid, &j->pr) != 0) {
    j->stopped = 1;
    return 0;
  }
  return 1;
}

static int record_end(struct jsonrec *j) {
  int ok = sale_text_finish(&j->rec, &j->pr) == 0 && j->pr.count == 0;
  j->state = j->single ? JR_DONE : JR_ARRAY;
  return record_emit(j, ok);
}

/* An array element that is not an object: one invalid record. */
static int element_not_object(struct jsonrec *j) {
  sale_text_begin(&j->rec, &j->pr);
  sale_problem_add(&j->pr, SF_RECORD, "must be a JSON object");
  return record_emit(j, 0);
}

static int top_level_error(struct jsonrec *j) {
  snprintf(j->error, sizeof j->error,
           "the body must be a JSON array of sales records or one record object");
  return 0;
}

/* Handles a scalar; type is the JSON type name for wrong-type problems. */
static int on_scalar(struct jsonrec *j, const char *type, const unsigned char *s,
                     size_t n, long long iv, double dv) {
  if (j->skip_depth)
    return 1;
  switch (j->state) {
  case JR_TOP:
  case JR_DONE:
    return top_level_error(j);
  case JR_ARRAY:
    return element_not_object(j);
  case JR_RECORD:
    break;
  }
  int f = j->field;
  j->field = -2;
  if (f < 0)
    return 1; /* unknown member: ignored */
  enum sale_field sf = (enum sale_field)f;
  if (type[0] == 's')
    sale_json_set_string(&j->rec, sf, (const char *)s, n, j->rules, &j->pr);
  else if (type[0] == 'i')
    sale_json_set_integer(&j->rec, sf, iv, j->rules, &j->pr);
  else if (type[0] == 'r')
    sale_json_set_real(&j->rec, sf, dv, j->rules, &j->pr);
  else if (type[0] != 'n') /* null: absent */
    sale_json_set_wrong_type(&j->rec, sf, type, &j->pr);
  return 1;
}

static int cb_null(void *c) { return on_scalar(c, "null", NULL, 0, 0, 0); }
static int cb_bool(void *c, int b) { return on_scalar(c, "boolean", NULL, 0, 0, 0); }
/* Numbers arrive as text: integers that fit in 64 bits are integers, the
 * rest (fractions, exponents, huge values) are reals. */
static int cb_number(void *c, const char *s, size_t n) {
  char text[64];
  if (n >= sizeof text)
    return on_scalar(c, "real", NULL, 0, 0, HUGE_VAL);
  memcpy(text, s, n);
  text[n] = '\0';
  if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == 0)
      return on_scalar(c, "integer", NULL, 0, v, 0);
  }
  return on_scalar(c, "real", NULL, 0, 0, strtod(text, NULL));
}
static int cb_string(void *c, const unsigned char *s, size_t n) {
  return on_scalar(c, "string", s, n, 0, 0);
}

static int open_container(struct jsonrec *j, int is_map) {
  if (++j->depth > JSONREC_MAX_DEPTH) {
    snprintf(j->error, sizeof j->error, "JSON nested deeper than %d levels",
             JSONREC_MAX_DEPTH);
    return 0;
  }
  if (j->skip_depth) {
    j->skip_depth++;
    return 1;
  }
  switch (j->state) {
  case JR_TOP:
    if (is_map) {
      j->single = 1;
      record_begin(j);
    } else {
      j->state = JR_ARRAY;
    }
    return 1;
  case JR_ARRAY:
    if (is_map) {
      record_begin(j);
      return 1;
    }
    j->skip_depth = 1; /* an array inside the array: one invalid record */
    return element_not_object(j);
  case JR_RECORD:
    if (j->field >= 0)
      sale_json_set_wrong_type(&j->rec, (enum sale_field)j->field,
                               is_map ? "object" : "array", &j->pr);
    j->field = -2;
    j->skip_depth = 1;
    return 1;
  case JR_DONE:
    return top_level_error(j);
  }
  return 1;
}

static int close_container(struct jsonrec *j) {
  j->depth--;
  if (j->skip_depth) {
    j->skip_depth--;
    return 1;
  }
  if (j->state == JR_RECORD)
    return record_end(j);
  if (j->state == JR_ARRAY)
    j->state = JR_DONE;
  return 1;
}

static int cb_start_map(void *c) { return open_container(c, 1); }
static int cb_start_array(void *c) { return open_container(c, 0); }
static int cb_end(void *c) { return close_container(c); }

static int cb_key(void *c, const unsigned char *k, size_t n) {
  struct jsonrec *j = c;
  if (j->skip_depth)
    return 1;
  j->field = field_lookup(k, n);
  if (j->field >= 0) {
    unsigned bit = 1u << j->field;
    if (j->seen & bit) {
      sale_problem_add(&j->pr, (enum sale_field)j->field, "is given twice");
      j->field = -1;
    }
    j->seen |= bit;
  }
  return 1;
}

static const yajl_callbacks jr_callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

int jsonrec_new(const struct sale_rules *rules, jsonrec_fn fn, void *ctx,
                struct jsonrec **out) {
  struct jsonrec *j = calloc(1, sizeof *j);
  if (!j)
    return -1;
  j->h = yajl_alloc(&jr_callbacks, NULL, j);
  if (!j->h) {
    free(j);
    return -1;
  }
  j->rules = rules;
  j->fn = fn;
  j->ctx = ctx;
  j->field = -2;
  *out = j;
  return 0;
}

/* Turns a yajl failure into *err: a stop asked by the callback is not a
 * JSON error (-2), a structural or syntax error is GERR_INVALID_INPUT (-1). */
static int jsonrec_fail(struct jsonrec *j, const char *chunk, size_t len,
                        struct gerr *err) {
  if (j->stopped)
    return -2;
  if (j->error[0])
    return gerr_set(err, GERR_INVALID_INPUT, "%s", j->error);
  unsigned char *msg = yajl_get_error(j->h, 0, (const unsigned char *)chunk, len);
  gerr_set(err, GERR_INVALID_INPUT, "malformed JSON: %s",
           msg ? (const char *)msg : "parse error");
  if (msg)
    yajl_free_error(j->h, msg);
  size_t n = strlen(err->msg);
  while (n && (err->msg[n - 1] == '\n' || err->msg[n - 1] == ' '))
    err->msg[--n] = '\0';
  return -1;
}

int jsonrec_feed(struct jsonrec *j, const char *p, size_t n, struct gerr *err) {
  if (yajl_parse(j->h, (const unsigned char *)p, n) != yajl_status_ok)
    return jsonrec_fail(j, p, n, err);
  return 0;
}

int jsonrec_finish(struct jsonrec *j, struct gerr *err) {
  if (yajl_complete_parse(j->h) != yajl_status_ok) {
    if (!j->error[0] && !j->stopped && (j->state == JR_ARRAY || j->state == JR_RECORD))
      return gerr_set(err, GERR_INVALID_INPUT,
                      "the JSON ends before the array or record is closed (truncated)");
    return jsonrec_fail(j, NULL, 0, err);
  }
  if (j->state != JR_DONE)
    return gerr_set(err, GERR_INVALID_INPUT,
                    j->state == JR_TOP ? "the body is empty; a JSON array of "
                                         "sales records is required"
                                       : "the JSON ends before the array or "
                                         "record is closed (truncated)");
  return 0;
}

size_t jsonrec_count(const struct jsonrec *j) { return j->index; }

int jsonrec_single(const struct jsonrec *j) { return j->single; }

void jsonrec_free(struct jsonrec *j) {
  if (!j)
    return;
  yajl_free(j->h);
  free(j);
}
