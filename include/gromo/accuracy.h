/* Accuracy of served model versions against what happened: for a version
 * of the registry, its demand forecasts of every pincode x product x
 * channel cell for each complete period after its as-of date (horizons 1
 * to 3), beside the sales the store holds for those periods; per period,
 * product and region and overall. A drift alarm says when the realized
 * figures leave the range the version's own backtest showed.
 * docs/monitoring.md gives every definition.
 *
 * Dates are passed, never read from the clock here: `today` is the current
 * date (IST days since 1970-01-01), and a period is complete once its last
 * day is before it. */
#ifndef GROMO_ACCURACY_H
#define GROMO_ACCURACY_H

#include <jansson.h>
#include <stdint.h>

#include "gromo/error.h"

struct gaz;
struct model_holder;
struct store;
struct suite;

/* The drift alarm: a realized figure of a complete period is out of the
 * range [min, max] of the version's backtest months at that horizon,
 * widened by these margins. The bias and the interval coverage (cells
 * expecting >= 1 sale) are judged both ways, the Poisson deviance upwards
 * only (relative margin: above max * (1 + margin)); a better deviance than
 * the backtest ever had is no alarm. A period is judged only with at least
 * ACCURACY_MIN_SALES realized sales in its forecast cells, the coverage
 * only over at least ACCURACY_MIN_CELLS_EXPECTED cells expecting >= 1. */
#define ACCURACY_BIAS_MARGIN 0.10
#define ACCURACY_COVERAGE_MARGIN 0.05
#define ACCURACY_DEVIANCE_MARGIN 0.25
#define ACCURACY_MIN_SALES 30
#define ACCURACY_MIN_CELLS_EXPECTED 20

/* Reads a date "YYYY-MM-DD" (a real calendar day from 2000-01-01) into
 * *day (days since 1970-01-01). 0, or -1 with *day unchanged. */
int accuracy_parse_day(const char *s, int64_t *day) GROMO_WUR;

/* The accuracy report of suite s as of `today` from db's sales: a new JSON
 * object (docs/monitoring.md) into *out. A version without a complete
 * period after its as-of date gives a report with no periods, not an
 * error. Reads the sales of the (at most three) complete periods once;
 * predicts every cell of the suite once per complete period. 0 or -1. */
int accuracy_report(const struct suite *s, struct store *db, int64_t today, json_t **out,
                    struct gerr *err) GROMO_WUR;

/* Whether a report's drift alarm is on: 1, 0. */
int accuracy_drift(const json_t *report);

/* Reports of a running service, kept per (version, the store's sales mark,
 * today) so that repeated requests and /metrics cost a lookup. At most one
 * report is computed at a time in a process: a second caller waits for
 * the first and then finds its result. Thread-safe. */
struct accuracy_cache; /* opaque */
#define ACCURACY_CACHE_ENTRIES 8
int accuracy_cache_new(struct accuracy_cache **out) GROMO_WUR;
void accuracy_cache_free(struct accuracy_cache *c); /* NULL allowed */

/* The report of `version` (0: the serving one) as of `today`. The holder's
 * suite answers when it is that version; another is loaded from the
 * registry (gaz borrowed). reuse_s > 0 takes a report of the same version
 * and day made less than reuse_s seconds ago even when sales have arrived
 * since (/metrics); 0 wants one of the store's current sales. 0 with *out
 * a new reference, 1 no such version (none trained, for 0), -1 error. */
int accuracy_cache_get(struct accuracy_cache *c, struct store *db, const struct gaz *gaz,
                       struct model_holder *holder, int64_t version, int64_t today,
                       int reuse_s, json_t **out, struct gerr *err) GROMO_WUR;

#endif
