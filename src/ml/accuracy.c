/* Accuracy of a served model version against the sales that came after its
 * as-of date, and the drift alarm (docs/monitoring.md).
 *
 * The forecasts are the ones the version gave: every pincode x product x
 * channel cell of its period counts (origin 0 = its as-of date T), at the
 * horizon of each period, exactly as /predict/demand answers a query
 * without a customer; a pincode that had no sales in training but sold in
 * the period is answered as serving answers it (the nearest pincodes with
 * sales) on every known product and channel. Period h covers the days
 * (T + (h-1)P, T + hP]. The realized demand of a cell is the number of
 * stored sales in it during the period, whenever they were stored. */
#include "gromo/accuracy.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

#define H ML_HORIZONS
#define POISSON_MU_MIN 1e-9 /* as src/ml/evaluate.c */

int accuracy_parse_day(const char *s, int64_t *day) {
  if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
    return -1;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return -1;
  int y = atoi(s), yy;
  unsigned m = (unsigned)atoi(s + 5), d = (unsigned)atoi(s + 8), mm, dd;
  if (y < 2000 || m < 1 || m > 12 || d < 1 || d > 31)
    return -1;
  int64_t z = days_from_civil(y, m, d);
  civil_from_days(z, &yy, &mm, &dd);
  if (yy != y || mm != m || dd != d) /* 2026-02-30 */
    return -1;
  *day = z;
  return 0;
}

static void day_str(int64_t day, char out[11]) { ist_format_date(day * DAY_MS, out); }

/* ---- figures of a group of cells ---- */

struct acc_sum {
  double n, mu, y, dev, ae;
  double n_inf, cov_inf; /* cells expecting >= 1 sale; their hits */
};

/* The Poisson deviance term of one cell, with src/ml/evaluate.c's floor
 * (mu raised to 1e-9, y ln(y/mu) = 0 when y = 0). */
static double dev_term(double y, double mu) {
  double m = mu < POISSON_MU_MIN ? POISSON_MU_MIN : mu;
  return 2.0 * ((y > 0.0 ? y * log(y / m) : 0.0) - (y - m));
}

static void sum_add(struct acc_sum *a, double y, double mu, double lo, double hi) {
  a->n++;
  a->mu += mu;
  a->y += y;
  a->dev += dev_term(y, mu);
  a->ae += fabs(y - mu);
  if (mu >= 1.0) {
    a->n_inf++;
    a->cov_inf += y >= lo && y <= hi;
  }
}

/* NaN when undefined (a denominator of 0). */
static double sum_bias(const struct acc_sum *a) { return a->y > 0 ? a->mu / a->y - 1 : NAN; }
static double sum_cov(const struct acc_sum *a) { return a->n_inf > 0 ? a->cov_inf / a->n_inf : NAN; }
static double sum_dev(const struct acc_sum *a) { return a->n > 0 ? a->dev / a->n : NAN; }

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *sum_json(const struct acc_sum *a) {
  return json_pack("{s:I,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "cells", (json_int_t)a->n,
                   "cells_expected_1_or_more", (json_int_t)a->n_inf, "predicted", num(a->mu),
                   "realized", (json_int_t)a->y, "mean_predicted",
                   num(a->n > 0 ? a->mu / a->n : NAN), "mean_realized",
                   num(a->n > 0 ? a->y / a->n : NAN), "bias", num(sum_bias(a)),
                   "poisson_deviance", num(sum_dev(a)), "mae",
                   num(a->n > 0 ? a->ae / a->n : NAN), "interval_coverage_expected_1_or_more",
                   num(sum_cov(a)));
}

/* ---- the realized sales ---- */

/* A sale of a pincode without sales in training. */
struct cold_sale {
  int32_t pincode;
  uint8_t prod, chan, h;
};

struct realized {
  const struct dataset *d;
  int hmax; /* complete periods */
  uint32_t *known; /* [cell * H + h - 1], cells in insights order */
  struct cold_sale *cold;
  size_t ncold, capcold;
  int64_t unknown[H]; /* sales of products or channels the version never saw */
  int oom;
};

static size_t cell_index(const struct dataset *d, size_t pin, size_t prod, size_t chan) {
  return (pin * d->nprod + prod) * d->nchan + chan;
}

static int realized_row(void *ctx, const struct sale *rec, int64_t seq) {
  (void)seq;
  struct realized *r = ctx;
  const struct dataset *d = r->d;
  int64_t day = rec->ts_ms / DAY_MS - (rec->ts_ms < 0 && rec->ts_ms % DAY_MS);
  int64_t off = day - d->asof_day;
  if (off < 1 || off > (int64_t)r->hmax * d->period)
    return 0;
  int h = (int)((off - 1) / d->period) + 1;
  int prod = ml_prod_index(d, rec->product), chan = ml_chan_index(d, rec->channel);
  if (prod < 0 || chan < 0) {
    r->unknown[h - 1]++;
    return 0;
  }
  long pin = ml_pin_index(d, rec->pincode);
  if (pin >= 0) {
    r->known[cell_index(d, (size_t)pin, (size_t)prod, (size_t)chan) * H + (size_t)h - 1]++;
    return 0;
  }
  if (r->ncold == r->capcold) {
    size_t cap = r->capcold ? r->capcold * 2 : 1024;
    struct cold_sale *p = realloc(r->cold, cap * sizeof *p);
    if (!p) {
      r->oom = 1;
      return 1;
    }
    r->cold = p;
    r->capcold = cap;
  }
  r->cold[r->ncold++] = (struct cold_sale){rec->pincode, (uint8_t)prod, (uint8_t)chan, (uint8_t)h};
  return 0;
}

static int cold_cmp(const void *a, const void *b) {
  const struct cold_sale *x = a, *y = b;
  if (x->h != y->h)
    return x->h < y->h ? -1 : 1;
  if (x->pincode != y->pincode)
    return x->pincode < y->pincode ? -1 : 1;
  if (x->prod != y->prod)
    return x->prod < y->prod ? -1 : 1;
  return (x->chan > y->chan) - (x->chan < y->chan);
}

static int realized_read(struct realized *r, struct store *db, struct gerr *err) {
  const struct dataset *d = r->d;
  size_t cells = d->npin * d->nprod * d->nchan;
  r->known = calloc(cells ? cells * H : 1, sizeof *r->known);
  if (!r->known)
    return gerr_set(err, GERR_INTERNAL, "out of memory counting realized sales");
  struct sales_filter f;
  sales_filter_init(&f);
  f.from_ms = ((int64_t)d->asof_day + 1) * DAY_MS;
  f.to_ms = ((int64_t)d->asof_day + (int64_t)r->hmax * d->period + 1) * DAY_MS;
  if (store_sales_query(db, &f, realized_row, r, err) < 0)
    return -1;
  if (r->oom)
    return gerr_set(err, GERR_INTERNAL, "out of memory counting realized sales");
  if (r->ncold)
    qsort(r->cold, r->ncold, sizeof *r->cold, cold_cmp);
  return 0;
}

static void realized_release(struct realized *r) {
  free(r->known);
  free(r->cold);
}

/* ---- one period ---- */

/* The regions of the version: sorted distinct ids (0: in none), and the
 * slot of each of the data set's pincodes. */
struct regions {
  size_t n;
  int32_t *id;
  size_t *slot_of_pin;
};

static int i32_cmp(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static size_t region_slot(const struct regions *g, int32_t id) {
  const int32_t *p = bsearch(&id, g->id, g->n, sizeof *g->id, i32_cmp);
  return p ? (size_t)(p - g->id) : 0; /* id 0 is always slot 0 */
}

static int regions_build(const struct suite *s, struct regions *g) {
  const struct dataset *d = s->d;
  g->id = malloc((d->npin + 1) * sizeof *g->id);
  g->slot_of_pin = malloc((d->npin ? d->npin : 1) * sizeof *g->slot_of_pin);
  if (!g->id || !g->slot_of_pin)
    return -1;
  g->id[0] = 0;
  for (size_t i = 0; i < d->npin; i++)
    g->id[i + 1] = suite_region_of(s, d->pins[i]);
  qsort(g->id, d->npin + 1, sizeof *g->id, i32_cmp);
  size_t n = 0;
  for (size_t i = 0; i <= d->npin; i++)
    if (n == 0 || g->id[i] != g->id[n - 1])
      g->id[n++] = g->id[i];
  g->n = n;
  for (size_t i = 0; i < d->npin; i++)
    g->slot_of_pin[i] = region_slot(g, suite_region_of(s, d->pins[i]));
  return 0;
}

static void regions_release(struct regions *g) {
  free(g->id);
  free(g->slot_of_pin);
}

/* The sums of one period: overall, per product, per region slot, and the
 * pincodes without sales in training. */
struct period_sums {
  struct acc_sum all, cold;
  struct acc_sum prod[ML_MAX_PRODUCTS];
  struct acc_sum *region; /* regions.n */
};

static void add_cell(struct period_sums *ps, size_t prod, size_t slot, double y, double mu,
                     double lo, double hi) {
  sum_add(&ps->all, y, mu, lo, hi);
  sum_add(&ps->prod[prod], y, mu, lo, hi);
  sum_add(&ps->region[slot], y, mu, lo, hi);
}

static void period_known(const struct suite *s, const struct realized *r, int h,
                         const struct regions *g, struct period_sums *ps) {
  const struct dataset *d = s->d;
  const struct demand_calib *cal = &s->dcal[h - 1][ML_TOTAL];
  float x[CF__COUNT];
  for (size_t i = 0; i < d->npin; i++)
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t c = 0; c < d->nchan; c++) {
        ml_cell_features(d, (long)i, (int)k, (int)c, ML_SEG_TOTAL, 0, h, x);
        double mu = ml_cell_mu(s, x), lo, hi;
        ml_demand_interval(cal, mu, &lo, &hi);
        double y = r->known[cell_index(d, i, k, c) * H + (size_t)h - 1];
        add_cell(ps, k, g->slot_of_pin[i], y, mu, lo, hi);
      }
}

/* Pincodes without sales in training that sold in period h: every known
 * product and channel of theirs, zeros included, answered as serving
 * answers them. */
static void period_cold(const struct suite *s, const struct realized *r, int h,
                        const struct regions *g, struct period_sums *ps) {
  const struct dataset *d = s->d;
  size_t i = 0;
  while (i < r->ncold && r->cold[i].h < h)
    i++;
  while (i < r->ncold && r->cold[i].h == h) {
    int32_t pin = r->cold[i].pincode;
    size_t end = i;
    while (end < r->ncold && r->cold[end].h == h && r->cold[end].pincode == pin)
      end++;
    size_t slot = region_slot(g, suite_region_of(s, pin));
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t c = 0; c < d->nchan; c++) {
        double y = 0;
        for (size_t t = i; t < end; t++)
          y += r->cold[t].prod == k && r->cold[t].chan == c;
        struct predict_query q = {.pincode = pin, .horizon = h};
        snprintf(q.product, sizeof q.product, "%s", d->prod[k]);
        snprintf(q.channel, sizeof q.channel, "%s", d->chan[c]);
        struct predict_answer a;
        suite_predict(s, PREDICT_DEMAND, &q, 0, &a);
        add_cell(ps, k, slot, y, a.predicted_demand, a.low, a.high);
        sum_add(&ps->cold, y, a.predicted_demand, a.low, a.high);
      }
    i = end;
  }
}

/* ---- the drift alarm ---- */

/* The range of a figure over the backtest months at horizon h. */
struct range {
  double lo, hi;
  int n;
};

static void backtest_range(const struct suite *s, int h, const char *key, struct range *rg) {
  rg->lo = rg->hi = NAN;
  rg->n = 0;
  json_t *months = json_object_get(json_object_get(s->report, "backtest"), "by_month");
  size_t i;
  json_t *m;
  json_array_foreach(months, i, m) {
    if (json_integer_value(json_object_get(m, "horizon")) != h)
      continue;
    json_t *v = json_object_get(json_object_get(m, "all"), key);
    if (!json_is_number(v))
      continue;
    double x = json_number_value(v);
    rg->lo = rg->n && rg->lo < x ? rg->lo : x;
    rg->hi = rg->n && rg->hi > x ? rg->hi : x;
    rg->n++;
  }
}

static json_t *range_json(const struct range *rg) {
  return rg->n ? json_pack("[f,f]", rg->lo, rg->hi) : json_null();
}

/* Judges one period against the backtest; appends reasons to `reasons`
 * (and to `all_reasons`). */
static json_t *period_drift(const struct suite *s, int h, const char *from, const char *to,
                            const struct acc_sum *a, json_t *all_reasons) {
  struct range rb, rc, rd;
  backtest_range(s, h, "bias", &rb);
  backtest_range(s, h, "interval_coverage_expected_1_or_more", &rc);
  backtest_range(s, h, "poisson_deviance", &rd);
  json_t *reasons = json_array(), *notes = json_array();
  char why[320];
  int judged = a->y >= ACCURACY_MIN_SALES;
  if (!judged) {
    snprintf(why, sizeof why, "not judged: %.0f sales in the period, fewer than %d", a->y,
             ACCURACY_MIN_SALES);
    json_array_append_new(notes, json_string(why));
  } else if (!rb.n && !rc.n && !rd.n) {
    judged = 0;
    json_array_append_new(notes, json_string("not judged: the version's report has no "
                                             "backtest months at this horizon"));
  } else {
    double bias = sum_bias(a), cov = sum_cov(a), dev = sum_dev(a);
    if (rb.n && (bias < rb.lo - ACCURACY_BIAS_MARGIN || bias > rb.hi + ACCURACY_BIAS_MARGIN)) {
      snprintf(why, sizeof why,
               "horizon %d (%s..%s): realized bias %+.3f is outside the backtest's range "
               "[%+.3f, %+.3f] widened by %.2f",
               h, from, to, bias, rb.lo, rb.hi, ACCURACY_BIAS_MARGIN);
      json_array_append_new(reasons, json_string(why));
    }
    if (rc.n && a->n_inf < ACCURACY_MIN_CELLS_EXPECTED) {
      snprintf(why, sizeof why,
               "interval coverage not judged: %.0f cells expecting 1 sale or more, fewer than "
               "%d",
               a->n_inf, ACCURACY_MIN_CELLS_EXPECTED);
      json_array_append_new(notes, json_string(why));
    } else if (rc.n && (cov < rc.lo - ACCURACY_COVERAGE_MARGIN ||
                        cov > rc.hi + ACCURACY_COVERAGE_MARGIN)) {
      snprintf(why, sizeof why,
               "horizon %d (%s..%s): interval coverage %.3f (cells expecting >= 1) is outside "
               "the backtest's range [%.3f, %.3f] widened by %.2f",
               h, from, to, cov, rc.lo, rc.hi, ACCURACY_COVERAGE_MARGIN);
      json_array_append_new(reasons, json_string(why));
    }
    if (rd.n && dev > rd.hi * (1 + ACCURACY_DEVIANCE_MARGIN)) {
      snprintf(why, sizeof why,
               "horizon %d (%s..%s): mean Poisson deviance %.4f is above the backtest's "
               "highest month %.4f by more than %.0f%%",
               h, from, to, dev, rd.hi, 100 * ACCURACY_DEVIANCE_MARGIN);
      json_array_append_new(reasons, json_string(why));
    }
  }
  size_t i;
  json_t *v;
  json_array_foreach(reasons, i, v) json_array_append(all_reasons, v);
  return json_pack("{s:b,s:b,s:o,s:o,s:{s:o,s:o,s:o}}", "alarm", json_array_size(reasons) > 0,
                   "judged", judged, "reasons", reasons, "notes", notes, "backtest_range",
                   "bias", range_json(&rb), "interval_coverage_expected_1_or_more",
                   range_json(&rc), "poisson_deviance", range_json(&rd));
}

/* ---- the report ---- */

static json_t *period_json(const struct suite *s, const struct regions *g,
                           const struct period_sums *ps, int h, int64_t unknown,
                           json_t *all_reasons) {
  const struct dataset *d = s->d;
  char from[11], to[11];
  day_str((int64_t)d->asof_day + (int64_t)(h - 1) * d->period + 1, from);
  day_str((int64_t)d->asof_day + (int64_t)h * d->period, to);
  json_t *prods = json_object(), *regs = json_array();
  for (size_t k = 0; k < d->nprod; k++)
    json_object_set_new(prods, d->prod[k], sum_json(&ps->prod[k]));
  for (size_t t = 0; t < g->n; t++) {
    if (ps->region[t].n == 0)
      continue;
    json_t *o = sum_json(&ps->region[t]);
    json_object_set_new(o, "region_id", g->id[t] ? json_integer(g->id[t]) : json_null());
    json_array_append_new(regs, o);
  }
  return json_pack("{s:i,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:o}", "horizon", h, "period_from", from,
                   "period_to", to, "all", sum_json(&ps->all), "products", prods, "regions",
                   regs, "cold_pincodes", sum_json(&ps->cold),
                   "sales_of_unknown_products_or_channels", (json_int_t)unknown, "drift",
                   period_drift(s, h, from, to, &ps->all, all_reasons));
}

int accuracy_report(const struct suite *s, struct store *db, int64_t today, json_t **out,
                    struct gerr *err) {
  *out = NULL;
  const struct dataset *d = s->d;
  int hmax = 0; /* period h is complete once today is after its last day */
  while (hmax < H && (int64_t)d->asof_day + (int64_t)(hmax + 1) * d->period < today)
    hmax++;
  struct realized r = {.d = d, .hmax = hmax};
  struct regions g = {0};
  struct period_sums ps = {0};
  json_t *periods = json_array(), *pending = json_array(), *reasons = json_array();
  int rc = -1;
  if (!periods || !pending || !reasons) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  if (hmax > 0 && realized_read(&r, db, err) < 0)
    goto out;
  if (regions_build(s, &g) < 0 || !(ps.region = malloc(g.n * sizeof *ps.region))) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  for (int h = 1; h <= H; h++) {
    if (h > hmax) {
      char from[11], to[11];
      day_str((int64_t)d->asof_day + (int64_t)(h - 1) * d->period + 1, from);
      day_str((int64_t)d->asof_day + (int64_t)h * d->period, to);
      json_array_append_new(pending, json_pack("{s:i,s:s,s:s}", "horizon", h, "period_from",
                                               from, "period_to", to));
      continue;
    }
    struct acc_sum *region = ps.region;
    memset(&ps, 0, sizeof ps);
    memset(region, 0, g.n * sizeof *region);
    ps.region = region;
    period_known(s, &r, h, &g, &ps);
    period_cold(s, &r, h, &g, &ps);
    json_array_append_new(periods, period_json(s, &g, &ps, h, r.unknown[h - 1], reasons));
  }
  char asof[11], now[11];
  day_str(d->asof_day, asof);
  day_str(today, now);
  *out = json_pack("{s:I,s:s,s:s,s:i,s:s,s:f,s:o,s:o,s:{s:b,s:O,s:{s:f,s:f,s:f},s:i,s:i}}",
                   "version", (json_int_t)s->version, "trained_at", s->trained_at,
                   "model_as_of", asof, "period_days", d->period, "as_of", now,
                   "interval_level", s->level, "periods", periods, "pending", pending, "drift",
                   "alarm", json_array_size(reasons) > 0, "reasons", reasons, "margins",
                   "bias", ACCURACY_BIAS_MARGIN, "interval_coverage", ACCURACY_COVERAGE_MARGIN,
                   "poisson_deviance_relative", ACCURACY_DEVIANCE_MARGIN, "min_sales",
                   ACCURACY_MIN_SALES, "min_cells_expected_1_or_more",
                   ACCURACY_MIN_CELLS_EXPECTED);
  periods = pending = NULL; /* stolen by the pack, even when it failed */
  if (!*out) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  rc = 0;
out:
  json_decref(periods);
  json_decref(pending);
  json_decref(reasons);
  free(ps.region);
  regions_release(&g);
  realized_release(&r);
  return rc;
}

int accuracy_drift(const json_t *report) {
  return json_is_true(json_object_get(json_object_get(report, "drift"), "alarm"));
}

/* ---- the cache ---- */

struct acc_entry {
  int64_t version, mark, today; /* version 0: a free slot */
  int64_t made_us;              /* mono_us() when computed */
  uint64_t used;                /* for eviction: the least recently used goes */
  json_t *report;
};

struct accuracy_cache {
  pthread_mutex_t mu;
  pthread_cond_t done; /* a computation finished */
  int busy;            /* one computation at a time */
  uint64_t tick;
  struct acc_entry e[ACCURACY_CACHE_ENTRIES];
};

int accuracy_cache_new(struct accuracy_cache **out) {
  struct accuracy_cache *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->done, NULL);
  *out = c;
  return 0;
}

void accuracy_cache_free(struct accuracy_cache *c) {
  if (!c)
    return;
  for (size_t i = 0; i < ACCURACY_CACHE_ENTRIES; i++)
    json_decref(c->e[i].report);
  pthread_cond_destroy(&c->done);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* The entry answering (version, mark, today), with c->mu held; NULL. */
static struct acc_entry *cache_find(struct accuracy_cache *c, int64_t version, int64_t mark,
                                    int64_t today, int reuse_s) {
  struct acc_entry *best = NULL;
  int64_t now = mono_us();
  for (size_t i = 0; i < ACCURACY_CACHE_ENTRIES; i++) {
    struct acc_entry *e = &c->e[i];
    if (!e->report || e->version != version || e->today != today)
      continue;
    int fresh = e->mark == mark ||
                (reuse_s > 0 && now - e->made_us < (int64_t)reuse_s * 1000000);
    if (fresh && (!best || e->made_us > best->made_us))
      best = e;
  }
  return best;
}

static void cache_put(struct accuracy_cache *c, int64_t version, int64_t mark, int64_t today,
                      json_t *report) {
  struct acc_entry *slot = &c->e[0];
  for (size_t i = 0; i < ACCURACY_CACHE_ENTRIES; i++) {
    struct acc_entry *e = &c->e[i];
    if (!e->report || (e->version == version && e->today == today)) {
      slot = e; /* a free slot, or the older report of the same key */
      break;
    }
    if (e->used < slot->used)
      slot = e;
  }
  json_decref(slot->report);
  *slot = (struct acc_entry){version, mark, today, mono_us(), ++c->tick, json_incref(report)};
}

/* Computes the report of version (resolved, > 0). 0, 1 no such version, -1. */
static int compute(struct store *db, const struct gaz *gaz, struct model_holder *holder,
                   int64_t version, int64_t today, json_t **out, struct gerr *err) {
  const struct suite *held = holder ? model_holder_get(holder) : NULL;
  if (held && suite_version(held) == version) {
    int rc = accuracy_report(held, db, today, out, err);
    model_holder_put(holder, held);
    return rc;
  }
  model_holder_put(holder, held);
  struct suite *s = NULL;
  int rc = suite_load(db, gaz, version, &s, err);
  if (rc == 0)
    rc = accuracy_report(s, db, today, out, err);
  suite_free(s);
  return rc;
}

int accuracy_cache_get(struct accuracy_cache *c, struct store *db, const struct gaz *gaz,
                       struct model_holder *holder, int64_t version, int64_t today,
                       int reuse_s, json_t **out, struct gerr *err) {
  *out = NULL;
  if (version <= 0) {
    int rc = store_model_serving_version(db, &version, err);
    if (rc != 0)
      return rc;
  }
  int64_t mark = 0;
  if (store_sales_mark(db, &mark, err) < 0)
    return -1;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    struct acc_entry *e = cache_find(c, version, mark, today, reuse_s);
    if (e) {
      e->used = ++c->tick;
      *out = json_incref(e->report);
      pthread_mutex_unlock(&c->mu);
      return 0;
    }
    if (!c->busy)
      break;
    pthread_cond_wait(&c->done, &c->mu);
  }
  c->busy = 1;
  pthread_mutex_unlock(&c->mu);
  json_t *rep = NULL;
  int rc = compute(db, gaz, holder, version, today, &rep, err);
  pthread_mutex_lock(&c->mu);
  if (rc == 0)
    cache_put(c, version, mark, today, rep);
  c->busy = 0;
  pthread_cond_broadcast(&c->done);
  pthread_mutex_unlock(&c->mu);
  *out = rep;
  return rc;
}
