/* Fixed-width numbers in byte buffers, always little-endian whatever the
 * host's byte order, for blobs that are written by one process and read by
 * another (model files, stored codecs). Floats travel as their IEEE-754
 * bits. p must have room for the width; no alignment is needed. */
#ifndef GROMO_CORE_WIRE_H
#define GROMO_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

#endif
