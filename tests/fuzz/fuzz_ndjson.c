/* libFuzzer harness of the NDJSON reader of gromo import (src/ingest/json.c)
 * over a mapped file, and of the format detection by first bytes. */
#include "fuzz.h"

#include "gromo/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  enum ingest_format f = ingest_detect("upload", p, size);
  if (f != INGEST_UNKNOWN && f != INGEST_JSON_ARRAY && f != INGEST_NDJSON)
    abort();
  struct ingest_reader *r = NULL;
  struct gerr err = {GERR_OK, ""};
  if (ingest_json_open(p, size, INGEST_NDJSON, &r, &err) < 0) {
    if (r || !err.msg[0])
      abort();
    return 0;
  }
  struct sale rec;
  struct sale_problems pr;
  struct transcript t;
  tr_init(&t, 0);
  size_t row = 0, index = 0, last_row = 0;
  int valid, got;
  while ((got = ingest_next(r, fuzz_rules(), &rec, &valid, &pr, &row, &index, &err)) == 1) {
    if (index != t.records || row <= last_row || ingest_offset(r) > size)
      abort();
    last_row = row;
    tr_record(&t, row, &rec, valid, &pr);
  }
  if (got != 0) /* NDJSON rejects lines, never the file, once opened */
    abort();
  ingest_free(r);
  return 0;
}
