/* src/domain/record.c and record_json.c: every rule of the sales record at
 * and beyond its boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gromo/record.h"
#include "gromo/record_json.h"
#include "gromo/timeutil.h"

/* A fixed "now": 2026-11-24 12:00 IST (day 20781 since 1970-01-01). */
#define NOW_MS (20781LL * DAY_MS + 12 * 3600000LL)

static const struct sale_rules rules = {.now_ist_ms = NOW_MS};

static int64_t ist(int y, unsigned m, unsigned d, int hh, int mi, int ss, int ms) {
  return days_from_civil(y, m, d) * DAY_MS + ((hh * 60LL + mi) * 60 + ss) * 1000 + ms;
}

/* Builds a valid record as JSON text and replaces one member. */
static json_t *record_with(const char *member, json_t *value) {
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i}", "date", "2025-04-15T12:30:45",
                        "pincode", "400001", "product", "loan", "channel", "online",
                        "customer_age", 35, "customer_income", 75000);
  if (member) {
    if (value)
      json_object_set_new(o, member, value);
    else
      json_object_del(o, member);
  }
  return o;
}

/* Validates; returns the first problem of `field` or "" when valid. */
static const char *check(json_t *o, struct sale *out) {
  static char buf[200];
  struct sale_problems pr;
  int rc = sale_from_json(o, &rules, out, &pr);
  json_decref(o);
  if (rc == 0) {
    assert_int_equal(pr.count, 0);
    return "";
  }
  assert_true(pr.count > 0);
  snprintf(buf, sizeof buf, "%s %s", sale_field_name(pr.p[0].field), pr.p[0].problem);
  return buf;
}

static void expect(json_t *o, const char *want) {
  struct sale s;
  const char *got = check(o, &s);
  if (want[0] ? strstr(got, want) == NULL : got[0] != '\0')
    fail_msg("got '%s', want '%s'", got, want);
}

static void test_record__valid_seed_example(void **state) {
  struct sale s;
  json_t *o = record_with("agent_id", json_string("F47AC10B-58CC-4372-A567-0E02B2C3D479"));
  json_object_set_new(o, "city", json_string("Mumbai"));
  json_object_set_new(o, "unknown_field", json_pack("{s:i}", "x", 1));
  assert_string_equal(check(o, &s), "");
  assert_int_equal(s.ts_ms, ist(2025, 4, 15, 12, 30, 45, 0));
  assert_int_equal(s.pincode, 400001);
  assert_string_equal(s.city, "Mumbai");
  assert_string_equal(s.product, "loan");
  assert_string_equal(s.agent_id, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  assert_int_equal(s.customer_age, 35);
  assert_true(s.customer_income == 75000);
  assert_string_equal(s.id, "");
}

static void test_record__dates(void **state) {
  static const struct {
    const char *text;
    int64_t ms; /* when valid */
    const char *problem;
  } rows[] = {
      {"2000-01-01", 946684800000LL, ""},
      {"1999-12-31T23:59:59", 0, "before 2000-01-01"},
      {"1999-12-31T18:30:00Z", 946684800000LL, ""},       /* = 2000-01-01 00:00 IST */
      {"1999-12-31T18:29:59.999Z", 0, "before 2000-01-01"},
      {"2024-02-29", 0, ""},
      {"2025-02-29", 0, "no day 29"},
      {"2025-13-01", 0, "no month 13"},
      {"2025-04-31", 0, "no day 31"},
      {"2025-04-15T24:00:00", 0, "no time"},
      {"2025-04-15T23:60:00", 0, "no time"},
      {"2025-04-15T23:59:60", 0, "no time"},
      {"2025-04-15 12:30:45", 0, ""},
      {"2025-04-15T12:30:45.5", 0, ""},
      {"2025-04-15T12:30:45.123456789", 0, ""},
      {"2025-04-15T12:30:45.1234567890", 0, "ISO 8601"},
      {"2025-04-15T12:30:45.", 0, "ISO 8601"},
      {"2025-04-15T07:00:45Z", 0, ""},
      {"2025-04-15T12:30:45+05:30", 0, ""},
      {"2025-04-15T12:30:45-0800", 0, ""},
      {"2025-04-15T12:30:45+15:00", 0, "offset"},
      {"2025-04-15T12:30", 0, "ISO 8601"},
      {"15/04/2025", 0, "ISO 8601"},
      {"2025-4-15", 0, "ISO 8601"},
      {"2025-04-15X", 0, "ISO 8601"},
      {"2025-04-15T12:30:45Zjunk", 0, "ISO 8601"},
      {"  2025-04-15  ", 0, ""},
      {"", 0, "date is required"},
      {"2026-11-25T11:59:59.999", 0, ""},                  /* now + 1 day - 1 ms */
      {"2026-11-25T12:00:01", 0, "future"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct sale s;
    const char *got = check(record_with("date", json_string(rows[i].text)), &s);
    const char *want = rows[i].problem;
    if (want[0] ? strstr(got, want) == NULL : got[0] != '\0')
      fail_msg("%s: got '%s', want '%s'", rows[i].text, got, want);
    if (!want[0] && rows[i].ms)
      assert_int_equal(s.ts_ms, rows[i].ms);
  }
  struct sale s;
  check(record_with("date", json_string("2025-04-15T07:00:45Z")), &s);
  assert_int_equal(s.ts_ms, ist(2025, 4, 15, 12, 30, 45, 0));
  check(record_with("date", json_string("2025-04-15T12:30:45-08:00")), &s);
  assert_int_equal(s.ts_ms, ist(2025, 4, 16, 2, 0, 45, 0));
  check(record_with("date", json_string("2025-04-15T12:30:45.5")), &s);
  assert_int_equal(s.ts_ms, ist(2025, 4, 15, 12, 30, 45, 500));
  check(record_with("date", json_string("2025-04-15T12:30:45.123456789")), &s);
  assert_int_equal(s.ts_ms, ist(2025, 4, 15, 12, 30, 45, 123));
  expect(record_with("date", json_integer(20250415)), "must be a string");
  expect(record_with("date", NULL), "date is required");
  expect(record_with("date", json_null()), "date is required");
}

static void test_record__pincodes(void **state) {
  expect(record_with("pincode", json_string("100000")), "");
  expect(record_with("pincode", json_string("999999")), "");
  expect(record_with("pincode", json_integer(110001)), "");
  expect(record_with("pincode", json_string(" 400001 ")), "");
  expect(record_with("pincode", json_string("099999")), "6 digits");
  expect(record_with("pincode", json_string("12345")), "6 digits");
  expect(record_with("pincode", json_string("1234567")), "6 digits");
  expect(record_with("pincode", json_string("40000a")), "6 digits");
  expect(record_with("pincode", json_integer(99999)), "6 digits");
  expect(record_with("pincode", json_integer(1000000)), "6 digits");
  expect(record_with("pincode", json_integer(-400001)), "6 digits");
  expect(record_with("pincode", json_real(400001.0)), "not a real");
  expect(record_with("pincode", json_true()), "not a boolean");
  expect(record_with("pincode", json_string("")), "pincode is required");
}

static void test_record__city(void **state) {
  char city[512];
  memset(city, 'a', 100);
  city[100] = '\0';
  expect(record_with("city", json_string(city)), "");
  city[100] = 'a';
  city[101] = '\0';
  expect(record_with("city", json_string(city)), "at most 100");
  /* 100 Devanagari letters (3 bytes each) are 100 characters. */
  city[0] = '\0';
  for (int i = 0; i < 100; i++)
    strcat(city, "\xe0\xa4\xae");
  struct sale s;
  assert_string_equal(check(record_with("city", json_string(city)), &s), "");
  assert_int_equal(strlen(s.city), 300);
  strcat(city, "\xe0\xa4\xae");
  expect(record_with("city", json_string(city)), "at most 100");
  expect(record_with("city", json_string("Mum\tbai")), "control");
  expect(record_with("city", json_string("Mum\x7f")), "control");
  expect(record_with("city", json_integer(5)), "must be a string");
  /* The text setter also refuses invalid UTF-8. */
  struct sale_problems pr;
  sale_text_begin(&s, &pr);
  assert_int_equal(sale_text_set(&s, SF_CITY, "Mu\xff", 3, &rules, &pr), -1);
  assert_int_equal(sale_text_set(&s, SF_CITY, "\xc0\xaf", 2, &rules, &pr), -1); /* overlong */
  assert_int_equal(sale_text_set(&s, SF_CITY, "\xed\xa0\x80", 3, &rules, &pr), -1); /* surrogate */
}

static void test_record__identifiers(void **state) {
  struct sale s;
  assert_string_equal(check(record_with("product", json_string("Credit_Card")), &s), "");
  assert_string_equal(s.product, "credit_card");
  char id[40];
  memset(id, 'x', 32);
  id[32] = '\0';
  expect(record_with("product", json_string(id)), "");
  id[32] = 'x';
  id[33] = '\0';
  expect(record_with("product", json_string(id)), "at most 32");
  expect(record_with("product", json_string("1loan")), "identifier");
  expect(record_with("product", json_string("credit-card")), "identifier");
  expect(record_with("product", json_string("loan ")), "");
  expect(record_with("product", json_string("")), "product is required");
  expect(record_with("channel", json_string("ONLINE")), "");
  expect(record_with("channel", json_string("on line")), "identifier");
  expect(record_with("channel", NULL), "channel is required");
}

static void test_record__agent_ids(void **state) {
  struct sale s;
  static const char *const ok[] = {"f47ac10b-58cc-4372-a567-0e02b2c3d479",
                                   "F47AC10B58CC4372A5670E02B2C3D479",
                                   "{f47ac10b-58cc-4372-a567-0e02b2c3d479}"};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(check(record_with("agent_id", json_string(ok[i])), &s), "");
    assert_string_equal(s.agent_id, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  }
  expect(record_with("agent_id", json_string("f47ac10b-58cc-4372-a567-0e02b2c3d47")), "UUID");
  expect(record_with("agent_id", json_string("g47ac10b-58cc-4372-a567-0e02b2c3d479")), "UUID");
  expect(record_with("agent_id", json_string("f47ac10b58cc-4372-a567-0e02b2c3d4790")), "UUID");
  expect(record_with("agent_id", json_string("f47ac10b-58cc-4372-a5670-e02b2c3d479")), "UUID");
  expect(record_with("agent_id", json_string("F47AC10B58CC4372A5670E02B2C3D47G")), "UUID");
  expect(record_with("agent_id", json_string("{f47ac10b-58cc-4372-a567-0e02b2c3d479")), "UUID");
  expect(record_with("agent_id", json_string("f47ac10b-58cc-4372-a567-0e02b2c3d479-")), "UUID");
  expect(record_with("agent_id", json_null()), "");
}

static void test_record__age_and_income(void **state) {
  expect(record_with("customer_age", json_integer(17)), "from 18 to 100");
  expect(record_with("customer_age", json_integer(18)), "");
  expect(record_with("customer_age", json_integer(100)), "");
  expect(record_with("customer_age", json_integer(101)), "from 18 to 100");
  expect(record_with("customer_age", json_real(35.0)), "");
  expect(record_with("customer_age", json_real(35.5)), "must be an integer");
  expect(record_with("customer_age", json_string("35")), "not a string");
  expect(record_with("customer_age", json_true()), "not a boolean");
  expect(record_with("customer_age", NULL), "customer_age is required");
  expect(record_with("customer_income", json_integer(-1)), "from 0 to 100000000");
  expect(record_with("customer_income", json_integer(0)), "");
  expect(record_with("customer_income", json_integer(100000000)), "");
  expect(record_with("customer_income", json_real(100000000.01)), "from 0 to 100000000");
  expect(record_with("customer_income", json_string("1000")), "not a string");
  expect(record_with("customer_income", json_null()), "customer_income is required");
}

static void test_record__client_ids(void **state) {
  char id[80];
  memset(id, 'k', 64);
  id[64] = '\0';
  expect(record_with("id", json_string(id)), "");
  id[64] = 'k';
  id[65] = '\0';
  expect(record_with("id", json_string(id)), "at most 64");
  expect(record_with("id", json_string("caf\xc3\xa9")), "printable ASCII");
  expect(record_with("id", json_integer(7)), "must be a string");
}

static void test_record__all_problems_reported(void **state) {
  struct sale s;
  struct sale_problems pr;
  json_t *o = json_pack("{s:s}", "city", "x");
  assert_int_equal(sale_from_json(o, &rules, &s, &pr), -1);
  json_decref(o);
  assert_int_equal(pr.count, 6); /* every required field */
  o = json_pack("[]");
  assert_int_equal(sale_from_json(o, &rules, &s, &pr), -1);
  json_decref(o);
  assert_int_equal(pr.p[0].field, SF_RECORD);
  /* More problems than are kept are still counted. */
  sale_problems_clear(&pr);
  for (int i = 0; i < SALE_MAX_PROBLEMS + 5; i++)
    sale_problem_add(&pr, SF_CITY, "problem %d", i);
  assert_int_equal(pr.count, SALE_MAX_PROBLEMS + 5);
}

static void test_record__text_setters(void **state) {
  static const struct {
    enum sale_field f;
    const char *text;
    int ok;
  } rows[] = {
      {SF_CUSTOMER_AGE, "35", 1},     {SF_CUSTOMER_AGE, "35.0", 1},
      {SF_CUSTOMER_AGE, "35.5", 0},   {SF_CUSTOMER_AGE, "abc", 0},
      {SF_CUSTOMER_AGE, "3,5", 0},    {SF_CUSTOMER_INCOME, "75000", 1},
      {SF_CUSTOMER_INCOME, "75000.50", 1}, {SF_CUSTOMER_INCOME, "1,00,000", 1},
      {SF_CUSTOMER_INCOME, "75,000.5", 1}, {SF_CUSTOMER_INCOME, "1e5", 0},
      {SF_CUSTOMER_INCOME, "nan", 0}, {SF_CUSTOMER_INCOME, "0x10", 0},
      {SF_CUSTOMER_INCOME, ",100", 0}, {SF_CUSTOMER_INCOME, "-5", 0},
      {SF_PINCODE, " 560001\r", 1},   {SF_PINCODE, "5600 01", 0},
      {SF_PRODUCT, " Insurance ", 1}, {SF_DATE, "2025-01-01", 1},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct sale s;
    struct sale_problems pr;
    sale_text_begin(&s, &pr);
    int rc = sale_text_set(&s, rows[i].f, rows[i].text, strlen(rows[i].text), &rules, &pr);
    if ((rc == 0) != rows[i].ok)
      fail_msg("%s '%s': rc %d", sale_field_name(rows[i].f), rows[i].text, rc);
  }
  struct sale s;
  struct sale_problems pr;
  sale_text_begin(&s, &pr);
  assert_int_equal(sale_text_set(&s, SF_CUSTOMER_INCOME, "1,00,000", 8, &rules, &pr), 0);
  assert_true(s.customer_income == 100000);
  /* Whole numbers take a path of their own: the same doubles as strtod. */
  static const char *const incomes[][2] = {
      {"0", "0"},           {"000075000", "75000"},     {"99999999", "99999999"},
      {"1,23,45,678", "12345678"}, {"25374", "25374"}, {"75000.", "75000."},
      {"+42", "42"},        {"0.1", "0.1"},             {"12345678.99", "12345678.99"},
      {"00000000000000000007", "7"}, /* 20 digits: strtod's path */
  };
  for (size_t i = 0; i < sizeof incomes / sizeof incomes[0]; i++) {
    sale_text_begin(&s, &pr);
    assert_int_equal(sale_text_set(&s, SF_CUSTOMER_INCOME, incomes[i][0],
                                   strlen(incomes[i][0]), &rules, &pr),
                     0);
    if (s.customer_income != strtod(incomes[i][1], NULL))
      fail_msg("income '%s': %.17g", incomes[i][0], s.customer_income);
  }
  sale_text_begin(&s, &pr);
  assert_int_equal(sale_text_set(&s, SF_CUSTOMER_INCOME, "1,00,000", 8, &rules, &pr), 0);
  assert_int_equal(sale_text_set(&s, SF_PRODUCT, " Insurance ", 11, &rules, &pr), 0);
  assert_string_equal(s.product, "insurance");
  /* Not NUL-terminated input is read to its length only. */
  assert_int_equal(sale_text_set(&s, SF_PINCODE, "4000019", 6, &rules, &pr), 0);
  assert_int_equal(s.pincode, 400001);
  assert_int_equal(sale_text_finish(&s, &pr), -1); /* date, channel, age missing */
  assert_int_equal(pr.count, 3);
}

static void test_record__round_trip_and_renderers_agree(void **state) {
  static const double incomes[] = {0, 49006, 75000.5, 0.1, 99999999.99, 1234.567};
  for (size_t i = 0; i < sizeof incomes / sizeof incomes[0]; i++) {
    struct sale a, b;
    struct sale_problems pr;
    json_t *o = record_with("customer_income", json_real(incomes[i]));
    json_object_set_new(o, "date", json_string("2025-04-15T12:30:45.007"));
    json_object_set_new(o, "agent_id", json_string("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
    json_object_set_new(o, "id", json_string("q\"uote\\d"));
    assert_int_equal(sale_from_json(o, &rules, &a, &pr), 0);
    json_decref(o);
    json_t *j1 = sale_to_json(&a, "Mumbai");
    struct buf text;
    buf_init(&text, 4096);
    assert_int_equal(sale_to_json_buf(&a, "Mumbai", &text), 0);
    json_t *j2 = json_loads(text.data, 0, NULL);
    assert_non_null(j2);
    assert_true(json_equal(j1, j2) ||
                json_number_value(json_object_get(j1, "customer_income")) ==
                    json_number_value(json_object_get(j2, "customer_income")));
    assert_string_equal(json_string_value(json_object_get(j2, "date")),
                        "2025-04-15 12:30:45.007");
    assert_string_equal(json_string_value(json_object_get(j2, "city")), "Mumbai");
    assert_int_equal(sale_from_json(j2, &rules, &b, &pr), 0);
    memset(b.city, 0, sizeof b.city); /* the fallback city was added on the way out */
    assert_memory_equal(&a, &b, sizeof a);
    json_decref(j1);
    json_decref(j2);
    buf_release(&text);
  }
}

static void test_record__validation_speed(void **state) {
  /* A figure, not an assertion. */
  json_t *o = record_with("agent_id", json_string("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
  struct sale s;
  struct sale_problems pr;
  int64_t t0 = mono_us();
  for (int i = 0; i < 200000; i++)
    assert_int_equal(sale_from_json(o, &rules, &s, &pr), 0);
  printf("record: sale_from_json %.3f us per record\n", (double)(mono_us() - t0) / 200000);
  json_decref(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record__valid_seed_example),
      cmocka_unit_test(test_record__dates),
      cmocka_unit_test(test_record__pincodes),
      cmocka_unit_test(test_record__city),
      cmocka_unit_test(test_record__identifiers),
      cmocka_unit_test(test_record__agent_ids),
      cmocka_unit_test(test_record__age_and_income),
      cmocka_unit_test(test_record__client_ids),
      cmocka_unit_test(test_record__all_problems_reported),
      cmocka_unit_test(test_record__text_setters),
      cmocka_unit_test(test_record__round_trip_and_renderers_agree),
      cmocka_unit_test(test_record__validation_speed),
  };
  return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
