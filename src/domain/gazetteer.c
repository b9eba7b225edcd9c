/* The pincode gazetteer: parsed once from the TSV into a table sorted by
 * pincode, immutable afterwards. All strings point into one owned copy of
 * the text, whose tabs and line ends are turned into NULs. */
#include "gromo/gazetteer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GAZ_COLUMNS 12
#define GAZ_HEADER                                                            \
  "pincode\tlat\tlng\toffices\tneighbours\ttier\toffice\tdistrict\tstate\t"   \
  "circle\tregion\tdivision"
#define EARTH_KM 6371.0
#define DEG (M_PI / 180.0)

extern const char gromo_gazetteer_tsv[];
extern const char gromo_gazetteer_tsv_end[];

struct gaz {
  char *text;           /* owned copy of the data; entries point into it */
  struct gaz_entry *e;  /* sorted by pincode, unique */
  double (*unit)[3];    /* each entry's position as a unit vector */
  size_t n;
};

static const char *const column_names[GAZ_COLUMNS] = {
    "pincode", "lat", "lng", "offices", "neighbours", "tier",
    "office", "district", "state", "circle", "region", "division"};

/* ---- parsing ------------------------------------------------------------ */

/* Unsigned decimal of at most 9 digits, no sign, no spaces. */
static int parse_count(const char *s, long max, long *out) {
  long v = 0;
  size_t n = 0;
  for (; s[n]; n++) {
    if (s[n] < '0' || s[n] > '9' || n >= 9)
      return -1;
    v = v * 10 + (s[n] - '0');
  }
  if (n == 0 || v > max)
    return -1;
  *out = v;
  return 0;
}

/* "-?D+(.D+)?" with at most 3 integer and 9 fraction digits, in [lo, hi].
 * Hand-written: strtod would accept hex, exponents, "nan" and spaces, and
 * depends on the locale. */
static int parse_degrees(const char *s, double lo, double hi, float *out) {
  int neg = *s == '-';
  s += neg;
  long ip = 0, fp = 0, scale = 1;
  int ni = 0, nf = 0;
  for (; *s >= '0' && *s <= '9'; s++, ni++)
    ip = ip * 10 + (*s - '0');
  if (ni == 0 || ni > 3)
    return -1;
  if (*s == '.') {
    for (s++; *s >= '0' && *s <= '9'; s++, nf++) {
      if (nf == 9)
        return -1;
      fp = fp * 10 + (*s - '0');
      scale *= 10;
    }
    if (nf == 0)
      return -1;
  }
  if (*s)
    return -1;
  double v = (double)ip + (double)fp / (double)scale;
  if (neg)
    v = -v;
  if (!(v >= lo && v <= hi))
    return -1;
  *out = (float)v;
  return 0;
}

static void unit_vector(double lat, double lng, double u[3]) {
  double la = lat * DEG, lo = lng * DEG;
  u[0] = cos(la) * cos(lo);
  u[1] = cos(la) * sin(lo);
  u[2] = sin(la);
}

/* Splits line [line, end) at tabs, turning them into NULs, into col[];
 * returns the number of columns found, counting at most GAZ_COLUMNS + 1.
 * *end must already be NUL. */
static size_t split_columns(char *line, char *end, char *col[GAZ_COLUMNS + 1]) {
  size_t nc = 1;
  col[0] = line;
  for (char *c = line; c < end; c++)
    if (*c == '\t') {
      *c = '\0';
      if (nc == GAZ_COLUMNS + 1)
        break;
      col[nc++] = c + 1;
    }
  return nc;
}

/* Parses one data line into *e, or returns the problem. prev is the
 * previous pincode (0 before the first). */
static const char *parse_entry(char *line, char *end, int32_t prev,
                               struct gaz_entry *e, const char **bad_column) {
  char *col[GAZ_COLUMNS + 1];
  size_t nc = split_columns(line, end, col);
  *bad_column = NULL;
  if (nc != GAZ_COLUMNS)
    return nc > GAZ_COLUMNS ? "more than 12 columns" : "fewer than 12 columns";
  long pin, offices, neighbours, tier;
  if (col[1] - col[0] != 7 || col[0][0] < '1' || col[0][0] > '9' ||
      parse_count(col[0], 999999, &pin) < 0) {
    *bad_column = column_names[0];
    return "not a PIN (6 digits, the first 1-9)";
  }
  if (parse_degrees(col[1], -90, 90, &e->lat) < 0) {
    *bad_column = column_names[1];
    return "not a latitude";
  }
  if (parse_degrees(col[2], -180, 180, &e->lng) < 0) {
    *bad_column = column_names[2];
    return "not a longitude";
  }
  if (parse_count(col[3], 65535, &offices) < 0) {
    *bad_column = column_names[3];
    return "not a count (0-65535)";
  }
  if (parse_count(col[4], 65535, &neighbours) < 0) {
    *bad_column = column_names[4];
    return "not a count (0-65535)";
  }
  if (parse_count(col[5], 3, &tier) < 0) {
    *bad_column = column_names[5];
    return "not a tier (0-3)";
  }
  for (int c = 6; c <= 8; c++)
    if (!*col[c]) {
      *bad_column = column_names[c];
      return "empty";
    }
  if (pin <= prev)
    return pin == prev ? "duplicate pincode" : "pincodes out of order";
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
  return NULL;
}

int gaz_load_buf(const char *data, size_t len, struct gaz **out,
                 struct gerr *err) {
  *out = NULL;
  if (!data || len == 0)
    return gerr_set(err, GERR_INVALID_INPUT, "gazetteer line 1: no header");
  struct gaz *g = calloc(1, sizeof *g);
  if (!g)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  size_t lines = 1;
  for (const char *p = data, *end = data + len;
       (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
    lines++;
  g->text = malloc(len + 1);
  g->e = malloc(lines * sizeof *g->e);
  if (!g->text || !g->e) {
    gaz_free(g);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  memcpy(g->text, data, len);
  g->text[len] = '\0';

  char *p = g->text, *end = g->text + len;
  const char *nul = memchr(g->text, '\0', len); /* the first, if any */
  size_t lineno = 0;
  const char *why = NULL, *column = NULL;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *line_end = nl ? nl : end;
    char *line = p;
    p = line_end + 1;
    lineno++;
    if (nul && line <= nul && nul < line_end) {
      why = "NUL byte";
      break;
    }
    if (line_end > line && line_end[-1] == '\r')
      line_end--;
    *line_end = '\0';
    if (lineno == 1) {
      if (strcmp(line, GAZ_HEADER) != 0) {
        why = "header is not the 12 expected column names";
        break;
      }
      continue;
    }
    if (!*line) {
      why = "empty line";
      break;
    }
    int32_t prev = g->n ? g->e[g->n - 1].pincode : 0;
    if ((why = parse_entry(line, line_end, prev, &g->e[g->n], &column)) != NULL)
      break;
    g->n++;
  }
  if (why) {
    gaz_free(g);
    if (column)
      return gerr_set(err, GERR_INVALID_INPUT, "gazetteer line %zu: %s: %s",
                      lineno, column, why);
    return gerr_set(err, GERR_INVALID_INPUT, "gazetteer line %zu: %s", lineno,
                    why);
  }
  if (g->n == 0) {
    gaz_free(g);
    return gerr_set(err, GERR_INVALID_INPUT, "gazetteer: no pincodes");
  }
  g->unit = malloc(g->n * sizeof *g->unit);
  if (!g->unit) {
    gaz_free(g);
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  for (size_t i = 0; i < g->n; i++)
    unit_vector(g->e[i].lat, g->e[i].lng, g->unit[i]);
  *out = g;
  return 0;
}

int gaz_load_default(struct gaz **out, struct gerr *err) {
  int rc = gaz_load_buf(gromo_gazetteer_tsv,
                        (size_t)(gromo_gazetteer_tsv_end - gromo_gazetteer_tsv),
                        out, err);
  if (rc < 0)
    gerr_prefix(err, "embedded data/pincodes.tsv");
  return rc;
}

void gaz_free(struct gaz *g) {
  if (!g)
    return;
  free(g->text);
  free(g->e);
  free(g->unit);
  free(g);
}

/* ---- lookups ------------------------------------------------------------ */

size_t gaz_count(const struct gaz *g) { return g ? g->n : 0; }

const struct gaz_entry *gaz_at(const struct gaz *g, size_t i) {
  return i < g->n ? &g->e[i] : NULL;
}

/* The first index whose pincode is >= pincode. */
static size_t lower_bound(const struct gaz *g, int32_t pincode) {
  size_t lo = 0, hi = g->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (g->e[mid].pincode < pincode)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

long gaz_index(const struct gaz *g, int32_t pincode) {
  size_t i = lower_bound(g, pincode);
  return i < g->n && g->e[i].pincode == pincode ? (long)i : -1;
}

const struct gaz_entry *gaz_find(const struct gaz *g, int32_t pincode) {
  long i = gaz_index(g, pincode);
  return i < 0 ? NULL : &g->e[i];
}

double gaz_km(double lat1, double lng1, double lat2, double lng2) {
  double dlat = (lat2 - lat1) * DEG, dlng = (lng2 - lng1) * DEG;
  double a = sin(dlat / 2), b = sin(dlng / 2);
  double h = a * a + cos(lat1 * DEG) * cos(lat2 * DEG) * b * b;
  return 2 * EARTH_KM * asin(fmin(1.0, sqrt(h)));
}

/* ---- nearest ------------------------------------------------------------ */

static const int32_t pow10_of[7] = {1, 10, 100, 1000, 10000, 100000, 1000000};

static int shared_prefix(int32_t a, int32_t b) {
  int k = 0;
  while (k < 6 && a / pow10_of[5 - k] == b / pow10_of[5 - k])
    k++;
  return k;
}

/* A candidate while searching: ranked by prefix (longer first), then by
 * chord (the straight-line distance through the Earth, monotone in the
 * great-circle distance and far cheaper), then by pincode. */
struct cand {
  uint32_t i;
  int prefix;
  double key;
};

static int worse(const struct cand *a, const struct cand *b) {
  if (a->prefix != b->prefix)
    return a->prefix < b->prefix;
  if (a->key != b->key)
    return a->key > b->key;
  return a->i > b->i;
}

/* A max-heap of the k best so far, the worst at the top. */
struct best {
  struct cand *h;
  size_t n, k;
};

static void best_sift_down(struct best *b, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < b->n && worse(&b->h[l], &b->h[m]))
      m = l;
    if (r < b->n && worse(&b->h[r], &b->h[m]))
      m = r;
    if (m == i)
      return;
    struct cand t = b->h[i];
    b->h[i] = b->h[m];
    b->h[m] = t;
    i = m;
  }
}

/* Whether c would enter the k best. */
static int best_wants(const struct best *b, const struct cand *c) {
  return b->n < b->k || worse(&b->h[0], c);
}

static void best_add(struct best *b, const struct cand *c) {
  if (b->n < b->k) {
    size_t i = b->n++;
    b->h[i] = *c;
    while (i > 0 && worse(&b->h[(i - 1) / 2], &b->h[i])) {
      struct cand t = b->h[i];
      b->h[i] = b->h[(i - 1) / 2];
      b->h[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
  } else {
    b->h[0] = *c;
    best_sift_down(b, 0);
  }
}

static int cmp_cand(const void *pa, const void *pb) {
  const struct cand *a = pa, *b = pb;
  return worse(a, b) ? 1 : worse(b, a) ? -1 : 0;
}

static double chord2(const double a[3], const double b[3]) {
  double x = a[0] - b[0], y = a[1] - b[1], z = a[2] - b[2];
  return x * x + y * y + z * z;
}

/* Offers entries [lo, hi) that all share `prefix` digits with the query;
 * `accept` is asked only about entries that would enter the k best. */
static void offer_range(const struct gaz *g, struct best *b, size_t lo,
                        size_t hi, int prefix, const double at[3],
                        int32_t query, int (*accept)(int32_t, void *),
                        void *ctx) {
  for (size_t i = lo; i < hi; i++) {
    if (g->e[i].pincode == query)
      continue;
    struct cand c = {(uint32_t)i, prefix, at ? chord2(at, g->unit[i]) : 0};
    if (!at) /* no place to measure from: nearest number instead */
      c.key = fabs((double)g->e[i].pincode - (double)query);
    if (best_wants(b, &c) && (!accept || accept(g->e[i].pincode, ctx)))
      best_add(b, &c);
  }
}

/* When the query is in the gazetteer every other entry is ranked by its
 * distance alone (prefix 0 for all during the search), which a full scan of
 * cheap chord lengths does in well under a millisecond.
 *
 * When it is not, the query's place is estimated as the centroid of the
 * pincodes sharing its longest known prefix; candidates rank by shared
 * prefix, then by distance to that estimate. Entries sharing a prefix are
 * contiguous in pincode order, so the search walks outwards from the
 * longest prefix range and stops once k candidates of a longer prefix are
 * held. A query sharing no digit with any entry has no estimate: km is -1
 * and ties go to the numerically nearest pincode. */
size_t gaz_nearest(const struct gaz *g, int32_t pincode,
                   int (*accept)(int32_t pincode, void *ctx), void *ctx,
                   size_t k, struct gaz_near *out) {
  if (k == 0 || !g || g->n == 0)
    return 0;
  if (k > g->n)
    k = g->n;
  struct best b = {malloc(k * sizeof *b.h), 0, k};
  if (!b.h)
    return 0;
  long qi = gaz_index(g, pincode);
  double at[3] = {0, 0, 0};
  int have_at = 0;
  if (qi >= 0) {
    memcpy(at, g->unit[qi], sizeof at);
    have_at = 1;
    offer_range(g, &b, 0, g->n, 0, at, pincode, accept, ctx);
  } else {
    /* lo[p], hi[p]: the range sharing the first p digits (p = 0: all). */
    size_t lo[7], hi[7];
    for (int p = 0; p <= 6; p++) {
      int32_t div = pow10_of[6 - p], base = pincode / div * div;
      lo[p] = p ? lower_bound(g, base) : 0;
      hi[p] = p ? lower_bound(g, base + div) : g->n;
    }
    int longest = 6;
    while (longest > 0 && lo[longest] == hi[longest])
      longest--;
    if (longest > 0) {
      for (size_t i = lo[longest]; i < hi[longest]; i++)
        for (int d = 0; d < 3; d++)
          at[d] += g->unit[i][d];
      double norm = sqrt(at[0] * at[0] + at[1] * at[1] + at[2] * at[2]);
      for (int d = 0; d < 3 && norm > 0; d++)
        at[d] /= norm;
      have_at = norm > 0;
    }
    for (int p = longest; p >= 0; p--) {
      if (b.n == b.k && b.h[0].prefix > p)
        break; /* all k held share more digits than any further entry */
      /* Level p: its range less the inner one, offered already. */
      size_t in_lo = p == longest ? hi[p] : lo[p + 1];
      size_t in_hi = p == longest ? hi[p] : hi[p + 1];
      const double *from = have_at ? at : NULL;
      offer_range(g, &b, lo[p], in_lo, p, from, pincode, accept, ctx);
      offer_range(g, &b, in_hi, hi[p], p, from, pincode, accept, ctx);
    }
  }
  qsort(b.h, b.n, sizeof *b.h, cmp_cand);
  double qlat = 0, qlng = 0;
  if (have_at) {
    qlat = asin(fmax(-1.0, fmin(1.0, at[2]))) / DEG;
    qlng = atan2(at[1], at[0]) / DEG;
    if (qi >= 0) {
      qlat = g->e[qi].lat;
      qlng = g->e[qi].lng;
    }
  }
  for (size_t j = 0; j < b.n; j++) {
    const struct gaz_entry *e = &g->e[b.h[j].i];
    out[j].e = e;
    out[j].km = have_at ? gaz_km(qlat, qlng, e->lat, e->lng) : -1;
    out[j].shared_prefix = shared_prefix(pincode, e->pincode);
  }
  size_t n = b.n;
  free(b.h);
  return n;
}
