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

int list_next(const char **cur, const char **item, size_t *len) {
  const char *p = *cur;
  if (!p || !*p)
    return 0;
  const char *e = strchr(p, ',');
  size_t n = e ? (size_t)(e - p) : strlen(p);
  while (n && *p == ' ')
    p++, n--;
  while (n && p[n - 1] == ' ')
    n--;
  *item = p;
  *len = n;
  *cur = e ? e + 1 : NULL;
  return 1;
}

int list_has(const char *list, const char *s, size_t n) {
  const char *item;
  size_t len;
  for (const char *cur = list; list_next(&cur, &item, &len);)
    if (len == n && !memcmp(item, s, n))
      return 1;
  return 0;
}
