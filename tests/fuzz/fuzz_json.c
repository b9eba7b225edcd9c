/* libFuzzer harness of the JSON array readers: the streaming one of uploads
 * (src/ingest/jsonrec.c, on yajl), fed whole and in pieces of 1 to 16 bytes
 * (the size taken from the first byte), which must hand over the same
 * records and end the same way; and the one of gromo import over a mapped
 * file (src/ingest/json.c, on jansson). yajl's error texts quote the piece
 * they failed in, so only the error code is compared. */
#include "fuzz.h"

#include "gromo/ingest.h"

static void read_stream(const uint8_t *data, size_t size, size_t chunk,
                        struct transcript *t) {
  struct jsonrec *j = NULL;
  struct gerr err = {GERR_OK, ""};
  if (jsonrec_new(fuzz_rules(), tr_on_record, t, &j) != 0)
    abort();
  const char *p = (const char *)data;
  if (chunk == 0)
    chunk = size ? size : 1;
  int rc = 0;
  for (size_t off = 0; off < size && rc == 0; off += chunk)
    rc = jsonrec_feed(j, p + off, size - off < chunk ? size - off : chunk, &err);
  if (rc == 0)
    rc = jsonrec_finish(j, &err);
  if ((rc != 0 && rc != -1 && rc != -2) || (rc == -2 && !t->stop_after))
    abort();
  if (jsonrec_count(j) != t->records)
    abort();
  jsonrec_free(j);
  tr_end(t, rc, &err, 0);
}

/* The import reader: data must outlive it, and it may not read past it. */
static void read_mapped(const uint8_t *data, size_t size, enum ingest_format fmt) {
  struct ingest_reader *r = NULL;
  struct gerr err = {GERR_OK, ""};
  if (ingest_json_open((const char *)data, size, fmt, &r, &err) < 0) {
    if (r || !err.msg[0])
      abort();
    return;
  }
  struct sale rec;
  struct sale_problems pr;
  struct transcript t;
  tr_init(&t, 0);
  size_t row = 0, index = 0, last_offset = 0;
  int valid, got;
  while ((got = ingest_next(r, fuzz_rules(), &rec, &valid, &pr, &row, &index, &err)) == 1) {
    if (index != t.records || ingest_offset(r) < last_offset || ingest_offset(r) > size)
      abort();
    last_offset = ingest_offset(r);
    tr_record(&t, row, &rec, valid, &pr);
  }
  if (got != 0 && got != -1)
    abort();
  tr_end(&t, got, &err, 1);
  ingest_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t chunk = 1 + (size ? data[0] % 16 : 0);
  struct transcript whole, pieces;
  tr_init(&whole, 0);
  read_stream(data, size, 0, &whole);
  tr_init(&pieces, 0);
  read_stream(data, size, chunk, &pieces);
  tr_same(&whole, &pieces, "JSON, whole and in pieces");
  tr_init(&pieces, 2);
  read_stream(data, size, chunk, &pieces);
  read_mapped(data, size, INGEST_JSON_ARRAY);
  return 0;
}
