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

/* A seed from the system's random source. */
uint64_t sample_random_seed(void);

#endif
