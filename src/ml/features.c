/* Feature vectors of a cell or a customer at origin j. Every value reads
 * periods j and older only (period j is the last one before the origin), so
 * no feature sees data after its as-of date; tests/unit/test_ml.c checks it
 * by adding later sales and comparing. Periods older than the first sale
 * are unknown, and read as missing (NaN) rather than as zero. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/gazetteer.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

const char *const ml_cell_feature_names[CF__COUNT] = {
#define CF_NAME(e, name) name,
    CELL_FEATURES(CF_NAME)
#undef CF_NAME
};

const char *const ml_cust_feature_names[UF__COUNT] = {
#define UF_NAME(e, name) name,
    CUST_FEATURES(UF_NAME)
#undef UF_NAME
};

/* Count of period a of series s (nper long; NULL: no sales, 0 in every
 * period), or NaN when a is unknown. */
static double at(const struct dataset *d, const uint32_t *s, int a) {
  return a < d->known ? (s ? (double)s[a] : 0) : NAN;
}

/* Sum and number of known periods in [j + from, j + from + len). */
static double sum_of(const struct dataset *d, const uint32_t *s, int j, int from, int len,
                     int *known) {
  double sum = 0;
  int k = 0;
  for (int a = j + from; a < j + from + len && a < d->known; a++, k++)
    sum += s ? s[a] : 0;
  if (known)
    *known = k;
  return sum;
}

static double mean_of(const struct dataset *d, const uint32_t *s, int j, int len) {
  int k;
  double sum = sum_of(d, s, j, 0, len, &k);
  return k ? sum / k : NAN;
}

/* Least-squares slope per period over the last `len` known periods
 * (positive: rising toward the origin). */
static double slope_of(const struct dataset *d, const uint32_t *s, int j, int len) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int k = 0;
  for (int a = j; a < j + len && a < d->known; a++, k++) {
    double x = -(double)(a - j), y = s ? s[a] : 0;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  double den = k * sxx - sx * sx;
  return k >= 3 && den > 0 ? (k * sxy - sx * sy) / den : NAN;
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* The series of cell (pin, prod, chan, seg), NULL when it has none (never
 * sold, or a pincode outside the data set: pin < 0). */
static const uint32_t *cell_series(const struct dataset *d, long pin, int prod, int chan,
                                   int seg) {
  if (pin < 0)
    return NULL;
  long c = ml_cell_find(d, (int32_t)pin, prod, chan, seg);
  return c < 0 ? NULL : d->counts + (size_t)c * d->nper;
}

/* The month (1-12) in the middle of period t (t < 0: after the as-of day;
 * period t covers the days (T - (t+1)P, T - tP]). */
static double month_of_period(const struct dataset *d, int t) {
  int y;
  unsigned m, dd;
  civil_from_days(d->asof_day - (int64_t)(t + 1) * d->period + d->period / 2 + 1, &y, &m,
                  &dd);
  return m;
}

double ml_seasonal_naive(const struct dataset *d, const uint32_t *c, int j, int h) {
  int t = j - h;
  if (t + 12 >= d->known) {
    double m = mean_of(d, c, j, 3);
    return isnan(m) ? 0 : m;
  }
  double ago = c ? c[t + 12] : 0;
  if (j + 14 >= d->known)
    return ago;
  double now3 = sum_of(d, c, j, 0, 3, NULL), ago3 = sum_of(d, c, j, 12, 3, NULL);
  return ago * (now3 + 1) / (ago3 + 1);
}

/* The product's national sales on the days asof_day - a for a in
 * [from, to), or NaN when one of those days is unknown. */
static double nat_days(const struct dataset *d, int prod, int from, int to) {
  if (from < 0 || to > d->days_known || !d->nat_day)
    return NAN;
  const uint32_t *s = d->nat_day + (size_t)prod * (size_t)d->ndays;
  uint64_t sum = 0; /* exact, as a double sum of these counts is: the loop vectorises */
  for (int a = from; a < to; a++)
    sum += s[a];
  return (double)sum;
}

/* Day z (days since 1970-01-01) is day of the week z mod 7. */
static int weekday_of(int64_t z) { return (int)((z % 7 + 7) % 7); }

/* w: the product's sales on each day of the week over its average day, in
 * the ML_WEEKDAY_DAYS days before origin j. 0 when those days are not all
 * known or it sold none on them. */
static int weekday_factors(const struct dataset *d, int prod, int j, float w[7]) {
  int from = j * d->period, to = from + ML_WEEKDAY_DAYS;
  if (!d->nat_day || j < 0 || to > d->days_known)
    return 0;
  const uint32_t *s = d->nat_day + (size_t)prod * (size_t)d->ndays;
  uint64_t by[7] = {0}, all = 0;
  for (int a = from; a < to; a++) {
    by[weekday_of((int64_t)d->asof_day - a)] += s[a];
    all += s[a];
  }
  for (int q = 0; all && q < 7; q++)
    w[q] = (float)(7.0 * (double)by[q] / (double)all);
  return all > 0;
}

/* The days asof_day - a for a in [from, to), counted by the factors w
 * (weekday_factors), over their count: 1 when the days of the week in
 * them sell as much as the average day. */
static double weekday_share(const struct dataset *d, const float *w, int from, int to) {
  int n = to - from, full = n / 7 * 7;
  double sum = full; /* each whole week counts 7 */
  for (int a = from + full; a < to; a++)
    sum += w[weekday_of((int64_t)d->asof_day - a)];
  return sum / n;
}

/* The product's national seasonal change from the 6 periods before origin
 * j to its target period: its seasonal-naive forecast (its sales in the
 * same days a year, ML_YEAR_DAYS, earlier, times the change of its last 3
 * periods since the same days a year earlier) over its 6-period average,
 * with the days of the week of those spans counted if `adjusted`
 * (ml_season_table); NaN without that year. Reads the days before origin
 * j only. */
static double season_of(const struct dataset *d, int prod, int j, int h, int adjusted) {
  int P = d->period, t = j - h, Y = ML_YEAR_DAYS;
  double ago = nat_days(d, prod, t * P + Y, (t + 1) * P + Y);
  double now3 = nat_days(d, prod, j * P, (j + 3) * P);
  double ago3 = nat_days(d, prod, j * P + Y, (j + 3) * P + Y);
  double n6 = nat_days(d, prod, j * P, (j + 6) * P) / 6;
  if (t * P + Y < j * P || isnan(ago) || isnan(ago3) || isnan(n6) || !(n6 > 0))
    return NAN; /* a year is not 3 periods longer than the horizon, or unknown */
  double r = ago * (now3 + 1) / (ago3 + 1) / n6;
  float w[7];
  if (adjusted && weekday_factors(d, prod, j, w)) {
    /* the target's days over those a year earlier, and the last 3
     * periods' a year earlier over theirs now (none: a product without
     * the weeks, or without a sale on the days of a short span) */
    double target = weekday_share(d, w, t * P, (t + 1) * P);
    double ago_days = weekday_share(d, w, t * P + Y, (t + 1) * P + Y);
    double now3_days = weekday_share(d, w, j * P, (j + 3) * P);
    double ago3_days = weekday_share(d, w, j * P + Y, (j + 3) * P + Y);
    if (target > 0 && ago_days > 0 && now3_days > 0 && ago3_days > 0)
      r *= target / ago_days * ago3_days / now3_days;
  }
  return fmin(fmax(r, 1 / ML_SEASON_MAX), ML_SEASON_MAX);
}

int ml_season_table(struct dataset *d) {
  size_t K = d->nprod, P = (size_t)d->nper, H = ML_HORIZONS;
  double *s = malloc((2 * K * P * H + 1) * sizeof *s);
  if (!s)
    return -1;
  for (size_t a = 0; a < 2; a++)
    for (size_t k = 0; k < K; k++)
      for (size_t j = 0; j < P; j++)
        for (size_t h = 1; h <= H; h++)
          s[((a * K + k) * P + j) * H + h - 1] = season_of(d, (int)k, (int)j, (int)h, (int)a);
  free(d->season);
  d->season = s;
  return 0;
}

/* season_of() for the data set's way of counting days, from d->season. */
static double nat_season(const struct dataset *d, int prod, int j, int h) {
  int a = d->weekday_adjusted != 0;
  if (d->season && prod >= 0 && (size_t)prod < d->nprod && j >= 0 && j < d->nper && h >= 1 &&
      h <= ML_HORIZONS)
    return d->season[(((size_t)a * d->nprod + (size_t)prod) * (size_t)d->nper + (size_t)j) *
                         ML_HORIZONS +
                     (size_t)h - 1];
  return season_of(d, prod, j, h, a);
}

double ml_nat_season(const struct dataset *d, int prod, int j, int h) {
  double r = nat_season(d, prod, j, h);
  return isnan(r) ? 1 : r;
}

/* A cell's level from its 6- and 12-period averages (NaN: unknown), before
 * its scale. */
static double level_of(double ma6, double ma12) {
  double level = ML_BASE_FLOOR;
  if (!isnan(ma6) && ma6 > level)
    level = ma6;
  if (!isnan(ma12) && ma12 / 2 > level)
    level = ma12 / 2;
  return level;
}

int ml_level_scales(struct dataset *d) {
  size_t K = d->nprod, P = (size_t)d->nper, n = 2 * K * P;
  double *num = calloc(n + 1, sizeof *num), *den = calloc(n + 1, sizeof *den);
  float *scale = malloc((n + 1) * sizeof *scale);
  double *cs = malloc((P + 1) * sizeof *cs); /* cs[a]: the sum of periods < a */
  if (!num || !den || !scale || !cs) {
    free(num);
    free(den);
    free(scale);
    free(cs);
    return -1;
  }
  int known = d->known < d->nper ? d->known : d->nper;
  for (size_t c = 0; c < d->ncell; c++) {
    const uint32_t *s = d->counts + c * P;
    uint64_t key = d->cell_key[c];
    size_t kind = (key & 0xff) != ML_SEG_TOTAL, prod = (key >> 16) & 0xff;
    cs[0] = 0;
    for (size_t a = 0; a < P; a++)
      cs[a + 1] = cs[a] + s[a];
    for (int j = 0; j < known; j++) {
      int e12 = j + 12 < known ? j + 12 : known, e6 = j + 6 < known ? j + 6 : known;
      int a12 = j + 12 < d->nper ? j + 12 : d->nper;
      if (cs[a12] - cs[j] <= 0)
        continue; /* no sale in the 12 periods up to j */
      double ma6 = (cs[e6] - cs[j]) / (e6 - j), ma12 = (cs[e12] - cs[j]) / (e12 - j);
      size_t at = (kind * K + prod) * P + (size_t)j;
      num[at] += ma6;
      den[at] += level_of(ma6, ma12);
    }
  }
  for (size_t i = 0; i < n; i++)
    scale[i] = num[i] > 0 && den[i] > 0 ? (float)(num[i] / den[i]) : 1;
  free(num);
  free(den);
  free(cs);
  free(d->level_scale);
  d->level_scale = scale;
  return 0;
}

double ml_season_level(const struct dataset *d, const uint32_t *cell, int prod, int seg, int j) {
  double scale = 1;
  if (d->level_scaled && d->level_scale && j >= 0 && j < d->nper)
    scale = d->level_scale[((size_t)(seg != ML_SEG_TOTAL) * d->nprod + (size_t)prod) *
                               (size_t)d->nper +
                           (size_t)j];
  return level_of(mean_of(d, cell, j, 6), mean_of(d, cell, j, 12)) * scale;
}

/* ml_season_base with its national seasonal change r = nat_season(). */
static double season_base(const struct dataset *d, const uint32_t *cell, int prod, int seg,
                          int j, double r) {
  return ml_season_level(d, cell, prod, seg, j) * (isnan(r) ? 1 : r);
}

double ml_season_base(const struct dataset *d, const uint32_t *cell, int prod, int j, int h) {
  return season_base(d, cell, prod, ML_SEG_TOTAL, j, nat_season(d, prod, j, h));
}

double ml_demand_forest_mu(const struct forest *f, const float *x) {
  double m;
  forest_predict(f, x, &m);
  m *= x[CF_SEASON_BASE];
  return m > 0 && isfinite(m) ? m : 0;
}

void ml_demand_forest_mu_rows(const struct forest *f, const float *X, size_t n, double *out) {
  forest_predict_rows(f, X, n, CF__COUNT, out);
  for (size_t i = 0; i < n; i++) {
    double m = out[i] * X[i * CF__COUNT + CF_SEASON_BASE];
    out[i] = m > 0 && isfinite(m) ? m : 0;
  }
}

void ml_pin_of(const struct dataset *d, long pin, struct ml_pin *out) {
  out->pin = pin;
  out->pincode = d->pins[pin];
  out->ge = d->ge[pin];
  out->state = d->state[pin];
  out->near = d->near + (size_t)pin * ML_NEAR;
}

int ml_pin_outside(const struct dataset *d, const struct gaz *gaz, const float (*units)[3],
                   int32_t pincode, int32_t near[ML_NEAR], struct ml_pin *out) {
  const struct gaz_entry *e = gaz ? gaz_find(gaz, pincode) : NULL;
  if (!e || ml_pin_index(d, pincode) >= 0)
    return -1;
  out->pin = -1;
  out->pincode = pincode;
  out->ge = e;
  out->state = ml_state_id(d, e->state);
  if (dataset_near_of(d, gaz, units, pincode, near) < 0)
    return -1;
  out->near = near;
  return 0;
}

static void geography(const struct ml_pin *v, float *lat, float *lng, float *region,
                      float *circle, float *sorting, float *state, float *tier,
                      float *neighbours) {
  const struct gaz_entry *e = v->ge;
  int32_t p = v->pincode;
  *region = (float)(p / 100000);
  *circle = (float)(p / 10000);
  if (sorting)
    *sorting = (float)(p / 1000);
  *state = (float)v->state;
  *lat = e ? e->lat : NAN;
  *lng = e ? e->lng : NAN;
  *tier = e ? (float)e->tier : NAN;
  if (neighbours)
    *neighbours = e ? (float)e->neighbours : NAN;
}

/* The features of a cell that read its own series c (NULL: it never sold)
 * and its segment: lags, averages, slope, a year ago, its share of the
 * whole cell tot, the bands, the seasonal naive and baseline. season is
 * nat_season(d, prod, j, h), which the baseline multiplies. */
static void own_features(const struct dataset *d, const uint32_t *c, const uint32_t *tot,
                         int prod, int seg, int j, int h, double season, float *x) {
  int t = j - h;
  x[CF_LAG1] = (float)(j < d->known ? (c ? c[j] : 0) : NAN);
  x[CF_LAG2] = (float)(j + 1 < d->known ? (c ? c[j + 1] : 0) : NAN);
  x[CF_LAG3] = (float)(j + 2 < d->known ? (c ? c[j + 2] : 0) : NAN);
  x[CF_MA3] = (float)mean_of(d, c, j, 3);
  x[CF_MA6] = (float)mean_of(d, c, j, 6);
  x[CF_MA12] = (float)mean_of(d, c, j, 12);
  x[CF_SLOPE6] = (float)slope_of(d, c, j, 6);
  x[CF_YEAR_AGO] = (float)(t + 12 < d->known ? (c ? c[t + 12] : 0) : NAN);
  x[CF_YEAR_AGO_LAST] = (float)(j + 12 < d->known ? (c ? c[j + 12] : 0) : NAN);
  if (seg == ML_SEG_TOTAL) {
    x[CF_SEG_SHARE] = NAN;
    x[CF_AGE_BAND] = NAN;
    x[CF_INCOME_BAND] = NAN;
  } else {
    x[CF_SEG_SHARE] = (float)ratio(sum_of(d, c, j, 0, 12, NULL), sum_of(d, tot, j, 0, 12, NULL));
    x[CF_AGE_BAND] = (float)(seg / ML_INCOME_BANDS);
    x[CF_INCOME_BAND] = (float)(seg % ML_INCOME_BANDS);
  }
  x[CF_SEASONAL_NAIVE] = (float)(t + 12 < d->known ? ml_seasonal_naive(d, c, j, h) : NAN);
  x[CF_SEASON_BASE] = (float)season_base(d, c, prod, seg, j, season);
}

/* The pincode's own series (pin_all, pin_prod, pin_chan), NULL for a
 * pincode outside the data set: it has no sales, 0 in every known period,
 * as a pincode of the data set reads before its first sale. */
static const uint32_t *pin_series(const struct dataset *d, const struct ml_pin *v,
                                  const uint32_t *base, size_t of, size_t each) {
  return v->pin < 0 ? NULL : base + ((size_t)v->pin * each + of) * (size_t)d->nper;
}

/* The features every segment of cell (pincode v, prod, chan) shares with
 * it: those of the pincode, its neighbours, the state, the product and the
 * whole cell tot (the parent's average). Returns nat_season(d, prod, j, h)
 * for own_features. */
static double shared_features(const struct dataset *d, const struct ml_pin *v, int prod,
                              int chan, const uint32_t *tot, int j, int h, float *x) {
  int t = j - h; /* the target period */
  size_t P = (size_t)d->nper, K = d->nprod;
  const uint32_t *pa = pin_series(d, v, d->pin_all, 0, 1);
  const uint32_t *pp = pin_series(d, v, d->pin_prod, (size_t)prod, K);
  const uint32_t *pc = pin_series(d, v, d->pin_chan, (size_t)chan, d->nchan);
  const uint32_t *np = d->nat_prod + (size_t)prod * P;
  const uint32_t *sp = d->state_prod + ((size_t)v->state * K + (size_t)prod) * P;

  x[CF_PARENT_MA6] = (float)mean_of(d, tot, j, 6);
  double pin12 = sum_of(d, pa, j, 0, 12, NULL);
  x[CF_PIN_LAG1] = (float)at(d, pa, j);
  x[CF_PIN_MA6] = (float)mean_of(d, pa, j, 6);
  x[CF_PIN_PROD_SHARE] = (float)ratio(sum_of(d, pp, j, 0, 12, NULL), pin12);
  x[CF_PIN_CHAN_SHARE] = (float)ratio(sum_of(d, pc, j, 0, 12, NULL), pin12);
  x[CF_NAT_TREND] = (float)ratio(mean_of(d, np, j, 3), mean_of(d, np, j, 12));
  x[CF_NAT_SEASON] = (float)ratio(at(d, np, t + 12), at(d, np, j + 12));
  x[CF_STATE_SEASON] = (float)ratio(at(d, sp, t + 12) + 1, at(d, sp, j + 12) + 1);
  x[CF_STATE_TREND] = (float)ratio(mean_of(d, sp, j, 3), mean_of(d, sp, j, 12));
  x[CF_STATE_SLOPE] = (float)ratio(slope_of(d, sp, j, 6), mean_of(d, sp, j, 6) + 1);
  double near = 0;
  int nn = 0;
  for (int n = 0; n < ML_NEAR; n++) {
    int32_t q = v->near[n];
    if (q == -1 && !v->ge)
      break;
    double m = q >= 0 ? mean_of(d, d->pin_prod + ((size_t)q * K + (size_t)prod) * P, j, 3) : 0;
    if (!isnan(m)) {
      near += m;
      nn++;
    }
  }
  x[CF_NEAR_MA3] = nn ? (float)(near / nn) : NAN;
  geography(v, &x[CF_LAT], &x[CF_LNG], &x[CF_PIN_REGION], &x[CF_PIN_CIRCLE],
            &x[CF_PIN_SORTING], &x[CF_STATE], &x[CF_TIER], &x[CF_NEIGHBOURS]);
  x[CF_MONTH] = (float)month_of_period(d, t);
  x[CF_PRODUCT] = (float)prod;
  x[CF_CHANNEL] = (float)chan;
  x[CF_HORIZON] = (float)h;
  double season = nat_season(d, prod, j, h);
  x[CF_SEASON_RATIO] = (float)season;
  return season;
}

void ml_pin_cell_features(const struct dataset *d, const struct ml_pin *v, int prod, int chan,
                          int seg, int j, int h, float *x) {
  const uint32_t *c = cell_series(d, v->pin, prod, chan, seg);
  const uint32_t *tot =
      seg == ML_SEG_TOTAL ? c : cell_series(d, v->pin, prod, chan, ML_SEG_TOTAL);
  double season = shared_features(d, v, prod, chan, tot, j, h, x);
  own_features(d, c, tot, prod, seg, j, h, season, x);
}

void ml_cell_features(const struct dataset *d, long pin, int prod, int chan, int seg,
                      int j, int h, float *x) {
  struct ml_pin v;
  ml_pin_of(d, pin, &v);
  ml_pin_cell_features(d, &v, prod, chan, seg, j, h, x);
}

void ml_cell_features_segments(const struct dataset *d, long pin, int prod, int chan, int j,
                               int h, float *x) {
  struct ml_pin v;
  ml_pin_of(d, pin, &v);
  const uint32_t *tot = cell_series(d, pin, prod, chan, ML_SEG_TOTAL);
  float *xt = x + (size_t)ML_SEG_TOTAL * CF__COUNT;
  double season = shared_features(d, &v, prod, chan, tot, j, h, xt);
  for (int seg = 0; seg < ML_SEG_TOTAL; seg++) {
    float *xs = x + (size_t)seg * CF__COUNT;
    memcpy(xs, xt, CF__COUNT * sizeof *xs);
    own_features(d, cell_series(d, pin, prod, chan, seg), tot, prod, seg, j, h, season, xs);
  }
  own_features(d, tot, tot, prod, ML_SEG_TOTAL, j, h, season, xt);
}

size_t ml_cust_nfeatures(const struct dataset *d) {
  return UF__COUNT + UF_PER_PRODUCT * d->nprod;
}

const char *ml_cust_feature_name(const struct dataset *d, size_t i, char *buf, size_t cap) {
  if (i < UF__COUNT)
    return ml_cust_feature_names[i];
  size_t k = (i - UF__COUNT) / UF_PER_PRODUCT, w = (i - UF__COUNT) % UF_PER_PRODUCT;
  const char *name = k < d->nprod ? d->prod[k] : "?";
  if (w == 0)
    snprintf(buf, cap, "%s share of the pincode's sales", name);
  else if (w == 1)
    snprintf(buf, cap, "%s share of this segment's sales in the pincode", name);
  else
    snprintf(buf, cap, "national trend of %s", name);
  return buf;
}

void ml_cust_features(const struct dataset *d, long pin, int chan, int32_t age,
                      double income, int j, float *x) {
  size_t P = (size_t)d->nper, K = d->nprod;
  int seg = ml_segment(age, income);
  x[UF_AGE] = (float)age;
  x[UF_INCOME] = (float)income;
  x[UF_AGE_BAND] = (float)ml_age_band(age);
  x[UF_INCOME_BAND] = (float)ml_income_band(income);
  x[UF_CHANNEL] = (float)chan;
  struct ml_pin v;
  ml_pin_of(d, pin, &v);
  geography(&v, &x[UF_LAT], &x[UF_LNG], &x[UF_PIN_REGION], &x[UF_PIN_CIRCLE], NULL,
            &x[UF_STATE], &x[UF_TIER], NULL);
  const uint32_t *pa = d->pin_all + (size_t)pin * P;
  x[UF_PIN_MA6] = (float)mean_of(d, pa, j, 6);
  x[UF_MONTH] = (float)month_of_period(d, j - 1);

  /* shares, each shrunk toward the national one by two sales' weight */
  double nat[ML_MAX_PRODUCTS], natseg[ML_MAX_PRODUCTS], segp[ML_MAX_PRODUCTS];
  double nat_all = 0, natseg_all = 0, seg_all = 0;
  for (size_t k = 0; k < K; k++) {
    nat[k] = sum_of(d, d->nat_prod + k * P, j, 0, 12, NULL);
    natseg[k] = sum_of(d, d->nat_seg_prod + ((size_t)seg * K + k) * P, j, 0, 12, NULL);
    segp[k] = 0;
    for (size_t ch = 0; ch < d->nchan; ch++)
      segp[k] += sum_of(d, cell_series(d, pin, (int)k, (int)ch, seg), j, 0, 12, NULL);
    nat_all += nat[k];
    natseg_all += natseg[k];
    seg_all += segp[k];
  }
  double pin12 = sum_of(d, pa, j, 0, 12, NULL);
  float *blk = x + UF__COUNT;
  for (size_t k = 0; k < K; k++, blk += UF_PER_PRODUCT) {
    double prior = nat_all > 0 ? nat[k] / nat_all : 1.0 / (double)K;
    double segprior = natseg_all > 0 ? natseg[k] / natseg_all : prior;
    double pp = sum_of(d, d->pin_prod + ((size_t)pin * K + k) * P, j, 0, 12, NULL);
    blk[0] = (float)((pp + 2 * prior) / (pin12 + 2));
    blk[1] = (float)((segp[k] + 2 * segprior) / (seg_all + 2));
    blk[2] = (float)ratio(mean_of(d, d->nat_prod + k * P, j, 3),
                          mean_of(d, d->nat_prod + k * P, j, 12));
  }
}
