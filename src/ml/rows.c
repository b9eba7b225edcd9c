/* The rows the demand and rise models learn from: every cell that sold in
 * the year before an origin, every cell without segment new at it (its
 * pincode sold, it did not), and every cell without segment of a pincode
 * cold at it (no sale in that year: cold start, as serving answers pincodes
 * without sales), at every origin and horizon whose target period is
 * known, sampled to a bounded count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ml/train_int.h"

uint64_t ml_mix(uint64_t x) { return splitmix64(&x); }

double ml_unit(uint64_t k) { return rng_unit(&k); }

static int grow(void **p, size_t cap, size_t size) {
  void *np = realloc(*p, cap * size);
  if (!np)
    return -1;
  *p = np;
  return 0;
}

int rows_push(struct rows *r, const float *x, float y, float last, int kind, int fold, int h,
              int origin, uint64_t key, int cold) {
  if (r->n == r->cap) {
    size_t nc = r->cap ? r->cap * 2 : 65536;
    if (grow((void **)&r->X, nc, r->nf * sizeof *r->X) || grow((void **)&r->y, nc, sizeof *r->y) ||
        grow((void **)&r->last, nc, sizeof *r->last) || grow((void **)&r->kind, nc, 1) ||
        grow((void **)&r->fold, nc, 1) || grow((void **)&r->h, nc, 1) ||
        grow((void **)&r->origin, nc, sizeof *r->origin) ||
        grow((void **)&r->key, nc, sizeof *r->key) || grow((void **)&r->cold, nc, 1))
      return -1;
    r->cap = nc;
  }
  if (x)
    memcpy(r->X + r->n * r->nf, x, r->nf * sizeof *x);
  r->y[r->n] = y;
  r->last[r->n] = last;
  r->kind[r->n] = (uint8_t)kind;
  r->fold[r->n] = (uint8_t)fold;
  r->h[r->n] = (uint8_t)h;
  r->origin[r->n] = origin;
  r->key[r->n] = key;
  r->cold[r->n] = (uint8_t)(cold != 0);
  r->n++;
  return 0;
}

/* The group of a row of a segment cell or not, of a cold pincode or not,
 * of product prod, origin j and horizon h (rows_group). */
static size_t group_of(const struct rows *r, int segment, int cold, int prod, int j, int h) {
  size_t cls = segment ? 2 : cold ? 1 : 0;
  return ((cls * (size_t)r->gprods + (size_t)prod) * (size_t)r->gorigins + (size_t)j) *
             ML_HORIZONS +
         (size_t)h - 1;
}

size_t rows_group(const struct rows *r, size_t i) {
  return group_of(r, r->kind[i] == ML_SEGMENT, r->cold[i], (int)(r->key[i] >> 16 & 0xff),
                  r->origin[i], r->h[i]);
}

float rows_offset(const struct rows *r, size_t i) {
  double base = r->X[i * r->nf + CF_SEASON_BASE];
  if (r->gscale && r->origin[i] < r->gorigins)
    base *= r->gscale[rows_group(r, i)];
  return (float)log(base);
}

void rows_release(struct rows *r) {
  free(r->X);
  free(r->y);
  free(r->last);
  free(r->kind);
  free(r->fold);
  free(r->h);
  free(r->origin);
  free(r->key);
  free(r->cold);
  free(r->gscale);
  free(r->ty);
  free(r->tbase);
  free(r->gknown);
  memset(r, 0, sizeof *r);
}

/* A cell is a row at origin j when it sold in the 12 periods up to it. */
static int cell_active(const struct dataset *d, size_t c, int j) {
  const uint32_t *s = d->counts + c * (size_t)d->nper;
  for (int a = j; a < j + 12 && a < d->nper; a++)
    if (s[a])
      return 1;
  return 0;
}

int rows_pin_active(const struct dataset *d, size_t pin, int j) {
  const uint32_t *s = d->pin_all + pin * (size_t)d->nper;
  for (int a = j; a < j + 12 && a < d->nper; a++)
    if (s[a])
      return 1;
  return 0;
}

/* The cell (pin, prod, chan) without segment is new at origin j: its
 * pincode sold in the 12 periods up to j, it did not (it may never have).
 * Serving answers such cells from their features like any other, so the
 * model learns them: which ones are rows depends on periods >= j alone.
 * *cell gets the cell's index, or -1. */
static int cell_new(const struct dataset *d, size_t pin, int prod, int chan, int j,
                    long *cell) {
  *cell = ml_cell_find(d, (int32_t)pin, prod, chan, ML_SEG_TOTAL);
  return *cell < 0 || !cell_active(d, (size_t)*cell, j);
}

/* Horizons of origin j whose target period is known: 1..min(j, H). */
static int horizons_at(int j) { return j < ML_HORIZONS ? j : ML_HORIZONS; }

/* Every candidate row's sales and seasonal baseline, summed per group
 * (rows_group), sampled or not; season[group_of(r, 0, 0, prod, j, h)]:
 * ml_nat_season. */
struct pop {
  double *y, *base;
  const double *season;
};

static void pop_add(const struct rows *r, struct pop *pop, int segment, int cold, int prod,
                    int j, int h, double y, double level) {
  size_t g = group_of(r, segment, cold, prod, j, h);
  pop->y[g] += y;
  pop->base[g] += level * pop->season[group_of(r, 0, 0, prod, j, h)];
}

/* Whether row (key, j, h) is kept at sampling rate `rate`. */
static int sampled(uint64_t key, uint64_t seed, int j, int h, double rate) {
  return rate >= 1 || ml_unit(key ^ seed ^ ((uint64_t)j << 56) ^ ((uint64_t)h << 48)) < rate;
}

/* The rows of the cells without segment that did not sell in the 12
 * periods up to origin j, sampled at `rate`, at the pincodes that did
 * (cold 0: the cells new there, cell_new, sampled as the other cells
 * without segment are) or at those that did not (cold 1: every product x
 * channel cell of the pincodes cold at j, marked cold: they teach the
 * models cold start and enter no figure or calibration of the cells of
 * pincodes with sales). The target is the cell's sales in the target
 * period, 0 when it has no series. */
static int quiet_rows(const struct dataset *d, int j, int cold, double rate, uint64_t seed,
                      struct pop *pop, struct rows *r) {
  long cell;
  for (size_t p = 0; p < d->npin; p++) {
    if (rows_pin_active(d, p, j) == cold) /* active: 1, cold: 0 */
      continue;
    for (size_t k = 0; k < d->nprod; k++)
      for (size_t ch = 0; ch < d->nchan; ch++) {
        if (!cell_new(d, p, (int)k, (int)ch, j, &cell))
          continue;
        uint64_t key = ml_cell_key((int32_t)p, (int)k, (int)ch, ML_SEG_TOTAL);
        const uint32_t *s = cell >= 0 ? d->counts + (size_t)cell * (size_t)d->nper : NULL;
        double level = ml_season_level(d, s, (int)k, ML_SEG_TOTAL, j);
        for (int h = 1; h <= horizons_at(j); h++) {
          pop_add(r, pop, 0, cold, (int)k, j, h, s ? s[j - h] : 0, level);
          if (!sampled(key, seed, j, h, rate))
            continue;
          if (rows_push(r, NULL, s ? (float)s[j - h] : 0, s ? (float)s[j] : 0, ML_TOTAL,
                        (int)(ml_mix(key ^ seed) & 1), h, j, key, cold) < 0)
            return -1;
        }
      }
  }
  return 0;
}

/* Pincodes cold at origin j (no sale in the 12 periods up to it). */
static size_t cold_pins(const struct dataset *d, int j) {
  size_t n = 0;
  for (size_t p = 0; p < d->npin; p++)
    n += !rows_pin_active(d, p, j);
  return n;
}

struct row_features {
  const struct dataset *d;
  struct rows *r;
};

/* The features of rows from .. to - 1, from their keys. */
static void rows_features(void *ctx, size_t from, size_t to) {
  const struct row_features *rf = ctx;
  struct rows *r = rf->r;
  for (size_t i = from; i < to; i++) {
    uint64_t key = r->key[i];
    ml_cell_features(rf->d, (long)(key >> 24), (int)((key >> 16) & 0xff),
                     (int)((key >> 8) & 0xff), (int)(key & 0xff), r->origin[i], r->h[i],
                     r->X + i * r->nf);
  }
}

double rows_total_ratio(const struct rows *r, int prod, int h, int cutoff) {
  double y = 0, base = 0;
  for (int j = 1; r->ty && prod < r->gprods && j < r->gorigins; j++) {
    size_t g = group_of(r, 0, 0, prod, j, h);
    if (j - h > cutoff && r->gknown[g]) {
      y += r->ty[g];
      base += r->tbase[g];
    }
  }
  return y > 0 && base > 0 ? y / base : 1;
}

/* r->gscale from the sampled rows' sums and all candidate rows' (pop): a
 * group's ratio of sales to baseline over the sampled rows' made that of
 * all; 1 where a sum is 0, and within [1/4, 4]. r->gknown from the rows'
 * features. 0 or -1 (out of memory). */
static int group_scales(struct rows *r, const struct pop *pop) {
  double *sy = calloc(r->ngroup + 1, sizeof *sy), *sb = calloc(r->ngroup + 1, sizeof *sb);
  if (!sy || !sb) {
    free(sy);
    free(sb);
    return -1;
  }
  for (size_t i = 0; i < r->n; i++) {
    size_t g = rows_group(r, i);
    sy[g] += r->y[i];
    sb[g] += r->X[i * r->nf + CF_SEASON_BASE];
    if (!isnan(r->X[i * r->nf + CF_SEASON_RATIO]))
      r->gknown[g] = 1;
  }
  for (size_t g = 0; g < r->ngroup; g++) {
    double f = 1;
    if (sy[g] > 0 && sb[g] > 0 && pop->y[g] > 0 && pop->base[g] > 0)
      f = (sy[g] / sb[g]) / (pop->y[g] / pop->base[g]);
    r->gscale[g] = (float)fmin(fmax(f, 0.25), 4);
  }
  free(sy);
  free(sb);
  return 0;
}

int rows_build(const struct dataset *d, int max_origin, size_t max_rows, uint64_t seed,
               int threads, struct rows *r) {
  int jmax = max_origin < d->known - 1 ? max_origin : d->known - 1;
  if (jmax > d->nper - 1)
    jmax = d->nper - 1;
  size_t totals = 0, segs = 0, colds = 0;
  long cell;
  for (int j = 1; j <= jmax; j++) {
    for (size_t c = 0; c < d->ncell; c++)
      if (cell_active(d, c, j)) {
        size_t n = (size_t)horizons_at(j);
        if ((d->cell_key[c] & 0xff) == ML_SEG_TOTAL)
          totals += n;
        else
          segs += n;
      }
    for (size_t p = 0; p < d->npin; p++)
      for (size_t k = 0; rows_pin_active(d, p, j) && k < d->nprod; k++)
        for (size_t ch = 0; ch < d->nchan; ch++)
          totals += cell_new(d, p, (int)k, (int)ch, j, &cell) ? (size_t)horizons_at(j) : 0;
    colds += cold_pins(d, j) * d->nprod * d->nchan * (size_t)horizons_at(j);
  }
  /* cells without segment first: up to 60% of the rows; the cells of cold
   * pincodes up to 10%, never sampled more densely than the others without
   * segment; segments fill the rest */
  double tot_cap = 0.6 * (double)max_rows, cold_cap = ROWS_COLD_SHARE * (double)max_rows;
  double rate_tot = (double)totals > tot_cap ? tot_cap / (double)totals : 1;
  double rate_cold = (double)colds > cold_cap ? cold_cap / (double)colds : 1;
  if (rate_cold > rate_tot)
    rate_cold = rate_tot;
  double left = (double)max_rows - rate_tot * (double)totals - rate_cold * (double)colds;
  double rate_seg = segs == 0 ? 0 : left >= (double)segs ? 1 : left / (double)segs;
  r->rate_tot = rate_tot;
  r->nf = CF__COUNT;
  r->gprods = (int)d->nprod;
  r->gorigins = jmax + 1;
  size_t per = d->nprod * (size_t)r->gorigins * ML_HORIZONS;
  r->ngroup = 3 * per;
  double *season = calloc(per + 1, sizeof *season);
  struct pop pop = {calloc(r->ngroup + 1, sizeof(double)), calloc(r->ngroup + 1, sizeof(double)),
                    season};
  free(r->gscale);
  free(r->gknown);
  free(r->ty);
  free(r->tbase);
  r->gscale = malloc((r->ngroup + 1) * sizeof *r->gscale);
  r->gknown = calloc(r->ngroup + 1, 1);
  r->ty = calloc(r->ngroup + 1, sizeof *r->ty);
  r->tbase = calloc(r->ngroup + 1, sizeof *r->tbase);
  if (!season || !pop.y || !pop.base || !r->gscale || !r->gknown || !r->ty || !r->tbase) {
    free(season);
    free(pop.y);
    free(pop.base);
    return -1;
  }
  for (size_t k = 0; k < d->nprod; k++)
    for (int j = 1; j <= jmax; j++)
      for (int h = 1; h <= horizons_at(j); h++)
        season[group_of(r, 0, 0, (int)k, j, h)] = ml_nat_season(d, (int)k, j, h);
  int rc = -1;
  for (int j = 1; j <= jmax; j++) {
    for (size_t c = 0; c < d->ncell; c++) {
      if (!cell_active(d, c, j))
        continue;
      uint64_t key = d->cell_key[c];
      int seg = (int)(key & 0xff);
      double rate = seg == ML_SEG_TOTAL ? rate_tot : rate_seg;
      const uint32_t *s = d->counts + c * (size_t)d->nper;
      double level = ml_season_level(d, s, (int)(key >> 16 & 0xff), seg, j);
      for (int h = 1; h <= horizons_at(j); h++) {
        int prod = (int)(key >> 16 & 0xff);
        pop_add(r, &pop, seg != ML_SEG_TOTAL, 0, prod, j, h, s[j - h], level);
        if (seg == ML_SEG_TOTAL) { /* rows_total_ratio */
          size_t g = group_of(r, 0, 0, prod, j, h);
          r->ty[g] += s[j - h];
          r->tbase[g] += level * season[g];
        }
        if (!sampled(key, seed, j, h, rate))
          continue;
        if (rows_push(r, NULL, (float)s[j - h], (float)s[j],
                      seg == ML_SEG_TOTAL ? ML_TOTAL : ML_SEGMENT, (int)(ml_mix(key ^ seed) & 1),
                      h, j, key, 0) < 0)
          goto out;
      }
    }
    if (quiet_rows(d, j, 0, rate_tot, seed, &pop, r) < 0 ||
        quiet_rows(d, j, 1, rate_cold, seed, &pop, r) < 0)
      goto out;
  }
  /* the features, once every row is known: each from its cell, origin
   * and horizon */
  struct row_features rf = {d, r};
  ml_parallel(r->n, threads, rows_features, &rf);
  rc = group_scales(r, &pop);
out:
  free(season);
  free(pop.y);
  free(pop.base);
  return rc;
}

int crossfit(const size_t *idx, size_t n, const uint8_t *fold, crossfit_fit_fn fit,
             crossfit_apply_fn apply, void *ctx) {
  size_t *part[2] = {malloc((n ? n : 1) * sizeof(size_t)), malloc((n ? n : 1) * sizeof(size_t))};
  size_t np[2] = {0, 0};
  int rc = -1;
  if (!part[0] || !part[1])
    goto out;
  for (size_t t = 0; t < n; t++) {
    int f = fold[idx[t]] & 1;
    part[f][np[f]++] = idx[t];
  }
  for (int f = 0; f < 2; f++)
    if (fit(ctx, f, part[f], np[f]) < 0 || apply(ctx, f, part[1 - f], np[1 - f]) < 0)
      goto out;
  rc = 0;
out:
  free(part[0]);
  free(part[1]);
  return rc;
}
