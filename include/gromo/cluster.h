/* Regions of docs/rules.md §4 as an algorithm: points on the sphere (pincodes, by
 * their gazetteer coordinates) that also carry a demand pattern are grouped
 * into clusters that are spatially compact and alike in demand. Nothing here
 * knows about sales or the store: the caller builds the pattern vectors.
 * Deterministic for a given input and seed. docs/regions.md has the method. */
#ifndef GROMO_CLUSTER_H
#define GROMO_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"

struct cluster_input {
  size_t n;                 /* points */
  const double *lat, *lng;  /* degrees, n each */
  size_t nf;                /* pattern features per point */
  const double *feat;       /* n x nf, row-major: the demand pattern */
  /* Weight of each pattern column once standardised (nf, each finite and
   * >= 0); NULL: 1 each. */
  const double *feat_weight;
  /* Columns [mix_off, mix_off + mix_len) of feat are the product mix (shares
   * summing to 1); the variance ratio of the result is computed on them. */
  size_t mix_off, mix_len;
  /* The previous clustering, for a warm start and stable ids: prev_id[i]
   * is the region id (>= 1) point i had, 0 for none (a newcomer). NULL:
   * there is none. */
  const int32_t *prev_id;
};

#define CLUSTER_MAX_CANDIDATES 32

struct cluster_config {
  int k;                 /* clusters; 0: chosen from the data */
  int kmin, kmax;        /* range searched when k == 0; 0: derived from n */
  int restarts;          /* k-means++ restarts of a cold start; default 8 */
  int max_iter;          /* Lloyd iterations per run; default 50 */
  double spatial_weight; /* weight of place against pattern; default 1:
                            equal total variance; 0: pattern alone */
  uint64_t seed;         /* default 1 */
};
void cluster_config_defaults(struct cluster_config *c);

struct cluster_result {
  int k;
  int32_t *label;              /* n: cluster of each point, 0 .. k-1 */
  int32_t *id;                 /* k: the stable id of each cluster (below) */
  double *centroid_lat;        /* k: spherical mean of the members, degrees */
  double *centroid_lng;
  double silhouette;           /* mean silhouette in the clustering's metric
                                  (of up to 2,000 sampled points) */
  double median_km;            /* median great-circle km, point to its centroid */
  /* The same of random partitions with the same cluster sizes (averaged
   * over several), and median_km over it: < 1 when clusters are compact. */
  double median_km_random;
  double median_km_ratio;
  /* Within-cluster variance of the product mix over that of a random
   * partition with the same cluster sizes (averaged over several); < 1
   * means clusters are more alike in product mix than chance. */
  double mix_variance_ratio;
  /* How k was chosen: the candidates tried and their score (the criterion
   * of docs/regions.md, lower is better), ascending k; ncand = 0 when k was
   * given. k_best is the candidate the criterion picks (k itself when k was
   * given; k differs from it when the previous k was kept). */
  int ncand;
  int cand_k[CLUSTER_MAX_CANDIDATES];
  double cand_score[CLUSTER_MAX_CANDIDATES];
  int k_best;
  /* The previous clustering: k_prev its regions with a member here (0:
   * none given); warm 1 when this result started from it (0 also when it
   * covered under half the points, or no longer fitted and a cold run won);
   * prev_points the points that had a region, prev_kept those of them whose
   * id stayed. */
  int k_prev;
  int warm;
  size_t prev_points, prev_kept;
};

/* Clusters in->n points. Ids: with prev_id, each cluster takes the previous
 * id it shares most members with where that sharing is real, as
 * cluster_stable_ids does; otherwise 1 .. k. GERR_INVALID_INPUT for n < 2,
 * k > n, non-finite input, coordinates outside [-90, 90] x [-180, 180], mix
 * columns beyond nf, a negative weight or previous id, or a config field out
 * of range (docs/regions.md); GERR_INTERNAL when out of memory. -1 with err
 * set (out then holds no arrays), 0 on success (out owns its arrays). cfg
 * NULL: the defaults. */
int cluster_run(const struct cluster_input *in, const struct cluster_config *cfg,
                struct cluster_result *out, struct gerr *err) GROMO_WUR;
void cluster_result_free(struct cluster_result *r);

/* Stable ids across runs. old_id[i] is the id point i had in the previous
 * clustering (0: it had none). Each new cluster takes the old id it shares
 * most members with, where that sharing is real (see docs/regions.md),
 * each old id going to at most one cluster; the others take fresh ids,
 * counting up from the largest old id present. id_of[c] (k entries) gets
 * the id of cluster c; ids are >= 1 and distinct. 0, or -1 with err set:
 * GERR_INVALID_INPUT for a label outside 0 .. k-1, a negative old id, or
 * fresh ids that would pass INT32_MAX; GERR_INTERNAL out of memory. */
int cluster_stable_ids(size_t n, const int32_t *label, int k, const int32_t *old_id,
                       int32_t *id_of, struct gerr *err) GROMO_WUR;

/* Adjusted Rand index of two labellings of n points (labels >= 0, any
 * range): 1 for the same partition, about 0 for independent ones. 1 when
 * n < 2; NaN for a negative label or when out of memory. */
double cluster_ari(size_t n, const int32_t *a, const int32_t *b);

#endif
