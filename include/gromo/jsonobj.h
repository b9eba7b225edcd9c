/* A streaming reader of JSON bodies made of flat objects: a top-level array
 * of objects, or one object. Fed in chunks of any size (yajl's event
 * parser underneath), it tells each object's known members and their
 * values to the caller as they arrive, so no document tree is ever built:
 * memory is what the caller keeps, not the text. Nesting is limited by
 * counting. Sales records (jsonrec.c) and prediction queries both read
 * through it. */
#ifndef GROMO_JSONOBJ_H
#define GROMO_JSONOBJ_H

#include <stddef.h>

#include "gromo/error.h"

enum jsonobj_type {
  JV_NULL,
  JV_BOOL,
  JV_INT,    /* a number written without fraction or exponent that fits */
  JV_REAL,   /* any other number (huge ones as HUGE_VAL) */
  JV_STRING,
  JV_OBJECT, /* a nested object or array: its content is skipped */
  JV_ARRAY,
  JV_TWICE   /* the member was given before: this value is ignored */
};

struct jsonobj_value {
  enum jsonobj_type type;
  const char *s; /* JV_STRING: not NUL-terminated */
  size_t n;
  long long i;
  double d;
};

struct jsonobj_ops {
  /* An element begins: an object (is_object 1), or a value that is not an
   * object (is_object 0; end follows at once). 0 to go on, non-zero to
   * stop the reading. */
  int (*begin)(void *ctx, size_t index, int is_object);
  /* The value of known member `field` (its index in the names table). */
  void (*value)(void *ctx, int field, const struct jsonobj_value *v);
  /* The element is complete. 0 to go on, non-zero to stop. */
  int (*end)(void *ctx, size_t index, int is_object);
};

struct jsonobj_schema {
  const char *const *names; /* known member names; at most 32 */
  size_t nnames;
  const char *item;  /* "record": for messages */
  const char *items; /* "sales records" */
};

struct jsonobj; /* opaque */

/* schema and ops are borrowed. 0, or -1 out of memory. */
int jsonobj_new(const struct jsonobj_schema *schema, const struct jsonobj_ops *ops,
                void *ctx, struct jsonobj **out) GROMO_WUR;
/* 0; -1 on malformed JSON or a body of the wrong shape (*err,
 * GERR_INVALID_INPUT, naming what was wrong); -2 when a callback stopped. */
int jsonobj_feed(struct jsonobj *j, const char *p, size_t n, struct gerr *err);
/* After the last chunk: -1 when the input was empty or ended early. */
int jsonobj_finish(struct jsonobj *j, struct gerr *err);
/* Elements read so far. */
size_t jsonobj_count(const struct jsonobj *j);
/* The 1-based line the reading is at: in a callback, the line of the token
 * reported (an object's '{' for begin); after a failed feed, where it
 * failed. */
size_t jsonobj_line(struct jsonobj *j);
/* Bytes from the end of one element (or the start of the input) to the end
 * of the next may be at most max (0, the default: no bound); past it the reading
 * fails ("record N is longer than MAX bytes"), as soon as a piece ends
 * beyond it, so that no token is kept longer than max and one piece. */
void jsonobj_set_max_element(struct jsonobj *j, size_t max);
/* 1 when the top level was one object rather than an array. */
int jsonobj_single(const struct jsonobj *j);
void jsonobj_free(struct jsonobj *j);

#endif
