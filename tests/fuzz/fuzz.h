/* What the libFuzzer harnesses share: a fixed "now", small limits that make
 * short inputs reach every limit, and a transcript of what a reading
 * produced, so that two readings of the same bytes (whole, or in pieces)
 * can be compared. Built only by `make fuzz` (tests/fuzz/run.sh). */
#ifndef GROMO_FUZZ_H
#define GROMO_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/record.h"
#include "gromo/tabular.h"

/* 2026-01-01 00:00 IST: readings must not depend on the day they run. */
#define FUZZ_NOW_IST_MS 1767225600000LL

static inline const struct sale_rules *fuzz_rules(void) {
  static const struct sale_rules r = {.now_ist_ms = FUZZ_NOW_IST_MS};
  return &r;
}

/* Limits a few hundred bytes can pass: cell, row and row count. */
static inline void fuzz_small_limits(struct tab_limits *l) {
  tab_limits_default(l);
  l->max_cell = 8;
  l->max_row = 48;
  l->max_rows = 6;
  l->max_uncompressed = 256 * 1024;
  l->max_ratio = 20;
}

/* A row limit above what a reader keeps of one cell (256 bytes for header
 * names), so that cells are cut short while rows go on. */
static inline void fuzz_medium_limits(struct tab_limits *l) {
  fuzz_small_limits(l);
  l->max_row = 400;
  l->max_rows = 20;
}

/* A digest of every record handed over (row or index, validity, fields,
 * problems) and of the final result. */
struct transcript {
  uint64_t hash;
  size_t records;
  size_t stop_after; /* 0: never ask the reader to stop */
};

static inline void tr_init(struct transcript *t, size_t stop_after) {
  t->hash = 1469598103934665603ull; /* FNV-1a */
  t->records = 0;
  t->stop_after = stop_after;
}

static inline void tr_bytes(struct transcript *t, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    t->hash = (t->hash ^ b[i]) * 1099511628211ull;
}

/* Hashes a NUL-terminated field of at most cap bytes; aborts when the
 * reader left it unterminated (the sanitizers see the read too). */
static inline void tr_field(struct transcript *t, const char *s, size_t cap) {
  size_t n = strnlen(s, cap + 1);
  if (n > cap) {
    fprintf(stderr, "a record field is not NUL-terminated within %zu bytes\n", cap);
    abort();
  }
  tr_bytes(t, s, n + 1);
}

static inline int tr_record(struct transcript *t, size_t row, const struct sale *rec,
                            int valid, const struct sale_problems *pr) {
  tr_bytes(t, &row, sizeof row);
  tr_bytes(t, &valid, sizeof valid);
  if (valid) {
    tr_bytes(t, &rec->ts_ms, sizeof rec->ts_ms);
    tr_bytes(t, &rec->pincode, sizeof rec->pincode);
    tr_bytes(t, &rec->customer_age, sizeof rec->customer_age);
    tr_bytes(t, &rec->customer_income, sizeof rec->customer_income);
    tr_field(t, rec->product, SALE_IDENT_MAX);
    tr_field(t, rec->channel, SALE_IDENT_MAX);
    tr_field(t, rec->agent_id, SALE_UUID_LEN);
    tr_field(t, rec->id, SALE_ID_MAX);
    tr_field(t, rec->city, SALE_CITY_MAX_BYTES);
  } else {
    if (pr->count <= 0) {
      fprintf(stderr, "an invalid record without a problem\n");
      abort();
    }
    int kept = pr->count < SALE_MAX_PROBLEMS ? pr->count : SALE_MAX_PROBLEMS;
    for (int k = 0; k < kept; k++) {
      if ((unsigned)pr->p[k].field >= SF__COUNT) {
        fprintf(stderr, "a problem with field %d\n", (int)pr->p[k].field);
        abort();
      }
      tr_bytes(t, &pr->p[k].field, sizeof pr->p[k].field);
      tr_field(t, pr->p[k].problem, sizeof pr->p[k].problem - 1);
    }
  }
  t->records++;
  return t->stop_after && t->records >= t->stop_after;
}

/* The callback of the tabular readers and of jsonrec. */
static inline int tr_on_record(void *ctx, size_t row, const struct sale *rec, int valid,
                               const struct sale_problems *pr) {
  return tr_record(ctx, row, rec, valid, pr);
}

/* Ends a reading: its return code and, on -1, its error code and (when
 * with_msg) message. Every error must have a message. */
static inline void tr_end(struct transcript *t, int rc, const struct gerr *err,
                          int with_msg) {
  tr_bytes(t, &rc, sizeof rc);
  if (rc == -1) {
    if (strnlen(err->msg, sizeof err->msg) == sizeof err->msg || err->msg[0] == '\0') {
      fprintf(stderr, "an error without a message, or unterminated\n");
      abort();
    }
    tr_bytes(t, &err->code, sizeof err->code);
    if (with_msg)
      tr_field(t, err->msg, sizeof err->msg - 1);
  }
}

static inline void tr_finish(struct transcript *t, int rc, const struct gerr *err) {
  tr_end(t, rc, err, 1);
}

/* Aborts (a finding) when two readings of the same bytes differ. */
static inline void tr_same(const struct transcript *a, const struct transcript *b,
                           const char *what) {
  if (a->hash != b->hash || a->records != b->records) {
    fprintf(stderr, "%s: %zu records vs %zu, transcripts differ\n", what, a->records,
            b->records);
    abort();
  }
}

#endif
