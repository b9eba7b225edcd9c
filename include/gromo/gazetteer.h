/* The India Post pincode gazetteer: every pincode with coordinates, district
 * and state, built from public npm packages (see NOTICE and
 * scripts/build-gazetteer.mjs) and embedded in the executable. Immutable once
 * loaded, so threads share it without locks. */
#ifndef GROMO_GAZETTEER_H
#define GROMO_GAZETTEER_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"

/* How urban a pincode is, from the density of pincodes around it. */
enum gaz_tier { GAZ_RURAL = 0, GAZ_SEMI_URBAN = 1, GAZ_URBAN = 2, GAZ_METRO = 3 };

struct gaz_entry {
  int32_t pincode;
  float lat, lng;
  uint16_t offices;    /* post offices sharing the pincode */
  uint16_t neighbours; /* other pincodes within 10 km */
  enum gaz_tier tier;
  const char *office;   /* the pincode's first (head/sub) office */
  const char *district; /* also the "city" of records without one */
  const char *state;
  const char *circle;
  const char *region;
  const char *division;
};

struct gaz; /* opaque */

/* The embedded data set. */
int gaz_load_default(struct gaz **out, struct gerr *err) GROMO_WUR;
/* A data file in the same TSV format as data/pincodes.tsv (copied). */
int gaz_load_buf(const char *data, size_t len, struct gaz **out,
                 struct gerr *err) GROMO_WUR;
void gaz_free(struct gaz *g);

size_t gaz_count(const struct gaz *g);
/* Entries are sorted by pincode; i < gaz_count(). */
const struct gaz_entry *gaz_at(const struct gaz *g, size_t i);
const struct gaz_entry *gaz_find(const struct gaz *g, int32_t pincode);
/* Index of the entry in gaz_at() order, or -1. */
long gaz_index(const struct gaz *g, int32_t pincode);

/* Great-circle distance in km (haversine, mean Earth radius 6371 km). */
double gaz_km(double lat1, double lng1, double lat2, double lng2);

struct gaz_near {
  const struct gaz_entry *e;
  double km;        /* distance from the query; -1 when the query has no
                       coordinates (then ranked by prefix alone) */
  int shared_prefix; /* leading digits shared with the query, 0-6 */
};

/* The k known pincodes nearest to `pincode`, best first, written to out[].
 * "Known" means in the gazetteer and accepted by `accept` (NULL accepts all);
 * the query itself is excluded. When the query is in the gazetteer, rank by
 * distance; when it is not, rank by the longest shared PIN prefix, ties by
 * distance to the centroid of the pincodes sharing that prefix. Returns how
 * many were written. */
size_t gaz_nearest(const struct gaz *g, int32_t pincode,
                   int (*accept)(int32_t pincode, void *ctx), void *ctx,
                   size_t k, struct gaz_near *out);

#endif
