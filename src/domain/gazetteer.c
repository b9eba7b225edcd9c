/* The pincode gazetteer: parsed once from the embedded TSV into a sorted,
 * immutable table. Strings point into one owned copy of the text. */
#include "gromo/gazetteer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GAZ_COLUMNS 12

extern const char gromo_gazetteer_tsv[];
extern const char gromo_gazetteer_tsv_end[];

struct gaz {
  char *text; /* the data, with tabs and newlines turned into NULs */
  struct gaz_entry *e;
  size_t n;
};

static int parse_uint(const char *s, long max, long *out) {
  if (!*s)
    return -1;
  long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > max)
      return -1;
    v = v * 10 + (*s - '0');
  }
  if (v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_coord(const char *s, double lo, double hi, float *out) {
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= lo && v <= hi))
    return -1;
  *out = (float)v;
  return 0;
}

int gaz_load_buf(const char *data, size_t len, struct gaz **out, struct gerr *err) {
  *out = NULL;
  struct gaz *g = calloc(1, sizeof *g);
  if (!g)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  g->text = malloc(len + 1);
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += data[i] == '\n';
  g->e = calloc(lines + 1, sizeof *g->e);
  if (!g->text || !g->e) {
    gaz_free(g);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  memcpy(g->text, data, len);
  g->text[len] = '\0';

  char *p = g->text, *end = g->text + len;
  size_t lineno = 0;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *line_end = nl ? nl : end;
    *line_end = '\0';
    lineno++;
    char *line = p;
    p = line_end + 1;
    if (lineno == 1) {
      if (strncmp(line, "pincode\t", 8) != 0) {
        gaz_free(g);
        return gerr_set(err, GERR_INVALID_INPUT, "gazetteer line 1: no header");
      }
      continue;
    }
    if (!*line)
      continue;
    char *col[GAZ_COLUMNS];
    size_t nc = 0;
    for (char *c = line; nc < GAZ_COLUMNS;) {
      col[nc++] = c;
      char *tab = strchr(c, '\t');
      if (!tab)
        break;
      *tab = '\0';
      c = tab + 1;
    }
    long pin, offices, neighbours, tier;
    struct gaz_entry *e = &g->e[g->n];
    const char *bad = NULL;
    if (nc != GAZ_COLUMNS || strchr(col[GAZ_COLUMNS - 1], '\t'))
      bad = "wrong number of columns";
    else if (strlen(col[0]) != 6 || col[0][0] == '0' || parse_uint(col[0], 999999, &pin) < 0)
      bad = "pincode must be 6 digits";
    else if (parse_coord(col[1], -90, 90, &e->lat) < 0 ||
             parse_coord(col[2], -180, 180, &e->lng) < 0)
      bad = "bad coordinates";
    else if (parse_uint(col[3], 65535, &offices) < 0 ||
             parse_uint(col[4], 65535, &neighbours) < 0 || parse_uint(col[5], 3, &tier) < 0)
      bad = "bad number";
    else if (g->n && pin <= g->e[g->n - 1].pincode)
      bad = "pincodes must be sorted and unique";
    if (bad) {
      gaz_free(g);
      return gerr_set(err, GERR_INVALID_INPUT, "gazetteer line %zu: %s", lineno, bad);
    }
    e->pincode = (int32_t)pin;
    e->offices = (uint16_t)offices;
    e->neighbours = (uint16_t)neighbours;
    e->tier = (enum gaz_tier)tier;
    e->office = col[6];
    e->district = col[7];
    e->state = col[8];
    e->circle = col[9];
    e->region = col[10];
    e->division = col[11];
    g->n++;
  }
  if (g->n == 0) {
    gaz_free(g);
    return gerr_set(err, GERR_INVALID_INPUT, "the gazetteer is empty");
  }
  *out = g;
  return 0;
}

int gaz_load_default(struct gaz **out, struct gerr *err) {
  return gaz_load_buf(gromo_gazetteer_tsv,
                      (size_t)(gromo_gazetteer_tsv_end - gromo_gazetteer_tsv), out, err);
}

void gaz_free(struct gaz *g) {
  if (!g)
    return;
  free(g->text);
  free(g->e);
  free(g);
}

size_t gaz_count(const struct gaz *g) { return g->n; }

const struct gaz_entry *gaz_at(const struct gaz *g, size_t i) {
  return i < g->n ? &g->e[i] : NULL;
}

long gaz_index(const struct gaz *g, int32_t pincode) {
  size_t lo = 0, hi = g->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (g->e[mid].pincode < pincode)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < g->n && g->e[lo].pincode == pincode ? (long)lo : -1;
}

const struct gaz_entry *gaz_find(const struct gaz *g, int32_t pincode) {
  long i = gaz_index(g, pincode);
  return i < 0 ? NULL : &g->e[i];
}

double gaz_km(double lat1, double lng1, double lat2, double lng2) {
  const double r = M_PI / 180.0;
  double dlat = (lat2 - lat1) * r, dlng = (lng2 - lng1) * r;
  double h = sin(dlat / 2) * sin(dlat / 2) +
             cos(lat1 * r) * cos(lat2 * r) * sin(dlng / 2) * sin(dlng / 2);
  return 2 * 6371.0 * asin(fmin(1.0, sqrt(h)));
}

static int shared_prefix(int32_t a, int32_t b) {
  int k = 0;
  for (int div = 100000; div >= 1 && a / div == b / div; div /= 10)
    k++;
  return k;
}

/* Keeps out[0..*n) as the best k so far: higher prefix first, then nearer. */
static int better(const struct gaz_near *a, const struct gaz_near *b) {
  if (a->shared_prefix != b->shared_prefix)
    return a->shared_prefix > b->shared_prefix;
  return a->km < b->km;
}

static void keep_best(struct gaz_near *out, size_t k, size_t *n,
                      const struct gaz_near *cand) {
  if (*n == k && !better(cand, &out[k - 1]))
    return;
  size_t i = *n < k ? (*n)++ : k - 1;
  while (i > 0 && better(cand, &out[i - 1])) {
    out[i] = out[i - 1];
    i--;
  }
  out[i] = *cand;
}

size_t gaz_nearest(const struct gaz *g, int32_t pincode,
                   int (*accept)(int32_t pincode, void *ctx), void *ctx,
                   size_t k, struct gaz_near *out) {
  if (k == 0)
    return 0;
  const struct gaz_entry *q = gaz_find(g, pincode);
  size_t n = 0;
  if (q) {
    for (size_t i = 0; i < g->n; i++) {
      const struct gaz_entry *e = &g->e[i];
      if (e == q || (accept && !accept(e->pincode, ctx)))
        continue;
      struct gaz_near c = {e, gaz_km(q->lat, q->lng, e->lat, e->lng), 0};
      keep_best(out, k, &n, &c);
    }
    for (size_t i = 0; i < n; i++)
      out[i].shared_prefix = shared_prefix(pincode, out[i].e->pincode);
    return n;
  }
  /* Unknown pincode: the centroid of the longest shared prefix stands in for
   * its place, then candidates rank by prefix and by distance to it. */
  double lat = 0, lng = 0;
  for (int len = 5; len >= 1; len--) {
    int div = 1;
    for (int i = len; i < 6; i++)
      div *= 10;
    double slat = 0, slng = 0;
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++)
      if (g->e[i].pincode / div == pincode / div) {
        slat += g->e[i].lat;
        slng += g->e[i].lng;
        m++;
      }
    if (m) {
      lat = slat / (double)m;
      lng = slng / (double)m;
      break;
    }
  }
  for (size_t i = 0; i < g->n; i++) {
    const struct gaz_entry *e = &g->e[i];
    if (e->pincode == pincode || (accept && !accept(e->pincode, ctx)))
      continue;
    struct gaz_near c = {e, gaz_km(lat, lng, e->lat, e->lng),
                         shared_prefix(pincode, e->pincode)};
    keep_best(out, k, &n, &c);
  }
  return n;
}
