/* The sales record of docs/rules.md §2 and its validation. Every reader (JSON body,
 * NDJSON, CSV, spreadsheets) turns its input into struct sale through these
 * functions, so the rules live in one place. */
#ifndef GROMO_RECORD_H
#define GROMO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/buf.h"
#include "gromo/error.h"

#define SALE_CITY_MAX_CHARS 100
#define SALE_CITY_MAX_BYTES (SALE_CITY_MAX_CHARS * 4)
#define SALE_IDENT_MAX 32 /* product, channel */
#define SALE_ID_MAX 64    /* client-chosen record id */
#define SALE_UUID_LEN 36
#define SALE_AGE_MIN 18
#define SALE_AGE_MAX 100
#define SALE_INCOME_MAX 100000000.0
#define SALE_MIN_DATE_MS 946684800000LL /* 2000-01-01 00:00 IST-ms */

/* A validated record. Strings are NUL-terminated; "" means absent.
 * ts_ms is in IST milliseconds (see timeutil.h). */
struct sale {
  int64_t ts_ms;
  int32_t pincode;
  int32_t customer_age;
  double customer_income;
  char product[SALE_IDENT_MAX + 1];
  char channel[SALE_IDENT_MAX + 1];
  char agent_id[SALE_UUID_LEN + 1]; /* canonical lower-case */
  char id[SALE_ID_MAX + 1];
  char city[SALE_CITY_MAX_BYTES + 1];
};

/* The fields, in the order they are reported. */
#define SALE_FIELD_MAP(XX)                                                    \
  XX(SF_DATE, "date")                                                         \
  XX(SF_PINCODE, "pincode")                                                   \
  XX(SF_CITY, "city")                                                         \
  XX(SF_PRODUCT, "product")                                                   \
  XX(SF_CHANNEL, "channel")                                                   \
  XX(SF_AGENT_ID, "agent_id")                                                 \
  XX(SF_CUSTOMER_AGE, "customer_age")                                         \
  XX(SF_CUSTOMER_INCOME, "customer_income")                                   \
  XX(SF_ID, "id")                                                             \
  XX(SF_RECORD, "record") /* the record as a whole */

enum sale_field {
#define SF_ENUM(e, name) e,
  SALE_FIELD_MAP(SF_ENUM)
#undef SF_ENUM
  SF__COUNT
};

const char *sale_field_name(enum sale_field f);

/* One problem with one field. */
struct field_problem {
  enum sale_field field;
  char problem[120];
};

/* Problems of one record: the first SALE_MAX_PROBLEMS kept, all counted. */
#define SALE_MAX_PROBLEMS 9
struct sale_problems {
  int count;
  struct field_problem p[SALE_MAX_PROBLEMS];
};

void sale_problems_clear(struct sale_problems *pr);
void sale_problem_add(struct sale_problems *pr, enum sale_field f,
                      const char *fmt, ...) GROMO_PRINTF(3, 4);

/* The validation context: "now" bounds the future (now + 1 day allowed). */
struct sale_rules {
  int64_t now_ist_ms;
};

/* The number rules of customer_age (an integer from SALE_AGE_MIN to
 * SALE_AGE_MAX) and customer_income (0 to SALE_INCOME_MAX): 0, or -1 with
 * the problem appended. For the text and JSON setters. */
int sale_number_set(struct sale *out, enum sale_field f, double v,
                    struct sale_problems *pr);

/* Text setters for readers of tabular files: s need not be NUL-terminated.
 * An empty (or all-blank) text means absent. Begin with sale_text_begin(),
 * set each field found, then sale_text_finish() checks required fields.
 * Each returns 0 or -1 (problem appended to *pr). */
void sale_text_begin(struct sale *out, struct sale_problems *pr);
int sale_text_set(struct sale *out, enum sale_field f, const char *s, size_t n,
                  const struct sale_rules *rules, struct sale_problems *pr);
int sale_text_finish(struct sale *out, struct sale_problems *pr);

/* Typed setters for JSON readers (record_json.c): the value of member f had
 * the JSON type given. Strings follow the text rules; a JSON null means
 * absent and needs no call. Each returns 0 or -1 (problem appended). */
int sale_json_set_string(struct sale *out, enum sale_field f, const char *s,
                         size_t n, const struct sale_rules *rules,
                         struct sale_problems *pr);
int sale_json_set_integer(struct sale *out, enum sale_field f, long long v,
                          const struct sale_rules *rules, struct sale_problems *pr);
int sale_json_set_real(struct sale *out, enum sale_field f, double v,
                       const struct sale_rules *rules, struct sale_problems *pr);
/* type: "boolean", "object", "array", ... */
int sale_json_set_wrong_type(struct sale *out, enum sale_field f,
                             const char *type, struct sale_problems *pr);

/* Date parsing per docs/rules.md §2: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]",
 * "YYYY-MM-DD HH:MM:SS[.fff]". On success *ist_ms is IST milliseconds and 0
 * is returned; on failure -1 and a reason in why[120]. Range is not checked. */
int sale_parse_date(const char *s, size_t n, int64_t *ist_ms, char why[120]);

/* 0 if s is a valid India Post PIN (6 digits, first 1-9). */
int sale_parse_pincode(const char *s, size_t n, int32_t *pin);

/* The record as a JSON object appended as text to *b: the field names of
 * docs/records.md; date as "YYYY-MM-DD HH:MM:SS[.fff]"; absent agent_id/id
 * omitted. city_fallback is used when the record has no city (may be
 * NULL). The one writer of a record's JSON (record_json.c); sale_to_json
 * in record_json.h reads its text back. */
int sale_to_json_buf(const struct sale *s, const char *city_fallback,
                     struct buf *b) GROMO_WUR;

/* The compact form of a record (record_pack.c), about 100 bytes: appended
 * to b (0, or -1 with b unchanged), and read back (the bytes used, or 0 when
 * data[n] does not start with a whole record). For holding records within
 * this process only. */
#define SALE_PACK_MAX                                                           \
  (8 + 4 + 4 + 8 + 5 * 2 + 2 * SALE_IDENT_MAX + SALE_UUID_LEN + SALE_ID_MAX +  \
   SALE_CITY_MAX_BYTES) /* bytes of one packed record, at most */
int sale_pack(const struct sale *s, struct buf *b) GROMO_WUR;
size_t sale_unpack(const char *data, size_t n, struct sale *out);

#endif
