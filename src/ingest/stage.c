/* Staged records in a spool file. One record:
 *   int64 ts_ms, int32 pincode, int32 customer_age, double customer_income
 *   (this machine's byte order: the file never leaves the process), then
 *   product, channel, agent_id and id as a length byte and their bytes, and
 *   city as a two-byte length and its bytes.
 * A sample record takes about 90 bytes. Lengths are checked on the way back,
 * so a damaged file is an error, never an overflow. */
#include <stdlib.h>
#include <string.h>

#include "gromo/ingest.h"
#include "gromo/spool.h"

#define STAGE_FIXED (8 + 4 + 4 + 8)
#define STAGE_REC_MAX                                                           \
  (STAGE_FIXED + 4 + 2 * SALE_IDENT_MAX + SALE_UUID_LEN + SALE_ID_MAX + 2 +    \
   SALE_CITY_MAX_BYTES)
#define STAGE_READ (256 * 1024)

struct sale_stage {
  struct spool_file *f;
  size_t count;
};

int sale_stage_new(struct spool *sp, struct sale_stage **out, struct gerr *err) {
  *out = NULL;
  struct sale_stage *st = calloc(1, sizeof *st);
  if (!st)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  if (spool_file_new(sp, &st->f, err) < 0) {
    free(st);
    return -1;
  }
  *out = st;
  return 0;
}

static unsigned char *put_short(unsigned char *p, const char *s, size_t max) {
  size_t n = strnlen(s, max);
  *p++ = (unsigned char)n;
  memcpy(p, s, n);
  return p + n;
}

int sale_stage_add(struct sale_stage *st, const struct sale *rec, struct gerr *err) {
  unsigned char b[STAGE_REC_MAX], *p = b;
  memcpy(p, &rec->ts_ms, 8);
  memcpy(p + 8, &rec->pincode, 4);
  memcpy(p + 12, &rec->customer_age, 4);
  memcpy(p + 16, &rec->customer_income, 8);
  p += STAGE_FIXED;
  p = put_short(p, rec->product, SALE_IDENT_MAX);
  p = put_short(p, rec->channel, SALE_IDENT_MAX);
  p = put_short(p, rec->agent_id, SALE_UUID_LEN);
  p = put_short(p, rec->id, SALE_ID_MAX);
  size_t n = strnlen(rec->city, SALE_CITY_MAX_BYTES);
  p[0] = (unsigned char)(n & 0xff);
  p[1] = (unsigned char)(n >> 8);
  memcpy(p + 2, rec->city, n);
  p += 2 + n;
  if (spool_file_write(st->f, b, (size_t)(p - b), err) < 0)
    return -1;
  st->count++;
  return 0;
}

size_t sale_stage_count(const struct sale_stage *st) { return st->count; }

uint64_t sale_stage_bytes(const struct sale_stage *st) { return spool_file_size(st->f); }

/* One string of len bytes (at most max) at *p, before end. */
static int get_text(const unsigned char **p, const unsigned char *end, size_t len,
                    size_t max, char *out) {
  if (len > max || (size_t)(end - *p) < len)
    return -1;
  memcpy(out, *p, len);
  out[len] = '\0';
  *p += len;
  return 0;
}

static int get_short(const unsigned char **p, const unsigned char *end, size_t max,
                     char *out) {
  if (*p >= end)
    return -1;
  size_t len = **p;
  (*p)++;
  return get_text(p, end, len, max, out);
}

/* Decodes the record at p (whole records only: the caller keeps at least
 * STAGE_REC_MAX bytes, or the rest of the file). The bytes it took, or -1. */
static long decode(const unsigned char *p, const unsigned char *end, struct sale *rec) {
  const unsigned char *start = p;
  if ((size_t)(end - p) < STAGE_FIXED)
    return -1;
  memcpy(&rec->ts_ms, p, 8);
  memcpy(&rec->pincode, p + 8, 4);
  memcpy(&rec->customer_age, p + 12, 4);
  memcpy(&rec->customer_income, p + 16, 8);
  p += STAGE_FIXED;
  if (get_short(&p, end, SALE_IDENT_MAX, rec->product) < 0 ||
      get_short(&p, end, SALE_IDENT_MAX, rec->channel) < 0 ||
      get_short(&p, end, SALE_UUID_LEN, rec->agent_id) < 0 ||
      get_short(&p, end, SALE_ID_MAX, rec->id) < 0 || end - p < 2)
    return -1;
  size_t n = (size_t)p[0] | (size_t)p[1] << 8;
  p += 2;
  if (get_text(&p, end, n, SALE_CITY_MAX_BYTES, rec->city) < 0)
    return -1;
  return (long)(p - start);
}

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
    if (have - pos < STAGE_REC_MAX && off < size) { /* keep a whole record */
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
    long used = decode(b + pos, b + have, &rec);
    if (used < 0) {
      rc = gerr_set(err, GERR_INTERNAL, "the staged records are damaged");
      break;
    }
    pos += (size_t)used;
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
  free(st);
}
