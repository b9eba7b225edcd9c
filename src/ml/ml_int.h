/* Inside the demand models: the period-cell data set that training builds
 * from the store and serving reads features from, the feature vectors, and
 * the layout of a suite. Not for use outside src/ml/. */
#ifndef GROMO_ML_INT_H
#define GROMO_ML_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "gromo/buf.h"
#include "gromo/error.h"
#include "gromo/evaluate.h"
#include "gromo/forest.h"
#include "gromo/models.h"

struct gaz;
struct gaz_entry;

#define ML_AGE_BANDS 5
#define ML_INCOME_BANDS 5
#define ML_SEGMENTS (ML_AGE_BANDS * ML_INCOME_BANDS)
#define ML_SEG_TOTAL ML_SEGMENTS /* the cell without segment */
#define ML_MAX_PRODUCTS PREDICT_MAX_PRODUCTS
#define ML_MAX_CHANNELS 32
#define ML_MAX_STATES 64
/* Periods of history a feature may read at origin 0, counting the last one:
 * lags 0-14 (the last three periods a year earlier, and the period a year
 * before each target). Serving keeps this many. */
#define ML_HIST 15
/* Horizons: the periods ahead a cell is forecast for, 1 (the next) to this. */
#define ML_HORIZONS 3
_Static_assert(ML_HORIZONS == PREDICT_MAX_HORIZON, "one count of horizons");
#define ML_NEAR 10 /* nearby pincodes averaged */
/* A year, in days, for the national seasonal change (ml_season_base). */
#define ML_YEAR_DAYS 365
/* Days of national sales by day a data set of nper periods keeps: the
 * periods, and the year and 3 periods before the oldest origin's forecast
 * when that reaches further back (serving keeps ML_HIST periods). */
#define ML_DAYS(nper, period)                                                  \
  ((nper) * (period) > ML_YEAR_DAYS + 3 * (period) + 30                       \
       ? (nper) * (period) + 30                                                \
       : ML_YEAR_DAYS + 3 * (period) + 30)

/* docs/rules.md §3 segment of a customer, 0 .. ML_SEGMENTS-1. */
int ml_segment(int32_t age, double income);
int ml_age_band(int32_t age);
int ml_income_band(double income);

/* One sale as training reads it. */
struct ml_sale {
  int32_t day;      /* days since 1970-01-01 (IST) */
  int32_t pin;      /* index into the data set's pincodes */
  uint8_t prod, chan, seg;
  int32_t age;
  float income;
};

/* Period counts of every cell. Period a (0 = the last) covers the days
 * (T - (a+1)P, T - aP] where T is the as-of day. At origin j (the as-of
 * date T - jP) the feature "lag k" reads period j + k, and the target (the
 * next period) is period j - 1: nothing after the origin is read. */
struct dataset {
  int32_t asof_day; /* T */
  int period;       /* P, days */
  int nper;         /* periods kept: counts[cell * nper + a] */
  int known;        /* periods with data (those from the first sale on);
                       features read older ones as missing */
  size_t nprod, nchan;
  char prod[ML_MAX_PRODUCTS][SALE_IDENT_MAX + 1];
  char chan[ML_MAX_CHANNELS][SALE_IDENT_MAX + 1];
  /* pincodes with sales, ascending, with their gazetteer entries (NULL when
   * the gazetteer does not know the pincode) */
  size_t npin;
  int32_t *pins;
  const struct gaz_entry **ge;
  int16_t *state; /* state id of each pincode */
  size_t nstate;  /* the last id: a state the gazetteer does not name */
  const char *state_name[ML_MAX_STATES]; /* ids 0 .. nstate - 2, sorted;
                                            borrowed from the gazetteer */
  int32_t *near; /* npin x ML_NEAR nearest other pincodes (-1: none) */
  /* cells: key -> index through an open-addressing table */
  size_t ncell, cell_cap;
  uint64_t *cell_key;
  uint32_t *counts;
  size_t hcap; /* power of two */
  int32_t *htab; /* -1 empty */
  /* aggregates of the total cells, nper each */
  uint32_t *pin_all;   /* [pin] */
  uint32_t *pin_prod;  /* [pin][prod] */
  uint32_t *pin_chan;  /* [pin][chan] */
  uint32_t *nat_prod;  /* [prod] */
  uint32_t *state_prod; /* [state][prod] */
  uint32_t *nat_seg_prod; /* [seg][prod], segment cells */
  /* the products' national sales by day, [prod][a] for the day asof_day - a,
   * a < ndays; days_known of them (from the first sale on) are known. Kept
   * beside the periods so that a year ago is 365 days, not 12 periods. */
  uint32_t *nat_day;
  int ndays, days_known;
  /* [kind][prod][j], kind 0: cells without segment, 1: segments; see
   * ml_level_scales. With level_scaled 0 (a model saved before the levels
   * were scaled) every scale reads as 1. */
  float *level_scale;
  int level_scaled;
  /* 0: a model saved before the seasonal change counted the days of the
   * week (ml_season_table), which reads d->season's days as days */
  int weekday_adjusted;
  /* [adjusted][prod][j][h - 1]: the national seasonal change of each
   * product, origin and horizon, worked out once from the days (see
   * ml_season_table), with the days of the week counted (adjusted 1) and
   * without; NaN where unknown */
  double *season;
  int64_t first_ms, last_ms; /* range of the sales read */
  size_t nsales_read;
};

uint64_t ml_cell_key(int32_t pin, int prod, int chan, int seg);
/* Cell index or -1. */
long ml_cell_find(const struct dataset *d, int32_t pin, int prod, int chan, int seg);
/* Index of a product / channel name, or -1. */
int ml_prod_index(const struct dataset *d, const char *name);
int ml_chan_index(const struct dataset *d, const char *name);
/* Index of a pincode among the data set's, or -1. */
long ml_pin_index(const struct dataset *d, int32_t pincode);
/* Whether pincode `pin` sold anything in the 12 periods up to origin j
 * (it is warm there; else cold: serving answers it as a pincode without
 * sales). rows.c. */
int rows_pin_active(const struct dataset *d, size_t pin, int j);

/* Builds the data set from sales, read one by one in any order
 * (dataset_builder_add), or from the store's aggregates
 * (store_sales_cells): the span first (dataset_builder_set_span), then the
 * cells (dataset_builder_add_cell) and the sales of the last periods
 * (dataset_builder_add_recent). The same sales give the same data set
 * either way, to every count and in the same order. nper periods are kept;
 * older sales only count towards the ranking of products and channels. */
struct ml_sale_src {
  int64_t ts_ms;
  int32_t pincode;
  const char *product, *channel;
  int32_t age;
  double income;
};
struct dataset_builder;
int dataset_builder_new(int period, struct dataset_builder **out, struct gerr *err);
/* Adds one sale; -1 on out of memory (or too many distinct names, which
 * finish reports). */
int dataset_builder_add(struct dataset_builder *b, const struct ml_sale_src *s);
/* The aggregates: every sale's count and time range (before any cell; -1
 * when sales were added one by one already). */
int dataset_builder_set_span(struct dataset_builder *b, size_t sales, int64_t first_ms,
                             int64_t last_ms);
/* One cell of one period: period 0 = the newest (as in struct dataset),
 * periods >= finish's nper count only towards the names' ranking. Names are
 * copied. -1 on out of memory or a cell out of range. */
struct ml_cell_src {
  int32_t period;
  int32_t pincode;
  const char *product, *channel;
  int age_band, income_band;
  int64_t sales;
};
int dataset_builder_add_cell(struct dataset_builder *b, const struct ml_cell_src *c);
/* A sale of the last keep_sales_periods periods (finish's), counted in its
 * cell (which the aggregates leave out) and kept for *sales. -1 on out of
 * memory. */
int dataset_builder_add_recent(struct dataset_builder *b, const struct ml_sale_src *s);
/* From the aggregates: a product's national sales on the day `back` days
 * before the newest sale's, for the days finish keeps (ML_DAYS; the single
 * sales of the last periods included). -1 on out of memory or out of
 * range. */
int dataset_builder_add_day(struct dataset_builder *b, int32_t back, const char *product,
                            int64_t sales);
/* Why an add failed, into *err: -1. */
int dataset_builder_failure(const struct dataset_builder *b, struct gerr *err);
/* Finishes: counts over nper periods ending at the newest sale; *sales
 * (malloc'd, may be NULL) gets the sales of the last `keep_sales_periods`
 * periods. The builder is freed. */
int dataset_builder_finish(struct dataset_builder *b, const struct gaz *gaz, int nper,
                           int keep_sales_periods, struct dataset **out,
                           struct ml_sale **sales, size_t *nsales, struct gerr *err);
void dataset_builder_free(struct dataset_builder *b);
/* Recomputes the aggregates and nearby lists from the cells. 0 or -1. */
int dataset_index(struct dataset *d, const struct gaz *gaz, struct gerr *err);
/* For each gazetteer entry without sales in d, the k pincodes of d nearest
 * to it (indices into d, best first, -1 past the last); -1 entries for the
 * pincodes of d. *out is malloc'd, gaz_count(gaz) x k. 0 or -1. */
int dataset_gaz_nearest(const struct dataset *d, const struct gaz *gaz, size_t k,
                        int32_t **out);
/* The state id dataset_index gives a pincode of the gazetteer in `state`
 * (the last id when it has none of its own). */
int ml_state_id(const struct dataset *d, const char *state);
/* Unit vectors of the gazetteer's entries in gaz_at() order (their dot
 * product orders by great-circle distance); malloc'd, NULL when out of
 * memory. */
float (*dataset_gaz_units(const struct gaz *gaz))[3];
/* The ML_NEAR nearest other pincodes of the gazetteer around `pincode` (one
 * of it), as indices into d (-1: a pincode without sales), nearest first:
 * the list d->near holds for the pincodes of d, by the same scan. units:
 * dataset_gaz_units(gaz), or NULL to compute them (slow). 0, or -1 when
 * the gazetteer does not know the pincode or out of memory. */
int dataset_near_of(const struct dataset *d, const struct gaz *gaz, const float (*units)[3],
                    int32_t pincode, int32_t near[ML_NEAR]);
void dataset_free(struct dataset *d);
/* A copy holding only periods [0, nper) (serving keeps ML_HIST). */
int dataset_trim(const struct dataset *d, const struct gaz *gaz, int nper,
                 struct dataset **out, struct gerr *err);
/* Serialised form, for the registry. */
int dataset_save(const struct dataset *d, struct buf *out);
int dataset_load(const unsigned char *p, size_t n, const struct gaz *gaz,
                 struct dataset **out, struct gerr *err);

/* ---- features ---- */

/* The cell features, in this order; names readable for ?explain=true. */
#define CELL_FEATURES(XX)                                                     \
  XX(CF_LAG1, "demand in the last period")                                   \
  XX(CF_LAG2, "demand two periods ago")                                      \
  XX(CF_LAG3, "demand three periods ago")                                    \
  XX(CF_MA3, "average demand over the last 3 periods")                      \
  XX(CF_MA6, "average demand over the last 6 periods")                      \
  XX(CF_MA12, "average demand over the last 12 periods")                    \
  XX(CF_SLOPE6, "trend (slope) over the last 6 periods")                    \
  XX(CF_YEAR_AGO, "demand in the same period a year ago")                   \
  XX(CF_YEAR_AGO_LAST, "demand in the last period a year ago")              \
  XX(CF_PARENT_MA6, "average demand of the whole cell over 6 periods")      \
  XX(CF_SEG_SHARE, "customer segment's share of the cell")                  \
  XX(CF_PIN_LAG1, "pincode's demand, all products, last period")            \
  XX(CF_PIN_MA6, "pincode's average demand, all products, 6 periods")       \
  XX(CF_PIN_PROD_SHARE, "product's share of the pincode's sales")           \
  XX(CF_PIN_CHAN_SHARE, "channel's share of the pincode's sales")           \
  XX(CF_NAT_TREND, "national trend of the product")                         \
  XX(CF_NAT_SEASON, "national seasonal change of the product a year ago")   \
  XX(CF_STATE_TREND, "state trend of the product")                          \
  XX(CF_STATE_SLOPE, "state slope of the product over 6 periods")           \
  XX(CF_NEAR_MA3, "product demand of nearby pincodes")                      \
  XX(CF_LAT, "latitude")                                                    \
  XX(CF_LNG, "longitude")                                                   \
  XX(CF_PIN_REGION, "PIN region (first digit)")                             \
  XX(CF_PIN_CIRCLE, "PIN circle (first two digits)")                        \
  XX(CF_PIN_SORTING, "PIN sorting district (first three digits)")           \
  XX(CF_STATE, "state")                                                     \
  XX(CF_TIER, "urbanness")                                                  \
  XX(CF_NEIGHBOURS, "pincodes within 10 km")                                \
  XX(CF_MONTH, "month of the next period")                                  \
  XX(CF_PRODUCT, "product")                                                 \
  XX(CF_CHANNEL, "channel")                                                 \
  XX(CF_AGE_BAND, "customer age band")                                      \
  XX(CF_INCOME_BAND, "customer income band")                                \
  XX(CF_HORIZON, "periods ahead")                                           \
  XX(CF_STATE_SEASON, "state seasonal change of the product a year ago")    \
  XX(CF_SEASONAL_NAIVE, "same period a year ago, scaled by the recent trend")  \
  XX(CF_SEASON_BASE, "seasonal baseline: recent level times the product's national season") \
  XX(CF_SEASON_RATIO, "national seasonal change of the product, by the days a year ago")

enum cell_feature {
#define CF_ENUM(e, name) e,
  CELL_FEATURES(CF_ENUM)
#undef CF_ENUM
  CF__COUNT
};
extern const char *const ml_cell_feature_names[CF__COUNT];

/* A pincode as the cell features read it: one of the data set, or a
 * pincode of the gazetteer outside it, which has no sales (its own series
 * read 0 in every known period, as those of a pincode of the data set
 * before its first sale). Borrows from the data set, the gazetteer and
 * `near`. */
struct ml_pin {
  long pin;                   /* index into d; -1: outside the data set */
  int32_t pincode;
  const struct gaz_entry *ge; /* NULL: the gazetteer does not know it */
  int state;                  /* its id in d (dataset_index's) */
  const int32_t *near;        /* ML_NEAR nearest gazetteer pincodes, indices
                                 into d, -1: one without sales */
};
/* The view of pincode index pin of d. */
void ml_pin_of(const struct dataset *d, long pin, struct ml_pin *out);
/* The view of a gazetteer pincode outside d; near[] (the caller's) gets
 * its nearest pincodes (dataset_near_of with units). 0, or -1 when the
 * pincode is in d, not in the gazetteer, or out of memory. */
int ml_pin_outside(const struct dataset *d, const struct gaz *gaz, const float (*units)[3],
                   int32_t pincode, int32_t near[ML_NEAR], struct ml_pin *out);
/* The features of cell (pincode v, prod, chan, seg) at origin j for the
 * period h ahead, as ml_cell_features; the one code path of both. */
void ml_pin_cell_features(const struct dataset *d, const struct ml_pin *v, int prod, int chan,
                          int seg, int j, int h, float *x);
/* The features of cell (pin, prod, chan, seg) at origin j for the period h
 * ahead (1..ML_HORIZONS: the target is period j - h) into x[CF__COUNT].
 * pin, prod, chan must be indices of d; seg may be ML_SEG_TOTAL. Reads only
 * periods >= j. */
void ml_cell_features(const struct dataset *d, long pin, int prod, int chan, int seg,
                      int j, int h, float *x);
/* The features of every segment of cell (pin, prod, chan) and of the cell
 * itself, as ml_cell_features gives them one by one, into
 * x[(ML_SEG_TOTAL + 1) * CF__COUNT]: segment seg's at x + seg * CF__COUNT,
 * the cell's last. What they share is computed once. */
void ml_cell_features_segments(const struct dataset *d, long pin, int prod, int chan, int j,
                               int h, float *x);
/* The seasonal-naive forecast of a cell at origin j for horizon h: its
 * demand in the target period a year earlier times the trend since (its
 * last 3 periods against the same 3 a year earlier, each sum + 1); its
 * 3-period average when a year of history is missing. */
double ml_seasonal_naive(const struct dataset *d, const uint32_t *cell, int j, int h);
/* The seasonal baseline of a cell (x[CF_SEASON_BASE], always > 0), from
 * which the demand model starts: its trees learn log(demand / baseline), a
 * Poisson offset (docs/models.md, "The seasonal baseline"). The cell's level
 * (its 6-period average, at least half its 12-period average and
 * ML_BASE_FLOOR, times its product's level scale, ml_level_scales) times
 * the product's national seasonal change: its sales in
 * the target period's days a year (ML_YEAR_DAYS) earlier, times the change
 * of its last 3 periods since the same days a year earlier, over its
 * 6-period average, each span of days counted by its days of the week
 * (ml_season_table); within [1/ML_SEASON_MAX, ML_SEASON_MAX], and 1
 * without that year of daily sales. Reads the days before origin j only. */
#define ML_BASE_FLOOR 0.05
#define ML_SEASON_MAX 5.0
/* The floors lift a sparse cell's level above its average: summed over a
 * product's cells they would say more than the product sold, by an amount
 * that changes with the season (half the 12-period average binds more
 * often after a peak). So each level is scaled by its product's
 * d->level_scale at the origin: the sum of the 6-period averages of the
 * cells that sold in the 12 periods up to it over the sum of their levels,
 * per kind of cell. The baselines of a product then add up to its recent
 * sales times its season, and the floors only share them out. Reads
 * periods j and older only. -1 on out of memory. */
int ml_level_scales(struct dataset *d);
/* A year earlier the same dates fall on other days of the week: a period
 * of 30 days holds 4 or 5 of each, and the quietest day (Sunday, for most
 * sellers) may come once more or less than in the period it stands for.
 * So the seasonal change reads each span of days in days of average sales
 * rather than days: each day of the week weighs the product's sales on it
 * over its average day, in the 52 weeks before the origin. The dates stay
 * aligned, so a change at a date (a month's or a financial year's end)
 * keeps its place. Reads the days before each origin only.
 * ml_season_table works d->season out from the days, once: a forecast
 * reads its product's change from the table rather than summing a year of
 * days. -1 on out of memory. */
#define ML_WEEKDAY_DAYS 364
int ml_season_table(struct dataset *d);
double ml_season_base(const struct dataset *d, const uint32_t *cell, int prod, int j, int h);
/* Its two factors: the cell's level, and the product's national seasonal
 * change (1 without the year of daily sales). */
double ml_season_level(const struct dataset *d, const uint32_t *cell, int prod, int seg, int j);
double ml_nat_season(const struct dataset *d, int prod, int j, int h);
/* Whether the product totals' factors scale the forecast of features x
 * (docs/models.md "Product totals"): a cell without segment that sold in
 * the 12 periods up to the origin. */
static inline int ml_total_scales(const float *x) {
  return isnan(x[CF_SEG_SHARE]) && x[CF_MA12] > 0;
}
/* The demand forest's expected demand (>= 0) for features x: its
 * prediction times the seasonal baseline (the offset it was trained from). */
double ml_demand_forest_mu(const struct forest *f, const float *x);
/* ml_demand_forest_mu of n rows of features X (CF__COUNT each) into
 * out[n], the same values, predicted a block of rows at a time. */
void ml_demand_forest_mu_rows(const struct forest *f, const float *X, size_t n, double *out);

/* The customer features of top product: fixed ones, then per product its
 * pincode share, its segment share in the pincode and its national trend. */
#define CUST_FEATURES(XX)                                                     \
  XX(UF_AGE, "customer age")                                                \
  XX(UF_INCOME, "customer monthly income")                                  \
  XX(UF_AGE_BAND, "customer age band")                                      \
  XX(UF_INCOME_BAND, "customer income band")                                \
  XX(UF_CHANNEL, "channel")                                                 \
  XX(UF_LAT, "latitude")                                                    \
  XX(UF_LNG, "longitude")                                                   \
  XX(UF_PIN_REGION, "PIN region (first digit)")                             \
  XX(UF_PIN_CIRCLE, "PIN circle (first two digits)")                        \
  XX(UF_STATE, "state")                                                     \
  XX(UF_TIER, "urbanness")                                                  \
  XX(UF_PIN_MA6, "pincode's average demand over 6 periods")                 \
  XX(UF_MONTH, "month of the next period")

enum cust_feature {
#define UF_ENUM(e, name) e,
  CUST_FEATURES(UF_ENUM)
#undef UF_ENUM
  UF__COUNT
};
extern const char *const ml_cust_feature_names[UF__COUNT];
/* Per-product blocks after the fixed ones. */
#define UF_PER_PRODUCT 3
size_t ml_cust_nfeatures(const struct dataset *d);
/* The name of customer feature i (per-product ones name the product) into
 * buf; returns buf. */
const char *ml_cust_feature_name(const struct dataset *d, size_t i, char *buf, size_t cap);
void ml_cust_features(const struct dataset *d, long pin, int chan, int32_t age,
                      double income, int j, float *x);

/* ---- the suite ---- */

/* Demand intervals and confidence: the predicted count has a negative
 * binomial law with mean mu and variance mu (1 + alpha mu); the interval is
 * its central interval at the nominal level of mu's band, the level that
 * made the backtest's coverage of that band's cells reach `level` (or
 * `nominal`, that of all cells, demand.c); confidence is the law's
 * probability of the +-25% band, mapped through an isotonic calibration.
 * One per cell kind. */
#define ML_DEMAND_BANDS 6
/* Cells whose predicted demand is at least this are where interval levels
 * are calibrated and judged (see demand_calib_fit). */
#define INFORMATIVE_MU 1.0
struct demand_calib {
  double alpha;
  double nominal;
  /* per band of expected demand (ml_demand_band): the nominal level of
   * its cells; 0: `nominal`'s */
  double band[ML_DEMAND_BANDS];
  struct isotonic conf;
};

enum ml_kind { ML_TOTAL = 0, ML_SEGMENT = 1 };

struct suite {
  const struct gaz *gaz; /* borrowed: outlives the suite */
  int64_t version;
  char trained_at[40];
  struct dataset *d; /* ML_HIST periods, origin 0 = as-of */
  struct forest *demand, *rise, *top;
  int use_baseline[PREDICT__COUNT]; /* 0: the model serves; else 1 + the
                                       baseline that beat it */
  struct demand_calib dcal[ML_HORIZONS][2]; /* [horizon - 1][enum ml_kind] */
  /* the answers for pincodes cold at the as-of date (no sale in its last
   * 12 periods, or none at all), chosen and fitted on the backtest's cold
   * pincodes; has_cold[h] 0: none fitted, their nearest pincodes' average
   * answers with dcal[h][kind] */
  struct demand_calib dcal_cold[ML_HORIZONS];
  int has_cold[ML_HORIZONS];
  double cold_scale[ML_HORIZONS]; /* their answer times this (1: none) */
  /* [product][horizon - 1]: the demand forest's forecasts of the cells of
   * pincodes with sales times this (docs/models.md "Product totals"; 1,
   * or 0 in a suite never trained: none) */
  double total[ML_MAX_PRODUCTS][ML_HORIZONS];
  int cold_model[ML_HORIZONS]; /* 1: the demand forest on the pincode's own
                                  features answers, 0: the nearest average */
  int cold_lapsed; /* 1: pincodes of the data set without a sale in its last
                      12 periods get the cold answer too (0: a version of an
                      earlier release, the model answers them as any other) */
  int rise_iso[ML_HORIZONS]; /* 1: isotonic, 0: Platt */
  struct platt rise_platt[ML_HORIZONS];
  struct isotonic rise_cal[ML_HORIZONS];
  double top_temp;
  double level;
  /* the blob's place of an earlier rise baseline (rate of rise by
   * last-period demand 0..RISE_BASE_MAX): kept for the layout, not read;
   * the rise baseline is ml_rise_baseline */
#define RISE_BASE_MAX 20
  double rise_base[ML_HORIZONS][RISE_BASE_MAX + 1];
  /* per product the names' order of the top-product classes is d->prod */
  json_t *report; /* /models: metrics, baselines, promotion, data range */
  json_t *promotion; /* the registry's promotion record; NULL: none */
  int serving;       /* saved or loaded as the serving version */
  int64_t rows;
  char data_from[24], data_to[24];
  int64_t duration_ms;
  /* serving index, not saved: per gazetteer entry without sales its
   * SUITE_FALLBACK_NEAR nearest pincodes with sales (dataset_gaz_nearest) */
#define SUITE_FALLBACK_NEAR 5
  int32_t *fb_near;
  float (*gaz_units)[3]; /* serving index, not saved: dataset_gaz_units */
  struct suite_regions *reg; /* docs/rules.md §4 regions; NULL before clustering */
  struct suite_insights *ins; /* serving index, not saved: every cell's
                                 predictions (insights.c) */
};

/* Demand baselines, by index (enum eval_baseline, named by
 * eval_baseline_names): last period, moving averages of 3 and 6 periods,
 * seasonal naive (ml_seasonal_naive, the 3-period average without a year
 * of history), each shrunk toward the cell's prior (gromo/evaluate.h). */
#define ML_DEMAND_BASELINES EVAL_BASELINES
/* What the baselines know of the cell with features x: its own means, and
 * as parent the pincode's demand apportioned by the product's and the
 * channel's shares (a cell without segment), or the whole cell's demand
 * times the segment's share (a segment cell). */
void ml_demand_history(const float *x, struct eval_history *out);
double ml_demand_baseline(const float *x, int which);
/* The rise baseline of the cell with features x (docs/evaluation.md):
 * P(Y > last period) for Y ~ Poisson(the 6-period moving-average baseline). */
double ml_rise_baseline(const float *x);

/* The expected demand (>= 0) of the cell with features x, as
 * /predict/demand answers it for a single known cell. */
double ml_cell_mu(const struct suite *s, const float *x);

/* docs/rules.md §3 "rise": the law of the next period's demand of the
 * demand answer for the cell with features x (negative binomial: its mean
 * and variance); P(Y > last period's demand) under it says which side of
 * 1/2 every rise probability is on. */
void ml_cell_rise_law(const struct suite *s, const float *x, double *mean, double *var);
/* The probability that the cell with features x rises, as
 * /predict/demand-rise answers it for a single known cell without segment:
 * the calibrated classifier's (or the rise baseline's when it serves),
 * kept on the demand law's side of 1/2 (ml_rise_agree). */
double ml_cell_rise(const struct suite *s, const float *x);
/* p moved to the side of 1/2 that p_law is on: min(p, 1/2) when p_law <=
 * 1/2, else at least RISE_ABOVE_HALF (so that p > 1/2 exactly when p_law
 * > 1/2). NaN p: p_law. */
#define RISE_ABOVE_HALF 0.5001
double ml_rise_agree(double p, double p_law);

/* ---- insights (insights.c): every cell's figures, once per suite ---- */
struct suite_insights;
/* Sums over cells without segment: the expected demand, the last period's
 * demand, and the mean and variance of the law the rise answer reads. */
struct region_pin {
  double pred, last, rise_mean, rise_var;
};
/* Pincode pin's sums over its products and channels. 0, or -1 before the
 * insights are built. */
int suite_insights_pin(const struct suite *s, size_t pin, struct region_pin *out);
/* docs/rules.md §3: P(total next period > total last period) of a sum of
 * cells, under the negative binomial with the sum's mean and variance
 * (one cell: exactly its rise answer). */
double ml_rise_of_sum(const struct region_pin *sum);
/* Predicts every pincode x product x channel cell of the suite (demand and
 * rise) into s->ins. 0 or -1. */
int suite_insights_build(struct suite *s, struct gerr *err);
void suite_insights_free(struct suite_insights *in); /* NULL allowed */

/* ---- regions (regions.c) ---- */
struct suite_regions;
void suite_regions_free(struct suite_regions *r);
/* Clusters the suite's pincodes with sales (k regions, 0: chosen from the
 * data), starting from the regions of the version serving in db (NULL or
 * none serving: a cold start) so that ids stay, and summarises each region;
 * pin_pred[i] is pincode i's sums over its products and channels (d->npin
 * entries, copied). Adds the clustering report to s->report. Calls nothing
 * of suite.c: what it needs is passed. 0 or -1. */
int suite_regions_build(struct suite *s, struct store *db, const struct region_pin *pin_pred,
                        int k, uint64_t seed, struct gerr *err);
/* suite.c: works out pin_pred from the suite's predictions of every cell
 * (suite_insights_pin) and calls suite_regions_build. 0 or -1. */
int suite_regions_make(struct suite *s, struct store *db, int k, uint64_t seed,
                       struct gerr *err);
/* Renumbers the regions after version `prev`'s stored assignment (shared
 * members keep their id; a no-op when the regions were built from it) and
 * renders the summaries again if an id changed. 0 or -1. */
int suite_regions_relabel(struct suite *s, struct store *db, int64_t prev, struct gerr *err);
/* Stores the assignment under s->version. 0 or -1. */
int suite_regions_store(const struct suite *s, struct store *db, struct gerr *err);
/* The blob part: appended to b (nothing when there are no regions). */
int suite_regions_save(const struct suite *s, struct buf *b);
/* Loads the blob part (n == 0: no regions). 0 or -1. */
int suite_regions_load(struct suite *s, const unsigned char *p, size_t n, struct gerr *err);

/* ---- champion and challenger (champion.c) ---- */
/* Compares two /models reports model by model (docs/models.md): per model
 * the metric, the basis, both figures and whether the challenger is no
 * worse within `tolerance`. *worse: 1 when some model is worse. New
 * reference, NULL when out of memory. */
json_t *champion_compare(const json_t *challenger, const json_t *champion, double tolerance,
                         int *worse);

/* Whether pincode index pin of the suite's data set gets the cold answer at
 * horizon hz (1..ML_HORIZONS): it has no sale in its last 12 periods and
 * the suite has a cold answer there. */
int suite_pin_cold(const struct suite *s, size_t pin, int hz);

/* Builds the serving index of a suite whose data set is in place. */
int suite_index(struct suite *s, struct gerr *err);

/* ---- the blob (suite_blob.c): what registry.c stores ---- */
/* Appends the serialised suite (its form is described in suite_blob.c) to
 * b. 0 or -1 (out of memory, b's limit). */
int suite_blob(const struct suite *s, struct buf *b);
/* Fills s (its gaz set; the rest zeroed) from a blob of suite_blob: the
 * period cells, forests, calibrations and regions, all checked. 0, or -1
 * with err: GERR_CONFLICT for a form of an earlier release, else
 * GERR_INTERNAL (damaged). What was filled before a failure is freed by
 * suite_free. */
int suite_unblob(struct suite *s, const unsigned char *p, size_t n, struct gerr *err);

/* The band of expected demand mu (0 .. ML_DEMAND_BANDS - 1): 1-1.25,
 * 1.25-1.5, 1.5-2, 2-4, 4-8, 8 and more; -1 below INFORMATIVE_MU (those
 * cells take the pooled level). */
int ml_demand_band(double mu);
/* The lower end of band b (b = ML_DEMAND_BANDS: INFINITY). */
double ml_demand_band_from(int b);
/* The nominal level c serves band b with (-1: below the bands): the
 * band's own, or the pooled one. */
double ml_demand_band_level(const struct demand_calib *c, int b);
/* Demand interval and confidence for mean mu. */
void ml_demand_interval(const struct demand_calib *c, double mu, double *low, double *high);
double ml_demand_confidence_raw(double alpha, double mu);
double ml_demand_confidence(const struct demand_calib *c, double mu);
/* Negative binomial (Poisson when alpha = 0) CDF and quantile. */
double ml_nb_cdf(double mu, double alpha, long k);
long ml_nb_quantile(double mu, double alpha, double q);

/* XGBoost training behind one call (xgb.c, the only file with the C API). */
struct xgb_params {
  const char *objective; /* "count:poisson", "binary:logistic", "multi:softprob" */
  int num_class;
  int rounds, depth, threads;
  double eta;
  uint64_t seed;
  int early_stop; /* rounds without improvement on the eval set; 0: none */
};
/* Trains on X[n x nf] (row-major, NaN missing) with labels y (and weights,
 * may be NULL); with an eval set (Xe, ye, ne > 0) and early_stop, stops when
 * it stops improving and *best_rounds is the best round count. The model
 * comes back as a native forest. */
int xgb_train(const struct xgb_params *p, const float *X, const float *y, size_t n,
              size_t nf, const float *Xe, const float *ye, size_t ne,
              struct forest **out, int *best_rounds, struct gerr *err);
/* The same from offsets: each row's starting margin (a log for
 * count:poisson), margin[n] for the training rows and eval_margin[ne] for
 * the eval rows (NULL when ne is 0). base_score is then the link's zero (1
 * for count:poisson): the trees learn the correction alone, and whoever uses
 * the forest adds the offset to its margin (multiplies a count:poisson
 * prediction by exp(offset)). */
int xgb_train_offset(const struct xgb_params *p, const float *X, const float *y,
                     const float *margin, size_t n, size_t nf, const float *Xe,
                     const float *ye, const float *eval_margin, size_t ne,
                     struct forest **out, int *best_rounds, struct gerr *err);

/* What a tap sees of each booster xgb_train returns as a forest: the
 * booster as XGBoost's JSON model (valid during the call only), the rows it
 * was trained on (X[n x nf], their offsets or NULL) and the forest made of
 * it (owned by the trainer). */
struct xgb_tapped {
  const char *objective;
  const char *json;
  size_t len;
  const float *X, *margin;
  size_t n, nf;
  const struct forest *forest;
};
typedef void (*xgb_tap_fn)(void *ctx, const struct xgb_tapped *t);
/* Calls fn with every booster trained from now on (NULL: none), in the
 * training thread. For tests that hold the native forests to XGBoost's own
 * predictions; not thread-safe: set it while nothing trains. */
void xgb_set_tap(xgb_tap_fn fn, void *ctx);

#endif
