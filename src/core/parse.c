#include "gromo/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int parse_int_range(const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s || strlen(s) > 20)
    return -1;
  const char *p = *s == '-' ? s + 1 : s;
  if (!*p)
    return -1;
  for (; *p; p++)
    if (*p < '0' || *p > '9')
      return -1;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}
