/* Generating sample sales into the store, shared by the API and the CLI. */
#ifndef GROMO_SAMPLE_H
#define GROMO_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"
#include "gromo/gazetteer.h"
#include "gromo/record.h"
#include "gromo/store.h"

#define SAMPLE_MAX 1000000 /* records in one call */

typedef void (*progress_fn)(void *ctx, size_t done, size_t total);

/* Generates `count` records (seed, dates ending on the day of end_ist_ms) and
 * inserts them in one transaction: all of them or, on error, none. The first
 * `nfirst` records are copied to first[] (may be NULL). progress (may be
 * NULL) is called after each batch. */
int sample_insert(struct store *db, const struct gaz *g, size_t count,
                  uint64_t seed, int64_t end_ist_ms, struct sale *first,
                  size_t nfirst, progress_fn progress, void *ctx,
                  size_t *inserted, struct gerr *err) GROMO_WUR;

/* The end instant for a last day given as "YYYY-MM-DD" (`gromo generate
 * --end`, `?end=`): the last millisecond of that day, IST. The day must be
 * from 2000-01-01 to the day of now_ist_ms, so that every record is valid
 * (docs/rules.md §2: not before 2000, not more than a day in the future). 0, or -1
 * when s is no such date. */
int sample_end_parse(const char *s, int64_t now_ist_ms, int64_t *end_ist_ms) GROMO_WUR;

/* A seed from the system's random source. */
uint64_t sample_random_seed(void);

#endif
