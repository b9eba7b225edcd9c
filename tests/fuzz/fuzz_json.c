/* libFuzzer harness of the JSON array reader of uploads, POST /sales/add and
 * gromo import (src/ingest/jsonrec.c over jsonobj.c, on yajl): fed whole and
 * in pieces of 1 to 16 bytes (the size taken from the first byte), with the
 * default record bound and with one of 64 bytes, it must hand over the same
 * records, each with the same line, and end the same way; a stop asked
 * after two records stops it. yajl's error texts quote the piece they
 * failed in, and a bound passed is seen at the end of a piece, so only the
 * error code is compared. */
#include "fuzz.h"

#include "gromo/ingest.h"

struct json_reading {
  struct transcript *t;
  struct jsonrec *j;
  size_t last_line;
};

/* Each record with the line where it begins, which never goes back. */
static int on_record(void *ctx, size_t index, const struct sale *rec, int valid,
                     const struct sale_problems *pr) {
  struct json_reading *r = ctx;
  size_t line = jsonrec_record_line(r->j);
  if (index != r->t->records || line < r->last_line || line == 0)
    abort();
  r->last_line = line;
  tr_bytes(r->t, &line, sizeof line);
  return tr_record(r->t, index, rec, valid, pr);
}

static void read_json(const uint8_t *data, size_t size, size_t chunk, size_t max,
                      struct transcript *t) {
  struct json_reading r = {t, NULL, 1};
  struct gerr err = {GERR_OK, ""};
  if (jsonrec_new(fuzz_rules(), on_record, &r, &r.j) != 0)
    abort();
  if (max)
    jsonrec_set_max_record(r.j, max);
  const char *p = (const char *)data;
  if (chunk == 0)
    chunk = size ? size : 1;
  int rc = 0;
  for (size_t off = 0; off < size && rc == 0; off += chunk)
    rc = jsonrec_feed(r.j, p + off, size - off < chunk ? size - off : chunk, &err);
  if (rc == 0)
    rc = jsonrec_finish(r.j, &err);
  if ((rc != 0 && rc != -1 && rc != -2) || (rc == -2 && !t->stop_after))
    abort();
  if (jsonrec_count(r.j) != t->records)
    abort();
  if (rc == -1 && (jsonrec_line(r.j) < r.last_line || err.code != GERR_INVALID_INPUT))
    abort();
  jsonrec_free(r.j);
  tr_end(t, rc, &err, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t chunk = 1 + (size ? data[0] % 16 : 0);
  static const size_t bounds[] = {0, 64};
  static const char *const names[] = {"JSON, whole and in pieces",
                                      "JSON with records of 64 bytes, whole and in pieces"};
  struct transcript whole, pieces;
  for (size_t i = 0; i < 2; i++) {
    tr_init(&whole, 0);
    read_json(data, size, 0, bounds[i], &whole);
    tr_init(&pieces, 0);
    read_json(data, size, chunk, bounds[i], &pieces);
    tr_same(&whole, &pieces, names[i]);
  }
  tr_init(&pieces, 2);
  read_json(data, size, chunk, 0, &pieces);
  return 0;
}
