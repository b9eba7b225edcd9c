/* Numbers from text, read one way everywhere: request parameters, command
 * line options, the parts of a sales cursor. */
#ifndef GROMO_PARSE_H
#define GROMO_PARSE_H

#include "gromo/error.h"

/* A whole decimal integer from lo to hi: an optional '-' and at least one
 * digit, nothing else (no blanks, no '+', no fraction), at most 20
 * characters. 0 with *out set, or -1 (s NULL or not such a number, or out
 * of range) with *out unchanged. */
int parse_int_range(const char *s, long long lo, long long hi, long long *out) GROMO_WUR;

#endif
