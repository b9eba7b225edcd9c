/* The demand models of docs/rules.md §3 as one unit: a model suite is what one
 * training run makes from the store (demand, demand rise, top product, their
 * calibrations and baselines, the period counts they read at serving time)
 * and what the registry keeps under one version. A suite is immutable once
 * built or loaded, so any number of threads predict from it without locks;
 * the service swaps suites through a model_holder. */
#ifndef GROMO_MODELS_H
#define GROMO_MODELS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"
#include "gromo/record.h"

struct gaz;
struct gaz_entry;
struct store;
struct suite; /* opaque */

/* ---- training ---- */

struct train_config {
  int period_days;     /* docs/rules.md §3 period length; default 30 */
  int origins;         /* rolling as-of dates learnt from, at most; default 24 */
  int rounds;          /* boosting rounds per model; default 150 */
  int depth;           /* tree depth; default 6 */
  int threads;         /* XGBoost threads; default 2 */
  double level;        /* interval level; default 0.8 */
  uint64_t seed;       /* sampling and calibration folds; default 1 */
  size_t max_sales_rows; /* top-product training sales, sampled; default 400000 */
  int regions;         /* docs/rules.md §4 regions; 0: chosen from the data */
  int read;            /* how sales are read: TRAIN_READ_*; default AUTO */
};
/* AUTO: the store's period cells aggregated by the database on PostgreSQL,
 * every sale on SQLite (docs/scaling.md says why); the other two force a
 * way (tests compare them). */
enum { TRAIN_READ_AUTO = 0, TRAIN_READ_ROWS, TRAIN_READ_CELLS };
void train_config_defaults(struct train_config *c);

/* Progress of a training run: stage name and fraction done (0-1). Called
 * from the training thread. */
typedef void (*train_progress_fn)(void *ctx, const char *stage, double frac);

/* Reads every sale of the store, builds period cells at the rolling origins,
 * trains the three models on all but the last period, evaluates them there
 * beside the baselines, calibrates on that holdout, then refits on all of
 * it. *out is the new suite (version 0 until saved). GERR_CONFLICT when the
 * store holds too little data to train on. */
int suite_train(struct store *db, const struct gaz *gaz,
                const struct train_config *cfg, train_progress_fn progress,
                void *progress_ctx, struct suite **out, struct gerr *err) GROMO_WUR;
void suite_free(struct suite *s); /* NULL allowed */

/* ---- registry ---- */

/* A registry row (gromo/store.h) as GET /models lists it and gromo models
 * list --json prints it: version, trained_at, rows, data_from and data_to
 * (null when unknown), duration_ms, serving, candidate, each model's
 * promotion ({"demand":true,...}) and the promotion record (null when it
 * has none). New reference, NULL when out of memory. */
struct model_row;
json_t *model_row_json(const struct model_row *r);

/* Versions a training keeps in the registry (gromo train, the server's
 * jobs): the newest ones, and the serving one. */
#define SUITE_KEEP_VERSIONS 5

/* Saves s as a new version in the registry (its number set in s), and
 * keeps the newest `keep` versions (and the serving). It serves when it is
 * no worse than the serving version (suite_save_as with if_better). 0 or
 * -1. */
int suite_save(struct store *db, struct suite *s, int keep, struct gerr *err) GROMO_WUR;
/* ---- promotion: champion and challenger (docs/models.md) ---- */

/* if_better: the new suite (the challenger) serves only when no model of
 * it is worse than the serving suite's (the champion's) on the same
 * evaluation, within PROMOTE_TOLERANCE; otherwise it is kept as a
 * candidate. always: it serves whatever the comparison says (an admin's
 * override, recorded). */
enum promote_policy { PROMOTE_IF_BETTER = 0, PROMOTE_ALWAYS };
/* How much higher (relative) a challenger's loss may be and still count as
 * no worse: figures this close are noise of sampling and early stopping. */
#define PROMOTE_TOLERANCE 0.01
#define PROMOTE_REASON_MAX 200
struct promote_request {
  enum promote_policy policy;
  char by[80];                          /* who: "key 12", "command line"; "" unknown */
  char reason[PROMOTE_REASON_MAX + 1];  /* why, for an override; "" none */
};
/* "if_better" or "always" into *out: 0, or -1 for anything else. */
int promote_policy_parse(const char *name, enum promote_policy *out);
const char *promote_policy_name(enum promote_policy p);

/* suite_save with a promotion decision: the comparison with the serving
 * version, the decision and req's override (NULL: if_better, nobody) are
 * recorded with the version; it serves only when the decision says so. A
 * first version (nothing serves) always serves. 0 or -1. */
int suite_save_as(struct store *db, struct suite *s, int keep, const struct promote_request *req,
                  struct gerr *err) GROMO_WUR;
/* 1 when the suite serves in the registry (saved as, or loaded as, the
 * serving version), else 0. */
int suite_serving(const struct suite *s);
/* The suite's promotion record (docs/models.md), or NULL when it has none
 * (not saved yet, or saved by an earlier release). New reference. */
json_t *suite_promotion(const struct suite *s);

/* Promotes a stored candidate (a version kept because it was worse than
 * the champion of its day): it serves from now on, and its record says who
 * promoted it and why, beside the comparison made when it was trained.
 * *record (may be NULL) gets the new record. 0 done, 1 no such version,
 * 2 it serves already, 3 it is not a candidate (it served before, or
 * predates promotion records: roll back to it instead), -1 error. */
int suite_promote_candidate(struct store *db, int64_t version, const struct promote_request *req,
                            json_t **record, struct gerr *err) GROMO_WUR;

/* Loads a version (0: the serving one). 1 when there is none, 0, or -1. */
int suite_load(struct store *db, const struct gaz *gaz, int64_t version,
               struct suite **out, struct gerr *err) GROMO_WUR;
int64_t suite_version(const struct suite *s);
/* ISO 8601 UTC time the suite was trained. */
const char *suite_trained_at(const struct suite *s);
/* 1 when some model lost to its baseline on the holdout, and the baseline
 * answers in its place ("degraded" in /health). */
int suite_degraded(const struct suite *s);

/* The /models report: per model algorithm, version, trained_at, rows,
 * features, holdout metrics beside the baselines, promotion; with the
 * `evaluation` keys of docs/api.md (GET /models). New reference. */
json_t *suite_report(const struct suite *s);
/* The training summary of a saved suite, as POST /models/train's job and
 * gromo train --json give it: version, trained_at, duration, each model's
 * promotion and the holdout report (suite_report), whether the version
 * serves and its promotion record (the comparison with the champion and
 * the decision). New reference, or NULL when out of memory. */
json_t *suite_summary(const struct suite *s, int64_t duration_ms);

/* ---- serving ---- */

/* A query of docs/rules.md §3. has_customer: both customer_age and customer_income
 * given (segment cell); neither given: the whole pincode x product x channel.
 * Strings are identifiers already lower-cased. */
struct predict_query {
  int32_t pincode;
  char product[SALE_IDENT_MAX + 1]; /* "" for top-product */
  char channel[SALE_IDENT_MAX + 1];
  int has_customer;
  int32_t customer_age;
  double customer_income;
  int horizon; /* periods ahead, 1..PREDICT_MAX_HORIZON; 0 is 1 */
};
#define PREDICT_MAX_HORIZON 3

#define PREDICT_MAX_DRIVERS 5
#define PREDICT_MAX_PRODUCTS 64

struct predict_driver {
  char feature[96];    /* readable name */
  double value;        /* the feature's value (NaN: missing) */
  double contribution; /* SHAP value, in the model's margin (log/logit) */
};

struct predict_answer {
  int32_t region_id; /* the pincode's region (docs/rules.md §4); 0: none */
  int horizon;       /* periods ahead */
  char period_from[11], period_to[11]; /* the forecast period, IST dates */
  int fallback;
  char fallback_reason[512]; /* every reason, "; " between them */
  const char *source; /* "model" or the baseline that answered */
  /* demand */
  double predicted_demand, last_period_demand;
  double low, high, level, confidence;
  /* demand rise */
  double probability;
  int demand_rise;
  /* top product */
  size_t nproducts;
  const char *products[PREDICT_MAX_PRODUCTS]; /* owned by the suite */
  double product_prob[PREDICT_MAX_PRODUCTS];
  size_t top; /* index of the most probable */
  /* ?explain=true */
  size_t ndrivers;
  struct predict_driver drivers[PREDICT_MAX_DRIVERS];
};

enum predict_kind { PREDICT_DEMAND = 0, PREDICT_RISE, PREDICT_TOP_PRODUCT, PREDICT__COUNT };

/* Answers one query; never fails for a well-formed query (unseen pincode,
 * product or channel fall back, with the reason). explain: fill drivers.
 * Thread-safe. */
void suite_predict(const struct suite *s, enum predict_kind kind,
                   const struct predict_query *q, int explain,
                   struct predict_answer *out);

/* ---- regions (docs/rules.md §4) ---- */

/* Regions of the suite, and their summaries as JSON text (owned by the
 * suite): the whole list (a JSON array, ascending id; NULL when the suite
 * has no regions) and one region (NULL: no such id). */
size_t suite_region_count(const struct suite *s);
const char *suite_regions_json(const struct suite *s);
const char *suite_region_json(const struct suite *s, int32_t id);
/* The region of a pincode, 0 when it is in none. */
int32_t suite_region_of(const struct suite *s, int32_t pincode);
/* The pincodes of region id, ascending, into out[cap]; returns how many
 * there are (0: no such region), which may exceed cap. */
size_t suite_region_pincodes(const struct suite *s, int32_t id, int32_t *out, size_t cap);

/* ---- insights (GET /insights/pincodes, /insights/regions) ---- */

/* The suite's as-of date T (the latest sale trained on) as YYYY-MM-DD into
 * out[11], and its period length in days. */
void suite_as_of(const struct suite *s, char out[11], int *period_days);
/* The period hz (1..3) periods ahead of T, days (T + (hz-1)P, T + hz P],
 * as YYYY-MM-DD into from[11] and to[11]: the one /predict answers name. */
void suite_period(const struct suite *s, int hz, char from[11], char to[11]);
/* The products and channels the suite knows, by index (NULL past the end). */
const char *suite_product(const struct suite *s, size_t i);
const char *suite_channel(const struct suite *s, size_t i);

enum insight_sort { INSIGHT_BY_DEMAND = 0, INSIGHT_BY_GROWTH, INSIGHT_BY_RISE };

/* What to rank: one product and/or channel (NULL or "": all of them),
 * the order, and for pincodes optionally one region's only. */
struct insight_query {
  const char *product;
  const char *channel;
  enum insight_sort sort;
  int32_t region;  /* this region only (its pincodes, or itself); 0: all */
  int32_t pincode; /* pincodes: this one only; 0: all */
  int horizon;     /* periods ahead, 1..3 (0: 1, the next period) */
};

/* One ranked pincode or region. Over several cells (no product or channel
 * given, or a region) the demand figures are sums, and `rise` is the
 * probability that the total rises, from the demand model's law of each
 * cell; for one cell it is the demand-rise model's probability. */
struct insight_row {
  int32_t id;        /* the pincode, or the region id */
  int32_t region_id; /* the pincode's region (0: none); a region's own id */
  size_t pincodes;   /* regions: members; pincodes: 1 */
  double last;       /* demand in the last period */
  double next;       /* predicted demand in the period of the query's horizon */
  double growth;     /* next - last */
  double rise;       /* probability that demand in that period exceeds the
                        last period's */
  const struct gaz_entry *place; /* pincodes: gazetteer entry, or NULL */
};

/* Ranks every pincode with sales in training (or every region) from the
 * predictions the suite made of each cell when it was built or loaded (at
 * horizons 2 and 3, when the first query asked for them):
 * best first (ties by ascending id). *rows is malloc'd (the caller frees
 * it). 0, or -1 with GERR_INVALID_INPUT naming an unknown product or
 * channel. */
int suite_rank_pincodes(const struct suite *s, const struct insight_query *q,
                        struct insight_row **rows, size_t *n, struct gerr *err) GROMO_WUR;
int suite_rank_regions(const struct suite *s, const struct insight_query *q,
                       struct insight_row **rows, size_t *n, struct gerr *err) GROMO_WUR;

/* The serving suite of a running service, swapped atomically: a reader takes
 * a reference that stays valid until it puts it back, whatever swaps happen
 * meanwhile. */
struct model_holder;
int model_holder_new(struct model_holder **out);
void model_holder_free(struct model_holder *h); /* releases the suite */
/* The current suite with a reference taken, or NULL when none. */
const struct suite *model_holder_get(struct model_holder *h);
void model_holder_put(struct model_holder *h, const struct suite *s);
/* Installs s (ownership passes to the holder); the old suite is freed once
 * its last reader puts it back. */
void model_holder_swap(struct model_holder *h, struct suite *s);

#endif
