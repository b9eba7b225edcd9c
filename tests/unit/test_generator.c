/* src/domain/generator.c: determinism, validity of every record, and the
 * effects the generative model plants (docs/sample-data.md), measured on
 * the records alone; and sample.c's end date. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/sample.h"
#include "gromo/timeutil.h"

#define SAMPLE 200000

static struct gaz *gz;
static struct sale *sample; /* SAMPLE records, seed 7, in date order */
static int64_t end_ms;      /* 2025-06-30 18:45:10 IST */
static int64_t start_ms;    /* the first day of the span, 00:00 */

static int setup(void **state) {
  struct gerr err;
  if (gaz_load_default(&gz, &err) < 0) {
    fprintf(stderr, "gaz_load_default: %s\n", err.msg);
    return -1;
  }
  end_ms = days_from_civil(2025, 6, 30) * DAY_MS + ((18 * 60 + 45) * 60 + 10) * 1000LL;
  start_ms = (days_from_civil(2025, 6, 30) - 729) * DAY_MS;
  sample = malloc(SAMPLE * sizeof *sample);
  struct gen_config cfg = {.seed = 7, .end_ist_ms = end_ms, .days = 730,
                           .count = SAMPLE};
  struct gen *g = NULL;
  int64_t t0 = mono_us();
  if (!sample || gen_new(gz, &cfg, &g, &err) < 0)
    return -1;
  int64_t t1 = mono_us();
  for (size_t i = 0; i < SAMPLE; i++)
    gen_next(g, &sample[i]);
  gen_free(g);
  printf("gen_new: %.2f ms\n", (double)(t1 - t0) / 1000.0);
  return 0;
}

static int teardown(void **state) {
  free(sample);
  gaz_free(gz);
  return 0;
}

static const char *const products[] = {"loan", "credit_card", "insurance"};

static int product_of(const struct sale *s) {
  for (int p = 0; p < 3; p++)
    if (strcmp(s->product, products[p]) == 0)
      return p;
  return -1;
}

static int is_online(const struct sale *s) { return strcmp(s->channel, "online") == 0; }

static int month_of(const struct sale *s) {
  int y;
  unsigned m, d;
  civil_from_days(s->ts_ms / DAY_MS, &y, &m, &d);
  return (int)m;
}

/* Canonical lower-case UUID of version 4, RFC 4122 variant. */
static int is_uuid_v4(const char *u) {
  if (strlen(u) != 36)
    return 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (u[i] != '-')
        return 0;
    } else if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'))) {
      return 0;
    }
  }
  return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static int is_identifier(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return 0;
  return 1;
}

/* docs/rules.md §2, and the generator's own promises (dates in the span). */
static void check_record(const struct sale *s, int64_t lo_ms, int64_t hi_ms) {
  if (s->ts_ms < lo_ms || s->ts_ms > hi_ms || s->ts_ms < 946684800000LL)
    fail_msg("date %lld outside [%lld, %lld]", (long long)s->ts_ms,
             (long long)lo_ms, (long long)hi_ms);
  assert_true(s->pincode >= 100000 && s->pincode <= 999999);
  assert_non_null(gaz_find(gz, s->pincode));
  assert_in_range(s->customer_age, 18, 100);
  assert_true(s->customer_income >= 0 && s->customer_income <= 1e8);
  assert_true(s->customer_income == floor(s->customer_income));
  assert_true(product_of(s) >= 0 && is_identifier(s->product));
  assert_true(is_identifier(s->channel));
  assert_true(is_online(s) || strcmp(s->channel, "offline") == 0);
  /* every sale has an agent, online ones too (the referring agent) */
  assert_true(is_uuid_v4(s->agent_id));
  assert_string_equal(s->id, "");
  assert_string_equal(s->city, "");
}

static void test_generator__deterministic(void **state) {
  struct gen_config cfg = {.seed = 42, .end_ist_ms = end_ms, .days = 730,
                           .count = 10000};
  struct gen *a = NULL, *b = NULL, *c = NULL;
  struct gerr err;
  assert_int_equal(gen_new(gz, &cfg, &a, &err), 0);
  assert_int_equal(gen_new(gz, &cfg, &b, &err), 0);
  cfg.seed = 43;
  assert_int_equal(gen_new(gz, &cfg, &c, &err), 0);
  size_t differ = 0;
  struct sale x, y, z;
  for (int i = 0; i < 10000; i++) {
    gen_next(a, &x);
    gen_next(b, &y);
    gen_next(c, &z);
    assert_memory_equal(&x, &y, sizeof x);
    differ += memcmp(&x, &z, sizeof x) != 0;
  }
  /* Beyond count, draws are independent, and still the same. */
  for (int i = 0; i < 1000; i++) {
    gen_next(a, &x);
    gen_next(b, &y);
    assert_memory_equal(&x, &y, sizeof x);
  }
  assert_true(differ > 9900);
  gen_free(a);
  gen_free(b);
  gen_free(c);
  gen_free(NULL);
}

static void test_generator__records_valid(void **state) {
  size_t daytime = 0, last_day = 0, online = 0;
  for (size_t i = 0; i < SAMPLE; i++) {
    check_record(&sample[i], start_ms, end_ms);
    if (i)
      assert_true(sample[i].ts_ms >= sample[i - 1].ts_ms); /* date order */
    int64_t tod = sample[i].ts_ms % DAY_MS;
    daytime += tod >= 9 * 3600000LL && tod < 21 * 3600000LL;
    last_day += sample[i].ts_ms >= end_ms - end_ms % DAY_MS;
    online += is_online(&sample[i]);
  }
  assert_true(daytime > SAMPLE * 85 / 100);
  assert_true(last_day > 0);
  /* About half the sales are online, each with its agent (check_record). */
  assert_true(online > SAMPLE * 35 / 100 && online < SAMPLE * 65 / 100);
  /* The first record falls on the first days of the span. */
  assert_true(sample[0].ts_ms < start_ms + 3 * DAY_MS);
}

static void test_generator__independent_draws_valid(void **state) {
  /* count 0: every draw independent. An end just after midnight leaves the
   * last day almost empty but never past the end. */
  int64_t end = days_from_civil(2024, 3, 1) * DAY_MS + 90 * 1000;
  struct gen_config cfg = {.seed = 5, .end_ist_ms = end, .days = 30};
  struct gen *g = NULL;
  struct gerr err;
  assert_int_equal(gen_new(gz, &cfg, &g, &err), 0);
  struct sale s;
  for (int i = 0; i < 50000; i++) {
    gen_next(g, &s);
    check_record(&s, end - end % DAY_MS - 29 * DAY_MS, end);
  }
  gen_free(g);
  /* Days running back before 2000 are cut at 2000-01-01. */
  cfg.end_ist_ms = days_from_civil(2000, 2, 1) * DAY_MS;
  cfg.days = 730;
  cfg.count = 1000;
  assert_int_equal(gen_new(gz, &cfg, &g, &err), 0);
  for (int i = 0; i < 2000; i++) {
    gen_next(g, &s);
    check_record(&s, 946684800000LL, cfg.end_ist_ms);
  }
  gen_free(g);
  cfg.end_ist_ms = days_from_civil(1999, 2, 1) * DAY_MS;
  assert_int_equal(gen_new(gz, &cfg, &g, &err), -1);
  assert_null(g);
  assert_int_equal(err.code, GERR_INVALID_INPUT);
}

static void test_generator__metro_outsells_rural(void **state) {
  size_t n = gaz_count(gz);
  uint32_t *per = calloc(n, sizeof *per);
  assert_non_null(per);
  for (size_t i = 0; i < SAMPLE; i++)
    per[gaz_index(gz, sample[i].pincode)]++;
  double sales[4] = {0}, active[4] = {0}, all[4] = {0};
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++) {
    int t = gaz_at(gz, i)->tier;
    all[t]++;
    sales[t] += per[i];
    active[t] += per[i] > 0;
    distinct += per[i] > 0;
  }
  for (int t = 0; t < 4; t++)
    printf("tier %d: %.0f of %.0f pincodes sell, %.1f sales each\n", t,
           active[t], all[t], sales[t] / active[t]);
  assert_in_range(distinct, 3000, 15000);
  assert_true(active[3] == all[3]); /* every metro pincode sells */
  assert_true(sales[3] / active[3] > 5 * sales[0] / active[0]);
  assert_true(sales[2] / active[2] > sales[1] / active[1]);
  assert_true(sales[1] / active[1] > sales[0] / active[0]);
  assert_true(active[0] < 0.5 * all[0]); /* many villages have none */
  free(per);
}

struct share {
  double n, hit;
};

static double share_of(const struct share *s) { return s->hit / s->n; }

static void test_generator__customer_effects(void **state) {
  struct share card_rich = {0}, card_poor = {0}, ins_old = {0}, ins_young = {0},
               online_young = {0}, online_old = {0}, online_metro = {0},
               online_rural = {0};
  double age_rural = 0, n_rural = 0, age_metro = 0, n_metro = 0;
  static double inc_metro[SAMPLE / 8], inc_rural[SAMPLE / 8];
  size_t nim = 0, nir = 0;
  for (size_t i = 0; i < SAMPLE; i++) {
    const struct sale *s = &sample[i];
    int p = product_of(s), on = is_online(s), tier = gaz_find(gz, s->pincode)->tier;
    if (s->customer_income >= 100000)
      card_rich.n++, card_rich.hit += p == 1;
    if (s->customer_income < 25000)
      card_poor.n++, card_poor.hit += p == 1;
    if (s->customer_age >= 46)
      ins_old.n++, ins_old.hit += p == 2;
    if (s->customer_age <= 25)
      ins_young.n++, ins_young.hit += p == 2, online_young.n++, online_young.hit += on;
    if (s->customer_age >= 61)
      online_old.n++, online_old.hit += on;
    if (tier == 3) {
      online_metro.n++, online_metro.hit += on;
      age_metro += s->customer_age, n_metro++;
      if (nim < SAMPLE / 8)
        inc_metro[nim++] = s->customer_income;
    }
    if (tier == 0) {
      online_rural.n++, online_rural.hit += on;
      age_rural += s->customer_age, n_rural++;
      if (nir < SAMPLE / 8)
        inc_rural[nir++] = s->customer_income;
    }
  }
  printf("credit_card share: income >= 100k %.3f, < 25k %.3f\n",
         share_of(&card_rich), share_of(&card_poor));
  printf("insurance share: age 46+ %.3f, 18-25 %.3f\n", share_of(&ins_old),
         share_of(&ins_young));
  printf("online share: age 18-25 %.3f, 61+ %.3f; metro %.3f, rural %.3f\n",
         share_of(&online_young), share_of(&online_old), share_of(&online_metro),
         share_of(&online_rural));
  assert_true(card_rich.n > 1000 && card_poor.n > 1000);
  assert_true(share_of(&card_rich) > 1.5 * share_of(&card_poor));
  assert_true(share_of(&ins_old) > 1.3 * share_of(&ins_young));
  assert_true(share_of(&online_young) > share_of(&online_old) + 0.15);
  assert_true(share_of(&online_metro) > share_of(&online_rural) + 0.1);
  /* Rural customers are older and earn less (medians). */
  printf("mean age: metro %.1f, rural %.1f\n", age_metro / n_metro, age_rural / n_rural);
  assert_true(age_rural / n_rural > age_metro / n_metro + 3);
  size_t below_metro = 0, below_rural = 0;
  for (size_t i = 0; i < nim; i++)
    below_metro += inc_metro[i] < 25000;
  for (size_t i = 0; i < nir; i++)
    below_rural += inc_rural[i] < 25000;
  assert_true((double)below_rural / (double)nir > (double)below_metro / (double)nim + 0.2);
}

static void test_generator__seasonality(void **state) {
  struct share loan_festive = {0}, loan_rest = {0}, ins_tax = {0}, ins_monsoon = {0};
  double festive = 0, rest = 0;
  for (size_t i = 0; i < SAMPLE; i++) {
    int m = month_of(&sample[i]), p = product_of(&sample[i]);
    struct share *l = m == 10 || m == 11 ? &loan_festive : &loan_rest;
    l->n++, l->hit += p == 0;
    if (m <= 3)
      ins_tax.n++, ins_tax.hit += p == 2;
    if (m >= 6 && m <= 8)
      ins_monsoon.n++, ins_monsoon.hit += p == 2;
    *(m == 10 || m == 11 ? &festive : &rest) += 1;
  }
  double festive_days = 2 * 61; /* Oct-Nov of the two years */
  printf("loan share: Oct-Nov %.3f, other months %.3f\n", share_of(&loan_festive),
         share_of(&loan_rest));
  printf("insurance share: Jan-Mar %.3f, Jun-Aug %.3f\n", share_of(&ins_tax),
         share_of(&ins_monsoon));
  printf("sales per day: Oct-Nov %.0f, other months %.0f\n", festive / festive_days,
         rest / (730 - festive_days));
  assert_true(share_of(&loan_festive) > share_of(&loan_rest) + 0.03);
  assert_true(share_of(&ins_tax) > share_of(&ins_monsoon) + 0.05);
}

static void test_generator__regional_trends(void **state) {
  /* Areas: the first three PIN digits (a postal sorting district). Half of
   * the records (even positions) classify each area as rising or falling;
   * the other half, an independent sample of the same model, must agree. */
  enum { AREAS = 1000 };
  static double first[2][AREAS], last[2][AREAS];
  memset(first, 0, sizeof first);
  memset(last, 0, sizeof last);
  int64_t six_months = 182 * DAY_MS;
  int64_t end_day_ms = end_ms - end_ms % DAY_MS + DAY_MS;
  for (size_t i = 0; i < SAMPLE; i++) {
    int half = (int)(i % 2), area = sample[i].pincode / 1000;
    if (sample[i].ts_ms < start_ms + six_months)
      first[half][area]++;
    else if (sample[i].ts_ms >= end_day_ms - six_months)
      last[half][area]++;
  }
  double rise_first = 0, rise_last = 0, fall_first = 0, fall_last = 0;
  int rising = 0, falling = 0;
  for (int a = 0; a < AREAS; a++) {
    if (first[0][a] + last[0][a] < 60 || first[0][a] == 0)
      continue;
    double ratio = last[0][a] / first[0][a];
    if (ratio > 1.25) {
      rising++;
      rise_first += first[1][a];
      rise_last += last[1][a];
    } else if (ratio < 0.8) {
      falling++;
      fall_first += first[1][a];
      fall_last += last[1][a];
    }
  }
  double r = rise_last / rise_first, f = fall_last / fall_first;
  printf("trend: %d rising areas (held-out last/first 6 months %.2f), "
         "%d falling (%.2f)\n", rising, r, falling, f);
  assert_true(rising >= 10 && falling >= 10);
  assert_true(r > 1.5 * f);
  assert_true(r > 1.15 && f < 0.95);
}

static int cmp_agent(const void *a, const void *b) {
  const struct sale *x = *(const struct sale *const *)a, *y = *(const struct sale *const *)b;
  return strcmp(x->agent_id, y->agent_id);
}

static void test_generator__agents_per_district(void **state) {
  /* Each agent works in one district; a district has a pool of agents. */
  const struct sale **with = malloc(SAMPLE * sizeof *with);
  assert_non_null(with);
  size_t n = 0, agents = 0;
  for (size_t i = 0; i < SAMPLE; i++)
    if (sample[i].agent_id[0])
      with[n++] = &sample[i];
  qsort(with, n, sizeof *with, cmp_agent);
  for (size_t i = 0; i < n; i++) {
    const struct gaz_entry *e = gaz_find(gz, with[i]->pincode);
    if (i == 0 || strcmp(with[i]->agent_id, with[i - 1]->agent_id) != 0) {
      agents++;
      continue;
    }
    const struct gaz_entry *prev = gaz_find(gz, with[i - 1]->pincode);
    assert_string_equal(e->district, prev->district);
    assert_string_equal(e->state, prev->state);
  }
  printf("%zu agents made %zu sales\n", agents, n);
  assert_true(agents > 1000 && agents < n / 10);
  free(with);
}

static void test_generator__throughput(void **state) {
  struct gen_config cfg = {.seed = 1, .end_ist_ms = end_ms, .count = 1000000};
  struct gen *g = NULL;
  struct gerr err;
  int64_t t0 = mono_us();
  assert_int_equal(gen_new(gz, &cfg, &g, &err), 0);
  int64_t t1 = mono_us();
  struct sale s;
  int64_t sum = 0;
  for (int i = 0; i < 1000000; i++) {
    gen_next(g, &s);
    sum += s.customer_age;
  }
  int64_t t2 = mono_us();
  gen_free(g);
  assert_true(sum > 0);
  printf("gen_new (count 1,000,000) %.2f ms; 1,000,000 gen_next %.1f ms\n",
         (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0);
}

static void test_sample__end_parse(void **state) {
  /* "today" is 2026-06-30, 10:15 IST */
  const int64_t day = days_from_civil(2026, 6, 30) * DAY_MS, now = day + 36900000LL;
  static const struct {
    const char *s;
    int64_t day; /* the day's start, from `day`; 1: refused */
  } rows[] = {
      {"2026-06-30", 0},         {"2026-06-29", -DAY_MS},   {"2000-01-01", 946684800000LL},
      {"2026-07-01", 1},         {"1999-12-31", 1},         {"2026-06-31", 1},
      {"2026-6-30", 1},          {"2026-06-30 ", 1},        {" 2026-06-30", 1},
      {"2026-06-30T00:00", 1},   {"", 1},                   {"30-06-2026", 1},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    int64_t end = -5;
    int rc = sample_end_parse(rows[i].s, now, &end);
    if (rows[i].day == 1) {
      if (rc != -1)
        fail_msg("\"%s\" accepted", rows[i].s);
      assert_int_equal(end, -5);
      continue;
    }
    if (rc != 0)
      fail_msg("\"%s\" refused", rows[i].s);
    int64_t want = rows[i].day > 0 ? rows[i].day : day + rows[i].day;
    assert_int_equal(end, want + DAY_MS - 1); /* the day's last millisecond */
  }
  int64_t end;
  assert_int_equal(sample_end_parse(NULL, now, &end), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generator__deterministic),
      cmocka_unit_test(test_generator__records_valid),
      cmocka_unit_test(test_generator__independent_draws_valid),
      cmocka_unit_test(test_generator__metro_outsells_rural),
      cmocka_unit_test(test_generator__customer_effects),
      cmocka_unit_test(test_generator__seasonality),
      cmocka_unit_test(test_generator__regional_trends),
      cmocka_unit_test(test_generator__agents_per_district),
      cmocka_unit_test(test_generator__throughput),
      cmocka_unit_test(test_sample__end_parse),
  };
  return cmocka_run_group_tests_name("generator", tests, setup, teardown);
}
