#include "gromo/shares.h"

#include <math.h>

static double share_of(double p) { return isfinite(p) && p > 0 ? p : 0; }

int shares_round(const double *p, size_t n, long total, long *units) {
  if (n == 0 || total < 0)
    return -1;
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += share_of(p[i]);
  if (!(sum > 0) || !isfinite(sum))
    return -1;
  long given = 0;
  for (size_t i = 0; i < n; i++) {
    units[i] = (long)floor(share_of(p[i]) / sum * (double)total);
    given += units[i];
  }
  /* The units left (fewer than n) go to the largest remainders, one each: a
   * share already given one has a negative remainder. n is small (the
   * products), so a pass per unit will do. Should rounding in the division
   * have given one unit too many, it is taken from the smallest remainder. */
  while (given != total) {
    int more = given < total;
    size_t pick = n;
    double pick_rem = 0;
    for (size_t i = 0; i < n; i++) {
      double rem = share_of(p[i]) / sum * (double)total - (double)units[i];
      if (more ? rem < 0 : units[i] == 0)
        continue;
      if (pick == n || (more ? rem > pick_rem : rem < pick_rem) ||
          (rem == pick_rem && (more ? share_of(p[i]) > share_of(p[pick])
                                    : share_of(p[i]) < share_of(p[pick])))) {
        pick = i;
        pick_rem = rem;
      }
    }
    if (pick == n)
      return -1; /* cannot happen: the exact shares sum to total */
    units[pick] += more ? 1 : -1;
    given += more ? 1 : -1;
  }
  return 0;
}
