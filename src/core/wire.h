/* Fixed-width numbers in byte buffers, always little-endian whatever the
 * host's byte order, for blobs that are written by one process and read by
 * another (model files, stored codecs). Floats travel as their IEEE-754
 * bits. p must have room for the width; no alignment is needed.
 *
 * Two ways to use it: wire_put* / wire_get* at offsets of a buffer sized
 * beforehand (forest.c), or a blob written field after field onto a
 * struct buf (wire_add_*) and read back through a bounded cursor
 * (struct wire_rd, wire_rd_*), which fails rather than read past the end
 * (suite_blob.c, dataset.c). */
#ifndef GROMO_CORE_WIRE_H
#define GROMO_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gromo/buf.h"

static inline void wire_put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static inline void wire_put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t wire_get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline uint64_t wire_get64(const unsigned char *p) {
  return (uint64_t)wire_get32(p) | (uint64_t)wire_get32(p + 4) << 32;
}

static inline void wire_put_f32(unsigned char *p, float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  wire_put32(p, u);
}

static inline float wire_get_f32(const unsigned char *p) {
  uint32_t u = wire_get32(p);
  float v;
  memcpy(&v, &u, sizeof v);
  return v;
}

static inline void wire_put_f64(unsigned char *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  wire_put64(p, u);
}

static inline double wire_get_f64(const unsigned char *p) {
  uint64_t u = wire_get64(p);
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* FNV-1a, 64 bits: the checksum that closes a blob, and a cheap ETag. */
static inline uint64_t wire_fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* ---- appending to a struct buf: 0, or -1 as buf_append ---- */

static inline int wire_add_bytes(struct buf *b, const void *p, size_t n) {
  return buf_append(b, p, n);
}

static inline int wire_add_u32(struct buf *b, uint32_t v) {
  unsigned char t[4];
  wire_put32(t, v);
  return buf_append(b, t, sizeof t);
}

static inline int wire_add_u64(struct buf *b, uint64_t v) {
  unsigned char t[8];
  wire_put64(t, v);
  return buf_append(b, t, sizeof t);
}

static inline int wire_add_f64(struct buf *b, double v) {
  unsigned char t[8];
  wire_put_f64(t, v);
  return buf_append(b, t, sizeof t);
}

/* n values of an array, in blocks through a small buffer. */
static inline int wire_add_u32s(struct buf *b, const uint32_t *v, size_t n) {
  unsigned char t[1024];
  while (n) {
    size_t k = n < sizeof t / 4 ? n : sizeof t / 4;
    for (size_t i = 0; i < k; i++)
      wire_put32(t + 4 * i, v[i]);
    if (buf_append(b, t, 4 * k))
      return -1;
    v += k, n -= k;
  }
  return 0;
}

static inline int wire_add_f64s(struct buf *b, const double *v, size_t n) {
  unsigned char t[1024];
  while (n) {
    size_t k = n < sizeof t / 8 ? n : sizeof t / 8;
    for (size_t i = 0; i < k; i++)
      wire_put_f64(t + 8 * i, v[i]);
    if (buf_append(b, t, 8 * k))
      return -1;
    v += k, n -= k;
  }
  return 0;
}

/* ---- reading: a cursor over p[0, n); each get is 0, or -1 (nothing
 * read, at unchanged) when fewer bytes than asked are left ---- */

struct wire_rd {
  const unsigned char *p;
  size_t n, at;
};

static inline size_t wire_rd_left(const struct wire_rd *r) { return r->n - r->at; }

/* The next n bytes, in place (NULL when fewer are left). */
static inline const unsigned char *wire_rd_take(struct wire_rd *r, size_t n) {
  if (r->n - r->at < n)
    return NULL;
  const unsigned char *q = r->p + r->at;
  r->at += n;
  return q;
}

static inline int wire_rd_bytes(struct wire_rd *r, void *out, size_t n) {
  const unsigned char *q = wire_rd_take(r, n);
  if (!q)
    return -1;
  memcpy(out, q, n);
  return 0;
}

static inline int wire_rd_u32(struct wire_rd *r, uint32_t *v) {
  const unsigned char *q = wire_rd_take(r, 4);
  if (!q)
    return -1;
  *v = wire_get32(q);
  return 0;
}

static inline int wire_rd_u64(struct wire_rd *r, uint64_t *v) {
  const unsigned char *q = wire_rd_take(r, 8);
  if (!q)
    return -1;
  *v = wire_get64(q);
  return 0;
}

static inline int wire_rd_f64(struct wire_rd *r, double *v) {
  const unsigned char *q = wire_rd_take(r, 8);
  if (!q)
    return -1;
  *v = wire_get_f64(q);
  return 0;
}

static inline int wire_rd_u32s(struct wire_rd *r, uint32_t *v, size_t n) {
  if (n > (r->n - r->at) / 4)
    return -1;
  const unsigned char *q = wire_rd_take(r, 4 * n);
  for (size_t i = 0; i < n; i++)
    v[i] = wire_get32(q + 4 * i);
  return 0;
}

static inline int wire_rd_f64s(struct wire_rd *r, double *v, size_t n) {
  if (n > (r->n - r->at) / 8)
    return -1;
  const unsigned char *q = wire_rd_take(r, 8 * n);
  for (size_t i = 0; i < n; i++)
    v[i] = wire_get_f64(q + 8 * i);
  return 0;
}

#endif
