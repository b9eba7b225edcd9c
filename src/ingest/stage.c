/* Staged records in a spool file, one after another in the records'
 * compact form (sale_pack in record.h: about 90 bytes a sample record, this
 * machine's byte order, never leaving the process). Lengths are checked on
 * the way back, so a damaged file is an error, never an overflow. */
#include <stdlib.h>
#include <string.h>

#include "gromo/ingest.h"
#include "gromo/spool.h"

#define STAGE_READ (256 * 1024)

struct sale_stage {
  struct spool_file *f;
  size_t count;
  struct buf one; /* the record being written */
};

int sale_stage_new(struct spool *sp, struct sale_stage **out, struct gerr *err) {
  *out = NULL;
  struct sale_stage *st = calloc(1, sizeof *st);
  if (!st)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  buf_init(&st->one, SALE_PACK_MAX);
  if (spool_file_new(sp, &st->f, err) < 0) {
    free(st);
    return -1;
  }
  *out = st;
  return 0;
}

int sale_stage_add(struct sale_stage *st, const struct sale *rec, struct gerr *err) {
  buf_reset(&st->one);
  if (sale_pack(rec, &st->one) < 0)
    return gerr_set(err, GERR_INTERNAL, "out of memory staging a record");
  if (spool_file_write(st->f, st->one.data, st->one.len, err) < 0)
    return -1;
  st->count++;
  return 0;
}

size_t sale_stage_count(const struct sale_stage *st) { return st->count; }

uint64_t sale_stage_bytes(const struct sale_stage *st) { return spool_file_size(st->f); }

int sale_stage_replay(struct sale_stage *st,
                      int (*fn)(void *ctx, const struct sale *rec), void *ctx,
                      struct gerr *err) {
  if (spool_file_flush(st->f, err) < 0)
    return -1;
  unsigned char *b = malloc(STAGE_READ);
  if (!b)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  uint64_t off = 0, size = spool_file_size(st->f);
  size_t have = 0, pos = 0, seen = 0;
  int rc = 0;
  struct sale rec;
  memset(&rec, 0, sizeof rec);
  while (seen < st->count) {
    if (have - pos < SALE_PACK_MAX && off < size) { /* keep a whole record */
      memmove(b, b + pos, have - pos);
      have -= pos;
      pos = 0;
      long r = spool_file_read(st->f, off, b + have, STAGE_READ - have, err);
      if (r < 0) {
        rc = -1;
        break;
      }
      if (r == 0) {
        rc = gerr_set(err, GERR_INTERNAL, "the staged records end early");
        break;
      }
      have += (size_t)r;
      off += (uint64_t)r;
    }
    size_t used = sale_unpack((const char *)b + pos, have - pos, &rec);
    if (!used) {
      rc = gerr_set(err, GERR_INTERNAL, "the staged records are damaged");
      break;
    }
    pos += used;
    seen++;
    if (fn(ctx, &rec) != 0) {
      rc = -2;
      break;
    }
  }
  free(b);
  return rc;
}

void sale_stage_free(struct sale_stage *st) {
  if (!st)
    return;
  spool_file_free(st->f);
  buf_release(&st->one);
  free(st);
}
