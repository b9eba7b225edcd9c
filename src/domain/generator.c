/* Sample sales that look like the business. The generative model, with its
 * parameters, is described in docs/sample-data.md; the numbers below are
 * those parameters. */
#include "gromo/generator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/timeutil.h"

enum { P_LOAN, P_CARD, P_INSURANCE, NPRODUCTS };
static const char *const product_names[NPRODUCTS] = {"loan", "credit_card", "insurance"};

/* Per active pincode: what makes its sales differ. */
struct area {
  int32_t pincode;
  uint8_t tier;
  float trend;        /* -0.6..0.6: relative change of volume over the span */
  float income_median;
  float age_mean;
  uint32_t district;  /* hash of the district, for the agent pool */
};

struct gen {
  uint64_t s[4];      /* xoshiro256** state */
  struct area *areas;
  size_t nareas;
  double *alias_p;    /* Walker alias table over the areas' weights */
  uint32_t *alias_i;
  int64_t start_day, days, end_ms;
  uint64_t seed;
  /* Date-ordered mode: how many records each day gets, and the sorted
   * times of the current day. */
  uint32_t *day_count;
  size_t count, produced;
  int64_t cur_day;       /* index into day_count; -1 before the first */
  int64_t *times;
  size_t ntimes, next_time, times_cap;
};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(struct gen *g) {
  uint64_t *s = g->s;
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

static double uniform(struct gen *g) { return (double)(next_u64(g) >> 11) * 0x1.0p-53; }

static double normal(struct gen *g) { /* Box-Muller, one value */
  double u = uniform(g), v = uniform(g);
  return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

/* A deterministic value in [0,1) for (seed, key, salt). */
static double hash01(uint64_t seed, uint64_t key, uint64_t salt) {
  uint64_t x = seed ^ (key * 0x9e3779b97f4a7c15ULL) ^ (salt << 32);
  return (double)(splitmix64(&x) >> 11) * 0x1.0p-53;
}

static double hash_normal(uint64_t seed, uint64_t key, uint64_t salt) {
  double u = hash01(seed, key, salt), v = hash01(seed, key, salt + 1000);
  return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static uint32_t str_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static int build_alias(struct gen *g, const double *w) {
  size_t n = g->nareas;
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += w[i];
  double *scaled = malloc(n * sizeof *scaled);
  uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
  g->alias_p = malloc(n * sizeof *g->alias_p);
  g->alias_i = malloc(n * sizeof *g->alias_i);
  if (!scaled || !small || !large || !g->alias_p || !g->alias_i) {
    free(scaled), free(small), free(large);
    return -1;
  }
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
    g->alias_p[s] = scaled[s];
    g->alias_i[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      nl--;
      small[ns++] = l;
    }
  }
  while (nl) {
    uint32_t l = large[--nl];
    g->alias_p[l] = 1.0;
    g->alias_i[l] = l;
  }
  while (ns) {
    uint32_t s = small[--ns];
    g->alias_p[s] = 1.0;
    g->alias_i[s] = s;
  }
  free(scaled), free(small), free(large);
  return 0;
}

/* Overall volume by month (1-12): festive Oct-Nov and the Jan-Mar tax
 * season sell more. */
static const double month_volume[13] = {0, 1.10, 1.10, 1.15, 0.95, 0.95, 0.90,
                                        0.90, 0.95, 1.00, 1.30, 1.30, 1.05};

/* The acceptance of area a on a day at relative time t in [0,1]: its trend
 * makes it sell more (or less) as time goes on. */
static double trend_accept(const struct area *a, double t) {
  return (1.0 + a->trend * (2.0 * t - 1.0)) / (1.0 + fabs(a->trend));
}

/* Splits `count` records over the days in proportion to each day's expected
 * volume (all areas' trends and the month), by systematic rounding, so the
 * stream can come in date order and still total exactly `count`. */
static int plan_days(struct gen *g, size_t count) {
  g->day_count = calloc((size_t)g->days, sizeof *g->day_count);
  double *wd = malloc((size_t)g->days * sizeof *wd);
  if (!g->day_count || !wd) {
    free(wd);
    return -1;
  }
  double a_sum = 0, b_sum = 0, total = 0;
  /* Expected accepted mass per day is linear in t: A + (2t - 1) B. The
   * weights are recovered from the alias table's implied probabilities. */
  double *pw = calloc(g->nareas, sizeof *pw);
  if (!pw) {
    free(wd);
    return -1;
  }
  for (size_t i = 0; i < g->nareas; i++) {
    pw[i] += g->alias_p[i];
    pw[g->alias_i[i]] += 1.0 - g->alias_p[i];
  }
  for (size_t i = 0; i < g->nareas; i++) {
    double k = 1.0 + fabs(g->areas[i].trend);
    a_sum += pw[i] / k;
    b_sum += pw[i] * g->areas[i].trend / k;
  }
  free(pw);
  for (int64_t d = 0; d < g->days; d++) {
    int y;
    unsigned m, dd;
    civil_from_days(g->start_day + d, &y, &m, &dd);
    double t = ((double)d + 0.5) / (double)g->days;
    wd[d] = month_volume[m] * (a_sum + (2.0 * t - 1.0) * b_sum);
    total += wd[d];
  }
  double offset = uniform(g), cum = 0;
  size_t given = 0;
  for (int64_t d = 0; d < g->days; d++) {
    cum += wd[d];
    size_t upto = (size_t)floor((double)count * cum / total + offset);
    if (upto > count || d == g->days - 1)
      upto = count;
    g->day_count[d] = (uint32_t)(upto - given);
    given = upto;
  }
  free(wd);
  g->count = count;
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* A time of day for a sale: mostly business hours. */
static int64_t time_of_day_ms(struct gen *g) {
  double hour = 14.0 + 3.2 * normal(g);
  if (hour < 8)
    hour = 8 + uniform(g) * 2;
  if (hour >= 22)
    hour = 20 + uniform(g) * 2;
  int64_t ms = (int64_t)(hour * 3600000.0);
  return ms - ms % 1000; /* whole seconds */
}

/* Keeps a sale on the last day from falling after the end instant. */
static int64_t clamp_to_end(struct gen *g, int64_t day, int64_t ms) {
  if (ms <= g->end_ms)
    return ms;
  int64_t span = g->end_ms - day * DAY_MS;
  if (span <= 0)
    return g->end_ms - g->end_ms % 1000;
  ms = day * DAY_MS + (int64_t)(uniform(g) * (double)span);
  return ms - ms % 1000;
}

/* Enters the next day that has records; fills its sorted times. */
static int next_planned_day(struct gen *g) {
  while (++g->cur_day < g->days) {
    size_t n = g->day_count[g->cur_day];
    if (!n)
      continue;
    if (n > g->times_cap) {
      int64_t *t = realloc(g->times, n * sizeof *t);
      if (!t)
        return -1;
      g->times = t;
      g->times_cap = n;
    }
    int64_t day = g->start_day + g->cur_day;
    for (size_t i = 0; i < n; i++)
      g->times[i] = clamp_to_end(g, day, day * DAY_MS + time_of_day_ms(g));
    qsort(g->times, n, sizeof *g->times, cmp_i64);
    g->ntimes = n;
    g->next_time = 0;
    return 0;
  }
  return -1;
}

static const double tier_weight[4] = {1.0, 2.0, 5.0, 12.0};
static const double tier_active[4] = {0.15, 0.6, 1.0, 1.0};
static const double tier_income[4] = {15000, 22000, 32000, 48000};
static const double tier_age[4] = {41, 39, 37, 35};

int gen_new(const struct gaz *gz, const struct gen_config *cfg, struct gen **out,
            struct gerr *err) {
  *out = NULL;
  struct gen *g = calloc(1, sizeof *g);
  if (!g)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  uint64_t x = cfg->seed;
  for (int i = 0; i < 4; i++)
    g->s[i] = splitmix64(&x);
  g->seed = cfg->seed;
  g->days = cfg->days > 0 ? cfg->days : 730;
  g->end_ms = cfg->end_ist_ms;
  int64_t end_day = cfg->end_ist_ms >= 0 ? cfg->end_ist_ms / DAY_MS
                                         : (cfg->end_ist_ms - DAY_MS + 1) / DAY_MS;
  g->start_day = end_day - g->days + 1;

  size_t n = gaz_count(gz);
  g->areas = malloc(n * sizeof *g->areas);
  double *w = malloc(n * sizeof *w);
  if (!g->areas || !w) {
    free(w);
    gen_free(g);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  /* A smooth trend field over India, different for each seed, plus
   * district-level noise: some regions rise, others fall. */
  double ph1 = hash01(cfg->seed, 1, 1) * 2 * M_PI, ph2 = hash01(cfg->seed, 2, 2) * 2 * M_PI;
  for (size_t i = 0; i < n; i++) {
    const struct gaz_entry *e = gaz_at(gz, i);
    if (hash01(cfg->seed, (uint64_t)e->pincode, 3) >= tier_active[e->tier])
      continue;
    struct area *a = &g->areas[g->nareas];
    uint32_t dh = str_hash(e->district);
    double field = 0.55 * sin(e->lat * 0.35 + ph1) * cos(e->lng * 0.3 + ph2);
    double trend = field + 0.15 * hash_normal(cfg->seed, dh, 4);
    a->pincode = e->pincode;
    a->tier = (uint8_t)e->tier;
    a->trend = (float)fmax(-0.6, fmin(0.6, trend));
    double state = 0.8 + 0.45 * hash01(cfg->seed, str_hash(e->state), 5);
    a->income_median = (float)(tier_income[e->tier] * state);
    a->age_mean = (float)(tier_age[e->tier] + 2.0 * hash_normal(cfg->seed, dh, 6));
    a->district = dh;
    w[g->nareas] = tier_weight[e->tier] *
                   exp(0.5 * hash_normal(cfg->seed, (uint64_t)e->pincode, 7));
    g->nareas++;
  }
  if (g->nareas == 0 || build_alias(g, w) < 0) {
    free(w);
    gen_free(g);
    return gerr_set(err, GERR_INTERNAL, "cannot build the sample-data tables");
  }
  free(w);
  g->cur_day = -1;
  if (cfg->count && plan_days(g, cfg->count) < 0) {
    gen_free(g);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  *out = g;
  return 0;
}

void gen_free(struct gen *g) {
  if (!g)
    return;
  free(g->day_count);
  free(g->times);
  free(g->areas);
  free(g->alias_p);
  free(g->alias_i);
  free(g);
}


static void make_uuid(uint64_t a, uint64_t b, char out[37]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char bytes[16];
  for (int i = 0; i < 8; i++) {
    bytes[i] = (unsigned char)(a >> (8 * i));
    bytes[8 + i] = (unsigned char)(b >> (8 * i));
  }
  bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* version 4 */
  bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* variant 1 */
  int k = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[k++] = '-';
    out[k++] = hex[bytes[i] >> 4];
    out[k++] = hex[bytes[i] & 15];
  }
  out[k] = '\0';
}

static const struct area *draw_area(struct gen *g) {
  size_t i = (size_t)(uniform(g) * (double)g->nareas);
  if (i >= g->nareas)
    i = g->nareas - 1;
  return uniform(g) < g->alias_p[i] ? &g->areas[i] : &g->areas[g->alias_i[i]];
}

void gen_next(struct gen *g, struct sale *out) {
  memset(out, 0, sizeof *out);
  const struct area *a;
  double t;
  int64_t day, ms;
  unsigned month, dom;
  int year;
  if (g->produced < g->count &&
      (g->next_time < g->ntimes || next_planned_day(g) == 0)) {
    /* Date order: the day is planned; pick where, by trend at that day. */
    day = g->start_day + g->cur_day;
    t = ((double)g->cur_day + 0.5) / (double)g->days;
    ms = g->times[g->next_time++];
    do
      a = draw_area(g);
    while (uniform(g) >= trend_accept(a, t));
    civil_from_days(day, &year, &month, &dom);
  } else {
    /* Independent draws: where by weight, when by its trend and the
     * month's volume, by rejection. */
    a = draw_area(g);
    for (;;) {
      t = uniform(g);
      day = g->start_day + (int64_t)(t * (double)g->days);
      if (day >= g->start_day + g->days)
        day = g->start_day + g->days - 1;
      civil_from_days(day, &year, &month, &dom);
      if (uniform(g) < trend_accept(a, t) * month_volume[month] / 1.30)
        break;
    }
    ms = clamp_to_end(g, day, day * DAY_MS + time_of_day_ms(g));
  }
  g->produced++;
  out->ts_ms = ms;
  out->pincode = a->pincode;

  /* Who: age, then income by area and age. */
  double age = a->age_mean + 11.0 * normal(g);
  if (uniform(g) < 0.02)
    age = 65 + uniform(g) * 30;
  age = fmax(18, fmin(100, floor(age)));
  out->customer_age = (int32_t)age;
  double age_f = age <= 25 ? 0.7 : age <= 35 ? 1.0 : age <= 45 ? 1.15 : age <= 60 ? 1.2 : 0.8;
  double income = a->income_median * age_f * exp(0.6 * normal(g));
  out->customer_income = fmax(3000, fmin(1e8, floor(income)));

  /* What: product propensities by age, income, area and season. */
  double li = log(out->customer_income / 40000.0);
  double logit[NPRODUCTS];
  logit[P_LOAN] = 0.2 + (age >= 25 && age <= 45 ? 0.4 : 0) +
                  (out->customer_income >= 25000 && out->customer_income < 100000 ? 0.3 : 0) +
                  (month == 10 || month == 11 ? log(1.6) : 0);
  logit[P_CARD] = -0.3 + 0.7 * fmax(-1.5, fmin(1.5, li)) + 0.15 * a->tier +
                  (age < 35 ? 0.3 : 0) + (month == 10 || month == 11 ? log(1.5) : 0);
  logit[P_INSURANCE] = -0.1 + (age > 45 ? 0.6 : age > 35 ? 0.25 : 0) +
                       (a->tier == 0 ? 0.2 : 0) + (month <= 3 ? log(1.7) : 0);
  double pmax = fmax(logit[0], fmax(logit[1], logit[2])), z = 0, p[NPRODUCTS];
  for (int k = 0; k < NPRODUCTS; k++)
    z += p[k] = exp(logit[k] - pmax);
  double u = uniform(g) * z;
  int prod = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2;
  snprintf(out->product, sizeof out->product, "%s", product_names[prod]);

  /* How: online more for the young, the urban, the better off, and more so
   * as time goes on. */
  double lo = -0.3 + 0.5 * (a->tier - 1.5) + 0.04 * (35 - age) + 0.4 * log(out->customer_income / 30000.0) +
              0.8 * (t - 0.5) + (prod == P_CARD ? 0.3 : prod == P_INSURANCE ? -0.2 : 0);
  int online = uniform(g) < 1.0 / (1.0 + exp(-lo));
  snprintf(out->channel, sizeof out->channel, "%s", online ? "online" : "offline");

  /* Agents: a pool of twelve per district; every offline sale and a quarter
   * of online ones have one. */
  if (!online || uniform(g) < 0.25) {
    uint64_t agent = (uint64_t)(uniform(g) * 12);
    uint64_t k1 = g->seed ^ ((uint64_t)a->district << 8) ^ agent, k2 = k1 ^ 0xa5a5a5a5ULL;
    make_uuid(splitmix64(&k1), splitmix64(&k2), out->agent_id);
  }
}
