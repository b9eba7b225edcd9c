/* Calibrators: Platt scaling, isotonic regression, temperature scaling and
 * the split-conformal quantile. Formulas in docs/evaluation.md. */
#include "gromo/evaluate.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static double sigmoid(double z) {
  if (z >= 0.0)
    return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

static double logit_clipped(double p) {
  if (p < EVAL_PROB_EPS)
    p = EVAL_PROB_EPS;
  else if (p > 1.0 - EVAL_PROB_EPS)
    p = 1.0 - EVAL_PROB_EPS;
  return log(p / (1.0 - p));
}

/* ---- Platt scaling ------------------------------------------------------ */

#define PLATT_MAX_ITER 100
#define PLATT_MIN_STEP 1e-10
#define PLATT_GRAD_TOL 1e-9 /* per example */
#define PLATT_RIDGE 1e-12   /* keeps the Hessian invertible when logits are
                               all equal (Lin, Lin and Weng 2007) */

struct platt_data {
  const double *p;
  const unsigned char *y;
  size_t n;
  double t1, t0; /* smoothed targets for y = 1 and y = 0 */
};

/* Cross-entropy of sigmoid(a*f + b) against the targets, summed; the form
 * max(z, 0) + log1p(exp(-|z|)) - t*z cannot overflow. */
static double platt_loss(const struct platt_data *d, double a, double b) {
  double sum = 0.0;
  for (size_t i = 0; i < d->n; i++) {
    double z = a * logit_clipped(d->p[i]) + b;
    double t = d->y[i] ? d->t1 : d->t0;
    sum += fmax(z, 0.0) + log1p(exp(-fabs(z))) - t * z;
  }
  return sum;
}

int platt_fit(const double *p, const unsigned char *y, size_t n,
              struct platt *out) {
  if (!out || eval_check_binary(y, p, n) < 0)
    return -1;
  size_t n1 = 0;
  for (size_t i = 0; i < n; i++)
    n1 += y[i];
  struct platt_data d = {p, y, n, ((double)n1 + 1.0) / ((double)n1 + 2.0),
                         1.0 / ((double)(n - n1) + 2.0)};
  double a = 1.0, b = 0.0, loss = platt_loss(&d, a, b);
  for (int it = 0; it < PLATT_MAX_ITER; it++) {
    double ga = 0.0, gb = 0.0, haa = PLATT_RIDGE, hab = 0.0, hbb = PLATT_RIDGE;
    for (size_t i = 0; i < n; i++) {
      double f = logit_clipped(p[i]), q = sigmoid(a * f + b);
      double r = q - (y[i] ? d.t1 : d.t0), w = q * (1.0 - q);
      ga += f * r;
      gb += r;
      haa += f * f * w;
      hab += f * w;
      hbb += w;
    }
    if (fabs(ga) < PLATT_GRAD_TOL * (double)n &&
        fabs(gb) < PLATT_GRAD_TOL * (double)n)
      break;
    double det = haa * hbb - hab * hab;
    if (!(det > 0.0))
      break;
    double da = -(hbb * ga - hab * gb) / det, db = -(haa * gb - hab * ga) / det;
    double slope = ga * da + gb * db; /* < 0: a descent direction */
    double step = 1.0, next = loss;
    while (step >= PLATT_MIN_STEP) {
      next = platt_loss(&d, a + step * da, b + step * db);
      if (next <= loss + 1e-4 * step * slope)
        break;
      step /= 2.0;
    }
    if (step < PLATT_MIN_STEP)
      break; /* no further progress possible in floating point */
    a += step * da;
    b += step * db;
    loss = next;
  }
  out->a = a;
  out->b = b;
  return 0;
}

double platt_apply(const struct platt *c, double p) {
  if (!c || !(p >= 0.0 && p <= 1.0))
    return NAN;
  return sigmoid(c->a * logit_clipped(p) + c->b);
}

/* ---- Isotonic regression ------------------------------------------------ */

struct iso_point {
  double x, y, w;
};

struct iso_block {
  double x0, x1; /* first and last x pooled */
  double y, w;   /* weighted mean and total weight */
};

static int iso_point_cmp(const void *a, const void *b) {
  double x = ((const struct iso_point *)a)->x,
         z = ((const struct iso_point *)b)->x;
  return (x > z) - (x < z);
}

int isotonic_fit(const double *x, const double *y, const double *w, size_t n,
                 struct isotonic *out) {
  if (!out)
    return -1;
  *out = (struct isotonic){0, NULL, NULL};
  if (!x || !y || n == 0 || n > SIZE_MAX / sizeof(struct iso_block))
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]) || !isfinite(y[i]) ||
        (w && !(isfinite(w[i]) && w[i] > 0.0)))
      return -1;

  int rc = -1;
  struct iso_point *pt = malloc(n * sizeof *pt);
  struct iso_block *blk = malloc(n * sizeof *blk);
  double *kx = NULL, *ky = NULL;
  if (!pt || !blk)
    goto out;
  for (size_t i = 0; i < n; i++)
    pt[i] = (struct iso_point){x[i], y[i], w ? w[i] : 1.0};
  qsort(pt, n, sizeof *pt, iso_point_cmp);

  /* Pool equal x, then pool adjacent violators. Merging equal means too
   * keeps the block values strictly increasing, hence the knots compact. */
  size_t nb = 0;
  for (size_t i = 0; i < n;) {
    double wy = 0.0, ws = 0.0;
    size_t j = i;
    for (; j < n && pt[j].x == pt[i].x; j++) {
      wy += pt[j].w * pt[j].y;
      ws += pt[j].w;
    }
    blk[nb++] = (struct iso_block){pt[i].x, pt[i].x, wy / ws, ws};
    i = j;
    while (nb > 1 && blk[nb - 2].y >= blk[nb - 1].y) {
      struct iso_block *l = &blk[nb - 2], *r = &blk[nb - 1];
      double ws2 = l->w + r->w;
      l->y = (l->w * l->y + r->w * r->y) / ws2;
      l->w = ws2;
      l->x1 = r->x1;
      nb--;
    }
  }

  size_t nk = 0;
  for (size_t b = 0; b < nb; b++)
    nk += blk[b].x0 == blk[b].x1 ? 1 : 2;
  kx = malloc(nk * sizeof *kx);
  ky = malloc(nk * sizeof *ky);
  if (!kx || !ky)
    goto out;
  size_t at = 0;
  for (size_t b = 0; b < nb; b++) {
    kx[at] = blk[b].x0;
    ky[at++] = blk[b].y;
    if (blk[b].x1 != blk[b].x0) {
      kx[at] = blk[b].x1;
      ky[at++] = blk[b].y;
    }
  }
  *out = (struct isotonic){nk, kx, ky};
  kx = ky = NULL;
  rc = 0;
out:
  free(kx);
  free(ky);
  free(blk);
  free(pt);
  return rc;
}

double isotonic_apply(const struct isotonic *c, double x) {
  if (!c || c->n == 0 || !c->x || !c->y || isnan(x))
    return NAN;
  if (x <= c->x[0])
    return c->y[0];
  if (x >= c->x[c->n - 1])
    return c->y[c->n - 1];
  size_t lo = 0, hi = c->n - 1; /* x[lo] < x < x[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->x[mid] <= x)
      lo = mid;
    else
      hi = mid;
  }
  double t = (x - c->x[lo]) / (c->x[hi] - c->x[lo]);
  return c->y[lo] + t * (c->y[hi] - c->y[lo]);
}

void isotonic_release(struct isotonic *c) {
  if (!c)
    return;
  free(c->x);
  free(c->y);
  *c = (struct isotonic){0, NULL, NULL};
}

/* ---- Temperature scaling ------------------------------------------------ */

#define GOLDEN_TOL 1e-6 /* width of the final bracket, in log T */

struct temp_data {
  const double *logp; /* n x k, -INFINITY for p == 0 */
  const int *y;
  size_t n, k;
};

/* Summed log loss at 1/T = beta: -log q_iy with
 * log q_iy = beta*(l_iy - m) - log sum_j exp(beta*(l_ij - m)), m the row's
 * largest log p, and q_iy clipped below at EVAL_PROB_EPS like log_loss. */
static double temp_loss(const struct temp_data *d, double beta) {
  const double floor_log = log(EVAL_PROB_EPS);
  double sum = 0.0;
  for (size_t i = 0; i < d->n; i++) {
    const double *l = d->logp + i * d->k;
    double m = l[0];
    for (size_t j = 1; j < d->k; j++)
      if (l[j] > m)
        m = l[j];
    double s = 0.0;
    for (size_t j = 0; j < d->k; j++)
      if (l[j] > -INFINITY)
        s += exp(beta * (l[j] - m));
    double lq = l[d->y[i]] > -INFINITY
                    ? beta * (l[d->y[i]] - m) - log(s)
                    : floor_log;
    sum -= lq > floor_log ? lq : floor_log;
  }
  return sum;
}

int temperature_fit(const double *p, const int *y, size_t n, size_t k,
                    double *T) {
  if (!T || eval_check_multiclass(y, p, n, k) < 0 ||
      n * k > SIZE_MAX / sizeof(double))
    return -1;
  double *logp = malloc(n * k * sizeof *logp);
  if (!logp)
    return -1;
  for (size_t i = 0; i < n * k; i++)
    logp[i] = p[i] > 0.0 ? log(p[i]) : -INFINITY;
  struct temp_data d = {logp, y, n, k};

  /* Golden-section search for u = log T; beta = 1/T = exp(-u). */
  const double g = (sqrt(5.0) - 1.0) / 2.0;
  double lo = log(TEMPERATURE_MIN), hi = log(TEMPERATURE_MAX);
  double u1 = hi - g * (hi - lo), u2 = lo + g * (hi - lo);
  double f1 = temp_loss(&d, exp(-u1)), f2 = temp_loss(&d, exp(-u2));
  while (hi - lo > GOLDEN_TOL) {
    if (f1 < f2) {
      hi = u2;
      u2 = u1;
      f2 = f1;
      u1 = hi - g * (hi - lo);
      f1 = temp_loss(&d, exp(-u1));
    } else {
      lo = u1;
      u1 = u2;
      f1 = f2;
      u2 = lo + g * (hi - lo);
      f2 = temp_loss(&d, exp(-u2));
    }
  }
  double u = f1 < f2 ? u1 : u2, fu = f1 < f2 ? f1 : f2;
  *T = fu < temp_loss(&d, 1.0) ? exp(u) : 1.0;
  free(logp);
  return 0;
}

void temperature_apply(double *p, size_t k, double T) {
  if (!p || k == 0 || !isfinite(T) || !(T > 0.0))
    return;
  double pmax = 0.0;
  for (size_t j = 0; j < k; j++) {
    if (!isfinite(p[j]) || p[j] < 0.0)
      return;
    if (p[j] > pmax)
      pmax = p[j];
  }
  if (pmax == 0.0)
    return;
  double inv = 1.0 / T, sum = 0.0; /* (p_j/pmax)^(1/T) cannot overflow */
  for (size_t j = 0; j < k; j++) {
    p[j] = pow(p[j] / pmax, inv);
    sum += p[j];
  }
  for (size_t j = 0; j < k; j++)
    p[j] /= sum;
}

/* ---- Split conformal ---------------------------------------------------- */

static int double_cmp(const void *a, const void *b) {
  double x = *(const double *)a, z = *(const double *)b;
  return (x > z) - (x < z);
}

double conformal_quantile(double *scores, size_t n, double level) {
  if (!(level > 0.0 && level < 1.0) || (!scores && n > 0))
    return NAN;
  for (size_t i = 0; i < n; i++)
    if (isnan(scores[i]))
      return NAN;
  /* Shrink by a few ulps so that e.g. 100 * 0.07 = 7.000000000000001 is
   * rank 7, not 8. */
  double rank = ceil((double)(n + 1) * level * (1.0 - 4.0 * DBL_EPSILON));
  if (n > 0)
    qsort(scores, n, sizeof *scores, double_cmp);
  if (rank > (double)n)
    return INFINITY;
  return scores[(size_t)rank - 1];
}
