/* The serialised form of a suite, the registry row's blob (registry.c
 * stores and loads it): suite_blob and suite_unblob. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"
#include "ml/ml_int.h"

/* ---- the blob ----
 * "GSUA", then little-endian (core/wire.h): i32 use_baseline[3], f64 level;
 * per horizon and cell kind f64 alpha, nominal and an isotonic map (u32 n,
 * n x f64, n x f64); per horizon i32 rise_iso, f64 platt a, b and the rise
 * isotonic map; f64 top_temp, f64 rise_base[horizon][RISE_BASE_MAX + 1];
 * per horizon the cold pincodes' calibration: i32 has_cold, f64 scale,
 * alpha, nominal and an isotonic map; per horizon i32 cold_model (what
 * answers them: 1 the demand forest, 0 the nearest pincodes' average);
 * f64 total[ML_MAX_PRODUCTS][horizon] (the product totals' factors);
 * per horizon, for the cells without and with segment and the cold
 * pincodes, f64 band[ML_DEMAND_BANDS] (the intervals' nominal level per
 * band of expected demand, 0 for the pooled one); then length-prefixed
 * parts (u64): the period cells, the demand, rise and top-product forests,
 * the regions;
 * last, a 64-bit FNV-1a hash of everything before it (rise_base keeps its
 * place, no longer read: the rise baseline is computed from the features).
 * GSU9 is the GSUA form without the bands' levels: it loads with each 0,
 * its intervals at the pooled level, as they were served.
 * GSU8 is the GSU9 form from before the seasonal change counted the days
 * of the week (ml_season_table): it loads with its data set's spans of
 * days counted as days, as its models learned them.
 * GSU7 is the GSU8 form without the product totals' factors: it loads
 * with each 1, as its forecasts were served.
 * GSU6 is the GSU7 form from before the cells' levels were scaled
 * (ml_level_scales): it loads with its data set's levels unscaled, as its
 * demand forest learned them.
 * Versions saved in the earlier forms (GSU1, GSU2: next period only; GSU3:
 * a demand forest without the seasonal baseline) are refused with a
 * message to train again; GSU5 (without cold_model) loads, its pincodes
 * without sales answered by their nearest pincodes' average and those of
 * its data set by the model, as that release did; GSU4 (without the
 * cold pincodes' calibration either) loads, its fallbacks served with the
 * calibration of the other cells.
 * Blobs written in the host's byte order before the form was fixed as
 * little-endian are the same bytes on the little-endian hosts that wrote
 * them. */

static int put_iso(struct buf *b, const struct isotonic *c) {
  return wire_add_u32(b, (uint32_t)c->n) || wire_add_f64s(b, c->x, c->n) ||
         wire_add_f64s(b, c->y, c->n);
}
static int put_part(struct buf *b, const void *p, size_t n) {
  return wire_add_u64(b, n) || wire_add_bytes(b, p, n);
}
static int put_forest(struct buf *b, const struct forest *f) {
  unsigned char *fb = NULL;
  size_t fl = 0;
  struct gerr err;
  if (f && forest_save(f, &fb, &fl, &err) < 0)
    return -1;
  int rc = put_part(b, fb, fl);
  free(fb);
  return rc;
}

int suite_blob(const struct suite *s, struct buf *b) {
  if (wire_add_bytes(b, "GSUA", 4))
    return -1;
  for (int k = 0; k < PREDICT__COUNT; k++)
    if (wire_add_u32(b, (uint32_t)(int32_t)s->use_baseline[k]))
      return -1;
  if (wire_add_f64(b, s->level))
    return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++)
      if (wire_add_f64(b, s->dcal[h][k].alpha) || wire_add_f64(b, s->dcal[h][k].nominal) ||
          put_iso(b, &s->dcal[h][k].conf))
        return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    if (wire_add_u32(b, (uint32_t)(int32_t)s->rise_iso[h]) ||
        wire_add_f64(b, s->rise_platt[h].a) || wire_add_f64(b, s->rise_platt[h].b) ||
        put_iso(b, &s->rise_cal[h]))
      return -1;
  if (wire_add_f64(b, s->top_temp) ||
      wire_add_f64s(b, &s->rise_base[0][0], sizeof s->rise_base / sizeof s->rise_base[0][0]))
    return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    if (wire_add_u32(b, (uint32_t)(int32_t)s->has_cold[h]) ||
        wire_add_f64(b, s->cold_scale[h]) || wire_add_f64(b, s->dcal_cold[h].alpha) || wire_add_f64(b, s->dcal_cold[h].nominal) ||
        put_iso(b, &s->dcal_cold[h].conf))
      return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    if (wire_add_u32(b, (uint32_t)(int32_t)s->cold_model[h]))
      return -1;
  if (wire_add_f64s(b, &s->total[0][0], sizeof s->total / sizeof s->total[0][0]))
    return -1;
  for (int h = 0; h < ML_HORIZONS; h++)
    if (wire_add_f64s(b, s->dcal[h][ML_TOTAL].band, ML_DEMAND_BANDS) ||
        wire_add_f64s(b, s->dcal[h][ML_SEGMENT].band, ML_DEMAND_BANDS) ||
        wire_add_f64s(b, s->dcal_cold[h].band, ML_DEMAND_BANDS))
      return -1;
  struct buf ds;
  buf_init(&ds, (size_t)1 << 33);
  int rc = dataset_save(s->d, &ds) || put_part(b, ds.data, ds.len) || put_forest(b, s->demand) ||
           put_forest(b, s->rise) || put_forest(b, s->top);
  buf_release(&ds);
  struct buf rg;
  buf_init(&rg, (size_t)1 << 32);
  rc = rc || suite_regions_save(s, &rg) || put_part(b, rg.data, rg.len);
  buf_release(&rg);
  if (rc)
    return -1;
  return wire_add_u64(b, wire_fnv1a64((const unsigned char *)b->data, b->len));
}

static int get_i32(struct wire_rd *r, int32_t *v) {
  uint32_t u;
  if (wire_rd_u32(r, &u))
    return -1;
  *v = (int32_t)u;
  return 0;
}
static int get_iso(struct wire_rd *r, struct isotonic *c) {
  uint32_t n;
  if (wire_rd_u32(r, &n) || n > wire_rd_left(r) / 16)
    return -1;
  c->n = n;
  c->x = malloc((n ? n : 1) * 8);
  c->y = malloc((n ? n : 1) * 8);
  if (!c->x || !c->y || wire_rd_f64s(r, c->x, n) || wire_rd_f64s(r, c->y, n))
    return -1;
  for (uint32_t i = 0; i < n; i++)
    if (!isfinite(c->x[i]) || !isfinite(c->y[i]) || (i && c->x[i] <= c->x[i - 1]))
      return -1;
  return 0;
}
static int get_part(struct wire_rd *r, const unsigned char **p, size_t *n) {
  uint64_t len;
  if (wire_rd_u64(r, &len) || len > wire_rd_left(r))
    return -1;
  *p = wire_rd_take(r, (size_t)len);
  *n = (size_t)len;
  return 0;
}

int suite_unblob(struct suite *s, const unsigned char *p, size_t n, struct gerr *err) {
  if (n < 12)
    goto bad;
  n -= 8;
  if (wire_fnv1a64(p, n) != wire_get64(p + n))
    goto bad;
  struct wire_rd r = {p, n, 0};
  char magic[4];
  int32_t ub[PREDICT__COUNT], iso;
  if (wire_rd_bytes(&r, magic, 4))
    goto bad;
  if (!memcmp(magic, "GSU3", 4) || !memcmp(magic, "GSU2", 4) || !memcmp(magic, "GSU1", 4))
    return gerr_set(err, GERR_CONFLICT,
                    "the stored model was saved by an earlier release: train again");
  int v10 = !memcmp(magic, "GSUA", 4), v9 = v10 || !memcmp(magic, "GSU9", 4);
  int v8 = v9 || !memcmp(magic, "GSU8", 4);
  int v7 = v8 || !memcmp(magic, "GSU7", 4);
  int v6 = v7 || !memcmp(magic, "GSU6", 4);
  int v5 = v6 || !memcmp(magic, "GSU5", 4);
  if (!v5 && memcmp(magic, "GSU4", 4))
    goto bad;
  for (int k = 0; k < PREDICT__COUNT; k++)
    if (get_i32(&r, &ub[k]))
      goto bad;
  if (wire_rd_f64(&r, &s->level))
    goto bad;
  for (int k = 0; k < PREDICT__COUNT; k++) {
    if (ub[k] < 0 || ub[k] > (k == PREDICT_DEMAND ? ML_DEMAND_BASELINES : 1))
      goto bad;
    s->use_baseline[k] = ub[k];
  }
  for (int h = 0; h < ML_HORIZONS; h++)
    for (int k = 0; k < 2; k++) {
      struct demand_calib *c = &s->dcal[h][k];
      if (wire_rd_f64(&r, &c->alpha) || wire_rd_f64(&r, &c->nominal) ||
          get_iso(&r, &c->conf) || !(c->alpha >= 0) || !(c->nominal > 0 && c->nominal < 1))
        goto bad;
    }
  for (int h = 0; h < ML_HORIZONS; h++) {
    if (get_i32(&r, &iso) || wire_rd_f64(&r, &s->rise_platt[h].a) ||
        wire_rd_f64(&r, &s->rise_platt[h].b) || get_iso(&r, &s->rise_cal[h]))
      goto bad;
    s->rise_iso[h] = iso != 0;
  }
  if (wire_rd_f64(&r, &s->top_temp) ||
      wire_rd_f64s(&r, &s->rise_base[0][0], sizeof s->rise_base / sizeof s->rise_base[0][0]))
    goto bad;
  for (int h = 0; v5 && h < ML_HORIZONS; h++) {
    struct demand_calib *c = &s->dcal_cold[h];
    if (get_i32(&r, &iso) || wire_rd_f64(&r, &s->cold_scale[h]) ||
        wire_rd_f64(&r, &c->alpha) || wire_rd_f64(&r, &c->nominal) || get_iso(&r, &c->conf))
      goto bad;
    s->has_cold[h] = iso != 0;
    if (s->has_cold[h] && (!(c->alpha >= 0) || !(c->nominal > 0 && c->nominal < 1) ||
                           !(s->cold_scale[h] > 0 && s->cold_scale[h] <= 1e3)))
      goto bad;
    if (!s->has_cold[h])
      s->cold_scale[h] = 1;
  }
  for (int h = 0; v6 && h < ML_HORIZONS; h++) {
    if (get_i32(&r, &iso) || iso < 0 || iso > 1)
      goto bad;
    s->cold_model[h] = s->has_cold[h] && iso;
  }
  s->cold_lapsed = v6;
  for (int k = 0; k < ML_MAX_PRODUCTS; k++)
    for (int h = 0; h < ML_HORIZONS; h++)
      s->total[k][h] = 1;
  if (v8) {
    if (wire_rd_f64s(&r, &s->total[0][0], sizeof s->total / sizeof s->total[0][0]))
      goto bad;
    for (int k = 0; k < ML_MAX_PRODUCTS; k++)
      for (int h = 0; h < ML_HORIZONS; h++)
        if (!(s->total[k][h] > 0 && s->total[k][h] <= 1e3))
          goto bad;
  }
  for (int h = 0; v10 && h < ML_HORIZONS; h++) {
    struct demand_calib *cs[3] = {&s->dcal[h][ML_TOTAL], &s->dcal[h][ML_SEGMENT],
                                  &s->dcal_cold[h]}; /* in the order written */
    for (int k = 0; k < 3; k++) {
      struct demand_calib *c = cs[k];
      if (wire_rd_f64s(&r, c->band, ML_DEMAND_BANDS))
        goto bad;
      for (int q = 0; q < ML_DEMAND_BANDS; q++)
        if (!(c->band[q] >= 0 && c->band[q] < 1))
          goto bad;
    }
  }
  const unsigned char *part;
  size_t plen;
  if (get_part(&r, &part, &plen) || dataset_load(part, plen, s->gaz, &s->d, err) < 0)
    goto bad;
  s->d->level_scaled = v7;
  s->d->weekday_adjusted = v9;
  struct forest **fs[3] = {&s->demand, &s->rise, &s->top};
  for (int k = 0; k < 3; k++) {
    if (get_part(&r, &part, &plen))
      goto bad;
    if (plen && forest_load_blob(part, plen, fs[k], err) < 0)
      goto bad;
  }
  if (get_part(&r, &part, &plen) || suite_regions_load(s, part, plen, err) < 0)
    goto bad;
  if (r.at != r.n || !s->demand || !s->rise || !s->top ||
      forest_num_features(s->demand) > CF__COUNT || forest_num_features(s->rise) > CF__COUNT ||
      forest_num_features(s->top) > ml_cust_nfeatures(s->d) ||
      forest_num_groups(s->top) != s->d->nprod)
    goto bad;
  return 0;
bad:
  return gerr_set(err, GERR_INTERNAL, "the stored model is damaged");
}
