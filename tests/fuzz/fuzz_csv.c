/* libFuzzer harness of the CSV record reader (src/ingest/csvrec.c). Each
 * input is read as a file: whole, and in pieces of 1 to 16 bytes (the size
 * taken from the first byte), with the default limits and with small ones
 * (cells, or also rows); the readings in pieces must give what the whole
 * readings give, since uploads arrive in pieces of any size. A last reading
 * asks the reader to stop after two records. */
#include "fuzz.h"

/* Reads data[size] in pieces of chunk bytes (0: all at once). */
static void read_csv(const uint8_t *data, size_t size, size_t chunk,
                     const struct tab_limits *lim, struct transcript *t) {
  struct csvrec *c = NULL;
  struct gerr err = {GERR_OK, ""};
  if (csvrec_new(fuzz_rules(), lim, tr_on_record, t, &c, &err) != 0)
    abort();
  const char *p = (const char *)data;
  if (chunk == 0)
    chunk = size ? size : 1;
  int rc = 0;
  for (size_t off = 0; off < size && rc == 0; off += chunk)
    rc = csvrec_feed(c, p + off, size - off < chunk ? size - off : chunk, &err);
  if (rc == 0)
    rc = csvrec_finish(c, &err);
  if (rc != 0 && rc != -1 && rc != -2)
    abort();
  if (rc == -2 && !t->stop_after)
    abort(); /* stopped, but nobody asked */
  if (csvrec_rows(c) != t->records)
    abort();
  /* after the end, every call reports the end again */
  if (rc != 0 && csvrec_feed(c, "x", 1, &err) != rc)
    abort();
  csvrec_free(c);
  tr_finish(t, rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t chunk = 1 + (size ? data[0] % 16 : 0);
  struct tab_limits lims[3];
  tab_limits_default(&lims[0]);
  fuzz_small_limits(&lims[1]);
  fuzz_medium_limits(&lims[2]);
  static const char *const names[] = {"default limits", "small limits", "medium limits"};
  struct transcript whole, pieces;
  for (size_t i = 0; i < 3; i++) {
    tr_init(&whole, 0);
    read_csv(data, size, 0, &lims[i], &whole);
    tr_init(&pieces, 0);
    read_csv(data, size, chunk, &lims[i], &pieces);
    tr_same(&whole, &pieces, names[i]);
  }

  tr_init(&pieces, 2);
  read_csv(data, size, chunk, NULL, &pieces);
  return 0;
}
