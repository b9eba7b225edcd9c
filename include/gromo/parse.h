/* Numbers and lists from text, read one way everywhere: request
 * parameters, command line options, the parts of a sales cursor, the
 * comma-separated lists of settings. */
#ifndef GROMO_PARSE_H
#define GROMO_PARSE_H

#include <stddef.h>

#include "gromo/error.h"

/* A whole decimal integer from lo to hi: an optional '-' and at least one
 * digit, nothing else (no blanks, no '+', no fraction), at most 20
 * characters. 0 with *out set, or -1 (s NULL or not such a number, or out
 * of range) with *out unchanged. */
int parse_int_range(const char *s, long long lo, long long hi, long long *out) GROMO_WUR;

/* The next item of a comma-separated list at *cur, blanks around it
 * trimmed: *item and *len (maybe 0); *cur moves past it. 0 when the list
 * is done (an empty rest, or cur NULL), else 1. */
int list_next(const char **cur, const char **item, size_t *len);
/* 1 when s (n bytes) is an item of the list. */
int list_has(const char *list, const char *s, size_t n);

#endif
