/* libFuzzer harness of the NDJSON reader of uploads and gromo import
 * (ndjsonrec, src/ingest/json.c), and of the format detection by first
 * bytes. Fed whole and in pieces of 1 to 16 bytes (the size taken from the
 * first byte), it must hand over the same records, lines and problems;
 * lines are numbered in order, and a bad line never ends the reading. A
 * stop asked after two records stops it. */
#include "fuzz.h"

#include "gromo/ingest.h"

struct ndjson_reading {
  struct transcript *t;
  size_t last_line;
};

static int on_line(void *ctx, size_t line, const struct sale *rec, int valid,
                   const struct sale_problems *pr) {
  struct ndjson_reading *r = ctx;
  if (line <= r->last_line)
    abort();
  r->last_line = line;
  return tr_record(r->t, line, rec, valid, pr);
}

static void read_ndjson(const uint8_t *data, size_t size, size_t chunk,
                        struct transcript *t) {
  struct ndjson_reading r = {t, 0};
  struct ndjsonrec *nr = NULL;
  struct gerr err = {GERR_OK, ""};
  if (ndjsonrec_new(fuzz_rules(), on_line, &r, &nr) != 0)
    abort();
  const char *p = (const char *)data;
  if (chunk == 0)
    chunk = size ? size : 1;
  int rc = 0;
  for (size_t off = 0; off < size && rc == 0; off += chunk)
    rc = ndjsonrec_feed(nr, p + off, size - off < chunk ? size - off : chunk, &err);
  if (rc == 0)
    rc = ndjsonrec_finish(nr, &err);
  if (rc != 0 && !(rc == -2 && t->stop_after)) /* lines are rejected, never the file */
    abort();
  if (ndjsonrec_count(nr) != t->records)
    abort();
  if (rc == -2 && ndjsonrec_feed(nr, "\n", 1, &err) != -2)
    abort();
  ndjsonrec_free(nr);
  tr_finish(t, rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  enum ingest_file f = ingest_file_of_bytes(p, size);
  if (f != FILE_CSV && f != FILE_JSON && f != FILE_NDJSON)
    abort();
  size_t chunk = 1 + (size ? data[0] % 16 : 0);
  struct transcript whole, pieces;
  tr_init(&whole, 0);
  read_ndjson(data, size, 0, &whole);
  tr_init(&pieces, 0);
  read_ndjson(data, size, chunk, &pieces);
  tr_same(&whole, &pieces, "NDJSON, whole and in pieces");
  tr_init(&pieces, 2);
  read_ndjson(data, size, chunk, &pieces);
  return 0;
}
