/* Insights: every pincode and region ranked by predicted demand, growth or
 * probability of a rise, per product and channel (GET /insights/...).
 *
 * When a suite is built or loaded, each pincode x product x channel cell of
 * its data set is predicted once, exactly as /predict/demand and
 * /predict/demand-rise answer it without a customer: the last period's
 * demand, the next period's expected demand and the probability of a rise.
 * A request then only adds cells up and sorts, which takes milliseconds for
 * all ~19,000 pincodes instead of a model call per cell. The next period
 * (horizon 1) is predicted at once; horizons 2 and 3 by the first request
 * that asks for them (under a lock; later ones read them as they are). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/gazetteer.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

/* The predictions of every cell at one horizon: [(pin * nprod + prod) *
 * nchan + chan], the expected demand, the rise probability (of the period
 * against the last one), and the mean and variance of the law the rise
 * answer reads (ml_cell_rise_law). */
struct horizon_cells {
  float *next, *rise, *lmean, *lvar;
};

struct suite_insights {
  size_t npin, nprod, nchan;
  float *last; /* each cell's demand in the last period */
  struct horizon_cells hz[ML_HORIZONS];
  atomic_int ready[ML_HORIZONS]; /* hz[h] is complete: read without the lock */
  pthread_mutex_t lock;          /* taken to fill hz[1..] */
};

static void cells_free(struct horizon_cells *c) {
  free(c->next);
  free(c->rise);
  free(c->lmean);
  free(c->lvar);
  memset(c, 0, sizeof *c);
}

void suite_insights_free(struct suite_insights *in) {
  if (!in)
    return;
  free(in->last);
  for (int h = 0; h < ML_HORIZONS; h++)
    cells_free(&in->hz[h]);
  pthread_mutex_destroy(&in->lock);
  free(in);
}

/* Cell i, (pincode p, product k, channel h) of a pincode cold at the as-of
 * date (no sale in its last 12 periods), as /predict/demand and
 * /predict/demand-rise answer it: the suite's cold answer at horizon hz,
 * its law of the cold pincodes' dispersion. */
static void cold_cell(const struct suite *s, size_t p, size_t k, size_t h, int hz,
                      struct suite_insights *in, struct horizon_cells *c, size_t i) {
  const struct dataset *d = s->d;
  struct predict_query q = {.pincode = d->pins[p], .horizon = hz};
  snprintf(q.product, sizeof q.product, "%s", d->prod[k]);
  snprintf(q.channel, sizeof q.channel, "%s", d->chan[h]);
  struct predict_answer a;
  suite_predict(s, PREDICT_DEMAND, &q, 0, &a);
  double mu = a.predicted_demand, alpha = s->dcal_cold[hz - 1].alpha;
  if (hz == 1)
    in->last[i] = (float)a.last_period_demand;
  c->next[i] = (float)mu;
  c->lmean[i] = (float)mu;
  c->lvar[i] = (float)(mu * (1 + alpha * mu));
  suite_predict(s, PREDICT_RISE, &q, 0, &a);
  c->rise[i] = (float)fmin(fmax(a.probability, 0), 1);
}

/* Predicts every cell hz periods ahead into in->hz[hz - 1] (and, at
 * horizon 1, the last period's demand). 0, or -1 out of memory. */
static int predict_cells(const struct suite *s, struct suite_insights *in, int hz) {
  const struct dataset *d = s->d;
  size_t cells = in->npin * in->nprod * in->nchan, n = cells ? cells : 1;
  struct horizon_cells c = {malloc(n * sizeof(float)), malloc(n * sizeof(float)),
                            malloc(n * sizeof(float)), malloc(n * sizeof(float))};
  if (!c.next || !c.rise || !c.lmean || !c.lvar) {
    cells_free(&c);
    return -1;
  }
  float x[CF__COUNT];
  size_t i = 0;
  for (size_t p = 0; p < d->npin; p++)
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t h = 0; h < d->nchan; h++, i++) {
        if (suite_pin_cold(s, p, hz)) {
          cold_cell(s, p, k, h, hz, in, &c, i);
          continue;
        }
        ml_cell_features(d, (long)p, (int)k, (int)h, ML_SEG_TOTAL, 0, hz, x);
        if (hz == 1)
          in->last[i] = isnan(x[CF_LAG1]) ? 0.0f : x[CF_LAG1];
        c.next[i] = (float)ml_cell_mu(s, x);
        double pr = ml_cell_rise(s, x), m, v;
        c.rise[i] = (float)fmin(fmax(pr, 0), 1);
        ml_cell_rise_law(s, x, &m, &v);
        c.lmean[i] = (float)m;
        c.lvar[i] = (float)v;
      }
  in->hz[hz - 1] = c;
  atomic_store_explicit(&in->ready[hz - 1], 1, memory_order_release);
  return 0;
}

int suite_insights_build(struct suite *s, struct gerr *err) {
  const struct dataset *d = s->d;
  size_t cells = d->npin * d->nprod * d->nchan;
  struct suite_insights *in = calloc(1, sizeof *in);
  if (in && pthread_mutex_init(&in->lock, NULL) != 0) {
    free(in);
    in = NULL;
  }
  if (in) {
    in->npin = d->npin;
    in->nprod = d->nprod;
    in->nchan = d->nchan;
    in->last = malloc((cells ? cells : 1) * sizeof *in->last);
  }
  if (!in || !in->last || predict_cells(s, in, 1) < 0) {
    suite_insights_free(in);
    return gerr_set(err, GERR_INTERNAL, "out of memory predicting every cell");
  }
  suite_insights_free(s->ins);
  s->ins = in;
  return 0;
}

/* The cells at horizon hz (1..ML_HORIZONS), predicted now if no request
 * asked for them before; NULL with *err when out of memory. */
static const struct horizon_cells *cells_at(const struct suite *s, int hz, struct gerr *err) {
  struct suite_insights *in = s->ins;
  if (hz < 1 || hz > ML_HORIZONS) {
    gerr_set(err, GERR_INVALID_INPUT, "horizon must be an integer from 1 to %d", ML_HORIZONS);
    return NULL;
  }
  if (!atomic_load_explicit(&in->ready[hz - 1], memory_order_acquire)) {
    pthread_mutex_lock(&in->lock);
    int rc = atomic_load_explicit(&in->ready[hz - 1], memory_order_relaxed)
                 ? 0
                 : predict_cells(s, in, hz);
    pthread_mutex_unlock(&in->lock);
    if (rc < 0) {
      gerr_set(err, GERR_INTERNAL, "out of memory predicting every cell");
      return NULL;
    }
  }
  return &in->hz[hz - 1];
}

int suite_insights_pin(const struct suite *s, size_t pin, struct region_pin *out) {
  const struct suite_insights *in = s->ins;
  memset(out, 0, sizeof *out);
  if (!in || pin >= in->npin)
    return -1;
  const struct horizon_cells *h1 = &in->hz[0];
  for (size_t c = pin * in->nprod * in->nchan; c < (pin + 1) * in->nprod * in->nchan; c++) {
    out->pred += h1->next[c];
    out->last += in->last[c];
    out->rise_mean += h1->lmean[c];
    out->rise_var += h1->lvar[c];
  }
  return 0;
}

double ml_rise_of_sum(const struct region_pin *sum) {
  double p = eval_count_above(sum->rise_mean, sum->rise_var, sum->last);
  return isnan(p) ? 0 : fmin(fmax(p, 0), 1);
}

void suite_as_of(const struct suite *s, char out[11], int *period_days) {
  int y;
  unsigned m, dd;
  civil_from_days(s->d->asof_day, &y, &m, &dd);
  snprintf(out, 11, "%04d-%02u-%02u", y, m, dd);
  if (period_days)
    *period_days = s->d->period;
}

void suite_period(const struct suite *s, int hz, char from[11], char to[11]) {
  const struct dataset *d = s->d;
  ist_format_date(((int64_t)d->asof_day + (int64_t)(hz - 1) * d->period + 1) * DAY_MS, from);
  ist_format_date(((int64_t)d->asof_day + (int64_t)hz * d->period) * DAY_MS, to);
}

const char *suite_product(const struct suite *s, size_t i) {
  return i < s->d->nprod ? s->d->prod[i] : NULL;
}

const char *suite_channel(const struct suite *s, size_t i) {
  return i < s->d->nchan ? s->d->chan[i] : NULL;
}

/* The product and channel ranges of a query: [*k0, *k1) x [*h0, *h1). */
static int query_cells(const struct suite *s, const struct insight_query *q, int *k0, int *k1,
                       int *h0, int *h1, struct gerr *err) {
  const struct dataset *d = s->d;
  *k0 = 0, *k1 = (int)d->nprod, *h0 = 0, *h1 = (int)d->nchan;
  if (q->product && q->product[0]) {
    int k = ml_prod_index(d, q->product);
    if (k < 0)
      return gerr_set(err, GERR_INVALID_INPUT,
                      "product '%.40s' was not in the training data of model version %lld",
                      q->product, (long long)s->version);
    *k0 = k, *k1 = k + 1;
  }
  if (q->channel && q->channel[0]) {
    int h = ml_chan_index(d, q->channel);
    if (h < 0)
      return gerr_set(err, GERR_INVALID_INPUT,
                      "channel '%.40s' was not in the training data of model version %lld",
                      q->channel, (long long)s->version);
    *h0 = h, *h1 = h + 1;
  }
  return 0;
}

/* What the cells of one row add up to. */
struct acc {
  struct region_pin sum; /* the rise law's mean and variance, last */
  size_t cells;
  double one_rise;  /* the rise probability of the only cell */
};

/* Adds pincode i's cells of the query (at the horizon of hc) into r and
 * a. */
static void add_cells(const struct suite *s, const struct horizon_cells *hc, size_t i, int k0,
                      int k1, int h0, int h1, struct insight_row *r, struct acc *a) {
  const struct suite_insights *in = s->ins;
  for (int k = k0; k < k1; k++)
    for (int h = h0; h < h1; h++) {
      size_t c = (i * in->nprod + (size_t)k) * in->nchan + (size_t)h;
      r->last += in->last[c];
      r->next += hc->next[c];
      a->sum.last += in->last[c];
      a->sum.rise_mean += hc->lmean[c];
      a->sum.rise_var += hc->lvar[c];
      a->one_rise = hc->rise[c];
      a->cells++;
    }
}

/* docs/rules.md §3 "rise": the probability that the row's total next
 * period exceeds its total last period. For one cell it is what
 * /predict/demand-rise answers; for several, the same under the law of
 * their sum (the cells independent: the sums of their means and
 * variances, ml_rise_of_sum), as the regions flag a rise. */
static void finish(struct insight_row *r, const struct acc *a) {
  r->growth = r->next - r->last;
  r->rise = a->cells == 1 ? a->one_rise : ml_rise_of_sum(&a->sum);
}

/* The key of the sort in progress: qsort calls the comparator on the
 * sorting thread, so a thread's own copy serves concurrent requests. */
static _Thread_local enum insight_sort sort_key;

static double key_of(const struct insight_row *r) {
  switch (sort_key) {
  case INSIGHT_BY_GROWTH: return r->growth;
  case INSIGHT_BY_RISE: return r->rise;
  case INSIGHT_BY_DEMAND:
  default: return r->next;
  }
}

static int cmp_rows(const void *a, const void *b) {
  const struct insight_row *x = a, *y = b;
  double kx = key_of(x), ky = key_of(y);
  if (kx != ky)
    return kx > ky ? -1 : 1;
  if (x->next != y->next) /* then by demand: the larger matters more */
    return x->next > y->next ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

static void sort_rows(struct insight_row *rows, size_t n, enum insight_sort sort) {
  sort_key = sort;
  qsort(rows, n, sizeof *rows, cmp_rows);
}

int suite_rank_pincodes(const struct suite *s, const struct insight_query *q,
                        struct insight_row **rows, size_t *n, struct gerr *err) {
  *rows = NULL;
  *n = 0;
  const struct suite_insights *in = s->ins;
  if (!in)
    return gerr_set(err, GERR_UNAVAILABLE, "the model's predictions of every cell are missing");
  int k0, k1, h0, h1;
  const struct horizon_cells *hc = cells_at(s, q->horizon ? q->horizon : 1, err);
  if (!hc || query_cells(s, q, &k0, &k1, &h0, &h1, err) < 0)
    return -1;
  struct insight_row *out = calloc(in->npin ? in->npin : 1, sizeof *out);
  if (!out)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  size_t m = 0;
  for (size_t i = 0; i < in->npin; i++) {
    if (q->pincode && s->d->pins[i] != q->pincode)
      continue;
    int32_t region = s->reg ? suite_region_of(s, s->d->pins[i]) : 0;
    if (q->region && region != q->region)
      continue;
    struct insight_row *r = &out[m++];
    struct acc a = {0};
    r->id = s->d->pins[i];
    r->region_id = region;
    r->pincodes = 1;
    r->place = s->d->ge[i];
    add_cells(s, hc, i, k0, k1, h0, h1, r, &a);
    finish(r, &a);
  }
  sort_rows(out, m, q->sort);
  *rows = out;
  *n = m;
  return 0;
}

int suite_rank_regions(const struct suite *s, const struct insight_query *q,
                       struct insight_row **rows, size_t *n, struct gerr *err) {
  *rows = NULL;
  *n = 0;
  const struct suite_insights *in = s->ins;
  if (!in)
    return gerr_set(err, GERR_UNAVAILABLE, "the model's predictions of every cell are missing");
  int k0, k1, h0, h1;
  const struct horizon_cells *hc = cells_at(s, q->horizon ? q->horizon : 1, err);
  if (!hc || query_cells(s, q, &k0, &k1, &h0, &h1, err) < 0)
    return -1;
  size_t k = suite_region_count(s);
  struct insight_row *out = calloc(k ? k : 1, sizeof *out);
  struct acc *w = calloc(k ? k : 1, sizeof *w);
  if (!out || !w) {
    free(out);
    free(w);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  /* region ids are 1..k after relabelling in most cases, but need not be:
   * rows are found by a search of the sorted ids */
  int32_t *ids = malloc((k ? k : 1) * sizeof *ids);
  if (!ids) {
    free(out);
    free(w);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  size_t m = 0;
  for (size_t i = 0; i < in->npin; i++) {
    int32_t id = suite_region_of(s, s->d->pins[i]);
    if (id <= 0 || (q->region && id != q->region))
      continue;
    size_t lo = 0, hi = m;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (ids[mid] < id)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == m || ids[lo] != id) {
      if (m == k)
        continue; /* more ids than regions: cannot be */
      memmove(ids + lo + 1, ids + lo, (m - lo) * sizeof *ids);
      memmove(out + lo + 1, out + lo, (m - lo) * sizeof *out);
      memmove(w + lo + 1, w + lo, (m - lo) * sizeof *w);
      ids[lo] = id;
      memset(&out[lo], 0, sizeof out[lo]);
      memset(&w[lo], 0, sizeof w[lo]);
      out[lo].id = out[lo].region_id = id;
      m++;
    }
    out[lo].pincodes++;
    add_cells(s, hc, i, k0, k1, h0, h1, &out[lo], &w[lo]);
  }
  for (size_t r = 0; r < m; r++)
    finish(&out[r], &w[r]);
  free(w);
  free(ids);
  sort_rows(out, m, q->sort);
  *rows = out;
  *n = m;
  return 0;
}
