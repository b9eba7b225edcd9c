/* src/domain/gazetteer.c: the embedded pincode table, lookups, distances,
 * nearest pincodes and strict loading. */
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
#include "gromo/timeutil.h"

static struct gaz *gz; /* loaded once by the group setup */

static int setup(void **state) {
  struct gerr err;
  int64_t t0 = mono_us();
  if (gaz_load_default(&gz, &err) < 0) {
    fprintf(stderr, "gaz_load_default: %s\n", err.msg);
    return -1;
  }
  int64_t t1 = mono_us();
  /* A second load, warm, is the figure that matters at start-up. */
  struct gaz *again = NULL;
  if (gaz_load_default(&again, &err) < 0)
    return -1;
  int64_t t2 = mono_us();
  gaz_free(again);
  printf("gazetteer: %zu pincodes loaded in %.2f ms (cold %.2f ms)\n",
         gaz_count(gz), (double)(t2 - t1) / 1000.0, (double)(t1 - t0) / 1000.0);
  return 0;
}

static int teardown(void **state) {
  gaz_free(gz);
  gz = NULL;
  return 0;
}

static void test_gazetteer__count(void **state) {
  assert_in_range(gaz_count(gz), 18500, 19100);
  for (size_t i = 1; i < gaz_count(gz); i++)
    assert_true(gaz_at(gz, i - 1)->pincode < gaz_at(gz, i)->pincode);
  assert_null(gaz_at(gz, gaz_count(gz)));
}

static void test_gazetteer__find_known(void **state) {
  static const struct {
    int32_t pin;
    double lat, lng;
    const char *district, *state; /* NULL: not checked */
  } rows[] = {
      {110001, 28.63, 77.22, "Central Delhi", "Delhi"},
      {400001, 18.94, 72.84, "Mumbai", "Maharashtra"},
      {560001, 12.97, 77.59, "Bangalore", "Karnataka"},
      {600001, 13.09, 80.28, "Chennai", "Tamil Nadu"},
      {700001, 22.57, 88.35, "Kolkata", "West Bengal"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const struct gaz_entry *e = gaz_find(gz, rows[i].pin);
    assert_non_null(e);
    assert_int_equal(e->pincode, rows[i].pin);
    if (fabs(e->lat - rows[i].lat) > 0.1 || fabs(e->lng - rows[i].lng) > 0.1)
      fail_msg("%d at %.4f,%.4f, expected near %.2f,%.2f", rows[i].pin, e->lat,
               e->lng, rows[i].lat, rows[i].lng);
    assert_string_equal(e->district, rows[i].district);
    assert_string_equal(e->state, rows[i].state);
    assert_true(e->offices >= 1);
    assert_true(*e->office && *e->circle && *e->region && *e->division);
    long idx = gaz_index(gz, rows[i].pin);
    assert_true(idx >= 0);
    assert_ptr_equal(gaz_at(gz, (size_t)idx), e);
  }
}

static void test_gazetteer__find_unknown(void **state) {
  static const int32_t unknown[] = {0, 99999, 100000, 400090, 999999,
                                    1000000, -110001};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_null(gaz_find(gz, unknown[i]));
    assert_int_equal(gaz_index(gz, unknown[i]), -1);
  }
}

static void test_gazetteer__haversine(void **state) {
  /* Hand-computed with the haversine formula, R = 6371 km. */
  static const struct {
    double lat1, lng1, lat2, lng2, km;
  } rows[] = {
      {0, 0, 0, 1, 111.19493},                      /* 2 pi R / 360 */
      {0, 0, 1, 0, 111.19493},
      {28.6139, 77.2090, 19.0760, 72.8777, 1148.09}, /* Delhi - Mumbai */
      {12.9716, 77.5946, 13.0827, 80.2707, 290.17},  /* Bengaluru - Chennai */
      {10, 20, 10, 20, 0},
      {0, 0, 0, 180, 20015.09},                      /* pi R */
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    double km = gaz_km(rows[i].lat1, rows[i].lng1, rows[i].lat2, rows[i].lng2);
    double back = gaz_km(rows[i].lat2, rows[i].lng2, rows[i].lat1, rows[i].lng1);
    if (fabs(km - rows[i].km) > 0.01 * rows[i].km + 1e-9 || fabs(km - back) > 1e-9)
      fail_msg("row %zu: %.3f km, expected %.3f", i, km, rows[i].km);
  }
  /* The city centres above are ~1,150 km apart; the head post offices of
   * 110001 and 400001 (south Mumbai) 1,167 km, computed by hand. */
  const struct gaz_entry *d = gaz_find(gz, 110001), *m = gaz_find(gz, 400001);
  double km = gaz_km(d->lat, d->lng, m->lat, m->lng);
  assert_true(fabs(km - 1167.4) < 11.7);
  assert_true(fabs(rows[2].km - 1150) < 11.5);
}

static void test_gazetteer__tiers(void **state) {
  static const int32_t metro[] = {110001, 110002, 400001, 400050, 560001,
                                  600001, 700001, 500001};
  for (size_t i = 0; i < sizeof metro / sizeof metro[0]; i++) {
    const struct gaz_entry *e = gaz_find(gz, metro[i]);
    assert_non_null(e);
    if (e->tier != GAZ_METRO)
      fail_msg("%d: tier %d, neighbours %d", metro[i], e->tier, e->neighbours);
  }
  /* Villages of Nagaur, Rajasthan: no other pincode within 10 km. */
  static const int32_t rural[] = {341021, 341025, 341031};
  for (size_t i = 0; i < sizeof rural / sizeof rural[0]; i++) {
    const struct gaz_entry *e = gaz_find(gz, rural[i]);
    assert_non_null(e);
    assert_int_equal(e->tier, GAZ_RURAL);
    assert_string_equal(e->state, "Rajasthan");
  }
  /* Every tier occurs, and the tier never falls as neighbours grow. */
  size_t per[4] = {0};
  int max_nb[4] = {-1, -1, -1, -1}, min_nb[4] = {99999, 99999, 99999, 99999};
  for (size_t i = 0; i < gaz_count(gz); i++) {
    const struct gaz_entry *e = gaz_at(gz, i);
    per[e->tier]++;
    if (e->neighbours > max_nb[e->tier])
      max_nb[e->tier] = e->neighbours;
    if (e->neighbours < min_nb[e->tier])
      min_nb[e->tier] = e->neighbours;
  }
  for (int t = 0; t < 4; t++)
    assert_true(per[t] > 500);
  for (int t = 1; t < 4; t++)
    assert_true(min_nb[t] > max_nb[t - 1]);
}

static void test_gazetteer__nearest_known(void **state) {
  struct gaz_near out[50];
  size_t n = gaz_nearest(gz, 400001, NULL, NULL, 50, out);
  assert_int_equal(n, 50);
  const struct gaz_entry *q = gaz_find(gz, 400001);
  for (size_t i = 0; i < n; i++) {
    assert_int_not_equal(out[i].e->pincode, 400001);
    assert_true(out[i].km >= 0);
    if (i)
      assert_true(out[i].km >= out[i - 1].km);
    double km = gaz_km(q->lat, q->lng, out[i].e->lat, out[i].e->lng);
    assert_true(fabs(km - out[i].km) < 1e-6);
  }
  assert_true(out[0].km < 3);
  /* Nothing left out: no pincode outside the answer is nearer than its last. */
  size_t nearer = 0;
  for (size_t i = 0; i < gaz_count(gz); i++) {
    const struct gaz_entry *e = gaz_at(gz, i);
    if (e != q && gaz_km(q->lat, q->lng, e->lat, e->lng) < out[n - 1].km)
      nearer++;
  }
  assert_true(nearer <= n);
  assert_int_equal(out[0].shared_prefix, 4); /* 4000xx */
}

static int only_even(int32_t pincode, void *ctx) {
  int *asked = ctx;
  (*asked)++;
  return pincode % 2 == 0;
}

static void test_gazetteer__nearest_accept(void **state) {
  struct gaz_near out[20];
  int asked = 0;
  size_t n = gaz_nearest(gz, 110001, only_even, &asked, 20, out);
  assert_int_equal(n, 20);
  assert_true(asked >= 20);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(out[i].e->pincode % 2, 0);
    assert_int_not_equal(out[i].e->pincode, 110001);
    if (i)
      assert_true(out[i].km >= out[i - 1].km);
  }
  /* k larger than the table: every accepted pincode once. */
  size_t all = gaz_count(gz);
  struct gaz_near *big = malloc(all * sizeof *big);
  assert_non_null(big);
  n = gaz_nearest(gz, 110001, NULL, NULL, all + 10, big);
  assert_int_equal(n, all - 1);
  free(big);
  assert_int_equal(gaz_nearest(gz, 110001, NULL, NULL, 0, out), 0);
}

/* The first absent pincode from `from` upwards that shares its first
 * `digits` digits with some entry, and no more than that with any. */
static int32_t absent_with_prefix(int32_t from, int digits) {
  int32_t div = 1;
  for (int i = digits; i < 6; i++)
    div *= 10;
  for (int32_t p = from; p < 1000000; p++) {
    if (gaz_find(gz, p))
      continue;
    size_t sharing = 0, longer = 0;
    for (size_t i = 0; i < gaz_count(gz); i++) {
      int32_t o = gaz_at(gz, i)->pincode;
      sharing += o / div == p / div;
      longer += digits < 6 && o / (div / 10) == p / (div / 10);
    }
    if (sharing > 0 && longer == 0)
      return p;
  }
  return -1;
}

static void test_gazetteer__nearest_unknown_prefix(void **state) {
  /* 400090 is absent, but 400080-400099 are Mumbai. */
  assert_null(gaz_find(gz, 400090));
  struct gaz_near out[40];
  size_t n = gaz_nearest(gz, 400090, NULL, NULL, 40, out);
  assert_int_equal(n, 40);
  size_t five = 0;
  for (size_t i = 0; i < gaz_count(gz); i++)
    five += gaz_at(gz, i)->pincode / 10 == 40009;
  assert_true(five > 0 && five < 40);
  for (size_t i = 0; i < n; i++) {
    int want = i < five ? 5 : 4;
    assert_int_equal(out[i].shared_prefix, want);
    assert_int_equal(out[i].e->pincode / (want == 5 ? 10 : 100),
                     400090 / (want == 5 ? 10 : 100));
    assert_true(out[i].km >= 0);
    if (i && out[i].shared_prefix == out[i - 1].shared_prefix)
      assert_true(out[i].km >= out[i - 1].km);
    assert_string_equal(out[i].e->state, "Maharashtra");
  }
  /* An absent pincode with no 5-digit sibling falls back to its 4 digits. */
  int32_t q = absent_with_prefix(110000, 4);
  assert_true(q > 0);
  n = gaz_nearest(gz, q, NULL, NULL, 5, out);
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++)
    assert_true(out[i].shared_prefix == 4 || out[i].shared_prefix == 3);
  assert_int_equal(out[0].shared_prefix, 4);
  /* No digit in common with anything: ranked by number, km unknown. */
  n = gaz_nearest(gz, 999999, NULL, NULL, 3, out);
  assert_int_equal(n, 3);
  assert_true(out[0].km == -1 && out[0].shared_prefix == 0);
  assert_true(out[0].e->pincode >= out[1].e->pincode);
}

static const char header[] =
    "pincode\tlat\tlng\toffices\tneighbours\ttier\toffice\tdistrict\tstate\t"
    "circle\tregion\tdivision\n";

static void test_gazetteer__load_buf_good(void **state) {
  char buf[512];
  int len = snprintf(buf, sizeof buf,
                     "%s110001\t28.63274\t77.21960\t21\t39\t3\tA\tB\tC\tD\tE\tF\n"
                     "400001\t18.9\t-72\t1\t0\t0\tX\tY\tZ\t\t\t\r\n",
                     header);
  struct gaz *g = NULL;
  struct gerr err;
  assert_int_equal(gaz_load_buf(buf, (size_t)len, &g, &err), 0);
  /* The buffer is copied: clobbering it changes nothing. */
  memset(buf, 'x', sizeof buf);
  assert_int_equal(gaz_count(g), 2);
  const struct gaz_entry *e = gaz_find(g, 400001);
  assert_non_null(e);
  assert_true(fabs(e->lng + 72) < 1e-6);
  assert_string_equal(e->district, "Y");
  assert_string_equal(e->circle, "");
  assert_string_equal(gaz_find(g, 110001)->division, "F");
  assert_int_equal(gaz_find(g, 110001)->tier, GAZ_METRO);
  gaz_free(g);
  gaz_free(NULL);
}

static void test_gazetteer__load_buf_rejects(void **state) {
  static const struct {
    const char *body; /* after the header */
    const char *want; /* in the message */
  } rows[] = {
      {"110001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\n", "line 2: fewer than 12"},
      {"110001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\tG\n", "line 2: more than 12"},
      {"110001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n"
       "110002\t28.x\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 3: lat"},
      {"110001\t28.6\t1e2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 2: lng"},
      {"110001\t91\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 2: lat"},
      {"110001\t28.6\t77.2\t-1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 2: offices"},
      {"110001\t28.6\t77.2\t1\t0\t4\tA\tB\tC\tD\tE\tF\n", "line 2: tier"},
      {"11001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 2: pincode"},
      {"011001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 2: pincode"},
      {"110002\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n"
       "110001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 3: pincodes out of order"},
      {"110002\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n"
       "110002\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n", "line 3: duplicate"},
      {"110001\t28.6\t77.2\t1\t0\t0\tA\t\tC\tD\tE\tF\n", "line 2: district"},
      {"110001\t28.6\t77.2\t1\t0\t0\tA\tB\tC\tD\tE\tF\n\n", "line 3: empty line"},
      {"", "no pincodes"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s%s", header, rows[i].body);
    struct gaz *g = NULL;
    struct gerr err = {0};
    assert_int_equal(gaz_load_buf(buf, (size_t)len, &g, &err), -1);
    assert_null(g);
    assert_int_equal(err.code, GERR_INVALID_INPUT);
    if (!strstr(err.msg, rows[i].want))
      fail_msg("row %zu: \"%s\" lacks \"%s\"", i, err.msg, rows[i].want);
  }
  struct gaz *g = NULL;
  struct gerr err = {0};
  assert_int_equal(gaz_load_buf("pincode\tlat\n", 12, &g, &err), -1);
  assert_non_null(strstr(err.msg, "line 1"));
  assert_int_equal(gaz_load_buf("", 0, &g, &err), -1);
  assert_non_null(strstr(err.msg, "line 1: no header"));
  assert_int_equal(gaz_load_buf(NULL, 0, &g, &err), -1);
  /* Only the header: a table needs pincodes. */
  assert_int_equal(gaz_load_buf(header, sizeof header - 1, &g, &err), -1);
  assert_null(g);
  static const char tail[] = {'1', '1', '\0', '0', '0', '1', '\n'};
  char nul[sizeof header + sizeof tail];
  memcpy(nul, header, sizeof header - 1);
  memcpy(nul + sizeof header - 1, tail, sizeof tail);
  assert_int_equal(gaz_load_buf(nul, sizeof header - 1 + sizeof tail, &g, &err), -1);
  assert_non_null(strstr(err.msg, "line 2: NUL"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gazetteer__count),
      cmocka_unit_test(test_gazetteer__find_known),
      cmocka_unit_test(test_gazetteer__find_unknown),
      cmocka_unit_test(test_gazetteer__haversine),
      cmocka_unit_test(test_gazetteer__tiers),
      cmocka_unit_test(test_gazetteer__nearest_known),
      cmocka_unit_test(test_gazetteer__nearest_accept),
      cmocka_unit_test(test_gazetteer__nearest_unknown_prefix),
      cmocka_unit_test(test_gazetteer__load_buf_good),
      cmocka_unit_test(test_gazetteer__load_buf_rejects),
  };
  return cmocka_run_group_tests_name("gazetteer", tests, setup, teardown);
}
