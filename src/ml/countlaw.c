/* The count laws of the demand answer: the negative binomial (Poisson when
 * alpha = 0) CDF and quantile, and the demand interval and confidence read
 * from them through a suite's calibration (ml_int.h, "the suite"). */
#include <math.h>

#include "ml/ml_int.h"

/* Above this mean the negative binomial is taken as normal (with a
 * continuity correction): the sums would cost a term per count. */
#define NB_NORMAL_ABOVE 200.0

static double nb_var(double mu, double alpha) { return mu * (1 + alpha * mu); }

double ml_nb_cdf(double mu, double alpha, long k) {
  if (k < 0)
    return 0;
  if (mu <= 0)
    return 1;
  if (mu > NB_NORMAL_ABOVE) {
    double z = ((double)k + 0.5 - mu) / sqrt(nb_var(mu, alpha));
    return 0.5 * erfc(-z / M_SQRT2);
  }
  double pmf, sum = 0;
  if (alpha < 1e-9) {
    pmf = exp(-mu);
    for (long i = 0; i <= k; i++) {
      sum += pmf;
      pmf *= mu / (double)(i + 1);
    }
  } else {
    double r = 1 / alpha, q = mu / (r + mu);
    pmf = exp(r * log(r / (r + mu)));
    for (long i = 0; i <= k; i++) {
      sum += pmf;
      pmf *= ((double)i + r) / (double)(i + 1) * q;
    }
  }
  return sum > 1 ? 1 : sum;
}

long ml_nb_quantile(double mu, double alpha, double q) {
  if (mu <= 0 || q <= 0)
    return 0;
  if (mu > NB_NORMAL_ABOVE) {
    /* invert the normal by bisection on the continuity-corrected CDF */
    double sd = sqrt(nb_var(mu, alpha));
    long lo = 0, hi = (long)(mu + 40 * sd) + 1;
    while (lo < hi) {
      long mid = lo + (hi - lo) / 2;
      if (ml_nb_cdf(mu, alpha, mid) >= q)
        hi = mid;
      else
        lo = mid + 1;
    }
    return lo;
  }
  double pmf, sum = 0, r = alpha < 1e-9 ? 0 : 1 / alpha, p = r ? mu / (r + mu) : 0;
  pmf = r ? exp(r * log(r / (r + mu))) : exp(-mu);
  for (long i = 0; i < 1000000; i++) {
    sum += pmf;
    if (sum >= q)
      return i;
    pmf *= r ? ((double)i + r) / (double)(i + 1) * p : mu / (double)(i + 1);
  }
  return 1000000;
}

/* the lower ends of the bands of expected demand */
static const double band_from[ML_DEMAND_BANDS] = {INFORMATIVE_MU, 1.25, 1.5, 2, 4, 8};

double ml_demand_band_from(int b) { return b < ML_DEMAND_BANDS ? band_from[b] : INFINITY; }

int ml_demand_band(double mu) {
  int b = -1;
  while (b + 1 < ML_DEMAND_BANDS && mu >= band_from[b + 1])
    b++;
  return b;
}

double ml_demand_band_level(const struct demand_calib *c, int b) {
  return b >= 0 && c->band[b] > 0 ? c->band[b] : c->nominal;
}

void ml_demand_interval(const struct demand_calib *c, double mu, double *low, double *high) {
  double nominal = ml_demand_band_level(c, ml_demand_band(mu));
  *low = (double)ml_nb_quantile(mu, c->alpha, (1 - nominal) / 2);
  *high = (double)ml_nb_quantile(mu, c->alpha, (1 + nominal) / 2);
}

double ml_demand_confidence_raw(double alpha, double mu) {
  double band = fmax(0.25 * mu, 1.0);
  long hi = (long)floor(mu + band), lo = (long)ceil(mu - band);
  if (lo < 0)
    lo = 0;
  return ml_nb_cdf(mu, alpha, hi) - ml_nb_cdf(mu, alpha, lo - 1);
}

double ml_demand_confidence(const struct demand_calib *c, double mu) {
  double raw = ml_demand_confidence_raw(c->alpha, mu);
  double v = c->conf.n ? isotonic_apply(&c->conf, raw) : raw;
  return isnan(v) ? raw : fmin(fmax(v, 0), 1);
}
