/* Regions of docs/rules.md §4 inside a suite: the pincodes with sales clustered by
 * place and demand pattern (gromo/cluster.h), starting from the serving
 * version's regions so that ids stay, the summary of each region rendered
 * once, ids checked again against the serving version when the suite is
 * saved, and the regions part of the suite blob. The suite's predictions
 * come in as figures (suite_regions_make in suite.c works them out): this
 * file calls nothing of the suite's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/cluster.h"
#include "gromo/gazetteer.h"
#include "gromo/store.h"
#include "ml/ml_int.h"

/* Weights of the clustering (docs/regions.md "In the service"): place
 * against the demand pattern (cluster_config.spatial_weight), and within
 * the pattern the channel mix, the level and the trend each against a
 * single column of the product mix. */
#define REGION_PLACE_WEIGHT 1.5
#define REGION_SIDE_WEIGHT 0.35

struct suite_regions {
  size_t k;
  int32_t *pin_region; /* d->npin: region id, 0 when not clustered */
  struct region_pin *pin_pred; /* d->npin: the sums of the pincode's cells
                                  (expected demand, rise law); NULL once
                                  loaded from a blob (the summaries are
                                  kept) */
  int32_t *ids;        /* k, ascending */
  char **text;         /* k: the summary of ids[i] as JSON */
  char *list_text;     /* all of them, a JSON array */
  json_t *clustering;  /* the clustering report (also in s->report) */
};

static void clear_texts(struct suite_regions *r);

void suite_regions_free(struct suite_regions *r) {
  if (!r)
    return;
  clear_texts(r);
  free(r->pin_region);
  free(r->pin_pred);
  json_decref(r->clustering);
  free(r);
}

/* ---- the demand pattern ---- */

static double round4(double v) { return round(v * 10000.0) / 10000.0; }

static uint64_t pin_total(const struct dataset *d, size_t pin, int from, int to) {
  const uint32_t *pa = d->pin_all + pin * (size_t)d->nper;
  uint64_t t = 0;
  for (int a = from; a < to && a < d->nper; a++)
    t += pa[a];
  return t;
}

/* Pattern of pincode `pin` into f: product mix, channel mix (shares over the
 * kept periods), level (log of 1 + sales per period) and trend (the last
 * three periods against the three before, in [-1, 1]). */
static void pattern(const struct dataset *d, size_t pin, double *f) {
  size_t K = d->nprod, C = d->nchan, P = (size_t)d->nper;
  int known = d->known < d->nper ? d->known : d->nper;
  double all = (double)pin_total(d, pin, 0, known);
  for (size_t k = 0; k < K; k++) {
    const uint32_t *pp = d->pin_prod + (pin * K + k) * P;
    double t = 0;
    for (int a = 0; a < known; a++)
      t += pp[a];
    f[k] = all > 0 ? t / all : 0;
  }
  for (size_t c = 0; c < C; c++) {
    const uint32_t *pc = d->pin_chan + (pin * C + c) * P;
    double t = 0;
    for (int a = 0; a < known; a++)
      t += pc[a];
    f[K + c] = all > 0 ? t / all : 0;
  }
  f[K + C] = log1p(all / (known > 0 ? known : 1));
  double recent = (double)pin_total(d, pin, 0, 3), before = (double)pin_total(d, pin, 3, 6);
  f[K + C + 1] = recent + before > 0 ? (recent - before) / (recent + before) : 0;
}

/* The floor under product_mix_variance_vs_random that counting noise sets:
 * a pincode's product shares are counts of its m sales, with a variance no
 * grouping removes, estimated without bias by p (1 - p) / (m - 1) from its
 * own shares (0 for a pincode with a single sale, whose noise one sale
 * cannot tell: so the floor is a lower bound), over the variance random
 * groupings into k leave, (n - k) / (n - 1) of the total. at[j] is the
 * pincode of row j of feat (n x nf, the product mix first). NaN when the mix
 * never varies. */
static double mix_noise_floor(const struct dataset *d, const size_t *at, const double *feat,
                              size_t n, size_t nf, int k) {
  size_t K = d->nprod;
  int known = d->known < d->nper ? d->known : d->nper;
  double mean[ML_MAX_PRODUCTS] = {0}, total = 0, noise = 0;
  if (n < 2 || (size_t)k >= n)
    return NAN;
  for (size_t j = 0; j < n; j++)
    for (size_t p = 0; p < K; p++)
      mean[p] += feat[j * nf + p] / (double)n;
  for (size_t j = 0; j < n; j++) {
    double m = (double)pin_total(d, at[j], 0, known);
    for (size_t p = 0; p < K; p++) {
      double f = feat[j * nf + p];
      total += (f - mean[p]) * (f - mean[p]);
      if (m > 1)
        noise += f * (1 - f) / (m - 1);
    }
  }
  double random = total * (double)(n - (size_t)k) / (double)(n - 1);
  return random > 0 ? noise / random : NAN;
}

/* ---- summaries ---- */

/* The region's summary as docs/rules.md §4 and the original GET /regions/{id} give it,
 * for the members (indices into d, ascending) mem[0..n); pin_pred[i] holds
 * pincode i's sums over its cells. The rise is docs/rules.md §3's, of the
 * region's total: P(total next period > total last period) under the law
 * of the sum of its cells (ml_rise_of_sum), as the insights rank it;
 * demand_rise_flag says whether it is above one half. */
static json_t *summary(const struct dataset *d, const struct region_pin *pin_pred, int32_t id,
                       const size_t *mem, size_t n) {
  size_t K = d->nprod, C = d->nchan, P = (size_t)d->nper;
  double prod[ML_MAX_PRODUCTS] = {0}, chan[ML_MAX_CHANNELS] = {0};
  double last = 0, pred = 0, sx = 0, sy = 0, sz = 0;
  struct region_pin sum = {0, 0, 0, 0};
  double min_lat = 90, max_lat = -90, min_lng = 180, max_lng = -180;
  for (size_t m = 0; m < n; m++) {
    size_t i = mem[m];
    last += (double)pin_total(d, i, 0, 1);
    pred += pin_pred[i].pred;
    sum.last += pin_pred[i].last;
    sum.rise_mean += pin_pred[i].rise_mean;
    sum.rise_var += pin_pred[i].rise_var;
    const struct gaz_entry *e = d->ge[i];
    if (e) {
      double la = e->lat * M_PI / 180, lo = e->lng * M_PI / 180;
      sx += cos(la) * cos(lo);
      sy += cos(la) * sin(lo);
      sz += sin(la);
      min_lat = fmin(min_lat, e->lat);
      max_lat = fmax(max_lat, e->lat);
      min_lng = fmin(min_lng, e->lng);
      max_lng = fmax(max_lng, e->lng);
    }
  }
  /* distributions over the last period; over every kept period when the
   * region sold nothing in the last one */
  int to = last > 0 ? 1 : (int)P;
  double tp = 0, tc = 0;
  for (size_t m = 0; m < n; m++)
    for (int a = 0; a < to; a++) {
      for (size_t k = 0; k < K; k++)
        prod[k] += d->pin_prod[(mem[m] * K + k) * P + (size_t)a];
      for (size_t c = 0; c < C; c++)
        chan[c] += d->pin_chan[(mem[m] * C + c) * P + (size_t)a];
    }
  for (size_t k = 0; k < K; k++)
    tp += prod[k];
  for (size_t c = 0; c < C; c++)
    tc += chan[c];
  json_t *pd = json_object(), *cd = json_object(), *pins = json_array(), *states = json_array(),
         *districts = json_array();
  size_t top_p = 0, top_c = 0;
  for (size_t k = 0; k < K; k++) {
    json_object_set_new(pd, d->prod[k], json_real(round4(tp > 0 ? prod[k] / tp : 0)));
    if (prod[k] > prod[top_p])
      top_p = k;
  }
  for (size_t c = 0; c < C; c++) {
    json_object_set_new(cd, d->chan[c], json_real(round4(tc > 0 ? chan[c] / tc : 0)));
    if (chan[c] > chan[top_c])
      top_c = c;
  }
  json_t *seen_state = json_object(), *seen_district = json_object();
  for (size_t m = 0; m < n; m++) {
    char pc[8];
    snprintf(pc, sizeof pc, "%06d", (int)d->pins[mem[m]]);
    json_array_append_new(pins, json_string(pc));
    const struct gaz_entry *e = d->ge[mem[m]];
    if (!e)
      continue;
    if (e->state && !json_object_get(seen_state, e->state))
      json_object_set_new(seen_state, e->state, json_true());
    if (e->district && e->state) {
      char key[256];
      snprintf(key, sizeof key, "%s\t%s", e->state, e->district);
      if (!json_object_get(seen_district, key)) {
        json_object_set_new(seen_district, key, json_true());
        json_array_append_new(districts,
                              json_pack("{s:s,s:s}", "name", e->district, "state", e->state));
      }
    }
  }
  const char *st;
  json_t *v;
  json_object_foreach(seen_state, st, v)
    json_array_append_new(states, json_string(st));
  json_decref(seen_state);
  json_decref(seen_district);
  double norm = sqrt(sx * sx + sy * sy + sz * sz);
  json_t *centroid = norm > 0 ? json_pack("{s:f,s:f}", "lat",
                                          round4(asin(fmin(1, fmax(-1, sz / norm))) * 180 / M_PI),
                                          "lng", round4(atan2(sy, sx) * 180 / M_PI))
                              : json_null();
  json_t *bbox = norm > 0 ? json_pack("{s:f,s:f,s:f,s:f}", "min_lat", round4(min_lat), "min_lng",
                                      round4(min_lng), "max_lat", round4(max_lat), "max_lng",
                                      round4(max_lng))
                          : json_null();
  pred = round4(pred);
  double rise = ml_rise_of_sum(&sum);
  return json_pack("{s:i,s:i,s:o,s:I,s:f,s:f,s:b,s:f,s:{s:o,s:s},s:{s:o,s:s},s:o,s:o,s:o,s:o}",
                   "region_id", (int)id, "pincode_count", (int)n, "pincodes", pins,
                   "total_demand", (json_int_t)last, "predicted_demand", pred, "avg_demand_per_pincode",
                   round4(n ? last / (double)n : 0), "demand_rise_flag", rise > 0.5,
                   "demand_rise_probability", round4(rise),
                   "products", "distribution", pd, "top_product", K ? d->prod[top_p] : "",
                   "channels", "distribution", cd, "top_channel", C ? d->chan[top_c] : "",
                   "centroid", centroid, "bounding_box", bbox, "states", states, "districts",
                   districts);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

struct by_id {
  int32_t id;
  json_t *j;
};
static int cmp_by_id(const void *a, const void *b) {
  return cmp_i32(&((const struct by_id *)a)->id, &((const struct by_id *)b)->id);
}

static void clear_texts(struct suite_regions *r) {
  for (size_t i = 0; r->text && i < r->k; i++)
    free(r->text[i]);
  free(r->text);
  free(r->ids);
  free(r->list_text);
  r->text = NULL;
  r->ids = NULL;
  r->list_text = NULL;
  r->k = 0;
}

/* Takes the summaries of `list` (a JSON array, any order, ids distinct) as
 * the rendered ones: r->ids ascending, r->text, r->list_text. 0 or -1. */
static int adopt(struct suite_regions *r, json_t *list) {
  clear_texts(r);
  size_t n = json_array_size(list);
  struct by_id *o = malloc((n ? n : 1) * sizeof *o);
  r->ids = malloc((n ? n : 1) * sizeof *r->ids);
  r->text = calloc(n ? n : 1, sizeof *r->text);
  json_t *sorted = json_array();
  int rc = o && r->ids && r->text && sorted ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    o[i].j = json_array_get(list, i);
    json_int_t id = json_integer_value(json_object_get(o[i].j, "region_id"));
    if (id < 1 || id > INT32_MAX)
      rc = -1;
    o[i].id = (int32_t)id;
  }
  if (rc == 0)
    qsort(o, n, sizeof *o, cmp_by_id);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (i && o[i].id == o[i - 1].id)
      rc = -1;
    r->ids[i] = o[i].id;
    r->text[i] = json_dumps(o[i].j, JSON_COMPACT | JSON_REAL_PRECISION(12));
    r->k = i + 1;
    if (!r->text[i] || json_array_append(sorted, o[i].j) < 0)
      rc = -1;
  }
  if (rc == 0 && !(r->list_text = json_dumps(sorted, JSON_COMPACT | JSON_REAL_PRECISION(12))))
    rc = -1;
  json_decref(sorted);
  free(o);
  return rc;
}

/* Computes every region's summary from r->pin_region and r->pin_pred and
 * adopts them. 0 or -1. */
static int render(const struct dataset *d, struct suite_regions *r) {
  size_t np = d->npin, k = 0;
  int32_t *ids = malloc((np ? np : 1) * sizeof *ids);
  size_t *mem = malloc((np ? np : 1) * sizeof *mem);
  json_t *all = json_array();
  int rc = ids && mem && all ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < np; i++)
    if (r->pin_region[i] > 0)
      ids[k++] = r->pin_region[i];
  if (rc == 0)
    qsort(ids, k, sizeof *ids, cmp_i32);
  for (size_t c = 0; rc == 0 && c < k; c++) {
    if (c && ids[c] == ids[c - 1])
      continue;
    size_t n = 0;
    for (size_t i = 0; i < np; i++)
      if (r->pin_region[i] == ids[c])
        mem[n++] = i;
    json_t *one = summary(d, r->pin_pred, ids[c], mem, n);
    if (!one || json_array_append_new(all, one) < 0)
      rc = -1;
  }
  if (rc == 0)
    rc = adopt(r, all);
  json_decref(all);
  free(ids);
  free(mem);
  return rc;
}

/* ---- building, relabelling ---- */

/* A figure for the report: null when it has no value (a ratio of nothing
 * that varies, say). */
static json_t *figure(double v) { return isfinite(v) ? json_real(round4(v)) : json_null(); }

struct old_ids {
  const struct dataset *d;
  int32_t *old; /* d->npin */
};

static int on_old(void *ctx, int32_t pincode, int32_t region_id) {
  struct old_ids *o = ctx;
  long i = ml_pin_index(o->d, pincode);
  if (i >= 0 && region_id > 0)
    o->old[i] = region_id;
  return 0;
}

/* The region id of each pincode of d under model version `version` into
 * *old (d->npin entries, 0 for none; the caller frees). 0 or -1. */
static int regions_of_version(struct store *db, int64_t version, const struct dataset *d,
                              int32_t **old, struct gerr *err) {
  struct old_ids o = {d, calloc(d->npin ? d->npin : 1, sizeof(int32_t))};
  *old = NULL;
  if (!o.old)
    return gerr_set(err, GERR_INTERNAL, "out of memory reading regions");
  if (store_regions_scan(db, version, on_old, &o, err) < 0) {
    free(o.old);
    return -1;
  }
  *old = o.old;
  return 0;
}

/* The "previous" part of the clustering report: what the ids were matched
 * against and how many pincodes kept theirs. */
static void report_previous(json_t *clustering, int64_t version, int k_prev, int warm,
                            size_t with, size_t kept) {
  json_t *p = version > 0 ? json_pack("{s:I,s:i,s:b,s:I,s:I,s:o}", "version", (json_int_t)version,
                                      "regions", k_prev, "warm_start", warm, "pincodes",
                                      (json_int_t)with, "pincodes_kept_region",
                                      (json_int_t)kept, "kept_share",
                                      figure(with ? (double)kept / (double)with : NAN))
                          : json_null();
  json_object_set_new(clustering, "previous", p);
}

int suite_regions_build(struct suite *s, struct store *db, const struct region_pin *pin_pred,
                        int k, uint64_t seed, struct gerr *err) {
  const struct dataset *d = s->d;
  size_t np = d->npin, K = d->nprod, C = d->nchan, nf = K + C + 2, n = 0;
  struct suite_regions *r = calloc(1, sizeof *r);
  double *lat = malloc((np ? np : 1) * sizeof *lat), *lng = malloc((np ? np : 1) * sizeof *lng);
  double *feat = malloc((np ? np : 1) * nf * sizeof *feat), *weight = malloc(nf * sizeof *weight);
  size_t *at = malloc((np ? np : 1) * sizeof *at);
  int32_t *prev = malloc((np ? np : 1) * sizeof *prev), *old = NULL;
  int64_t from = 0;
  struct cluster_result res;
  memset(&res, 0, sizeof res);
  int rc = -1;
  if (!r || !lat || !lng || !feat || !weight || !at || !prev ||
      !(r->pin_region = calloc(np ? np : 1, sizeof *r->pin_region)) ||
      !(r->pin_pred = malloc((np ? np : 1) * sizeof *r->pin_pred))) {
    gerr_set(err, GERR_INTERNAL, "out of memory clustering regions");
    goto out;
  }
  memcpy(r->pin_pred, pin_pred, np * sizeof *r->pin_pred);
  /* the serving version's regions: the warm start */
  int have = db ? store_model_serving_version(db, &from, err) : 1;
  if (have < 0 || (have == 0 && regions_of_version(db, from, d, &old, err) < 0)) {
    gerr_prefix(err, "reading the serving regions");
    goto out;
  }
  if (have != 0)
    from = 0;
  for (size_t i = 0; i < np; i++) {
    if (!d->ge[i] || pin_total(d, i, 0, d->nper) == 0)
      continue; /* no place or no sales in the kept periods */
    lat[n] = d->ge[i]->lat;
    lng[n] = d->ge[i]->lng;
    pattern(d, i, feat + n * nf);
    prev[n] = old ? old[i] : 0;
    at[n++] = i;
  }
  size_t unplaced = np - n;
  /* the product mix leads; the channel mix (its columns together), the
   * level and the trend weigh REGION_SIDE_WEIGHT each */
  for (size_t j = 0; j < nf; j++)
    weight[j] = j < K ? 1.0 : j < K + C ? REGION_SIDE_WEIGHT / sqrt((double)C) : REGION_SIDE_WEIGHT;
  if (n >= 2) {
    struct cluster_input in = {.n = n, .lat = lat, .lng = lng, .nf = nf, .feat = feat,
                               .feat_weight = weight, .mix_off = 0, .mix_len = K,
                               .prev_id = old ? prev : NULL};
    struct cluster_config cfg;
    cluster_config_defaults(&cfg);
    cfg.k = k > 0 && (size_t)k > n ? (int)n : k;
    cfg.seed = seed;
    /* Place weighs more than the pattern: otherwise pincodes of the same
     * kind far apart (metros, say) can fall into one region. */
    cfg.spatial_weight = REGION_PLACE_WEIGHT;
    if (cluster_run(&in, &cfg, &res, err) < 0) {
      gerr_prefix(err, "clustering regions");
      goto out;
    }
    for (size_t j = 0; j < n; j++)
      r->pin_region[at[j]] = res.id[res.label[j]];
  } else if (n == 1) {
    r->pin_region[at[0]] = prev[0] > 0 ? prev[0] : 1;
    res.k = res.k_best = 1;
    res.prev_points = res.prev_kept = prev[0] > 0;
  }
  json_t *cand = json_array();
  for (int c = 0; c < res.ncand; c++)
    json_array_append_new(cand, json_pack("{s:i,s:o}", "k", res.cand_k[c], "score",
                                          figure(res.cand_score[c])));
  const char *chosen = k > 0 ? "--regions" : res.k != res.k_best ? "previous k kept" : "criterion";
  char algorithm[320];
  snprintf(algorithm, sizeof algorithm,
           "k-means++ on place (unit sphere, weight %g) and demand pattern (product mix; channel "
           "mix, level and trend at %g each; each pincode's averaged with its near neighbours'), "
           "k by a penalised criterion, started from the serving version's regions",
           REGION_PLACE_WEIGHT, REGION_SIDE_WEIGHT);
  r->clustering = json_pack(
      "{s:s,s:s,s:i,s:i,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "algorithm", algorithm,
      "chosen_by", chosen, "regions", res.k, "criterion_best", res.k_best, "pincodes",
      (json_int_t)n, "pincodes_not_clustered", (json_int_t)unplaced, "silhouette",
      figure(res.silhouette), "median_km_to_centroid", figure(res.median_km),
      "median_km_random_partition", figure(res.median_km_random), "median_km_vs_random",
      figure(res.median_km_ratio), "product_mix_variance_vs_random",
      figure(res.mix_variance_ratio), "product_mix_noise_floor",
      figure(mix_noise_floor(d, at, feat, n, nf, res.k)), "candidates", cand);
  if (r->clustering)
    report_previous(r->clustering, from, res.k_prev, res.warm, res.prev_points, res.prev_kept);
  if (!r->clustering || render(d, r) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory summarising regions");
    goto out;
  }
  json_object_set(s->report, "regions", r->clustering);
  suite_regions_free(s->reg);
  s->reg = r;
  r = NULL;
  rc = 0;
out:
  cluster_result_free(&res);
  suite_regions_free(r);
  free(lat);
  free(lng);
  free(feat);
  free(weight);
  free(at);
  free(prev);
  free(old);
  return rc;
}

int suite_regions_relabel(struct suite *s, struct store *db, int64_t prev, struct gerr *err) {
  struct suite_regions *r = s->reg;
  if (!r || r->k == 0 || prev <= 0)
    return 0;
  const struct dataset *d = s->d;
  size_t np = d->npin, n = 0, with = 0, kept = 0;
  int32_t *label = malloc((np ? np : 1) * sizeof *label);
  int32_t *old = malloc((np ? np : 1) * sizeof *old), *by_pin = NULL;
  int32_t *id_of = malloc(r->k * sizeof *id_of);
  int rc = -1, changed = 0;
  if (!label || !old || !id_of) {
    gerr_set(err, GERR_INTERNAL, "out of memory matching regions");
    goto out;
  }
  if (regions_of_version(db, prev, d, &by_pin, err) < 0)
    goto out;
  for (size_t i = 0; i < np; i++) {
    if (r->pin_region[i] <= 0)
      continue;
    int32_t *hit = bsearch(&r->pin_region[i], r->ids, r->k, sizeof *r->ids, cmp_i32);
    label[n] = (int32_t)(hit - r->ids);
    old[n++] = by_pin[i];
  }
  if (cluster_stable_ids(n, label, (int)r->k, old, id_of, err) < 0)
    goto out;
  for (size_t c = 0; c < r->k; c++)
    changed |= id_of[c] != r->ids[c];
  /* the previous regions present, counted on the sorted old ids */
  int k_prev = 0;
  qsort(by_pin, np, sizeof *by_pin, cmp_i32);
  for (size_t i = 0; i < np; i++)
    k_prev += by_pin[i] > 0 && (i == 0 || by_pin[i] != by_pin[i - 1]);
  for (size_t i = 0, j = 0; i < np; i++)
    if (r->pin_region[i] > 0) {
      r->pin_region[i] = id_of[label[j]];
      with += old[j] > 0;
      kept += old[j] > 0 && r->pin_region[i] == old[j];
      j++;
    }
  /* Built from this version's regions, the ids are already its own; built
   * from another (one swapped in while this trained), they are renumbered.
   * The report says against what. */
  json_t *p = json_object_get(r->clustering, "previous");
  int warm = json_is_true(json_object_get(p, "warm_start")) &&
             json_integer_value(json_object_get(p, "version")) == prev;
  report_previous(r->clustering, prev, k_prev, warm, with, kept);
  if (changed) {
    if (!r->pin_pred) {
      gerr_set(err, GERR_INTERNAL, "the regions of a loaded model cannot be renumbered");
      goto out;
    }
    if (render(d, r) < 0) {
      gerr_set(err, GERR_INTERNAL, "out of memory summarising regions");
      goto out;
    }
  }
  rc = 0;
out:
  free(by_pin);
  free(label);
  free(old);
  free(id_of);
  return rc;
}

int suite_regions_store(const struct suite *s, struct store *db, struct gerr *err) {
  const struct suite_regions *r = s->reg;
  if (!r)
    return 0;
  const struct dataset *d = s->d;
  size_t n = 0;
  int32_t *pins = malloc((d->npin ? d->npin : 1) * sizeof *pins);
  int32_t *ids = malloc((d->npin ? d->npin : 1) * sizeof *ids);
  int rc = -1;
  if (!pins || !ids) {
    gerr_set(err, GERR_INTERNAL, "out of memory storing regions");
  } else {
    for (size_t i = 0; i < d->npin; i++)
      if (r->pin_region[i] > 0) {
        pins[n] = d->pins[i];
        ids[n++] = r->pin_region[i];
      }
    rc = store_regions_put(db, s->version, n, pins, ids, err);
  }
  free(pins);
  free(ids);
  return rc;
}

/* ---- the blob part: {"clustering":{...},"regions":[...]} ---- */

int suite_regions_save(const struct suite *s, struct buf *b) {
  const struct suite_regions *r = s->reg;
  if (!r)
    return 0;
  const char *c = NULL;
  char *cl = json_dumps(r->clustering, JSON_COMPACT | JSON_REAL_PRECISION(12));
  c = cl;
  int rc = !cl || buf_append(b, "{\"clustering\":", 14) || buf_append(b, c, strlen(c)) ||
           buf_append(b, ",\"regions\":", 11) ||
           buf_append(b, r->list_text, strlen(r->list_text)) || buf_append(b, "}", 1);
  free(cl);
  return rc ? -1 : 0;
}

int suite_regions_load(struct suite *s, const unsigned char *p, size_t n, struct gerr *err) {
  if (n == 0)
    return 0;
  json_error_t je;
  json_t *root = json_loadb((const char *)p, n, 0, &je);
  json_t *list = json_object_get(root, "regions");
  const struct dataset *d = s->d;
  struct suite_regions *r = calloc(1, sizeof *r);
  int rc = -1;
  if (!root || !json_is_array(list) || !json_is_object(json_object_get(root, "clustering")) ||
      !r || !(r->pin_region = calloc(d->npin ? d->npin : 1, sizeof *r->pin_region)))
    goto out;
  size_t i;
  json_t *reg;
  json_array_foreach(list, i, reg) {
    json_int_t id = json_integer_value(json_object_get(reg, "region_id"));
    json_t *pins = json_object_get(reg, "pincodes");
    if (id < 1 || id > INT32_MAX || !json_is_array(pins))
      goto out;
    size_t j;
    json_t *pc;
    json_array_foreach(pins, j, pc) {
      const char *t = json_string_value(pc);
      long at = t ? ml_pin_index(d, (int32_t)strtol(t, NULL, 10)) : -1;
      if (at < 0 || r->pin_region[at] != 0)
        goto out;
      r->pin_region[at] = (int32_t)id;
    }
  }
  r->clustering = json_incref(json_object_get(root, "clustering"));
  if (adopt(r, list) < 0)
    goto out;
  suite_regions_free(s->reg);
  s->reg = r;
  r = NULL;
  rc = 0;
out:
  json_decref(root);
  suite_regions_free(r);
  return rc < 0 ? gerr_set(err, GERR_INTERNAL, "the stored regions are damaged") : 0;
}

/* ---- serving ---- */

size_t suite_region_count(const struct suite *s) { return s->reg ? s->reg->k : 0; }

const char *suite_regions_json(const struct suite *s) {
  return s->reg ? s->reg->list_text : NULL;
}

const char *suite_region_json(const struct suite *s, int32_t id) {
  if (!s->reg || s->reg->k == 0)
    return NULL;
  int32_t *hit = bsearch(&id, s->reg->ids, s->reg->k, sizeof id, cmp_i32);
  return hit ? s->reg->text[hit - s->reg->ids] : NULL;
}

int32_t suite_region_of(const struct suite *s, int32_t pincode) {
  long i = s->reg ? ml_pin_index(s->d, pincode) : -1;
  return i >= 0 ? s->reg->pin_region[i] : 0;
}

size_t suite_region_pincodes(const struct suite *s, int32_t id, int32_t *out, size_t cap) {
  size_t n = 0;
  if (!s->reg || id <= 0)
    return 0;
  for (size_t i = 0; i < s->d->npin; i++)
    if (s->reg->pin_region[i] == id) {
      if (n < cap)
        out[n] = s->d->pins[i];
      n++;
    }
  return n;
}
