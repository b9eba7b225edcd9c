/* Small deterministic random numbers: splitmix64 (Steele, Lea and Flood;
 * the constants of Vigna's reference code). One 64-bit word of state, any
 * seed is fine; the same seed gives the same sequence on every machine.
 * For seeding larger generators, hashing keys into stable values and test
 * data; not for anything secret. */
#ifndef GROMO_CORE_RNG_H
#define GROMO_CORE_RNG_H

#include <stdint.h>

#define RNG_GOLDEN 0x9e3779b97f4a7c15ULL /* 2^64 / the golden ratio */

/* splitmix64's output function: a bijective mix of a 64-bit word. */
static inline uint64_t rng_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The next value of the sequence whose state is *x. */
static inline uint64_t splitmix64(uint64_t *x) { return rng_mix64(*x += RNG_GOLDEN); }

/* Uniform on [0, 1), 53 bits. */
static inline double rng_unit(uint64_t *x) {
  return (double)(splitmix64(x) >> 11) * 0x1.0p-53;
}

/* Uniform on the open interval (0, 1), 53 bits: safe for log(). */
static inline double rng_unit_open(uint64_t *x) {
  return ((double)(splitmix64(x) >> 11) + 0.5) * 0x1.0p-53;
}

#endif
