/* Time as the product counts it. Sales times are civil times in India
 * (IST, UTC+05:30): a timestamp with a zone is converted to IST, one without
 * is taken as IST already. They are kept as "IST milliseconds": milliseconds
 * since 1970-01-01 00:00 IST wall clock, so a day boundary is a multiple of
 * 86,400,000 and no time zone database is needed. */
#ifndef GROMO_TIMEUTIL_H
#define GROMO_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define IST_OFFSET_MS (330LL * 60 * 1000)
#define DAY_MS 86400000LL

/* Days since 1970-01-01 of a proleptic Gregorian date (no range checks). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);

/* Now, as IST milliseconds. */
int64_t now_ist_ms(void);
/* Monotonic microseconds, for latency figures. */
int64_t mono_us(void);

/* "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD HH:MM:SS.fff" when ms != 0;
 * out needs 24 bytes. Returns the length. */
size_t ist_format(int64_t ist_ms, char out[24]);
/* "YYYY-MM-DD"; out needs 11 bytes. */
size_t ist_format_date(int64_t ist_ms, char out[11]);

#endif
