/* Evaluation and calibration of the demand models: holdout metrics for the
 * count regression (predicted_demand), the rise probability (demand_rise)
 * and the product classifier (top_product), reliability reports, and the
 * calibrators that make probabilities and intervals mean what they say
 * (Platt, isotonic, temperature, split conformal). docs/evaluation.md gives
 * every formula.
 *
 * Conventions for the whole module:
 * - Nothing allocates what the caller must free except isotonic_fit
 *   (release with isotonic_release). Nothing prints.
 * - Probabilities are finite and in [0, 1]; binary outcomes are 0 or 1;
 *   class labels are in [0, k); multiclass p is n x k row-major, each row
 *   summing to 1 within EVAL_ROW_SUM_TOL. A function returning int gives -1
 *   for NULL pointers, n == 0 or any input breaking these rules, and -1 when
 *   memory ran out; *out is then unspecified. Functions returning double
 *   give NaN instead.
 * - Per-class figures follow scikit-learn: a ratio with a zero denominator
 *   is 0. */
#ifndef GROMO_EVALUATE_H
#define GROMO_EVALUATE_H

#include <stddef.h>

#include "gromo/error.h"

#define EVAL_MAX_BINS 20
#define EVAL_PROB_EPS 1e-15    /* log losses clip p to [eps, 1 - eps] */
#define EVAL_ROW_SUM_TOL 1e-4  /* |sum of a probability row - 1| allowed */

/* 0 when p[0..n) are probabilities and y[0..n) are 0/1 with n > 0, else -1. */
int eval_check_binary(const unsigned char *y, const double *p, size_t n);
/* 0 when p is n x k (n, k > 0) with rows of probabilities summing to 1 and
 * y[i] in [0, k), else -1. */
int eval_check_multiclass(const int *y, const double *p, size_t n, size_t k);

/* ---- Regression on counts ---------------------------------------------- */

struct reg_metrics {
  size_t n;
  double r2;   /* 1 - SS_res/SS_tot; when y is constant: 1 if every mu == y,
                  else 0 (scikit-learn's convention) */
  double mae;  /* mean |y - mu| */
  double rmse; /* sqrt(mean (y - mu)^2) */
  /* Mean Poisson deviance 2*mean(y*log(y/mu) - (y - mu)), with
   * y*log(y/mu) = 0 when y == 0 and mu clamped to >= 1e-9. NaN when some
   * y < 0 (not a count). */
  double poisson_deviance;
  double bias; /* mean mu / mean y - 1; NaN when sum y == 0 */
  double wape; /* sum |y - mu| / sum y; NaN when sum y == 0 */
};

/* Below this a predicted mean is raised for the logarithm of the Poisson
 * deviance only: a guard for a model's exp(score) underflowing, never
 * reached by the baselines (see EVAL_BASE_FLOOR). */
#define EVAL_POISSON_MU_MIN 1e-9

/* out->n = n. Every metric is NaN when n == 0, y or mu is NULL, or any y or
 * mu is not finite. mu may be negative (clamped for the deviance only). */
void eval_regression(const double *y, const double *mu, size_t n,
                     struct reg_metrics *out);
/* One example's term of the Poisson deviance, 2 (y ln(y/mu) - (y - mu)),
 * mu raised to EVAL_POISSON_MU_MIN; the mean deviance is their mean. */
double eval_poisson_term(double y, double mu);

/* Share of i with lo[i] <= y[i] <= hi[i]; bounds may be infinite. NaN when
 * n == 0, a pointer is NULL or any value is NaN. */
double eval_coverage(const double *y, const double *lo, const double *hi,
                     size_t n);

/* ---- Demand baselines ---------------------------------------------------
 * The simple forecasts every demand model must beat, defined once for
 * training, serving and the benchmarks (docs/evaluation.md "Baselines").
 * Each is a shrunk mean (n * raw + w * prior) / (n + w): its own figure
 * over n periods, pulled toward the cell's prior by w = EVAL_BASE_PRIOR_W
 * periods' worth, and never below EVAL_BASE_FLOOR. The prior is the cell's
 * 12-period mean pulled toward its parent's rate by EVAL_BASE_PARENT_W
 * periods' worth: (12 ma12 + 2 parent) / 14. */

/* What a baseline knows of a cell at its as-of date; NaN: unknown. */
struct eval_history {
  double last;           /* demand in the last period */
  double ma3, ma6, ma12; /* mean demand per period over the last 3, 6, 12 */
  double seasonal;       /* seasonal-naive forecast of the target period, NaN
                            without a year of history */
  double parent;         /* the parent's demand per period apportioned to
                            the cell (eval_parent_rate); NaN: none */
};

enum eval_baseline {
  EVAL_BASE_LAST,     /* the last period */
  EVAL_BASE_MA3,      /* moving average of 3 periods */
  EVAL_BASE_MA6,      /* moving average of 6 periods */
  EVAL_BASE_SEASONAL, /* seasonal naive (the 3-period average without it) */
  EVAL_BASELINES
};
extern const char *const eval_baseline_names[EVAL_BASELINES];

#define EVAL_BASE_PRIOR_W 1.0  /* periods' worth of the prior in a baseline */
#define EVAL_BASE_PARENT_W 2.0 /* periods' worth of the parent in the prior */
#define EVAL_BASE_FLOOR 0.02   /* sales per period: the least a baseline says */

/* The prior of the cell, >= EVAL_BASE_FLOOR. */
double eval_baseline_prior(const struct eval_history *c);
/* Baseline `which` of the cell, >= EVAL_BASE_FLOOR; NaN for a bad which or
 * a NULL c. */
double eval_baseline(const struct eval_history *c, int which);
/* A parent's rate apportioned to one of its cells: mean * share1 * share2
 * (e.g. the pincode's demand per period times the product's and the
 * channel's share of its sales); NaN when any is NaN or negative. */
double eval_parent_rate(double mean, double share1, double share2);
/* The history of a cell from its counts c[0..n) (c[a]: period a before the
 * as-of date, 0 the last; NaN unknown) for the target h periods ahead
 * (1..): means over the known periods, and the seasonal naive c[12 - h]
 * times (sum of c[0..3) + 1) / (sum of c[12..15) + 1) (c[12 - h] alone
 * without c[12..15), NaN without c[12 - h]). */
void eval_history_of_counts(const double *c, size_t n, int h, double parent,
                            struct eval_history *out);
/* P(Y > k) for a count Y of mean mu and variance var: the negative
 * binomial with those moments (Poisson when var <= mu), taken as normal
 * with a continuity correction above a mean of EVAL_COUNT_NORMAL_ABOVE.
 * The probability of a rise over a last period of k sales: k is floored;
 * 1 for k < 0, 0 for mu <= 0 and k >= 0; NaN when an argument is NaN. */
#define EVAL_COUNT_NORMAL_ABOVE 200.0
double eval_count_above(double mu, double var, double k);
/* eval_count_above(mu, mu, k): Y ~ Poisson(mu). */
double eval_poisson_above(double mu, double k);

/* ---- Reliability of probabilities --------------------------------------- */

struct calib_bin {
  size_t n;
  double mean_p;   /* mean p in the bin */
  double observed; /* share of y == 1 in the bin */
};
struct calib_report {
  size_t nbins;
  struct calib_bin bin[EVAL_MAX_BINS];
  double ece;     /* sum over bins of n_b/n * |observed_b - mean_p_b| */
  double max_gap; /* max over bins of |observed_b - mean_p_b| */
};

/* Equal-count bins by sorted p (deciles for nbins = 10): bin b holds the
 * sorted positions [b*n/nbins, (b+1)*n/nbins) in integer arithmetic, so
 * sizes differ by at most one. Equal p keep their input order and may be
 * split across two bins. 0, or -1 for bad arguments (see the top; also
 * nbins == 0, nbins > EVAL_MAX_BINS or n < nbins) or out of memory. */
int eval_calibration(const double *p, const unsigned char *y, size_t n,
                     size_t nbins, struct calib_report *out) GROMO_WUR;

/* ---- Binary classification ---------------------------------------------- */

struct class_report {
  size_t support;   /* number of i with y[i] == the class */
  double precision; /* tp / predicted as the class; 0 when none predicted */
  double recall;    /* tp / support; 0 when support == 0 */
  double f1;        /* 2tp / (2tp + fp + fn); 0 when tp + fp + fn == 0 */
};

struct binary_metrics {
  size_t n;
  double accuracy; /* share of i with (p[i] > 0.5) == y[i] */
  /* Probability that a random positive has a higher p than a random
   * negative, ties counting 1/2 (Mann-Whitney); NaN when a class is absent. */
  double roc_auc;
  double log_loss; /* -mean(y log p + (1-y) log(1-p)), p clipped to
                      [EVAL_PROB_EPS, 1 - EVAL_PROB_EPS] */
  double brier;    /* mean (p - y)^2 */
  struct class_report cls[2]; /* threshold 0.5: predicted 1 when p > 0.5 */
};

/* 0, or -1 for bad arguments (see the top) or out of memory. */
int eval_binary(const unsigned char *y, const double *p, size_t n,
                struct binary_metrics *out) GROMO_WUR;

/* ---- Multiclass classification ------------------------------------------ */

struct multi_metrics {
  size_t n, k;
  double accuracy;      /* predicted class = argmax, lowest index on ties */
  double top2_accuracy; /* y among the argmax and the runner-up (again the
                           lowest index on ties); = accuracy when k == 1 */
  double log_loss;      /* -mean log p[i][y[i]], clipped as for binary */
  /* Mean f1 over the classes that occur in y or among the predictions
   * (scikit-learn's f1_score(average="macro") without explicit labels). */
  double macro_f1;
};

/* p is n x k row-major. cls, when not NULL, receives k reports (one per
 * class, absent classes included with zeros). 0, or -1 for bad arguments
 * (see the top) or out of memory. */
int eval_multiclass(const int *y, const double *p, size_t n, size_t k,
                    struct multi_metrics *out, struct class_report *cls)
    GROMO_WUR;

/* ---- Platt scaling ------------------------------------------------------ */

/* p' = sigmoid(a*logit(p) + b), p clipped to [EVAL_PROB_EPS, 1 - EVAL_PROB_EPS]
 * before the logit; {1, 0} is the identity. a < 0 is possible when p ranks
 * outcomes backwards. */
struct platt {
  double a, b;
};

/* Minimises the log loss of sigmoid(a*logit(p) + b) against Platt's smoothed
 * targets ((N1+1)/(N1+2) for y = 1, 1/(N0+2) for y = 0) by Newton's method
 * with a backtracking line search, starting from the identity. 0 or -1 (bad
 * arguments, see the top). */
int platt_fit(const double *p, const unsigned char *y, size_t n,
              struct platt *out) GROMO_WUR;
/* NaN when c is NULL or p is not in [0, 1]. */
double platt_apply(const struct platt *c, double p);

/* ---- Isotonic regression ------------------------------------------------ */

/* The fitted non-decreasing step function as knots: x strictly increasing,
 * y non-decreasing, n >= 1. Each block pooled by PAV keeps only its first and
 * last x, so the knots are compact; between knots the function is linear.
 * Owns x and y. */
struct isotonic {
  size_t n;
  double *x, *y;
};

/* Weighted least-squares non-decreasing fit of y on x by pool adjacent
 * violators. w may be NULL (all 1); otherwise each w[i] is finite and > 0.
 * Equal x are first pooled into one point (weighted mean y). x and y must be
 * finite. *out is overwritten (release an earlier fit first) and is
 * {0, NULL, NULL} on failure. 0, or -1 for bad arguments or out of memory. */
int isotonic_fit(const double *x, const double *y, const double *w, size_t n,
                 struct isotonic *out) GROMO_WUR;
/* Linear between knots, clamped to the end knots' y outside them. NaN when
 * c is NULL or empty, or x is NaN. */
double isotonic_apply(const struct isotonic *c, double x);
/* Frees the knots and leaves {0, NULL, NULL}; c may be NULL or empty. */
void isotonic_release(struct isotonic *c);

/* ---- Temperature scaling ------------------------------------------------ */

#define TEMPERATURE_MIN 0.05
#define TEMPERATURE_MAX 20.0

/* Fits T in [TEMPERATURE_MIN, TEMPERATURE_MAX] minimising the log loss of
 * p_j' = p_j^(1/T) / sum_l p_l^(1/T), by golden-section search on log T
 * (the loss is convex in 1/T, so unimodal). T = 1 is kept unless another T
 * is strictly better. p is n x k. 0, or -1 for bad arguments (see the top)
 * or out of memory. */
int temperature_fit(const double *p, const int *y, size_t n, size_t k,
                    double *T) GROMO_WUR;
/* Rescales one row of k probabilities in place. Leaves p unchanged when T is
 * not finite and > 0, or some p_j is not finite or < 0, or all are 0. */
void temperature_apply(double *p, size_t k, double T);

/* ---- Split conformal ---------------------------------------------------- */

/* The ceil((n+1)*level)-th smallest of scores (1-based); scores are sorted
 * in place (ascending). +INFINITY when that rank exceeds n (n == 0 included: no
 * calibration data gives an unbounded interval). A product (n+1)*level
 * within rounding of an integer counts as that integer. NaN, with scores
 * untouched, when level is not in (0, 1), scores is NULL with n > 0, or a
 * score is NaN. */
double conformal_quantile(double *scores, size_t n, double level);

#endif
