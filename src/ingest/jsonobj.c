/* The streaming reader of flat JSON objects (include/gromo/jsonobj.h), on
 * yajl's event parser. */
#include "gromo/jsonobj.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define JSONOBJ_MAX_DEPTH 32

enum jo_state { JO_TOP, JO_ARRAY, JO_OBJECT, JO_DONE };

struct jsonobj {
  yajl_handle h;
  const struct jsonobj_schema *schema;
  const struct jsonobj_ops *ops;
  void *ctx;
  enum jo_state state;
  int single;      /* the top level was one object */
  int depth;       /* open arrays and maps */
  int skip_depth;  /* > 0: inside a value being skipped */
  int field;       /* known member of the next value; -1 none */
  unsigned seen;   /* members given in this object (bit per name) */
  size_t index;    /* elements completed */
  int stopped;     /* a callback asked to stop */
  char error[200]; /* a structural error, set by a callback */
  /* Where the reading is: chunk is the piece being parsed (NULL between
   * feeds), its first `counted` bytes counted into line. */
  const char *chunk;
  size_t counted;
  size_t line;          /* 1-based */
  uint64_t base;        /* input bytes before chunk */
  uint64_t mark;        /* where the last element ended (0 before the first) */
  size_t max_element;   /* 0: no bound */
  int nonblank;         /* anything but white space was fed */
};

/* The byte offset in the whole input just past the token being reported:
 * yajl counts the bytes of the current piece it has consumed. */
static uint64_t offset_now(const struct jsonobj *j) {
  return j->base + (j->chunk ? yajl_get_bytes_consumed(j->h) : 0);
}

/* Counts the line breaks of the current piece up to byte `upto`. */
static void count_lines(struct jsonobj *j, size_t upto) {
  if (!j->chunk || upto <= j->counted)
    return;
  const char *p = j->chunk + j->counted, *end = j->chunk + upto;
  while ((p = memchr(p, '\n', (size_t)(end - p)))) {
    j->line++;
    p++;
  }
  j->counted = upto;
}

/* An element ends at the current token: over the bound, the reading stops
 * with a structural error. */
static int element_bounded(struct jsonobj *j) {
  uint64_t at = offset_now(j);
  if (j->max_element && at - j->mark > j->max_element) {
    snprintf(j->error, sizeof j->error, "%s %zu is longer than %zu bytes", j->schema->item,
             j->index, j->max_element);
    return 0;
  }
  j->mark = at;
  return 1;
}

static int stop(struct jsonobj *j) {
  j->stopped = 1;
  return 0;
}

static int object_begin(struct jsonobj *j) {
  j->seen = 0;
  j->field = -1;
  j->state = JO_OBJECT;
  return j->ops->begin(j->ctx, j->index, 1) ? stop(j) : 1;
}

static int object_end(struct jsonobj *j) {
  if (!element_bounded(j))
    return 0;
  j->state = j->single ? JO_DONE : JO_ARRAY;
  return j->ops->end(j->ctx, j->index++, 1) ? stop(j) : 1;
}

/* An array element that is not an object: one element, begun and ended. */
static int element_not_object(struct jsonobj *j) {
  if (!element_bounded(j))
    return 0;
  if (j->ops->begin(j->ctx, j->index, 0))
    return stop(j);
  return j->ops->end(j->ctx, j->index++, 0) ? stop(j) : 1;
}

static int top_level_error(struct jsonobj *j) {
  snprintf(j->error, sizeof j->error, "the body must be a JSON array of %s or one %s object",
           j->schema->items, j->schema->item);
  return 0;
}

static int on_value(struct jsonobj *j, const struct jsonobj_value *v) {
  if (j->skip_depth)
    return 1;
  switch (j->state) {
  case JO_TOP:
  case JO_DONE:
    return top_level_error(j);
  case JO_ARRAY:
    return element_not_object(j);
  case JO_OBJECT:
    break;
  }
  int f = j->field;
  j->field = -1;
  if (f >= 0) /* unknown members are ignored */
    j->ops->value(j->ctx, f, v);
  return 1;
}

static int cb_null(void *c) {
  struct jsonobj_value v = {.type = JV_NULL};
  return on_value(c, &v);
}

static int cb_bool(void *c, int b) {
  struct jsonobj_value v = {.type = JV_BOOL, .i = b};
  return on_value(c, &v);
}

/* Numbers arrive as text: integers that fit in 64 bits are integers, the
 * rest (fractions, exponents, huge values) are reals. */
static int cb_number(void *c, const char *s, size_t n) {
  struct jsonobj_value v = {.type = JV_REAL, .d = HUGE_VAL};
  char text[64];
  if (n < sizeof text) {
    memcpy(text, s, n);
    text[n] = '\0';
    errno = 0;
    if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
      v.i = strtoll(text, NULL, 10);
      if (errno == 0)
        v.type = JV_INT;
    }
    if (v.type == JV_REAL)
      v.d = strtod(text, NULL);
  }
  return on_value(c, &v);
}

static int cb_string(void *c, const unsigned char *s, size_t n) {
  struct jsonobj_value v = {.type = JV_STRING, .s = (const char *)s, .n = n};
  return on_value(c, &v);
}

static int open_container(struct jsonobj *j, int is_map) {
  if (++j->depth > JSONOBJ_MAX_DEPTH) {
    snprintf(j->error, sizeof j->error, "JSON nested deeper than %d levels",
             JSONOBJ_MAX_DEPTH);
    return 0;
  }
  if (j->skip_depth) {
    j->skip_depth++;
    return 1;
  }
  switch (j->state) {
  case JO_TOP:
    if (!is_map) {
      j->state = JO_ARRAY;
      return 1;
    }
    j->single = 1;
    return object_begin(j);
  case JO_ARRAY:
    if (is_map)
      return object_begin(j);
    j->skip_depth = 1; /* an array inside the array: one element */
    return element_not_object(j);
  case JO_OBJECT: {
    struct jsonobj_value v = {.type = is_map ? JV_OBJECT : JV_ARRAY};
    if (j->field >= 0)
      j->ops->value(j->ctx, j->field, &v);
    j->field = -1;
    j->skip_depth = 1;
    return 1;
  }
  case JO_DONE:
    return top_level_error(j);
  }
  return 1;
}

static int close_container(struct jsonobj *j) {
  j->depth--;
  if (j->skip_depth) {
    j->skip_depth--;
    return 1;
  }
  if (j->state == JO_OBJECT)
    return object_end(j);
  if (j->state == JO_ARRAY)
    j->state = JO_DONE;
  return 1;
}

static int cb_start_map(void *c) { return open_container(c, 1); }
static int cb_start_array(void *c) { return open_container(c, 0); }
static int cb_end(void *c) { return close_container(c); }

static int cb_key(void *c, const unsigned char *k, size_t n) {
  struct jsonobj *j = c;
  if (j->skip_depth)
    return 1;
  j->field = -1;
  for (size_t f = 0; f < j->schema->nnames; f++) {
    const char *name = j->schema->names[f];
    if (!name || strlen(name) != n || memcmp(name, k, n) != 0)
      continue;
    unsigned bit = 1u << f;
    if (j->seen & bit) {
      struct jsonobj_value v = {.type = JV_TWICE};
      j->ops->value(j->ctx, (int)f, &v);
    } else {
      j->seen |= bit;
      j->field = (int)f;
    }
    break;
  }
  return 1;
}

static const yajl_callbacks jo_callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

int jsonobj_new(const struct jsonobj_schema *schema, const struct jsonobj_ops *ops,
                void *ctx, struct jsonobj **out) {
  *out = NULL;
  if (schema->nnames > 32)
    return -1;
  struct jsonobj *j = calloc(1, sizeof *j);
  if (!j)
    return -1;
  j->h = yajl_alloc(&jo_callbacks, NULL, j);
  if (!j->h) {
    free(j);
    return -1;
  }
  j->schema = schema;
  j->ops = ops;
  j->ctx = ctx;
  j->field = -1;
  j->line = 1;
  *out = j;
  return 0;
}

/* Turns a yajl failure into *err: a stop asked by a callback is not a JSON
 * error (-2); a structural or syntax error is GERR_INVALID_INPUT (-1). */
static int jsonobj_fail(struct jsonobj *j, const char *chunk, size_t len,
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

void jsonobj_set_max_element(struct jsonobj *j, size_t max) { j->max_element = max; }

/* After a piece: its line breaks counted up to where yajl stopped (all of
 * it, unless it failed), and the piece forgotten. */
static void piece_done(struct jsonobj *j, size_t upto) {
  count_lines(j, upto);
  j->base += upto;
  j->chunk = NULL;
  j->counted = 0;
}

/* The bound between feeds: yajl keeps a token that spans pieces whole, so
 * bytes past the end of the last element (whatever they are) may not pile
 * up beyond max_element. */
static int over_bound(struct jsonobj *j, struct gerr *err) {
  if (!j->max_element || j->base - j->mark <= j->max_element)
    return 0;
  if (j->state == JO_DONE)
    return gerr_set(err, GERR_INVALID_INPUT, "more than %zu bytes after the end of the JSON",
                    j->max_element);
  return gerr_set(err, GERR_INVALID_INPUT, "%s %zu is longer than %zu bytes", j->schema->item,
                  j->index, j->max_element);
}

int jsonobj_feed(struct jsonobj *j, const char *p, size_t n, struct gerr *err) {
  for (size_t i = 0; !j->nonblank && i < n; i++)
    j->nonblank = !strchr(" \t\r\n", p[i]) || !p[i];
  j->chunk = p;
  j->counted = 0;
  if (yajl_parse(j->h, (const unsigned char *)p, n) != yajl_status_ok) {
    size_t at = yajl_get_bytes_consumed(j->h);
    piece_done(j, at < n ? at : n);
    return jsonobj_fail(j, p, n, err);
  }
  piece_done(j, n);
  return over_bound(j, err);
}

size_t jsonobj_line(struct jsonobj *j) {
  if (j->chunk)
    count_lines(j, yajl_get_bytes_consumed(j->h));
  return j->line;
}

static int truncated(struct jsonobj *j, struct gerr *err) {
  return gerr_set(err, GERR_INVALID_INPUT,
                  "the JSON ends before the array or %s is closed (truncated)",
                  j->schema->item);
}

static int empty(struct jsonobj *j, struct gerr *err) {
  return gerr_set(err, GERR_INVALID_INPUT, "the body is empty; a JSON array of %s is required",
                  j->schema->items);
}

int jsonobj_finish(struct jsonobj *j, struct gerr *err) {
  if (!j->nonblank && !j->stopped)
    return empty(j, err);
  if (yajl_complete_parse(j->h) != yajl_status_ok) {
    if (!j->error[0] && !j->stopped && (j->state == JO_ARRAY || j->state == JO_OBJECT))
      return truncated(j, err);
    return jsonobj_fail(j, NULL, 0, err);
  }
  if (j->state == JO_TOP)
    return empty(j, err);
  if (j->state != JO_DONE)
    return truncated(j, err);
  return 0;
}

size_t jsonobj_count(const struct jsonobj *j) { return j->index; }

int jsonobj_single(const struct jsonobj *j) { return j->single; }

void jsonobj_free(struct jsonobj *j) {
  if (!j)
    return;
  yajl_free(j->h);
  free(j);
}
