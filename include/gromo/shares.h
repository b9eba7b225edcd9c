/* Shares printed so that they add up: probabilities rounded to whole units
 * (1e-4 for 4 decimals) by the largest-remainder method, so the printed
 * figures sum to exactly 1 where rounding each on its own may give 0.9999 or
 * 1.0001. */
#ifndef GROMO_SHARES_H
#define GROMO_SHARES_H

#include <stddef.h>

#include "gromo/error.h"

/* units[i] (OUT) = share i of `total` units, the p[i] taken in proportion to
 * their sum (a negative or non-finite p counts as 0): each share is its exact
 * value rounded down, and the units left over go one each to the largest
 * remainders (ties: the larger p, then the lower index). So sum(units) ==
 * total and each is within 1 unit of its exact value; a larger p never gets
 * fewer units. 0, or -1 (units untouched) when n is 0, total < 0 or no p is
 * positive: then there is nothing to share. */
int shares_round(const double *p, size_t n, long total, long *units) GROMO_WUR;

#endif
