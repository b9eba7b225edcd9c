/* Sample sales that look like the business. docs/sample-data.md describes
 * the generative model; the tables and constants below are its parameters
 * and the names match the document.
 *
 * gen_new precomputes everything that does not depend on the individual
 * sale (active pincodes and their weights, trends, the daily volume, alias
 * tables, product probabilities, agent pools), so gen_next is a handful of
 * O(1) draws. */
#include "gromo/generator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "gromo/timeutil.h"

#define DEFAULT_DAYS 730
#define MAX_DAYS 36600
#define AGE_MIN SALE_AGE_MIN
#define AGE_MAX SALE_AGE_MAX
#define NAGES (AGE_MAX - AGE_MIN + 1)
#define AGE_BANDS 17    /* 5-year bands for the product table */
#define INCOME_BANDS 14 /* x1.5 bands from INR 5,000 for the product table */
#define INCOME_BAND_BASE 5000.0
#define INCOME_BAND_STEP 1.5
#define EPOCH_DAYS 64   /* area proposal tables cover this many days each */
#define MAX_EPOCHS 64
#define BETA_STEPS 128  /* trends are multiples of 1/128 */
#define BETA_MAX_STEP 180 /* >= TREND_MAX * BETA_STEPS */

/* ---- the model's parameters (docs/sample-data.md) ---------------------- */

enum { P_LOAN, P_CARD, P_INSURANCE, NPRODUCTS };
static const char product_name[NPRODUCTS][12] = {"loan", "credit_card",
                                                 "insurance"};

/* Per tier (rural, semi-urban, urban, metro). */
static const double tier_active[4] = {0.20, 0.50, 1.0, 1.0};
static const double tier_weight[4] = {1.0, 2.5, 7.0, 20.0};
static const double tier_income_median[4] = {14000, 20000, 30000, 45000};
static const double tier_age_mode[4] = {35, 33, 31, 29};
static const double tier_age_right_sd[4] = {15, 14, 13, 12};
#define AGE_LEFT_SD 7.0
#define INCOME_SD 0.62          /* of log income, within an area and age */
#define INCOME_ZERO_SHARE 0.003 /* customers declaring no income */
#define INCOME_FLOOR 2000.0

/* Relative income by state (per-capita income, rounded). */
static const struct {
  const char *state;
  double factor;
} state_income[] = {
    {"Andaman & Nicobar", 1.10}, {"Andhra Pradesh", 1.00},
    {"Arunachal Pradesh", 0.95}, {"Assam", 0.72},
    {"Bihar", 0.50},             {"Chandigarh", 1.50},
    {"Chattisgarh", 0.78},       {"Dadra & Nagar Haveli", 1.10},
    {"Daman & Diu", 1.10},       {"Delhi", 1.60},
    {"Goa", 1.60},               {"Gujarat", 1.20},
    {"Haryana", 1.30},           {"Himachal Pradesh", 1.05},
    {"Jammu & Kashmir", 0.85},   {"Jharkhand", 0.70},
    {"Karnataka", 1.25},         {"Kerala", 1.10},
    {"Lakshadweep", 1.00},       {"Madhya Pradesh", 0.75},
    {"Maharashtra", 1.15},       {"Manipur", 0.72},
    {"Meghalaya", 0.75},         {"Mizoram", 0.95},
    {"Nagaland", 0.85},          {"Odisha", 0.80},
    {"Pondicherry", 1.10},       {"Punjab", 1.00},
    {"Rajasthan", 0.80},         {"Sikkim", 1.45},
    {"Tamil Nadu", 1.15},        {"Telangana", 1.25},
    {"Tripura", 0.85},           {"Uttar Pradesh", 0.65},
    {"Uttarakhand", 1.05},       {"West Bengal", 0.80},
};

/* Seasonality: each product's lift by month (Jan..Dec). Festive Oct-Nov
 * (Navratri, Dussehra, Diwali) for loans and cards; the tax-saving rush of
 * Jan-Mar, before the financial year closes, for insurance. */
static const double month_lift[NPRODUCTS][12] = {
    {1.00, 1.00, 1.00, 0.95, 0.95, 0.95, 0.95, 1.00, 1.05, 1.40, 1.45, 1.05},
    {1.00, 1.00, 0.95, 0.95, 0.95, 0.95, 1.00, 1.00, 1.10, 1.50, 1.40, 1.10},
    {1.35, 1.45, 1.60, 0.95, 0.90, 0.90, 0.90, 0.90, 0.95, 0.95, 0.95, 1.05},
};
static const double product_base_share[NPRODUCTS] = {0.45, 0.25, 0.30};

/* Day of week, Sunday first. */
static const double weekday_volume[7] = {0.55, 1.0, 1.0, 1.0, 1.0, 1.0, 0.90};

/* Time of day (IST), relative volume per hour; 0.93 of it 9:00-21:00. */
static const double hour_volume[24] = {
    0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.20, 0.50, 1.20, 3.0, 5.0, 6.0,
    6.0,  5.0,  5.5,  6.0,  6.0,  6.0,  6.5,  6.0,  4.5,  2.0, 1.0, 0.40};

/* Trend: beta = TREND_DRIFT + TREND_FIELD_SD * field(lat, lng)
 *             + TREND_DISTRICT_SD * z_district + TREND_PINCODE_SD * z_pin,
 * clamped to +-TREND_MAX; the rate is proportional to exp(beta * (t - 0.5))
 * for t from 0 to 1 over the span. */
#define TREND_DRIFT 0.20
#define TREND_FIELD_SD 0.55
#define TREND_DISTRICT_SD 0.30
#define TREND_PINCODE_SD 0.08
#define TREND_MAX 1.40
#define TREND_WAVES 3
#define TREND_WAVELENGTH_MIN 9.0 /* degrees */
#define TREND_WAVELENGTH_MAX 16.0

/* Regional product preference: the logits of credit card and insurance
 * (against loan) move by PREF_FIELD_SD * field(lat, lng), a smooth field of
 * its own for each, plus PREF_DISTRICT_SD * z_district: some parts of the
 * country buy more cover, others more cards. */
#define PREF_FIELD_SD 0.45
#define PREF_DISTRICT_SD 0.15

/* Channel: logit of online. */
#define ONLINE_BASE (-0.35)
#define ONLINE_PER_TIER 0.55 /* times (tier - 1.5) */
#define ONLINE_PER_YEAR_OF_AGE (-0.04)
#define ONLINE_PER_LOG_INCOME 0.50 /* log(income / 30,000), in -2..2.5 */
#define ONLINE_OVER_SPAN 1.10      /* times (t - 0.5) */
static const double online_by_product[NPRODUCTS] = {0.0, 0.45, -0.35};

/* Agents per district: 2 + AGENTS_PER_SQRT_WEIGHT * sqrt(the district's
 * total weight), at most AGENTS_MAX. */
#define AGENTS_PER_SQRT_WEIGHT 1.2
#define AGENTS_MAX 120

/* ---- random numbers ----------------------------------------------------- */

/* splitmix64 (core/rng.h) seeds xoshiro and hashes keys into stable
 * per-key values. */

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** (Blackman and Vigna). */
struct rng {
  uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

static uint64_t rng_u64(struct rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

/* [0, 1) */
static double rng_uniform(struct rng *r) {
  return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

/* (0, 1] */
static double rng_uniform_pos(struct rng *r) {
  return (double)((rng_u64(r) >> 11) + 1) * 0x1.0p-53;
}

/* Standard normal (Marsaglia's polar method, one value per call). */
static double rng_normal(struct rng *r) {
  double u, v, s;
  do {
    u = 2.0 * rng_uniform(r) - 1.0;
    v = 2.0 * rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  return u * sqrt(-2.0 * log(s) / s);
}

/* A stable value in [0, 1) for (seed, key, salt). */
static double hash01(uint64_t seed, uint64_t key, uint64_t salt) {
  uint64_t x = seed ^ rotl(key * 0xd1b54a32d192ed03ULL, 17) ^
               (salt * 0x8cb92ba72f3d8dd7ULL);
  splitmix64(&x);
  return rng_unit(&x);
}

/* A stable standard normal for (seed, key, salt) (Box-Muller). */
static double hash_normal(uint64_t seed, uint64_t key, uint64_t salt) {
  double u = 1.0 - hash01(seed, key, 2 * salt), v = hash01(seed, key, 2 * salt + 1);
  return sqrt(-2.0 * log(u)) * cos(2 * M_PI * v);
}

static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

/* Binomial(n, p): inversion when n p is small, else the normal
 * approximation (ample for planning daily volumes). */
static uint64_t rng_binomial(struct rng *r, uint64_t n, double p) {
  if (n == 0 || p <= 0)
    return 0;
  if (p >= 1)
    return n;
  if (p > 0.5)
    return n - rng_binomial(r, n, 1 - p);
  double mean = (double)n * p;
  if (mean < 30) {
    double q = 1 - p, s = p / q, a = ((double)n + 1) * s;
    double f = exp((double)n * log1p(-p)), u = rng_uniform(r);
    uint64_t x = 0;
    while (u > f && x < n) {
      u -= f;
      x++;
      f *= a / (double)x - s;
    }
    return x;
  }
  double x = floor(mean + sqrt(mean * (1 - p)) * rng_normal(r) + 0.5);
  return x < 0 ? 0 : x > (double)n ? n : (uint64_t)x;
}

/* ---- alias tables (Walker, built by Vose's method) ----------------------- */

/* Draws i with probability w[i] / sum(w) from one 64-bit number: the high
 * half picks the column, the low half decides between it and its alias. */
struct alias {
  uint32_t n;
  uint32_t *keep; /* keep column i when the low half < keep[i] */
  uint32_t *other;
};

static int alias_build(struct alias *t, const double *w, size_t n) {
  t->n = (uint32_t)n;
  t->keep = malloc(n * sizeof *t->keep);
  t->other = malloc(n * sizeof *t->other);
  double *scaled = malloc(n * sizeof *scaled);
  uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
  int rc = -1;
  if (!t->keep || !t->other || !scaled || !small || !large)
    goto out;
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += w[i];
  if (!(sum > 0))
    goto out;
  size_t ns = 0, nl = 0;
  for (size_t i = 0; i < n; i++) {
    scaled[i] = w[i] * (double)n / sum;
    if (scaled[i] < 1.0)
      small[ns++] = (uint32_t)i;
    else
      large[nl++] = (uint32_t)i;
  }
  while (ns && nl) {
    uint32_t s = small[--ns], l = large[nl - 1];
    t->keep[s] = (uint32_t)(scaled[s] * 4294967296.0);
    t->other[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      nl--;
      small[ns++] = l;
    }
  }
  /* Leftovers are 1 up to rounding: always keep them. */
  while (nl) {
    uint32_t l = large[--nl];
    t->keep[l] = UINT32_MAX;
    t->other[l] = l;
  }
  while (ns) {
    uint32_t s = small[--ns];
    t->keep[s] = UINT32_MAX;
    t->other[s] = s;
  }
  rc = 0;
out:
  free(scaled);
  free(small);
  free(large);
  return rc;
}

static void alias_release(struct alias *t) {
  free(t->keep);
  free(t->other);
  t->keep = t->other = NULL;
}

static uint32_t alias_draw(const struct alias *t, struct rng *r) {
  uint64_t u = rng_u64(r);
  uint32_t i = (uint32_t)(((u >> 32) * t->n) >> 32);
  return (uint32_t)u < t->keep[i] ? i : t->other[i];
}

/* ---- the generator ------------------------------------------------------ */

/* An active pincode. */
struct area {
  int32_t pincode;
  uint32_t district;  /* index into gen.districts */
  float beta;         /* trend: log change of the rate over the span */
  float log_income;   /* log of the median monthly income, age aside */
  int8_t age_shift;   /* years added to the tier's age distribution */
  uint8_t tier;
  float pref_card, pref_insurance; /* exp of the regional logit shifts */
};

struct district {
  uint64_t key;      /* hash of state and district */
  uint32_t first_agent, agents;
  double weight;     /* total weight of its active pincodes */
};

struct gen {
  struct rng rng;
  int days;
  int64_t start_day; /* days since 1970-01-01 of the first day */
  int64_t end_ms;
  int end_tod_ms;    /* time of day of end_ms */

  struct area *areas;
  size_t nareas;
  struct district *districts;
  size_t ndistricts;
  char (*agents)[SALE_UUID_LEN + 1];

  /* Per day: its month (0-11); for independent draws, an alias table over
   * the days by volume. */
  uint8_t *day_month;
  struct alias day_alias;

  /* Area proposals, one per epoch of EPOCH_DAYS days: weights at the
   * epoch's most favourable day for each area, thinned by rejection. */
  struct alias *epoch_alias;
  int epochs, epoch_days;

  struct alias age_alias[4]; /* per tier, over NAGES ages */
  double age_log_income[NAGES];
  /* Cumulative P(loan), P(loan or card) per tier, age band, income band
   * and month. */
  float product_cum[4][AGE_BANDS][INCOME_BANDS][12][2];
  double hour_cdf[25];

  /* Date order: how many of the first `count` records fall on each day,
   * and the current day's times, sorted. */
  uint32_t *day_count;
  size_t count, produced;
  int cur_day;
  int64_t *times;
  double *spacing; /* scratch for laying out times */
  size_t ntimes, next_time, times_cap;
};

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return q - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static double state_income_factor(const char *state) {
  for (size_t i = 0; i < sizeof state_income / sizeof state_income[0]; i++)
    if (strcmp(state, state_income[i].state) == 0)
      return state_income[i].factor;
  return 1.0;
}

/* Relative income by age: starting out, peak earning years, pension. */
static double age_income_factor(int age) {
  if (age <= 22)
    return 0.55;
  if (age <= 25)
    return 0.75;
  if (age <= 35)
    return 1.0;
  if (age <= 45)
    return 1.2;
  if (age <= 55)
    return 1.25;
  if (age <= 60)
    return 1.1;
  return 0.7;
}

static double clampd(double x, double lo, double hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

/* A smooth field over India: a few plane waves whose directions,
 * wavelengths and phases come from the seed and the salt; unit variance.
 * The trend's (salt 0x7e4d) and each product preference's. */
static double smooth_field(uint64_t seed, uint64_t salt, double lat, double lng) {
  double f = 0;
  for (int j = 0; j < TREND_WAVES; j++) {
    double dir = 2 * M_PI * hash01(seed, salt, (uint64_t)(3 * j));
    double len = TREND_WAVELENGTH_MIN +
                 (TREND_WAVELENGTH_MAX - TREND_WAVELENGTH_MIN) *
                     hash01(seed, salt, (uint64_t)(3 * j + 1));
    double phase = 2 * M_PI * hash01(seed, salt, (uint64_t)(3 * j + 2));
    double k = 2 * M_PI / len;
    f += sin(k * (cos(dir) * lng + sin(dir) * lat) + phase);
  }
  return f / sqrt(TREND_WAVES / 2.0);
}

static int age_band(int age) {
  int b = (age - AGE_MIN) / 5;
  return b < AGE_BANDS ? b : AGE_BANDS - 1;
}

static int income_band(double log_income) {
  double b = floor((log_income - log(INCOME_BAND_BASE)) / log(INCOME_BAND_STEP));
  return b < 0 ? 0 : b >= INCOME_BANDS ? INCOME_BANDS - 1 : (int)b;
}

/* Product logits for a customer (docs/sample-data.md, "Product"). */
static void product_logits(int tier, double age, double income, int month,
                           double logit[NPRODUCTS]) {
  double li = log(income / 45000.0);
  logit[P_LOAN] = 0.05 + (age >= 25 && age <= 50 ? 0.35 : 0) -
                  (age > 60 ? 0.5 : 0) +
                  (income >= 15000 && income < 150000 ? 0.25 : 0);
  logit[P_CARD] = -0.55 + 0.85 * clampd(li, -2.5, 2.5) + 0.22 * tier -
                  0.018 * (age - 35);
  logit[P_INSURANCE] = -0.20 + 0.040 * (age - 35) + (tier == 0 ? 0.12 : 0) +
                       0.15 * clampd(li, -1, 1);
  for (int p = 0; p < NPRODUCTS; p++)
    logit[p] += log(month_lift[p][month]);
}

static void build_product_table(struct gen *g) {
  for (int t = 0; t < 4; t++)
    for (int ab = 0; ab < AGE_BANDS; ab++)
      for (int ib = 0; ib < INCOME_BANDS; ib++)
        for (int m = 0; m < 12; m++) {
          double age = AGE_MIN + 5.0 * ab + 2.0;
          double income = INCOME_BAND_BASE * pow(INCOME_BAND_STEP, ib + 0.5);
          double l[NPRODUCTS], e[NPRODUCTS], z = 0;
          product_logits(t, age, income, m, l);
          for (int p = 0; p < NPRODUCTS; p++)
            z += e[p] = exp(l[p]);
          g->product_cum[t][ab][ib][m][0] = (float)(e[P_LOAN] / z);
          g->product_cum[t][ab][ib][m][1] = (float)((e[P_LOAN] + e[P_CARD]) / z);
        }
}

static int build_age_tables(struct gen *g) {
  double w[NAGES];
  for (int t = 0; t < 4; t++) {
    for (int i = 0; i < NAGES; i++) {
      double a = AGE_MIN + i, m = tier_age_mode[t];
      double z = a < m ? (a - m) / AGE_LEFT_SD : (a - m) / tier_age_right_sd[t];
      w[i] = exp(-0.5 * z * z) + 0.04 * exp(-(a - AGE_MIN) / 25.0);
    }
    if (alias_build(&g->age_alias[t], w, NAGES) < 0)
      return -1;
  }
  for (int i = 0; i < NAGES; i++)
    g->age_log_income[i] = log(age_income_factor(AGE_MIN + i));
  return 0;
}

static void build_hour_cdf(struct gen *g) {
  double sum = 0;
  for (int h = 0; h < 24; h++)
    sum += hour_volume[h];
  g->hour_cdf[0] = 0;
  for (int h = 0; h < 24; h++)
    g->hour_cdf[h + 1] = g->hour_cdf[h] + hour_volume[h] / sum;
  g->hour_cdf[24] = 1.0;
}

/* The share of a day's volume before tod_ms. */
static double hour_cdf_at(const struct gen *g, int tod_ms) {
  int h = tod_ms / 3600000;
  if (h >= 24)
    return 1.0;
  double f = (double)(tod_ms - h * 3600000) / 3600000.0;
  return g->hour_cdf[h] + f * (g->hour_cdf[h + 1] - g->hour_cdf[h]);
}

/* The time of day (ms, whole seconds) at which the volume share u is
 * reached; *h is a starting hour no later than the answer (a cursor). */
static int64_t hour_inverse(const struct gen *g, double u, int *h) {
  while (*h < 23 && g->hour_cdf[*h + 1] <= u)
    (*h)++;
  double lo = g->hour_cdf[*h], hi = g->hour_cdf[*h + 1];
  double f = hi > lo ? (u - lo) / (hi - lo) : 0;
  int64_t ms = (int64_t)((*h + clampd(f, 0, 1)) * 3600000.0);
  if (ms > DAY_MS - 1000)
    ms = DAY_MS - 1000;
  return ms - ms % 1000;
}

/* Hashes district names to dense indices; returns -1 when out of memory. */
static long district_index(struct gen *g, uint32_t *slots, size_t cap,
                           uint64_t key) {
  size_t i = (size_t)(key & (cap - 1));
  while (slots[i]) {
    if (g->districts[slots[i] - 1].key == key)
      return (long)(slots[i] - 1);
    i = (i + 1) & (cap - 1);
  }
  struct district *d = &g->districts[g->ndistricts];
  memset(d, 0, sizeof *d);
  d->key = key;
  slots[i] = (uint32_t)++g->ndistricts;
  return (long)(g->ndistricts - 1);
}

static void format_uuid(uint64_t a, uint64_t b, char out[SALE_UUID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char bytes[16];
  for (int i = 0; i < 8; i++) {
    bytes[i] = (unsigned char)(a >> (56 - 8 * i));
    bytes[8 + i] = (unsigned char)(b >> (56 - 8 * i));
  }
  bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* version 4 */
  bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  int k = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[k++] = '-';
    out[k++] = hex[bytes[i] >> 4];
    out[k++] = hex[bytes[i] & 15];
  }
  out[k] = '\0';
}

/* Active pincodes, their parameters and weights (w[], caller-sized). */
static int build_areas(struct gen *g, const struct gaz *gz, uint64_t seed,
                       double *w) {
  size_t n = gaz_count(gz), cap = 1;
  while (cap < 2 * n)
    cap <<= 1;
  uint32_t *slots = calloc(cap, sizeof *slots);
  g->areas = malloc(n * sizeof *g->areas);
  g->districts = malloc(n * sizeof *g->districts);
  if (!slots || !g->areas || !g->districts) {
    free(slots);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const struct gaz_entry *e = gaz_at(gz, i);
    uint64_t pin = (uint64_t)e->pincode;
    int tier = e->tier;
    if (hash01(seed, pin, 1) >= tier_active[tier])
      continue;
    uint64_t dkey = fnv1a(fnv1a(0xcbf29ce484222325ULL, e->state) ^ 0x1f, e->district);
    long di = district_index(g, slots, cap, dkey);
    struct area *a = &g->areas[g->nareas];
    a->pincode = e->pincode;
    a->tier = (uint8_t)tier;
    a->district = (uint32_t)di;
    double beta = TREND_DRIFT + TREND_FIELD_SD * smooth_field(seed, 0x7e4d, e->lat, e->lng) +
                  TREND_DISTRICT_SD * hash_normal(seed, dkey, 2) +
                  TREND_PINCODE_SD * hash_normal(seed, pin, 3);
    beta = clampd(beta, -TREND_MAX, TREND_MAX);
    a->beta = (float)(round(beta * BETA_STEPS) / BETA_STEPS);
    a->log_income = (float)(log(tier_income_median[tier] *
                                 state_income_factor(e->state)) +
                             0.18 * hash_normal(seed, dkey, 4) +
                             0.12 * hash_normal(seed, pin, 5));
    a->age_shift = (int8_t)clampd(round(2.0 * hash_normal(seed, dkey, 6)), -4, 4);
    a->pref_card = (float)exp(PREF_FIELD_SD * smooth_field(seed, 0x5ca4d, e->lat, e->lng) +
                              PREF_DISTRICT_SD * hash_normal(seed, dkey, 8));
    a->pref_insurance =
        (float)exp(PREF_FIELD_SD * smooth_field(seed, 0x1a5e, e->lat, e->lng) +
                   PREF_DISTRICT_SD * hash_normal(seed, dkey, 9));
    w[g->nareas] = tier_weight[tier] * pow(e->offices ? e->offices : 1, 0.25) *
                   exp(0.5 * hash_normal(seed, pin, 7) - 0.125);
    g->districts[di].weight += w[g->nareas];
    g->nareas++;
  }
  free(slots);
  return g->nareas ? 0 : -1;
}

/* Agent pools: a stable workforce per district, the same for every seed. */
static int build_agents(struct gen *g) {
  size_t total = 0;
  for (size_t d = 0; d < g->ndistricts; d++) {
    double n = 2 + AGENTS_PER_SQRT_WEIGHT * sqrt(g->districts[d].weight);
    g->districts[d].agents = (uint32_t)clampd(round(n), 2, AGENTS_MAX);
    g->districts[d].first_agent = (uint32_t)total;
    total += g->districts[d].agents;
  }
  g->agents = malloc(total * sizeof *g->agents);
  if (!g->agents)
    return -1;
  for (size_t d = 0; d < g->ndistricts; d++)
    for (uint32_t j = 0; j < g->districts[d].agents; j++) {
      uint64_t x = g->districts[d].key ^ ((uint64_t)j << 40) ^ 0xa9e17ULL;
      uint64_t hi = splitmix64(&x), lo = splitmix64(&x);
      format_uuid(hi, lo, g->agents[g->districts[d].first_agent + j]);
    }
  return 0;
}

/* The span's relative time of day d's middle, 0..1. */
static double day_t(const struct gen *g, int d) {
  return ((double)d + 0.5) / (double)g->days;
}

/* Daily volume, the day alias table and the per-epoch area proposals. */
static int build_calendar(struct gen *g, const double *w) {
  int rc = -1;
  double *volume = malloc((size_t)g->days * sizeof *volume);
  double *bucket = calloc(2 * BETA_MAX_STEP + 1, sizeof *bucket);
  double *pw = malloc(g->nareas * sizeof *pw);
  g->day_month = malloc((size_t)g->days);
  g->epoch_days = EPOCH_DAYS;
  while ((g->days + g->epoch_days - 1) / g->epoch_days > MAX_EPOCHS)
    g->epoch_days *= 2;
  g->epochs = (g->days + g->epoch_days - 1) / g->epoch_days;
  g->epoch_alias = calloc((size_t)g->epochs, sizeof *g->epoch_alias);
  if (!volume || !bucket || !pw || !g->day_month || !g->epoch_alias)
    goto out;

  /* Sum of w * exp(beta (t - 0.5)) per day, through buckets of equal beta. */
  int nb = 2 * BETA_MAX_STEP + 1, mid = BETA_MAX_STEP;
  for (size_t i = 0; i < g->nareas; i++)
    bucket[mid + (int)lround(g->areas[i].beta * BETA_STEPS)] += w[i];
  for (int d = 0; d < g->days; d++)
    volume[d] = 0;
  for (int b = 0; b < nb; b++) {
    if (bucket[b] == 0)
      continue;
    double beta = (double)(b - mid) / BETA_STEPS;
    for (int d = 0; d < g->days; d++)
      volume[d] += bucket[b] * exp(beta * (day_t(g, d) - 0.5));
  }
  for (int d = 0; d < g->days; d++) {
    int y;
    unsigned m, dd;
    int64_t z = g->start_day + d;
    civil_from_days(z, &y, &m, &dd);
    g->day_month[d] = (uint8_t)(m - 1);
    double season = 0;
    for (int p = 0; p < NPRODUCTS; p++)
      season += product_base_share[p] * month_lift[p][m - 1];
    int dow = (int)(((z % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    volume[d] *= season * weekday_volume[dow];
  }
  /* The last day only up to the end instant. */
  volume[g->days - 1] *= hour_cdf_at(g, g->end_tod_ms);
  if (alias_build(&g->day_alias, volume, (size_t)g->days) < 0)
    goto out;

  for (int e = 0; e < g->epochs; e++) {
    int first = e * g->epoch_days, last = first + g->epoch_days - 1;
    if (last >= g->days)
      last = g->days - 1;
    for (size_t i = 0; i < g->nareas; i++) {
      double beta = g->areas[i].beta;
      double t = day_t(g, beta > 0 ? last : first);
      pw[i] = w[i] * exp(beta * (t - 0.5));
    }
    if (alias_build(&g->epoch_alias[e], pw, g->nareas) < 0)
      goto out;
  }

  /* Date order: how many of the first `count` records fall on each day. */
  if (g->count) {
    g->day_count = malloc((size_t)g->days * sizeof *g->day_count);
    if (!g->day_count)
      goto out;
    /* A multinomial split, as a chain of binomials over the volume left:
     * volume[] becomes the suffix sums. */
    for (int d = g->days - 2; d >= 0; d--)
      volume[d] += volume[d + 1];
    uint64_t n = g->count;
    for (int d = 0; d < g->days; d++) {
      double here = volume[d] - (d + 1 < g->days ? volume[d + 1] : 0);
      uint64_t k = d + 1 == g->days ? n
                   : volume[d] > 0  ? rng_binomial(&g->rng, n, here / volume[d])
                                    : 0;
      g->day_count[d] = (uint32_t)k;
      n -= k;
    }
  }
  rc = 0;
out:
  free(volume);
  free(bucket);
  free(pw);
  return rc;
}

int gen_new(const struct gaz *gz, const struct gen_config *cfg, struct gen **out,
            struct gerr *err) {
  *out = NULL;
  int days = cfg->days > 0 ? cfg->days : DEFAULT_DAYS;
  if (days > MAX_DAYS)
    return gerr_set(err, GERR_INVALID_INPUT, "days must be at most %d", MAX_DAYS);
  if (cfg->count > UINT32_MAX)
    return gerr_set(err, GERR_INVALID_INPUT, "count must be at most %u",
                    (unsigned)UINT32_MAX);
  int64_t end_day = floor_div(cfg->end_ist_ms, DAY_MS);
  int64_t min_day = SALE_MIN_DATE_MS / DAY_MS;
  if (end_day < min_day)
    return gerr_set(err, GERR_INVALID_INPUT,
                    "the end date must not be before 2000-01-01");
  if (end_day - days + 1 < min_day) /* dates before 2000 are invalid */
    days = (int)(end_day - min_day + 1);
  if (!gz || gaz_count(gz) == 0)
    return gerr_set(err, GERR_INVALID_INPUT, "the gazetteer is empty");

  struct gen *g = calloc(1, sizeof *g);
  double *w = malloc(gaz_count(gz) * sizeof *w);
  if (!g || !w) {
    free(w);
    free(g);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  rng_seed(&g->rng, cfg->seed);
  g->days = days;
  g->start_day = end_day - days + 1;
  g->end_ms = cfg->end_ist_ms;
  g->end_tod_ms = (int)(cfg->end_ist_ms - end_day * DAY_MS);
  g->count = cfg->count;
  g->cur_day = -1;
  build_hour_cdf(g);
  build_product_table(g);
  int rc = build_areas(g, gz, cfg->seed, w);
  if (rc == 0)
    rc = build_agents(g);
  if (rc == 0)
    rc = build_age_tables(g);
  if (rc == 0)
    rc = build_calendar(g, w);
  free(w);
  if (rc < 0) {
    gen_free(g);
    return gerr_set(err, GERR_INTERNAL, "cannot build the sample-data tables");
  }
  *out = g;
  return 0;
}

void gen_free(struct gen *g) {
  if (!g)
    return;
  free(g->areas);
  free(g->districts);
  free(g->agents);
  free(g->day_month);
  alias_release(&g->day_alias);
  for (int e = 0; e < g->epochs && g->epoch_alias; e++)
    alias_release(&g->epoch_alias[e]);
  free(g->epoch_alias);
  for (int t = 0; t < 4; t++)
    alias_release(&g->age_alias[t]);
  free(g->day_count);
  free(g->times);
  free(g->spacing);
  free(g);
}

/* ---- drawing ------------------------------------------------------------ */

/* Enters the next planned day with records and lays out its times, already
 * sorted: uniform order statistics from exponential spacings, mapped
 * through the time-of-day distribution. Returns -1 when none is left. */
static int next_planned_day(struct gen *g) {
  while (++g->cur_day < g->days) {
    size_t n = g->day_count[g->cur_day];
    if (n == 0)
      continue;
    if (n > g->times_cap) {
      int64_t *t = realloc(g->times, n * sizeof *t);
      if (t)
        g->times = t;
      double *sp = t ? realloc(g->spacing, n * sizeof *sp) : NULL;
      if (!sp) {
        g->count = 0; /* out of memory: independent draws from now on */
        return -1;
      }
      g->spacing = sp;
      g->times_cap = n;
    }
    double *sum = g->spacing, s = 0;
    for (size_t i = 0; i < n; i++)
      sum[i] = s += -log(rng_uniform_pos(&g->rng));
    s += -log(rng_uniform_pos(&g->rng));
    int last = g->cur_day == g->days - 1;
    double limit = last ? hour_cdf_at(g, g->end_tod_ms) : 1.0;
    int64_t base = (g->start_day + g->cur_day) * DAY_MS;
    int h = 0;
    for (size_t i = 0; i < n; i++) {
      int64_t tod = hour_inverse(g, sum[i] / s * limit, &h);
      if (last && tod > g->end_tod_ms)
        tod = g->end_tod_ms;
      g->times[i] = base + tod;
    }
    g->ntimes = n;
    g->next_time = 0;
    return 0;
  }
  return -1;
}

/* An area for day d: a draw from the epoch's proposal, thinned to the
 * area's rate on that day. */
static const struct area *draw_area(struct gen *g, int d) {
  const struct alias *t = &g->epoch_alias[d / g->epoch_days];
  int first = (d / g->epoch_days) * g->epoch_days;
  int last = first + g->epoch_days - 1 < g->days ? first + g->epoch_days - 1
                                                 : g->days - 1;
  double td = day_t(g, d);
  for (;;) {
    const struct area *a = &g->areas[alias_draw(t, &g->rng)];
    double tref = day_t(g, a->beta > 0 ? last : first);
    double accept = exp(a->beta * (td - tref));
    if (accept >= 1.0 || rng_uniform(&g->rng) < accept)
      return a;
  }
}

void gen_next(struct gen *g, struct sale *out) {
  int d;
  int64_t ts;
  if (g->produced < g->count && g->day_count &&
      (g->next_time < g->ntimes || next_planned_day(g) == 0)) {
    d = g->cur_day;
    ts = g->times[g->next_time++];
  } else {
    d = (int)alias_draw(&g->day_alias, &g->rng);
    double limit = d == g->days - 1 ? hour_cdf_at(g, g->end_tod_ms) : 1.0;
    int h = 0;
    int64_t tod = hour_inverse(g, rng_uniform(&g->rng) * limit, &h);
    if (d == g->days - 1 && tod > g->end_tod_ms)
      tod = g->end_tod_ms;
    ts = (g->start_day + d) * DAY_MS + tod;
  }
  g->produced++;
  const struct area *a = draw_area(g, d);
  int month = g->day_month[d];
  double t = day_t(g, d);

  memset(out, 0, sizeof *out);
  out->ts_ms = ts;
  out->pincode = a->pincode;

  /* Who: age by tier (shifted per district), income log-normal around the
   * area's median, by age. */
  int age = AGE_MIN + (int)alias_draw(&g->age_alias[a->tier], &g->rng);
  if (age + a->age_shift >= AGE_MIN && age + a->age_shift <= AGE_MAX)
    age += a->age_shift;
  out->customer_age = age;
  double log_income = a->log_income + g->age_log_income[age - AGE_MIN] +
                      INCOME_SD * rng_normal(&g->rng);
  double income = floor(clampd(exp(log_income), INCOME_FLOOR, SALE_INCOME_MAX) + 0.5);
  if (rng_uniform(&g->rng) < INCOME_ZERO_SHARE)
    income = 0;
  out->customer_income = income;

  /* What: the product table for the tier, age, income and month. */
  const float *cum = g->product_cum[a->tier][age_band(age)][income_band(log_income)][month];
  double p_loan = cum[0], p_card = (cum[1] - cum[0]) * a->pref_card,
         p_ins = (1.0 - cum[1]) * a->pref_insurance; /* the area's preference */
  double u = rng_uniform(&g->rng) * (p_loan + p_card + p_ins);
  int product = u < p_loan ? P_LOAN : u < p_loan + p_card ? P_CARD : P_INSURANCE;
  memcpy(out->product, product_name[product], sizeof product_name[product]);

  /* How: online more for the young, the urban, the better off, and more
   * so as time goes on. */
  double logit = ONLINE_BASE + ONLINE_PER_TIER * (a->tier - 1.5) +
                 ONLINE_PER_YEAR_OF_AGE * (age - 35) +
                 ONLINE_PER_LOG_INCOME * clampd(log_income - log(30000.0), -2, 2.5) +
                 ONLINE_OVER_SPAN * (t - 0.5) + online_by_product[product];
  int online = rng_uniform(&g->rng) * (1.0 + exp(-logit)) < 1.0;
  memcpy(out->channel, online ? "online" : "offline", online ? 7 : 8);

  /* By whom: every sale has an agent of the district, online ones too (an
   * online sale is credited to the agent who referred the customer); a few
   * agents sell more than the rest. */
  const struct district *dist = &g->districts[a->district];
  double v = rng_uniform(&g->rng);
  uint32_t j = (uint32_t)((0.5 * v + 0.5 * v * v) * dist->agents);
  if (j >= dist->agents)
    j = dist->agents - 1;
  memcpy(out->agent_id, g->agents[dist->first_agent + j], SALE_UUID_LEN + 1);
}
