/* The period-cell data set: every (pincode, product, channel, segment) cell
 * with its sales counted per period, plus the totals that features read
 * (pincode, product, state, nearby pincodes). Built once per training run
 * from the store; a trimmed copy of its last ML_HIST periods goes with the
 * suite so serving computes features from the same counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"
#include "gromo/gazetteer.h"
#include "gromo/segments.h"
#include "gromo/timeutil.h"
#include "ml/ml_int.h"

/* The band edges are gromo/segments.h's, which the store's SQL binds too. */
static const int32_t age_edges[ML_AGE_BANDS - 1] = SEG_AGE_EDGES;
static const double income_edges[ML_INCOME_BANDS - 1] = SEG_INCOME_EDGES;
_Static_assert(ML_AGE_BANDS == SEG_AGE_BANDS && ML_INCOME_BANDS == SEG_INCOME_BANDS,
               "one count of bands");

int ml_age_band(int32_t age) {
  int b = 0;
  while (b < ML_AGE_BANDS - 1 && age > age_edges[b])
    b++;
  return b;
}
int ml_income_band(double income) {
  int b = 0;
  while (b < ML_INCOME_BANDS - 1 && !(income < income_edges[b]))
    b++;
  return b;
}
int ml_segment(int32_t age, double income) {
  return ml_age_band(age) * ML_INCOME_BANDS + ml_income_band(income);
}

uint64_t ml_cell_key(int32_t pin, int prod, int chan, int seg) {
  return (uint64_t)(uint32_t)pin << 24 | (uint64_t)prod << 16 | (uint64_t)chan << 8 |
         (uint64_t)seg;
}

static size_t hash_key(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (size_t)k;
}

long ml_cell_find(const struct dataset *d, int32_t pin, int prod, int chan, int seg) {
  if (!d->htab)
    return -1;
  uint64_t key = ml_cell_key(pin, prod, chan, seg);
  for (size_t h = hash_key(key) & (d->hcap - 1);; h = (h + 1) & (d->hcap - 1)) {
    int32_t c = d->htab[h];
    if (c < 0)
      return -1;
    if (d->cell_key[c] == key)
      return c;
  }
}

/* Index of the cell, added with zero counts when new; -1 out of memory. */
static long cell_get(struct dataset *d, uint64_t key) {
  if ((d->ncell + 1) * 2 > d->hcap) {
    size_t ncap = d->hcap ? d->hcap * 2 : 1024;
    int32_t *nt = malloc(ncap * sizeof *nt);
    if (!nt)
      return -1;
    memset(nt, 0xff, ncap * sizeof *nt);
    for (size_t c = 0; c < d->ncell; c++) {
      size_t h = hash_key(d->cell_key[c]) & (ncap - 1);
      while (nt[h] >= 0)
        h = (h + 1) & (ncap - 1);
      nt[h] = (int32_t)c;
    }
    free(d->htab);
    d->htab = nt;
    d->hcap = ncap;
  }
  size_t h = hash_key(key) & (d->hcap - 1);
  for (; d->htab[h] >= 0; h = (h + 1) & (d->hcap - 1))
    if (d->cell_key[d->htab[h]] == key)
      return d->htab[h];
  if (d->ncell == d->cell_cap) {
    size_t ncap = d->cell_cap ? d->cell_cap * 2 : 1024;
    uint64_t *nk = realloc(d->cell_key, ncap * sizeof *nk);
    if (!nk)
      return -1;
    d->cell_key = nk;
    uint32_t *nc = realloc(d->counts, ncap * (size_t)d->nper * sizeof *nc);
    if (!nc)
      return -1;
    d->counts = nc;
    d->cell_cap = ncap;
  }
  long c = (long)d->ncell++;
  d->cell_key[c] = key;
  memset(d->counts + (size_t)c * d->nper, 0, (size_t)d->nper * sizeof *d->counts);
  d->htab[h] = (int32_t)c;
  return c;
}

int ml_prod_index(const struct dataset *d, const char *name) {
  for (size_t i = 0; i < d->nprod; i++)
    if (!strcmp(d->prod[i], name))
      return (int)i;
  return -1;
}
int ml_chan_index(const struct dataset *d, const char *name) {
  for (size_t i = 0; i < d->nchan; i++)
    if (!strcmp(d->chan[i], name))
      return (int)i;
  return -1;
}

long ml_pin_index(const struct dataset *d, int32_t pincode) {
  size_t lo = 0, hi = d->npin;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (d->pins[mid] < pincode)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < d->npin && d->pins[lo] == pincode ? (long)lo : -1;
}

/* ---- building from sales ----
 * Two ways in, one data set out. From raw sales (dataset_builder_add):
 * they are kept compactly until the newest is known, since periods count
 * back from it. From the store's aggregates (dataset_builder_set_span,
 * _add_cell, _add_recent): the cells come counted. Either way the names
 * are ranked by their sales over every period, the pincodes are those of
 * the periods kept, and the cells end up in key order, so both give the
 * same data set for the same sales, whatever order they were read in. */

struct raw_sale {
  int32_t day, pincode;
  float income;
  uint16_t prod, chan; /* indices into the builder's names */
  uint8_t age, seg;    /* ages are 18-100; the segment from the exact income */
};

/* One aggregated cell of one period (dataset_builder_add_cell). */
struct cell_row {
  int32_t period, pincode;
  uint16_t prod, chan;
  uint8_t seg;
  uint32_t count;
};

/* One product's national sales of one day (dataset_builder_add_day). */
struct day_row {
  int32_t back; /* days before the newest */
  uint16_t prod;
  uint32_t count;
};

struct name_count {
  char name[SALE_IDENT_MAX + 1];
  size_t n;
};

/* Products or channels by name: any number up to NAMES_MAX, found through
 * an open-addressing table. */
#define NAMES_MAX 65535
struct names {
  struct name_count *v;
  size_t n, cap;
  int32_t *slot; /* index into v, -1 empty */
  size_t scap;   /* power of two */
};

struct dataset_builder {
  int period;
  struct raw_sale *s; /* every sale; from cells, those of the last periods */
  size_t n, cap;
  int from_cells;     /* built from the store's aggregates */
  struct cell_row *c;
  size_t nc, ccap;
  struct day_row *dr; /* from cells: national sales by day */
  size_t ndr, drcap;
  size_t nsales;      /* sales read (from cells: the span's) */
  struct names prod, chan;
  int64_t first_ms, last_ms;
  int too_many_names;
};

static size_t name_hash(const char *s) {
  uint64_t h = 14695981039346656037ULL; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (size_t)(h ^ h >> 29);
}

static void names_release(struct names *t) {
  free(t->v);
  free(t->slot);
  memset(t, 0, sizeof *t);
}

/* Index of name, added with no sales when new; -1 out of memory, -2 when
 * NAMES_MAX names are known already. */
static long names_slot(struct names *t, const char *name) {
  if ((t->n + 1) * 2 > t->scap) {
    size_t ncap = t->scap ? t->scap * 2 : 64;
    int32_t *ns = malloc(ncap * sizeof *ns);
    if (!ns)
      return -1;
    memset(ns, 0xff, ncap * sizeof *ns);
    for (size_t i = 0; i < t->n; i++) {
      size_t h = name_hash(t->v[i].name) & (ncap - 1);
      while (ns[h] >= 0)
        h = (h + 1) & (ncap - 1);
      ns[h] = (int32_t)i;
    }
    free(t->slot);
    t->slot = ns;
    t->scap = ncap;
  }
  size_t h = name_hash(name) & (t->scap - 1);
  for (; t->slot[h] >= 0; h = (h + 1) & (t->scap - 1))
    if (!strcmp(t->v[t->slot[h]].name, name))
      return t->slot[h];
  if (t->n == NAMES_MAX)
    return -2;
  if (t->n == t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 16;
    struct name_count *nv = realloc(t->v, ncap * sizeof *nv);
    if (!nv)
      return -1;
    t->v = nv;
    t->cap = ncap;
  }
  snprintf(t->v[t->n].name, sizeof t->v[t->n].name, "%s", name);
  t->v[t->n].n = 0;
  t->slot[h] = (int32_t)t->n;
  return (long)t->n++;
}

int dataset_builder_new(int period, struct dataset_builder **out, struct gerr *err) {
  struct dataset_builder *b = calloc(1, sizeof *b);
  if (!b)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  b->period = period;
  b->first_ms = INT64_MAX;
  b->last_ms = INT64_MIN;
  *out = b;
  return 0;
}

void dataset_builder_free(struct dataset_builder *b) {
  if (!b)
    return;
  free(b->s);
  free(b->c);
  free(b->dr);
  names_release(&b->prod);
  names_release(&b->chan);
  free(b);
}

static int32_t day_of(int64_t ts_ms) {
  return (int32_t)(ts_ms / DAY_MS - (ts_ms < 0 && ts_ms % DAY_MS));
}

/* Appends one sale to b->s; its names are counted when `count`. -1 out of
 * memory or too many names (b->too_many_names). */
static int keep_raw(struct dataset_builder *b, const struct ml_sale_src *s, int count) {
  if (b->n == b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 65536;
    struct raw_sale *ns = realloc(b->s, ncap * sizeof *ns);
    if (!ns)
      return -1;
    b->s = ns;
    b->cap = ncap;
  }
  long p = names_slot(&b->prod, s->product), c = names_slot(&b->chan, s->channel);
  if (p < 0 || c < 0) {
    b->too_many_names |= p == -2 || c == -2;
    return -1;
  }
  if (count) {
    b->prod.v[p].n++;
    b->chan.v[c].n++;
  }
  struct raw_sale *r = &b->s[b->n++];
  r->day = day_of(s->ts_ms);
  r->pincode = s->pincode;
  r->income = (float)s->income;
  r->prod = (uint16_t)p;
  r->chan = (uint16_t)c;
  r->age = (uint8_t)(s->age < 0 ? 0 : s->age > 255 ? 255 : s->age);
  r->seg = (uint8_t)ml_segment(s->age, s->income);
  return 0;
}

int dataset_builder_add(struct dataset_builder *b, const struct ml_sale_src *s) {
  if (b->from_cells || keep_raw(b, s, 1) < 0)
    return -1;
  b->nsales++;
  if (s->ts_ms < b->first_ms)
    b->first_ms = s->ts_ms;
  if (s->ts_ms > b->last_ms)
    b->last_ms = s->ts_ms;
  return 0;
}

int dataset_builder_set_span(struct dataset_builder *b, size_t sales, int64_t first_ms,
                             int64_t last_ms) {
  if (b->nsales || b->from_cells)
    return -1;
  b->from_cells = 1;
  b->nsales = sales;
  b->first_ms = first_ms;
  b->last_ms = last_ms;
  return 0;
}

int dataset_builder_add_cell(struct dataset_builder *b, const struct ml_cell_src *c) {
  if (!b->from_cells || c->period < 0 || c->age_band < 0 || c->age_band >= ML_AGE_BANDS ||
      c->income_band < 0 || c->income_band >= ML_INCOME_BANDS || c->sales < 0 ||
      c->sales > UINT32_MAX)
    return -1;
  long p = names_slot(&b->prod, c->product), ch = names_slot(&b->chan, c->channel);
  if (p < 0 || ch < 0) {
    b->too_many_names |= p == -2 || ch == -2;
    return -1;
  }
  b->prod.v[p].n += (size_t)c->sales;
  b->chan.v[ch].n += (size_t)c->sales;
  if (b->nc == b->ccap) {
    size_t ncap = b->ccap ? b->ccap * 2 : 16384;
    struct cell_row *nr = realloc(b->c, ncap * sizeof *nr);
    if (!nr)
      return -1;
    b->c = nr;
    b->ccap = ncap;
  }
  b->c[b->nc++] = (struct cell_row){.period = c->period, .pincode = c->pincode,
                                    .prod = (uint16_t)p, .chan = (uint16_t)ch,
                                    .seg = (uint8_t)(c->age_band * ML_INCOME_BANDS +
                                                     c->income_band),
                                    .count = (uint32_t)c->sales};
  return 0;
}

int dataset_builder_add_day(struct dataset_builder *b, int32_t back, const char *product,
                            int64_t sales) {
  if (!b->from_cells || back < 0 || sales < 0 || sales > UINT32_MAX)
    return -1;
  long p = names_slot(&b->prod, product); /* counted by its cells and sales */
  if (p < 0) {
    b->too_many_names |= p == -2;
    return -1;
  }
  if (b->ndr == b->drcap) {
    size_t ncap = b->drcap ? b->drcap * 2 : 4096;
    struct day_row *nr = realloc(b->dr, ncap * sizeof *nr);
    if (!nr)
      return -1;
    b->dr = nr;
    b->drcap = ncap;
  }
  b->dr[b->ndr++] = (struct day_row){back, (uint16_t)p, (uint32_t)sales};
  return 0;
}

int dataset_builder_add_recent(struct dataset_builder *b, const struct ml_sale_src *s) {
  return b->from_cells ? keep_raw(b, s, 1) : -1;
}

int dataset_builder_failure(const struct dataset_builder *b, struct gerr *err) {
  if (b->too_many_names)
    return gerr_set(err, GERR_CONFLICT,
                    "the sales name more than %d distinct products or channels", NAMES_MAX);
  return gerr_set(err, GERR_INTERNAL, "out of memory reading sales");
}

static int by_count_desc(const void *a, const void *b) {
  const struct name_count *x = a, *y = b;
  if (x->n != y->n)
    return x->n > y->n ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const struct name_count *)a)->name, ((const struct name_count *)b)->name);
}

/* Keeps the `max` most sold names (ties by name), sorted by name into out;
 * map[old] (t->n entries, malloc'd) is the new index or -1. Returns how
 * many were kept, or -1 out of memory. */
static long keep_names(const struct names *t, size_t max, int **map,
                       char (*out)[SALE_IDENT_MAX + 1]) {
  size_t n = t->n;
  struct name_count *sorted = malloc((n ? n : 1) * sizeof *sorted);
  *map = malloc((n ? n : 1) * sizeof **map);
  if (!sorted || !*map) {
    free(sorted);
    free(*map);
    *map = NULL;
    return -1;
  }
  if (n)
    memcpy(sorted, t->v, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, by_count_desc);
  size_t k = n < max ? n : max;
  qsort(sorted, k, sizeof *sorted, by_name);
  for (size_t i = 0; i < n; i++)
    (*map)[i] = -1;
  for (size_t i = 0; i < k; i++) {
    memcpy(out[i], sorted[i].name, sizeof out[i]);
    size_t h = name_hash(sorted[i].name) & (t->scap - 1);
    while (strcmp(t->v[t->slot[h]].name, sorted[i].name))
      h = (h + 1) & (t->scap - 1);
    (*map)[t->slot[h]] = (int)i;
  }
  free(sorted);
  return (long)k;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static struct dataset *dataset_alloc(int period, int nper) {
  struct dataset *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->period = period;
  d->nper = nper;
  d->level_scaled = 1;
  d->weekday_adjusted = 1;
  return d;
}

/* The distinct pincodes with a sale in the periods kept, ascending, into
 * d->pins. 0 or -1. */
static int collect_pins(struct dataset *d, const struct dataset_builder *b, int32_t oldest) {
  size_t cap = b->nc + b->n, np = 0;
  int32_t *pins = malloc((cap ? cap : 1) * sizeof *pins);
  if (!pins)
    return -1;
  for (size_t i = 0; i < b->nc; i++)
    if (b->c[i].period < d->nper)
      pins[np++] = b->c[i].pincode;
  for (size_t i = 0; i < b->n; i++)
    if (b->s[i].day > oldest)
      pins[np++] = b->s[i].pincode;
  qsort(pins, np, sizeof *pins, cmp_i32);
  size_t u = 0;
  for (size_t i = 0; i < np; i++)
    if (u == 0 || pins[u - 1] != pins[i])
      pins[u++] = pins[i];
  d->npin = u;
  d->pins = realloc(pins, (u ? u : 1) * sizeof *pins);
  if (!d->pins) {
    d->pins = pins;
    return -1;
  }
  return 0;
}

/* Each kept product's national sales by day over the last d->ndays days,
 * into d->nat_day: from the raw sales, or from the store's day rows (the
 * raw sales of the last periods are in those too). days_known counts from
 * the first sale's day. 0 or -1. */
static int national_days(struct dataset *d, const struct dataset_builder *b, const int *pmap,
                         int32_t last_day) {
  d->ndays = ML_DAYS(d->nper, b->period);
  d->nat_day = calloc((d->nprod ? d->nprod : 1) * (size_t)d->ndays, sizeof *d->nat_day);
  if (!d->nat_day)
    return -1;
  int64_t known = (int64_t)last_day - day_of(b->first_ms) + 1;
  d->days_known = known < d->ndays ? (int)known : d->ndays;
  if (b->from_cells) {
    for (size_t i = 0; i < b->ndr; i++) {
      const struct day_row *r = &b->dr[i];
      if (r->back < d->ndays && pmap[r->prod] >= 0)
        d->nat_day[(size_t)pmap[r->prod] * (size_t)d->ndays + (size_t)r->back] += r->count;
    }
    return 0;
  }
  for (size_t i = 0; i < b->n; i++) {
    const struct raw_sale *r = &b->s[i];
    int64_t a = (int64_t)last_day - r->day;
    if (a < d->ndays && pmap[r->prod] >= 0)
      d->nat_day[(size_t)pmap[r->prod] * (size_t)d->ndays + (size_t)a]++;
  }
  return 0;
}

/* Adds n sales of period a to the cell (pin, prod, chan, seg) and to its
 * cell without segment. 0 or -1. */
static int count_into(struct dataset *d, long pin, int prod, int chan, int seg, int a,
                      uint32_t n) {
  long c1 = cell_get(d, ml_cell_key((int32_t)pin, prod, chan, seg));
  if (c1 < 0)
    return -1;
  d->counts[(size_t)c1 * d->nper + a] += n;
  long c2 = cell_get(d, ml_cell_key((int32_t)pin, prod, chan, ML_SEG_TOTAL));
  if (c2 < 0)
    return -1;
  d->counts[(size_t)c2 * d->nper + a] += n;
  return 0;
}

struct key_at {
  uint64_t key;
  uint32_t at;
};
static int by_key(const void *a, const void *b) {
  uint64_t x = ((const struct key_at *)a)->key, y = ((const struct key_at *)b)->key;
  return (x > y) - (x < y);
}

/* Puts the cells in key order (pincode, product, channel, segment) and
 * builds their table again: the order sales were read in leaves no trace.
 * 0 or -1. */
static int cells_sort(struct dataset *d) {
  size_t n = d->ncell, P = (size_t)d->nper;
  struct key_at *order = malloc((n ? n : 1) * sizeof *order);
  uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
  uint32_t *counts = malloc((n ? n : 1) * P * sizeof *counts);
  if (!order || !keys || !counts) {
    free(order);
    free(keys);
    free(counts);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    order[i] = (struct key_at){d->cell_key[i], (uint32_t)i};
  qsort(order, n, sizeof *order, by_key);
  for (size_t i = 0; i < n; i++) {
    keys[i] = order[i].key;
    memcpy(counts + i * P, d->counts + (size_t)order[i].at * P, P * sizeof *counts);
  }
  free(order);
  free(d->cell_key);
  free(d->counts);
  d->cell_key = keys;
  d->counts = counts;
  d->cell_cap = n ? n : 1;
  if (!d->htab)
    return 0;
  memset(d->htab, 0xff, d->hcap * sizeof *d->htab);
  for (size_t c = 0; c < n; c++) {
    size_t h = hash_key(keys[c]) & (d->hcap - 1);
    while (d->htab[h] >= 0)
      h = (h + 1) & (d->hcap - 1);
    d->htab[h] = (int32_t)c;
  }
  return 0;
}

int dataset_builder_finish(struct dataset_builder *b, const struct gaz *gaz, int nper,
                           int keep_sales_periods, struct dataset **out,
                           struct ml_sale **sales, size_t *nsales, struct gerr *err) {
  struct dataset *d = NULL;
  struct ml_sale *ks = NULL;
  int *pmap = NULL, *cmap = NULL;
  *out = NULL;
  if (sales) {
    *sales = NULL;
    *nsales = 0;
  }
  if (b->too_many_names) {
    dataset_builder_failure(b, err);
    dataset_builder_free(b);
    return -1;
  }
  if (b->nsales == 0) {
    dataset_builder_free(b);
    return gerr_set(err, GERR_CONFLICT, "there are no sales to train on");
  }
  d = dataset_alloc(b->period, nper);
  if (!d)
    goto oom;
  int32_t last_day = day_of(b->last_ms);
  d->asof_day = last_day;
  d->first_ms = b->first_ms;
  d->last_ms = b->last_ms;
  d->nsales_read = b->nsales;
  long np = keep_names(&b->prod, ML_MAX_PRODUCTS, &pmap, d->prod);
  long nc = keep_names(&b->chan, ML_MAX_CHANNELS, &cmap, d->chan);
  if (np < 0 || nc < 0)
    goto oom;
  d->nprod = (size_t)np;
  d->nchan = (size_t)nc;
  if (national_days(d, b, pmap, last_day) < 0)
    goto oom;

  int32_t oldest = last_day - nper * b->period; /* exclusive */
  if (collect_pins(d, b, oldest) < 0)
    goto oom;
  for (size_t i = 0; i < b->nc; i++) { /* aggregated cells */
    const struct cell_row *r = &b->c[i];
    if (r->period >= nper || pmap[r->prod] < 0 || cmap[r->chan] < 0)
      continue;
    if (count_into(d, ml_pin_index(d, r->pincode), pmap[r->prod], cmap[r->chan], r->seg,
                   r->period, r->count) < 0)
      goto oom;
  }
  int32_t keep_from = last_day - keep_sales_periods * b->period;
  size_t nk = 0, kcap = 0;
  for (size_t i = 0; i < b->n; i++) {
    const struct raw_sale *r = &b->s[i];
    if (r->day <= oldest || pmap[r->prod] < 0 || cmap[r->chan] < 0)
      continue;
    long pin = ml_pin_index(d, r->pincode);
    if (count_into(d, pin, pmap[r->prod], cmap[r->chan], r->seg, (last_day - r->day) / b->period,
                   1) < 0)
      goto oom;
    if (sales && r->day > keep_from) {
      if (nk == kcap) {
        kcap = kcap ? kcap * 2 : 65536;
        struct ml_sale *nks = realloc(ks, kcap * sizeof *nks);
        if (!nks)
          goto oom;
        ks = nks;
      }
      ks[nk++] = (struct ml_sale){.day = r->day, .pin = (int32_t)pin,
                                  .prod = (uint8_t)pmap[r->prod],
                                  .chan = (uint8_t)cmap[r->chan], .seg = r->seg,
                                  .age = r->age, .income = r->income};
    }
  }
  free(pmap);
  free(cmap);
  pmap = cmap = NULL;
  dataset_builder_free(b);
  b = NULL;
  if (cells_sort(d) < 0)
    goto oom;
  if (dataset_index(d, gaz, err) < 0) {
    free(ks);
    dataset_free(d);
    return -1;
  }
  *out = d;
  if (sales) {
    *sales = ks;
    *nsales = nk;
  } else {
    free(ks);
  }
  return 0;
oom:
  free(pmap);
  free(cmap);
  free(ks);
  dataset_free(d);
  dataset_builder_free(b);
  return gerr_set(err, GERR_INTERNAL, "out of memory building the period cells");
}

/* ---- aggregates ---- */

static void add_into(uint32_t *dst, const uint32_t *src, int n) {
  for (int a = 0; a < n; a++)
    dst[a] += src[a];
}

/* Unit vectors of the gazetteer's entries (the dot product orders by
 * great-circle distance); NULL when out of memory. */
float (*dataset_gaz_units(const struct gaz *gaz))[3] {
  size_t gn = gaz ? gaz_count(gaz) : 0;
  float(*u)[3] = malloc((gn ? gn : 1) * sizeof *u);
  if (!u)
    return NULL;
  for (size_t i = 0; i < gn; i++) {
    const struct gaz_entry *e = gaz_at(gaz, i);
    double la = e->lat * M_PI / 180, lo = e->lng * M_PI / 180;
    u[i][0] = (float)(cos(la) * cos(lo));
    u[i][1] = (float)(cos(la) * sin(lo));
    u[i][2] = (float)sin(la);
  }
  return u;
}

/* The ML_NEAR nearest other entries of the gazetteer around entry `self`,
 * as indices into d (-1: a pincode without sales). Geography alone decides,
 * not the data, so adding sales never changes another pincode's
 * neighbours; the pincodes of d (nearby_lists) and those outside it
 * (dataset_near_of) get theirs from this one scan. */
static void near_scan(const struct dataset *d, const struct gaz *gaz, const float (*u)[3],
                      long self, int32_t best[ML_NEAR]) {
  size_t gn = gaz_count(gaz), k = 0;
  long at[ML_NEAR];
  float dot[ML_NEAR];
  for (size_t t = 0; t < ML_NEAR; t++)
    best[t] = -1;
  const float *q = u[self];
  for (size_t j = 0; j < gn; j++) {
    float v = q[0] * u[j][0] + q[1] * u[j][1] + q[2] * u[j][2];
    if ((long)j == self || (k == ML_NEAR && v <= dot[k - 1]))
      continue;
    size_t t = k < ML_NEAR ? k++ : ML_NEAR - 1;
    while (t > 0 && dot[t - 1] < v) { /* insertion, largest dot first */
      dot[t] = dot[t - 1];
      at[t] = at[t - 1];
      t--;
    }
    dot[t] = v;
    at[t] = (long)j;
  }
  for (size_t t = 0; t < k; t++)
    best[t] = (int32_t)ml_pin_index(d, gaz_at(gaz, (size_t)at[t])->pincode);
}

/* d->near: each pincode's ML_NEAR nearest (near_scan); -1 throughout for
 * a pincode the gazetteer does not know. */
static int nearby_lists(struct dataset *d, const struct gaz *gaz) {
  size_t n = d->npin;
  float(*u)[3] = dataset_gaz_units(gaz);
  d->near = malloc((n ? n : 1) * ML_NEAR * sizeof *d->near);
  if (!u || !d->near) {
    free(u);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    int32_t *best = d->near + i * ML_NEAR;
    long self = d->ge[i] ? gaz_index(gaz, d->pins[i]) : -1;
    if (self >= 0) {
      near_scan(d, gaz, (const float(*)[3])u, self, best);
      continue;
    }
    for (size_t t = 0; t < ML_NEAR; t++)
      best[t] = -1;
  }
  free(u);
  return 0;
}

int dataset_near_of(const struct dataset *d, const struct gaz *gaz, const float (*units)[3],
                    int32_t pincode, int32_t near[ML_NEAR]) {
  long self = gaz ? gaz_index(gaz, pincode) : -1;
  if (self < 0)
    return -1;
  float(*own)[3] = units ? NULL : dataset_gaz_units(gaz);
  if (!units && !own)
    return -1;
  near_scan(d, gaz, units ? units : (const float(*)[3])own, self, near);
  free(own);
  return 0;
}

int ml_state_id(const struct dataset *d, const char *state) {
  size_t s = 0;
  while (state && s + 1 < d->nstate && strcmp(d->state_name[s], state))
    s++;
  return (int)(state ? s : d->nstate - 1);
}

int dataset_gaz_nearest(const struct dataset *d, const struct gaz *gaz, size_t k,
                        int32_t **out) {
  size_t gn = gaz ? gaz_count(gaz) : 0, n = d->npin, nk = 0;
  *out = NULL;
  if (k == 0)
    return -1;
  int32_t *res = malloc((gn ? gn : 1) * (k ? k : 1) * sizeof *res);
  float(*u)[3] = dataset_gaz_units(gaz);
  /* the known pincodes with coordinates: their index in d and unit vector */
  int32_t *kpin = malloc((n ? n : 1) * sizeof *kpin);
  float(*ku)[3] = malloc((n ? n : 1) * sizeof *ku);
  float *dot = malloc((k ? k : 1) * sizeof *dot);
  int rc = -1;
  if (!res || !u || !kpin || !ku || !dot)
    goto out;
  for (size_t i = 0; i < n; i++) {
    long g = d->ge[i] ? gaz_index(gaz, d->pins[i]) : -1;
    if (g >= 0) {
      kpin[nk] = (int32_t)i;
      memcpy(ku[nk++], u[g], sizeof *ku);
    }
  }
  for (size_t g = 0; g < gn; g++) {
    int32_t *best = res + g * k;
    for (size_t t = 0; t < k; t++)
      best[t] = -1;
    if (ml_pin_index(d, gaz_at(gaz, g)->pincode) >= 0)
      continue; /* known pincodes answer for themselves */
    const float *q = u[g];
    size_t m = 0;
    for (size_t j = 0; j < nk; j++) {
      float v = q[0] * ku[j][0] + q[1] * ku[j][1] + q[2] * ku[j][2];
      if (m == k && v <= dot[m - 1])
        continue;
      size_t t = m < k ? m++ : k - 1;
      while (t > 0 && dot[t - 1] < v) { /* insertion, nearest first */
        dot[t] = dot[t - 1];
        best[t] = best[t - 1];
        t--;
      }
      dot[t] = v;
      best[t] = kpin[j];
    }
  }
  *out = res;
  res = NULL;
  rc = 0;
out:
  free(res);
  free(u);
  free(kpin);
  free(ku);
  free(dot);
  return rc;
}

int dataset_index(struct dataset *d, const struct gaz *gaz, struct gerr *err) {
  size_t P = (size_t)d->nper, np = d->npin, K = d->nprod;
  free(d->ge);
  free(d->state);
  free(d->near);
  d->ge = calloc(np ? np : 1, sizeof *d->ge);
  d->state = calloc(np ? np : 1, sizeof *d->state);
  if (!d->ge || !d->state)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  /* state ids: the gazetteer's state names in sorted order, the last id for
   * pincodes it does not know (independent of the data) */
  const char *names[ML_MAX_STATES];
  d->nstate = 0;
  for (size_t i = 0, gn = gaz ? gaz_count(gaz) : 0; i < gn; i++) {
    const char *st = gaz_at(gaz, i)->state;
    size_t s = 0;
    while (s < d->nstate && strcmp(names[s], st) < 0)
      s++;
    if ((s < d->nstate && !strcmp(names[s], st)) || d->nstate == ML_MAX_STATES - 1)
      continue;
    memmove(names + s + 1, names + s, (d->nstate - s) * sizeof *names);
    names[s] = st;
    d->nstate++;
  }
  memset(d->state_name, 0, sizeof d->state_name);
  memcpy(d->state_name, names, d->nstate * sizeof *names);
  d->nstate++; /* the unknown state */
  for (size_t i = 0; i < np; i++) {
    d->ge[i] = gaz ? gaz_find(gaz, d->pins[i]) : NULL;
    d->state[i] = (int16_t)ml_state_id(d, d->ge[i] ? d->ge[i]->state : NULL);
  }
  size_t ns = d->nstate ? d->nstate : 1;
  int32_t first_day = (int32_t)(d->first_ms / DAY_MS);
  d->known = d->asof_day >= first_day ? (d->asof_day - first_day) / d->period + 1 : 1;
  if (d->known > d->nper)
    d->known = d->nper;
  free(d->pin_all);
  free(d->pin_prod);
  free(d->pin_chan);
  free(d->nat_prod);
  free(d->state_prod);
  free(d->nat_seg_prod);
  d->pin_all = calloc((np ? np : 1) * P, sizeof(uint32_t));
  d->pin_prod = calloc((np ? np : 1) * K * P + 1, sizeof(uint32_t));
  d->pin_chan = calloc((np ? np : 1) * d->nchan * P + 1, sizeof(uint32_t));
  d->nat_prod = calloc(K * P + 1, sizeof(uint32_t));
  d->state_prod = calloc(ns * K * P + 1, sizeof(uint32_t));
  d->nat_seg_prod = calloc(ML_SEGMENTS * K * P + 1, sizeof(uint32_t));
  if (!d->pin_all || !d->pin_prod || !d->pin_chan || !d->nat_prod || !d->state_prod ||
      !d->nat_seg_prod)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  for (size_t c = 0; c < d->ncell; c++) {
    uint64_t key = d->cell_key[c];
    size_t pin = (size_t)(key >> 24), prod = (key >> 16) & 0xff, chan = (key >> 8) & 0xff,
           seg = key & 0xff;
    const uint32_t *cnt = d->counts + c * P;
    size_t st = (size_t)d->state[pin];
    if (seg == ML_SEG_TOTAL) {
      add_into(d->pin_all + pin * P, cnt, (int)P);
      add_into(d->pin_prod + (pin * K + prod) * P, cnt, (int)P);
      add_into(d->pin_chan + (pin * d->nchan + chan) * P, cnt, (int)P);
      add_into(d->nat_prod + prod * P, cnt, (int)P);
      add_into(d->state_prod + (st * K + prod) * P, cnt, (int)P);
    } else {
      add_into(d->nat_seg_prod + (seg * K + prod) * P, cnt, (int)P);
    }
  }
  if (ml_level_scales(d) < 0 || ml_season_table(d) < 0 ||
      nearby_lists(d, gaz) < 0)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  return 0;
}

void dataset_free(struct dataset *d) {
  if (!d)
    return;
  free(d->pins);
  free(d->ge);
  free(d->state);
  free(d->near);
  free(d->cell_key);
  free(d->counts);
  free(d->htab);
  free(d->pin_all);
  free(d->pin_prod);
  free(d->pin_chan);
  free(d->nat_prod);
  free(d->state_prod);
  free(d->nat_seg_prod);
  free(d->nat_day);
  free(d->level_scale);
  free(d->season);
  free(d);
}

/* Copies catalog and pincodes, then the cells with a sale in [0, nper). */
static int copy_cells(const struct dataset *d, struct dataset *t) {
  t->asof_day = d->asof_day;
  t->nprod = d->nprod;
  t->nchan = d->nchan;
  memcpy(t->prod, d->prod, sizeof t->prod);
  memcpy(t->chan, d->chan, sizeof t->chan);
  t->first_ms = d->first_ms;
  t->last_ms = d->last_ms;
  t->nsales_read = d->nsales_read;
  t->npin = d->npin;
  t->pins = malloc((d->npin ? d->npin : 1) * sizeof *t->pins);
  if (!t->pins)
    return -1;
  memcpy(t->pins, d->pins, d->npin * sizeof *t->pins);
  for (size_t c = 0; c < d->ncell; c++) {
    const uint32_t *cnt = d->counts + c * (size_t)d->nper;
    uint64_t sum = 0;
    for (int a = 0; a < t->nper; a++)
      sum += cnt[a];
    if (!sum)
      continue;
    long nc = cell_get(t, d->cell_key[c]);
    if (nc < 0)
      return -1;
    memcpy(t->counts + (size_t)nc * t->nper, cnt, (size_t)t->nper * sizeof *cnt);
  }
  return 0;
}

int dataset_trim(const struct dataset *d, const struct gaz *gaz, int nper,
                 struct dataset **out, struct gerr *err) {
  if (nper > d->nper)
    nper = d->nper;
  struct dataset *t = dataset_alloc(d->period, nper);
  if (t) {
    t->level_scaled = d->level_scaled;
    t->weekday_adjusted = d->weekday_adjusted;
    int nd = ML_DAYS(nper, d->period);
    t->ndays = nd < d->ndays ? nd : d->ndays;
    t->days_known = d->days_known < t->ndays ? d->days_known : t->ndays;
    t->nat_day = malloc((d->nprod ? d->nprod : 1) * (size_t)t->ndays * sizeof *t->nat_day);
    for (size_t k = 0; t->nat_day && k < d->nprod; k++)
      memcpy(t->nat_day + k * (size_t)t->ndays, d->nat_day + k * (size_t)d->ndays,
             (size_t)t->ndays * sizeof *t->nat_day);
  }
  if (!t || !t->nat_day || copy_cells(d, t) < 0) {
    dataset_free(t);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  if (dataset_index(t, gaz, err) < 0) {
    dataset_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

/* ---- serialised form ----
 * "GDS2", then little-endian (core/wire.h): u32 period, nper, asof_day
 * (i32), nprod, nchan, npin, ncell; i64 first_ms, last_ms, nsales_read; the
 * names (u8 length + bytes); the pincodes (i32); per cell its key (u64) and
 * nper counts (u32); u32 ndays, days_known, then nprod x ndays national
 * sales by day (u32). Loading checks every count and index. GDS1 (without
 * the days) is refused. Forms written in the host's byte order before it
 * was fixed as little-endian are the same bytes on little-endian hosts. */

int dataset_save(const struct dataset *d, struct buf *b) {
  if (wire_add_bytes(b, "GDS2", 4) || wire_add_u32(b, (uint32_t)d->period) ||
      wire_add_u32(b, (uint32_t)d->nper) || wire_add_u32(b, (uint32_t)d->asof_day) ||
      wire_add_u32(b, (uint32_t)d->nprod) || wire_add_u32(b, (uint32_t)d->nchan) ||
      wire_add_u32(b, (uint32_t)d->npin) || wire_add_u32(b, (uint32_t)d->ncell) ||
      wire_add_u64(b, (uint64_t)d->first_ms) || wire_add_u64(b, (uint64_t)d->last_ms) ||
      wire_add_u64(b, (uint64_t)d->nsales_read))
    return -1;
  for (size_t i = 0; i < d->nprod + d->nchan; i++) {
    const char *s = i < d->nprod ? d->prod[i] : d->chan[i - d->nprod];
    unsigned char len = (unsigned char)strlen(s);
    if (wire_add_bytes(b, &len, 1) || wire_add_bytes(b, s, len))
      return -1;
  }
  /* the pincodes are int32_t, stored as their u32 bits */
  if (wire_add_u32s(b, (const uint32_t *)d->pins, d->npin))
    return -1;
  for (size_t c = 0; c < d->ncell; c++)
    if (wire_add_u64(b, d->cell_key[c]) ||
        wire_add_u32s(b, d->counts + c * (size_t)d->nper, (size_t)d->nper))
      return -1;
  if (wire_add_u32(b, (uint32_t)d->ndays) || wire_add_u32(b, (uint32_t)d->days_known) ||
      wire_add_u32s(b, d->nat_day, d->nprod * (size_t)d->ndays))
    return -1;
  return 0;
}

int dataset_load(const unsigned char *p, size_t n, const struct gaz *gaz,
                 struct dataset **out, struct gerr *err) {
  struct wire_rd r = {p, n, 0};
  char magic[4];
  uint32_t period, nper, asof, nprod, nchan, npin, ncell;
  uint64_t first, last, nread;
  if (wire_rd_bytes(&r, magic, 4) || memcmp(magic, "GDS2", 4) || wire_rd_u32(&r, &period) ||
      wire_rd_u32(&r, &nper) || wire_rd_u32(&r, &asof) || wire_rd_u32(&r, &nprod) ||
      wire_rd_u32(&r, &nchan) || wire_rd_u32(&r, &npin) || wire_rd_u32(&r, &ncell) ||
      wire_rd_u64(&r, &first) || wire_rd_u64(&r, &last) || wire_rd_u64(&r, &nread))
    return gerr_set(err, GERR_INTERNAL, "the stored period cells are damaged");
  if (period < 1 || period > 366 || nper < 1 || nper > 64 || nprod > ML_MAX_PRODUCTS ||
      nchan > ML_MAX_CHANNELS || npin > 1000000 || ncell > wire_rd_left(&r) / 8)
    return gerr_set(err, GERR_INTERNAL, "the stored period cells are damaged");
  struct dataset *d = dataset_alloc((int)period, (int)nper);
  if (!d)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  d->asof_day = (int32_t)asof;
  d->nprod = nprod;
  d->nchan = nchan;
  d->first_ms = (int64_t)first;
  d->last_ms = (int64_t)last;
  d->nsales_read = (size_t)nread;
  for (size_t i = 0; i < nprod + nchan; i++) {
    unsigned char len;
    char *dst = i < nprod ? d->prod[i] : d->chan[i - nprod];
    if (wire_rd_bytes(&r, &len, 1) || len > SALE_IDENT_MAX || wire_rd_bytes(&r, dst, len))
      goto bad;
    dst[len] = 0;
  }
  d->npin = npin;
  d->pins = malloc((npin ? npin : 1) * sizeof *d->pins);
  if (!d->pins || wire_rd_u32s(&r, (uint32_t *)d->pins, npin))
    goto bad;
  for (size_t i = 1; i < npin; i++)
    if (d->pins[i] <= d->pins[i - 1])
      goto bad;
  for (size_t c = 0; c < ncell; c++) {
    uint64_t key;
    if (wire_rd_u64(&r, &key))
      goto bad;
    if ((key >> 24) >= npin || ((key >> 16) & 0xff) >= nprod || ((key >> 8) & 0xff) >= nchan ||
        (key & 0xff) > ML_SEG_TOTAL)
      goto bad;
    long nc = cell_get(d, key);
    if (nc < 0 || (size_t)nc != c || wire_rd_u32s(&r, d->counts + c * nper, nper))
      goto bad; /* a repeated key */
  }
  uint32_t ndays, dknown;
  if (wire_rd_u32(&r, &ndays) || wire_rd_u32(&r, &dknown) || ndays < 1 ||
      ndays > 64 * 366 + 400 || dknown > ndays || (size_t)nprod * ndays > wire_rd_left(&r) / 4)
    goto bad;
  d->ndays = (int)ndays;
  d->days_known = (int)dknown;
  d->nat_day = malloc((nprod ? nprod : 1) * (size_t)ndays * sizeof *d->nat_day);
  if (!d->nat_day || wire_rd_u32s(&r, d->nat_day, (size_t)nprod * ndays))
    goto bad;
  if (r.at != r.n)
    goto bad;
  if (dataset_index(d, gaz, err) < 0) {
    dataset_free(d);
    return -1;
  }
  *out = d;
  return 0;
bad:
  dataset_free(d);
  return gerr_set(err, GERR_INTERNAL, "the stored period cells are damaged");
}
