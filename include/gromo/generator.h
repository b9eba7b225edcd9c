/* Sample sales that look like the business: see docs/sample-data.md for the
 * generative model. Deterministic: the same config gives the same records in
 * the same order. */
#ifndef GROMO_GENERATOR_H
#define GROMO_GENERATOR_H

#include <stdint.h>

#include "gromo/error.h"
#include "gromo/gazetteer.h"
#include "gromo/record.h"

struct gen_config {
  uint64_t seed;
  int64_t end_ist_ms; /* the newest sale falls on this day (IST ms), never
                         after this instant */
  int days;           /* span of dates, ending at end_ist_ms; default 730 */
  size_t count;       /* records that will be drawn: the first `count` come
                         in date order, as real sales arrive (0: unknown;
                         then, and after `count`, each draw is independent) */
};

struct gen; /* opaque; borrows the gazetteer, which must outlive it */

int gen_new(const struct gaz *g, const struct gen_config *cfg, struct gen **out,
            struct gerr *err) GROMO_WUR;
/* The next record, valid per docs/rules.md §2 (city left "" to be filled from the
 * gazetteer). */
void gen_next(struct gen *gen, struct sale *out);
void gen_free(struct gen *gen);

#endif
