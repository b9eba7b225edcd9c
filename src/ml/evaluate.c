/* Holdout metrics: regression on counts, coverage, reliability bins, binary
 * and multiclass classification. Formulas in docs/evaluation.md. */
#include "gromo/evaluate.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static int is_prob(double p) { return p >= 0.0 && p <= 1.0; /* false for NaN */ }

static double clip_prob(double p) {
  if (p < EVAL_PROB_EPS)
    return EVAL_PROB_EPS;
  if (p > 1.0 - EVAL_PROB_EPS)
    return 1.0 - EVAL_PROB_EPS;
  return p;
}

int eval_check_binary(const unsigned char *y, const double *p, size_t n) {
  if (!y || !p || n == 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (y[i] > 1 || !is_prob(p[i]))
      return -1;
  return 0;
}

int eval_check_multiclass(const int *y, const double *p, size_t n, size_t k) {
  if (!y || !p || n == 0 || k == 0 || n > SIZE_MAX / k)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (y[i] < 0 || (size_t)y[i] >= k)
      return -1;
    const double *row = p + i * k;
    double sum = 0.0;
    for (size_t j = 0; j < k; j++) {
      if (!is_prob(row[j]))
        return -1;
      sum += row[j];
    }
    if (fabs(sum - 1.0) > EVAL_ROW_SUM_TOL)
      return -1;
  }
  return 0;
}

/* ---- Regression --------------------------------------------------------- */

void eval_regression(const double *y, const double *mu, size_t n,
                     struct reg_metrics *out) {
  if (!out)
    return;
  out->n = n;
  out->r2 = out->mae = out->rmse = out->poisson_deviance = NAN;
  if (!y || !mu || n == 0)
    return;
  double ysum = 0.0;
  int counts = 1;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(y[i]) || !isfinite(mu[i]))
      return;
    ysum += y[i];
    if (y[i] < 0.0)
      counts = 0;
  }
  double ybar = ysum / (double)n;
  double abs_sum = 0.0, ss_res = 0.0, ss_tot = 0.0, dev = 0.0, musum = 0.0;
  for (size_t i = 0; i < n; i++) {
    double r = y[i] - mu[i];
    abs_sum += fabs(r);
    ss_res += r * r;
    ss_tot += (y[i] - ybar) * (y[i] - ybar);
    musum += mu[i];
    if (counts)
      dev += eval_poisson_term(y[i], mu[i]);
  }
  out->mae = abs_sum / (double)n;
  out->bias = ysum > 0.0 ? musum / ysum - 1.0 : NAN;
  out->wape = ysum > 0.0 ? abs_sum / ysum : NAN;
  out->rmse = sqrt(ss_res / (double)n);
  if (ss_tot > 0.0)
    out->r2 = 1.0 - ss_res / ss_tot;
  else
    out->r2 = ss_res == 0.0 ? 1.0 : 0.0;
  if (counts)
    out->poisson_deviance = dev / (double)n;
}

double eval_poisson_term(double y, double mu) {
  if (!(mu >= EVAL_POISSON_MU_MIN))
    mu = EVAL_POISSON_MU_MIN;
  return 2.0 * ((y > 0.0 ? y * log(y / mu) : 0.0) - (y - mu));
}

/* ---- Demand baselines --------------------------------------------------- */

const char *const eval_baseline_names[EVAL_BASELINES] = {"last_period", "moving_average_3",
                                                         "moving_average_6", "seasonal_naive"};

static double known_nonneg(double v) { return v >= 0.0 ? v : NAN; /* NaN stays NaN */ }

double eval_baseline_prior(const struct eval_history *c) {
  if (!c)
    return NAN;
  double m = known_nonneg(c->ma12), p = known_nonneg(c->parent), prior;
  if (!isnan(m) && !isnan(p))
    prior = (12.0 * m + EVAL_BASE_PARENT_W * p) / (12.0 + EVAL_BASE_PARENT_W);
  else if (!isnan(m))
    prior = m;
  else if (!isnan(p))
    prior = p;
  else
    prior = known_nonneg(c->ma6); /* no 12-period mean: the best it has */
  return isnan(prior) || prior < EVAL_BASE_FLOOR ? EVAL_BASE_FLOOR : prior;
}

double eval_baseline(const struct eval_history *c, int which) {
  if (!c || which < 0 || which >= EVAL_BASELINES)
    return NAN;
  double raw = NAN, n = 1.0;
  switch (which) {
  case EVAL_BASE_LAST: raw = c->last; break;
  case EVAL_BASE_MA3: raw = c->ma3, n = 3.0; break;
  case EVAL_BASE_MA6: raw = c->ma6, n = 6.0; break;
  default:
    raw = known_nonneg(c->seasonal);
    if (isnan(raw))
      raw = c->ma3, n = 3.0;
    break;
  }
  double prior = eval_baseline_prior(c), v = known_nonneg(raw);
  v = isnan(v) ? prior : (n * v + EVAL_BASE_PRIOR_W * prior) / (n + EVAL_BASE_PRIOR_W);
  return v < EVAL_BASE_FLOOR ? EVAL_BASE_FLOOR : v;
}

double eval_parent_rate(double mean, double share1, double share2) {
  double v = known_nonneg(mean) * known_nonneg(share1) * known_nonneg(share2);
  return isfinite(v) ? v : NAN;
}

/* Mean of the known values among c[from..from+len) within n; NaN if none. */
static double mean_known(const double *c, size_t n, size_t from, size_t len, double *sum) {
  double s = 0.0;
  size_t k = 0;
  for (size_t a = from; a < from + len && a < n; a++)
    if (!isnan(c[a])) {
      s += c[a];
      k++;
    }
  if (sum)
    *sum = k == len ? s : NAN;
  return k ? s / (double)k : NAN;
}

void eval_history_of_counts(const double *c, size_t n, int h, double parent,
                            struct eval_history *out) {
  if (!out)
    return;
  out->last = out->ma3 = out->ma6 = out->ma12 = out->seasonal = NAN;
  out->parent = parent;
  if (!c)
    return;
  double now3, ago3;
  out->last = n > 0 ? c[0] : NAN;
  out->ma3 = mean_known(c, n, 0, 3, &now3);
  out->ma6 = mean_known(c, n, 0, 6, NULL);
  out->ma12 = mean_known(c, n, 0, 12, NULL);
  mean_known(c, n, 12, 3, &ago3);
  if (h >= 1 && h <= 12 && (size_t)(12 - h) < n && !isnan(c[12 - h])) {
    double ago = c[12 - h];
    out->seasonal = isnan(ago3) || isnan(now3) ? ago : ago * (now3 + 1.0) / (ago3 + 1.0);
  }
}

double eval_count_above(double mu, double var, double k) {
  if (isnan(mu) || isnan(var) || isnan(k))
    return NAN;
  if (k < 0.0)
    return 1.0;
  if (mu <= 0.0)
    return 0.0;
  double kk = floor(k), alpha = var > mu ? (var - mu) / (mu * mu) : 0.0;
  if (mu > EVAL_COUNT_NORMAL_ABOVE) {
    double z = (kk + 0.5 - mu) / sqrt(mu * (1.0 + alpha * mu));
    return 0.5 * erfc(z / M_SQRT2);
  }
  /* the pmf by its recursion from 0; beyond the mode it only falls */
  double pmf, cdf = 0.0, r = alpha < 1e-9 ? 0.0 : 1.0 / alpha, q = r ? mu / (r + mu) : 0.0;
  pmf = r ? exp(r * log(r / (r + mu))) : exp(-mu);
  for (double i = 0.0; i <= kk; i += 1.0) {
    cdf += pmf;
    pmf *= r ? (i + r) / (i + 1.0) * q : mu / (i + 1.0);
    if (pmf < 1e-300 && i > mu)
      break;
  }
  return cdf >= 1.0 ? 0.0 : 1.0 - cdf;
}

double eval_poisson_above(double mu, double k) { return eval_count_above(mu, mu, k); }

double eval_coverage(const double *y, const double *lo, const double *hi,
                     size_t n) {
  if (!y || !lo || !hi || n == 0)
    return NAN;
  size_t in = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(y[i]) || isnan(lo[i]) || isnan(hi[i]))
      return NAN;
    in += lo[i] <= y[i] && y[i] <= hi[i];
  }
  return (double)in / (double)n;
}

/* ---- Reliability bins --------------------------------------------------- */

struct scored {
  double p;
  size_t at; /* input position: equal p keep their input order */
  unsigned char y;
};

static int scored_cmp(const void *a, const void *b) {
  const struct scored *x = a, *z = b;
  if (x->p != z->p)
    return x->p < z->p ? -1 : 1;
  return (x->at > z->at) - (x->at < z->at);
}

/* Sorted position where bin b starts: floor(b*n/nbins) without overflow. */
static size_t bin_start(size_t b, size_t n, size_t nbins) {
  return b * (n / nbins) + b * (n % nbins) / nbins;
}

int eval_calibration(const double *p, const unsigned char *y, size_t n,
                     size_t nbins, struct calib_report *out) {
  if (!out || nbins == 0 || nbins > EVAL_MAX_BINS || n < nbins ||
      eval_check_binary(y, p, n) < 0 || n > SIZE_MAX / sizeof(struct scored))
    return -1;
  struct scored *s = malloc(n * sizeof *s);
  if (!s)
    return -1;
  for (size_t i = 0; i < n; i++)
    s[i] = (struct scored){p[i], i, y[i]};
  qsort(s, n, sizeof *s, scored_cmp);

  out->nbins = nbins;
  out->ece = 0.0;
  out->max_gap = 0.0;
  for (size_t b = 0; b < nbins; b++) {
    size_t lo = bin_start(b, n, nbins), hi = bin_start(b + 1, n, nbins);
    double psum = 0.0;
    size_t ones = 0;
    for (size_t i = lo; i < hi; i++) {
      psum += s[i].p;
      ones += s[i].y;
    }
    struct calib_bin *cb = &out->bin[b];
    cb->n = hi - lo; /* >= 1 since n >= nbins */
    cb->mean_p = psum / (double)cb->n;
    cb->observed = (double)ones / (double)cb->n;
    double gap = fabs(cb->observed - cb->mean_p);
    out->ece += (double)cb->n / (double)n * gap;
    if (gap > out->max_gap)
      out->max_gap = gap;
  }
  for (size_t b = nbins; b < EVAL_MAX_BINS; b++)
    out->bin[b] = (struct calib_bin){0, NAN, NAN};
  free(s);
  return 0;
}

/* ---- Classification ----------------------------------------------------- */

static double ratio0(double num, double den) { return den > 0.0 ? num / den : 0.0; }

static void class_report_set(struct class_report *r, size_t support,
                             size_t predicted, size_t tp) {
  size_t fp = predicted - tp, fn = support - tp;
  r->support = support;
  r->precision = ratio0((double)tp, (double)predicted);
  r->recall = ratio0((double)tp, (double)support);
  r->f1 = ratio0(2.0 * (double)tp, 2.0 * (double)tp + (double)fp + (double)fn);
}

static int p_cmp(const void *a, const void *b) {
  double x = ((const struct scored *)a)->p, z = ((const struct scored *)b)->p;
  return (x > z) - (x < z);
}

/* Mann-Whitney AUC over groups of equal p: each positive beats the
 * negatives below its group and half-beats those in it. */
static int roc_auc(const unsigned char *y, const double *p, size_t n,
                   size_t pos, double *auc) {
  size_t neg = n - pos;
  if (pos == 0 || neg == 0) {
    *auc = NAN;
    return 0;
  }
  if (n > SIZE_MAX / sizeof(struct scored))
    return -1;
  struct scored *s = malloc(n * sizeof *s);
  if (!s)
    return -1;
  for (size_t i = 0; i < n; i++)
    s[i] = (struct scored){p[i], i, y[i]};
  qsort(s, n, sizeof *s, p_cmp);
  double wins = 0.0, neg_below = 0.0;
  for (size_t i = 0; i < n;) {
    size_t j = i, gpos = 0;
    while (j < n && s[j].p == s[i].p)
      gpos += s[j++].y;
    double gneg = (double)(j - i - gpos);
    wins += (double)gpos * (neg_below + 0.5 * gneg);
    neg_below += gneg;
    i = j;
  }
  free(s);
  *auc = wins / ((double)pos * (double)neg);
  return 0;
}

int eval_binary(const unsigned char *y, const double *p, size_t n,
                struct binary_metrics *out) {
  if (!out || eval_check_binary(y, p, n) < 0)
    return -1;
  size_t pos = 0, pred_pos = 0, tp = 0, correct = 0;
  double loss = 0.0, brier = 0.0;
  for (size_t i = 0; i < n; i++) {
    int pred = p[i] > 0.5;
    pos += y[i];
    pred_pos += (size_t)pred;
    tp += (size_t)(pred && y[i]);
    correct += (size_t)(pred == y[i]);
    double c = clip_prob(p[i]);
    loss -= y[i] ? log(c) : log(1.0 - c);
    brier += (p[i] - y[i]) * (p[i] - y[i]);
  }
  if (roc_auc(y, p, n, pos, &out->roc_auc) < 0)
    return -1;
  out->n = n;
  out->accuracy = (double)correct / (double)n;
  out->log_loss = loss / (double)n;
  out->brier = brier / (double)n;
  size_t tn = correct - tp;
  class_report_set(&out->cls[1], pos, pred_pos, tp);
  class_report_set(&out->cls[0], n - pos, n - pred_pos, tn);
  return 0;
}

/* Index of the largest and of the second largest of row[0..k), the lowest
 * index winning ties; *second = k when k == 1. */
static void top_two(const double *row, size_t k, size_t *first,
                    size_t *second) {
  size_t b1 = 0, b2 = k;
  for (size_t j = 1; j < k; j++) {
    if (row[j] > row[b1]) {
      b2 = b1;
      b1 = j;
    } else if (b2 == k || row[j] > row[b2]) {
      b2 = j;
    }
  }
  *first = b1;
  *second = b2;
}

int eval_multiclass(const int *y, const double *p, size_t n, size_t k,
                    struct multi_metrics *out, struct class_report *cls) {
  if (!out || eval_check_multiclass(y, p, n, k) < 0 ||
      k > SIZE_MAX / (3 * sizeof(size_t)))
    return -1;
  size_t *support = calloc(3 * k, sizeof *support); /* support, predicted, tp */
  if (!support)
    return -1;
  size_t *predicted = support + k, *tp = support + 2 * k;
  size_t correct = 0, top2 = 0;
  double loss = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double *row = p + i * k;
    size_t c = (size_t)y[i], first, second;
    top_two(row, k, &first, &second);
    support[c]++;
    predicted[first]++;
    if (first == c) {
      tp[c]++;
      correct++;
    }
    top2 += (size_t)(first == c || second == c);
    loss -= log(clip_prob(row[c]));
  }
  double f1_sum = 0.0;
  size_t labels = 0;
  for (size_t c = 0; c < k; c++) {
    struct class_report r;
    class_report_set(&r, support[c], predicted[c], tp[c]);
    if (support[c] || predicted[c]) {
      f1_sum += r.f1;
      labels++;
    }
    if (cls)
      cls[c] = r;
  }
  out->n = n;
  out->k = k;
  out->accuracy = (double)correct / (double)n;
  out->top2_accuracy = (double)top2 / (double)n;
  out->log_loss = loss / (double)n;
  out->macro_f1 = f1_sum / (double)labels; /* labels >= 1 since n >= 1 */
  free(support);
  return 0;
}
