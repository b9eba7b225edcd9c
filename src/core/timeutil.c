#include "gromo/timeutil.h"

#include <stdio.h>
#include <time.h>

/* Howard Hinnant's civil-calendar algorithms (public domain description). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

int64_t now_ist_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + IST_OFFSET_MS;
}

int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

size_t ist_format(int64_t ist_ms, char out[24]) {
  int64_t days = floor_div(ist_ms, DAY_MS);
  int64_t in_day = ist_ms - days * DAY_MS;
  int y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  unsigned ms = (unsigned)(in_day % 1000);
  unsigned s = (unsigned)(in_day / 1000);
  int n;
  if (ms)
    n = snprintf(out, 24, "%04d-%02u-%02u %02u:%02u:%02u.%03u", y, m, d,
                 s / 3600, s / 60 % 60, s % 60, ms);
  else
    n = snprintf(out, 24, "%04d-%02u-%02u %02u:%02u:%02u", y, m, d, s / 3600,
                 s / 60 % 60, s % 60);
  return n > 0 ? (size_t)n : 0;
}

size_t ist_format_date(int64_t ist_ms, char out[11]) {
  int y;
  unsigned m, d;
  civil_from_days(floor_div(ist_ms, DAY_MS), &y, &m, &d);
  int n = snprintf(out, 11, "%04d-%02u-%02u", y, m, d);
  return n > 0 ? (size_t)n : 0;
}
