/* Inside training: the rows the cell models learn from, the state one
 * training run shares between its steps, and the steps themselves (one file
 * each: demand.c with its rolling-origin backtest, rise.c, top.c). Not for
 * use outside src/ml/. */
#ifndef GROMO_ML_TRAIN_INT_H
#define GROMO_ML_TRAIN_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ml/ml_int.h"

/* Rounds without improvement before early stopping. */
#define EARLY_STOP 10
/* Periods of sales the top-product model learns from (the last one held
 * out). */
#define TOP_PERIODS 6

/* ---- rows of the cell models ----
 * One row per (cell, origin j, horizon h): the features at origin j for the
 * target period t = j - h, the realized count of period t, and the count of
 * the last period before the origin (period j). */
struct rows {
  size_t n, cap, nf;
  float *X, *y, *last;
  uint8_t *kind;    /* enum ml_kind */
  uint8_t *fold;    /* 0/1 by a hash of the cell, for cross-fitting */
  uint8_t *h;       /* horizon, 1..ML_HORIZONS */
  int32_t *origin;  /* j */
  uint64_t *key;    /* the cell's key (ml_cell_key), a new cell's too,
                       whether it ever sold or not */
  uint8_t *cold;    /* 1: a cell of a pincode cold at its origin (no sale
                       in the 12 periods up to it); kind ML_TOTAL. The
                       models learn these rows; no figure or calibration of
                       the cells of pincodes with sales reads them */
  /* Per group of rows (rows_group): the factor of the seasonal baseline
   * that gives the sampled rows of the group the ratio of sales to
   * baseline of all its candidate rows (rows_offset); NULL: none. */
  float *gscale;
  /* Per group of cells without segment of pincodes with sales: the sales
   * and seasonal baselines of all its candidate rows of cells that sold in
   * the 12 periods up to the origin, and 1 when its baselines carry the
   * season (rows_total_ratio). */
  double *ty, *tbase;
  uint8_t *gknown;
  size_t ngroup;
  int gprods, gorigins;
  /* the chance each candidate row of a cell without segment of a pincode
   * with sales had to be sampled (1: all are rows) */
  double rate_tot;
};

/* The group of row i: cells without segment of pincodes with sales, of
 * cold pincodes, or segments; product; origin; horizon. */
size_t rows_group(const struct rows *r, size_t i);
/* The log of row i's seasonal baseline as the demand model learns it (its
 * Poisson offset): the baseline times its group's factor. A sample of a
 * group's rows, some thousand cells of which most sell 0 or 1, says how
 * much the group sold against its baselines only to within several
 * percent; each product's group of one origin is its own calendar month,
 * and trees that can tell the month apart learn that error as the month's
 * and carry it into the forecasts of the month ahead. The factor takes it
 * out: the group's sampled rows then sold against their baselines what all
 * its candidate rows did. */
float rows_offset(const struct rows *r, size_t i);

/* docs/models.md "Product totals": a product's ratio of sales to seasonal
 * baseline at horizon h over the candidate rows of the cells without
 * segment that sold in the 12 periods up to their origin, whose baselines
 * carry the season and whose target period is older than period `cutoff`
 * (-1: every one), the rows a model of that cutoff learns from; 1 without
 * any. */
double rows_total_ratio(const struct rows *r, int prod, int h, int cutoff);

/* The most rows of cold pincodes, a share of rows_build's max_rows. */
#define ROWS_COLD_SHARE 0.1

/* x: the row's features, or NULL to fill them in later. */
int rows_push(struct rows *r, const float *x, float y, float last, int kind, int fold, int h,
              int origin, uint64_t key, int cold);
void rows_release(struct rows *r);
/* Rows at origins 1..max_origin, every horizon whose target is known, of
 * each cell that sold in the 12 periods up to the origin, of each
 * pincode x product x channel cell that did not at a pincode that did (a
 * new cell, label 0 when it never sold), and of each pincode x product x
 * channel cell of a pincode that did not either (a cold row, `cold` set);
 * sampled (deterministically for the seed) to at most about max_rows,
 * cells without segment (new ones at the same rate) before segment cells,
 * cold ones at most ROWS_COLD_SHARE of max_rows and at most at the rate of
 * the other cells without segment; their features computed over `threads`
 * threads; each group's offset factor (rows_offset) from the sums of all
 * its candidate rows. 0 or -1 (out of memory). */
int rows_build(const struct dataset *d, int max_origin, size_t max_rows, uint64_t seed,
               int threads, struct rows *r);
/* The target period of row i. */
static inline int rows_target(const struct rows *r, size_t i) {
  return r->origin[i] - r->h[i];
}

/* splitmix64 finaliser, and a uniform [0, 1) from a key. */
uint64_t ml_mix(uint64_t x);
double ml_unit(uint64_t k);

/* ---- one training run ---- */
struct work {
  const struct train_config *cfg;
  struct dataset *d;
  struct ml_sale *sales;
  size_t nsales;
  struct rows all;  /* every row the serving cell models learn from */
  struct suite *s;
  json_t *models;   /* /models "models" */
  json_t *backtest; /* /models "backtest" */
  /* the demand backtest, for the steps after it (owned): per row of `all`
   * the served forecast (NaN: not a backtest row) and the baselines'
   * (all.n x EVAL_BASELINES, segments reconciled like the forecast) */
  double *bt_mu, *bt_base;
  int bt_cutoff; /* the cutoff of the backtest model that forecast the last
                    period: trained on older targets, stopped on this one */
  train_progress_fn progress;
  void *pctx;
};

void train_stage(const struct work *w, const char *what, double frac);

/* The steps. eval receives the report's "evaluation" keys (docs/api.md,
 * GET /models). 0 or -1. */
int train_demand(struct work *w, json_t *eval, struct gerr *err);
int train_rise(struct work *w, json_t *eval, struct gerr *err);
int train_top(struct work *w, json_t *eval, struct gerr *err);
/* After the regions: the demand figures of sums of cells (pincode, region,
 * state) into the report's backtest and demand holdout. 0 or -1. */
int train_demand_levels(struct work *w, struct gerr *err);
/* Global feature importance of the trained models into the report
 * ("importance", importance.c); after the report is made. 0 or -1. */
int train_importance(struct work *w, struct gerr *err);

/* ---- demand calibration (demand.c) ---- */
/* Fits alpha, the nominal level and the confidence map on rows idx of
 * (y, mu), each row counting with its weight wt (NULL: all 1; each finite
 * and > 0). 0 or -1. */
int demand_calib_fit(const double *y, const double *mu, const double *wt, const size_t *idx,
                     size_t n, double level, struct demand_calib *c);

/* ---- cold pincodes (demand.c) ----
 * What answers a cell of a pincode without sales: the nearest pincodes'
 * average (with sales) or the model on the pincode's own features, each
 * times its ratio of outcomes to forecasts on the backtest's cold cells. */
enum cold_source { COLD_NEAREST = 0, COLD_MODEL = 1, COLD__SOURCES };
struct cold_row {
  double y;                  /* outcome */
  double mu[COLD__SOURCES];  /* the forecasts, unscaled */
  double base;               /* the national average per pincode */
  int half;                  /* 0/1 by a hash of the pincode, for cross-fitting */
};
/* The choice of one horizon. */
#define COLD_MIN_CELLS 300
struct cold_choice {
  int fitted;                   /* 0: fewer than COLD_MIN_CELLS rows, nothing chosen */
  int serves;                   /* enum cold_source; COLD_NEAREST when not fitted */
  double scale[COLD__SOURCES];  /* each source's ratio on every row (1: none) */
  double xdev[COLD__SOURCES];   /* mean Poisson deviance of each source scaled
                                   cross-fitted: each half of the pincodes by
                                   the other half's ratio (NaN: none) */
};
/* Chooses the source with the lower cross-fitted deviance (the nearest
 * average on a tie) on rows r[0..n). */
void cold_choose(const struct cold_row *r, size_t n, struct cold_choice *out);

/* ---- cross-fitting ----
 * Calls fit(ctx, f, train_idx, ntrain) and then apply(ctx, f, test_idx,
 * ntest) for f = 0, 1: fitted on the rows of idx in fold f, applied to
 * those in the other. 0 or -1 (out of memory, or a callback's -1). */
typedef int (*crossfit_fit_fn)(void *ctx, int f, const size_t *idx, size_t n);
typedef int (*crossfit_apply_fn)(void *ctx, int f, const size_t *idx, size_t n);
int crossfit(const size_t *idx, size_t n, const uint8_t *fold, crossfit_fit_fn fit,
             crossfit_apply_fn apply, void *ctx);

/* ---- loops over threads (parallel.c) ----
 * Calls fn(ctx, from, to) on contiguous shares of the items 0..n-1, one
 * per thread (at most threads, ML_PARALLEL_MAX), and returns when all are
 * done. fn must compute each item independently of the others and write
 * only that item's results: then no result depends on the thread count. */
#define ML_PARALLEL_MAX 16
typedef void (*ml_range_fn)(void *ctx, size_t from, size_t to);
void ml_parallel(size_t n, int threads, ml_range_fn fn, void *ctx);

/* ---- report pieces (report.c) ---- */
json_t *rep_num(double v); /* a real, or null when not finite */
json_t *rep_regression(const struct reg_metrics *m);
json_t *rep_binary(const struct binary_metrics *m);
json_t *rep_multi(const struct dataset *d, const struct multi_metrics *m,
                  const struct class_report *cls);
json_t *rep_names(const char *const *names, size_t n);
/* One model's entry in "models". */
json_t *rep_model(const char *objective, size_t rows, size_t holdout_rows, json_t *features,
                  int rounds, json_t *holdout, json_t *baselines, int promoted,
                  const char *serving, const char *reason);

#endif
