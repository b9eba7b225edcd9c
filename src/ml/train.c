/* The training pipeline: the sales read into period cells, the rows of
 * every origin and horizon, then each model in turn (demand.c with its
 * backtest, rise.c, top.c), the serving copy of the cells and the regions.
 * docs/models.md describes each step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gromo/gazetteer.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"
#include "ml/train_int.h"

void train_config_defaults(struct train_config *c) {
  c->period_days = 30;
  c->origins = 24;
  c->rounds = 120;
  c->depth = 6;
  c->threads = 2;
  c->level = 0.8;
  c->seed = 1;
  c->max_sales_rows = 150000;
  c->regions = 0;
  c->read = TRAIN_READ_AUTO;
}

/* Rows the demand and rise models learn from, at most (cells without
 * segment first, segment cells sampled to fill). */
#define MAX_CELL_ROWS 380000

void train_stage(const struct work *w, const char *what, double frac) {
  if (w->progress)
    w->progress(w->pctx, what, frac);
}

/* ---- reading the store ---- */

struct reader_ctx {
  struct dataset_builder *b;
  int failed;
  size_t n;
  train_progress_fn progress;
  void *pctx;
  int64_t total;
};

static int on_sale(void *ctx, const struct sale *rec, int64_t seq) {
  struct reader_ctx *r = ctx;
  (void)seq;
  struct ml_sale_src s = {rec->ts_ms, rec->pincode, rec->product, rec->channel,
                          rec->customer_age, rec->customer_income};
  if (dataset_builder_add(r->b, &s) < 0) {
    r->failed = 1;
    return 1;
  }
  if (++r->n % 100000 == 0 && r->total > 0 && r->progress)
    r->progress(r->pctx, "reading sales", 0.1 * (double)r->n / (double)r->total);
  return 0;
}

static int train_reads_cells(const struct store *db, const struct train_config *cfg) {
  if (cfg->read != TRAIN_READ_AUTO)
    return cfg->read == TRAIN_READ_CELLS;
  return strcmp(store_backend(db), "sqlite") != 0;
}

/* Every sale one by one (store_sales_query). */
static int read_sales_rows(struct store *db, struct reader_ctx *rd, struct gerr *err) {
  if (store_sales_count(db, &rd->total, err) < 0)
    return -1;
  struct sales_filter f;
  sales_filter_init(&f);
  return store_sales_query(db, &f, on_sale, rd, err);
}

/* The period cells counted by the database (store_sales_cells), and the
 * sales of the last keep_periods periods one by one. */
static int on_span(void *ctx, const struct sales_span *sp) {
  struct reader_ctx *r = ctx;
  r->total = sp->sales;
  if (dataset_builder_set_span(r->b, (size_t)sp->sales, sp->first_ms, sp->last_ms) < 0) {
    r->failed = 1;
    return 1;
  }
  return 0;
}

static int on_cell(void *ctx, const struct sales_cell *c) {
  struct reader_ctx *r = ctx;
  struct ml_cell_src src = {c->period, c->pincode, c->product, c->channel,
                            c->age_band, c->income_band, c->sales};
  if (dataset_builder_add_cell(r->b, &src) < 0) {
    r->failed = 1;
    return 1;
  }
  return 0;
}

static int on_day(void *ctx, const struct sales_day *dy) {
  struct reader_ctx *r = ctx;
  if (dataset_builder_add_day(r->b, dy->back, dy->product, dy->sales) < 0) {
    r->failed = 1;
    return 1;
  }
  return 0;
}

static int on_recent(void *ctx, const struct sale *rec, int64_t seq) {
  struct reader_ctx *r = ctx;
  (void)seq;
  struct ml_sale_src s = {rec->ts_ms, rec->pincode, rec->product, rec->channel,
                          rec->customer_age, rec->customer_income};
  if (dataset_builder_add_recent(r->b, &s) < 0) {
    r->failed = 1;
    return 1;
  }
  if (++r->n % 100000 == 0 && r->total > 0 && r->progress)
    r->progress(r->pctx, "reading sales",
                0.05 + 0.05 * (double)r->n / (double)r->total);
  return 0;
}

static int read_sales_cells(struct store *db, struct reader_ctx *rd, int periods,
                            int period_days, int keep_periods, struct gerr *err) {
  /* the national sales by day the data set keeps (dataset_builder_finish
   * is given the same periods) */
  struct sales_cells_query q = {period_days, periods, keep_periods,
                                ML_DAYS(periods, period_days)};
  struct sales_cells_reader r = {on_span, on_cell, on_recent, rd, on_day};
  return store_sales_cells(db, &q, &r, err);
}

static void iso_utc(char *out, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char base[20];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%s.%06dZ", base, (int)(ts.tv_nsec / 1000));
}

int suite_train(struct store *db, const struct gaz *gaz, const struct train_config *cfg,
                train_progress_fn progress, void *progress_ctx, struct suite **out,
                struct gerr *err) {
  struct train_config def;
  if (!cfg) {
    train_config_defaults(&def);
    cfg = &def;
  }
  *out = NULL;
  if (cfg->period_days < 1 || cfg->origins < 2 || cfg->rounds < 1 || cfg->depth < 1)
    return gerr_set(err, GERR_INVALID_INPUT, "invalid training settings");
  int64_t t0 = mono_us();
  struct work w = {.cfg = cfg, .progress = progress, .pctx = progress_ctx};
  struct dataset_builder *b = NULL;
  int rc = -1;
  json_t *eval = json_object();
  w.models = json_object();
  w.s = calloc(1, sizeof *w.s);
  if (!w.s || !eval || !w.models) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  w.s->level = cfg->level;
  w.s->gaz = gaz;
  train_stage(&w, "reading sales", 0);
  if (dataset_builder_new(cfg->period_days, &b, err) < 0)
    goto out;
  /* the backtest needs three origins at least: a window, its validation and
   * its training */
  int origins = cfg->origins < 3 ? 3 : cfg->origins;
  struct reader_ctx rd = {b, 0, 0, progress, progress_ctx, 0};
  int read = train_reads_cells(db, cfg)
                 ? read_sales_cells(db, &rd, origins + ML_HIST, cfg->period_days, TOP_PERIODS,
                                    err)
                 : read_sales_rows(db, &rd, err);
  if (read < 0)
    goto out;
  if (rd.failed) {
    dataset_builder_failure(b, err);
    goto out;
  }
  train_stage(&w, "building period cells", 0.1);
  struct dataset_builder *bb = b;
  b = NULL;
  if (dataset_builder_finish(bb, gaz, origins + ML_HIST, TOP_PERIODS, &w.d, &w.sales,
                             &w.nsales, err) < 0)
    goto out;
  if (w.d->known < 4) {
    gerr_set(err, GERR_CONFLICT,
             "too little history to train: the sales span %d period(s) of %d days, at least 4 "
             "are needed",
             w.d->known, cfg->period_days);
    goto out;
  }
  train_stage(&w, "training rows", 0.12);
  if (rows_build(w.d, origins, MAX_CELL_ROWS, cfg->seed, cfg->threads, &w.all) < 0) {
    gerr_set(err, GERR_INTERNAL, "out of memory building training rows");
    goto out;
  }
  if (w.all.n == 0) {
    gerr_set(err, GERR_CONFLICT, "too few cells with sales to train on");
    goto out;
  }
  if (train_demand(&w, eval, err) < 0 || train_rise(&w, eval, err) < 0 ||
      train_top(&w, eval, err) < 0)
    goto out;

  train_stage(&w, "finishing", 0.95);
  struct suite *s = w.s;
  if (dataset_trim(w.d, gaz, ML_HIST, &s->d, err) < 0 || suite_index(s, err) < 0)
    goto out;
  iso_utc(s->trained_at, sizeof s->trained_at);
  ist_format_date(w.d->first_ms, s->data_from);
  ist_format_date(w.d->last_ms, s->data_to);
  s->rows = (int64_t)w.all.n;
  s->duration_ms = (mono_us() - t0) / 1000;
  char asof[11];
  ist_format_date((int64_t)w.d->asof_day * DAY_MS, asof);
  json_object_set_new(eval, "dataset_size", json_integer((json_int_t)w.d->nsales_read));
  s->report = json_pack(
      "{s:I,s:s,s:{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:i},s:o,s:o,s:I}", "version", (json_int_t)0,
      "trained_at", s->trained_at, "data", "from", s->data_from, "to", s->data_to, "as_of",
      asof, "period_days", cfg->period_days, "sales", (json_int_t)w.d->nsales_read, "pincodes",
      (json_int_t)w.d->npin, "cells", (json_int_t)w.d->ncell, "origins", cfg->origins,
      "evaluation", eval, "models", w.models, "duration_ms", (json_int_t)s->duration_ms);
  eval = w.models = NULL;
  if (s->report && w.backtest) {
    json_object_set_new(s->report, "backtest", w.backtest);
    w.backtest = NULL;
  }
  if (!s->report) {
    gerr_set(err, GERR_INTERNAL, "out of memory");
    goto out;
  }
  train_stage(&w, "feature importance", 0.96);
  if (train_importance(&w, err) < 0)
    goto out;
  train_stage(&w, "regions", 0.97);
  if (suite_regions_make(s, db, cfg->regions, cfg->seed, err) < 0 ||
      train_demand_levels(&w, err) < 0)
    goto out;
  s->duration_ms = (mono_us() - t0) / 1000;
  json_object_set_new(s->report, "duration_ms", json_integer((json_int_t)s->duration_ms));
  train_stage(&w, "done", 1);
  *out = s;
  w.s = NULL;
  rc = 0;
out:
  dataset_builder_free(b);
  json_decref(eval);
  json_decref(w.models);
  suite_free(w.s);
  dataset_free(w.d);
  free(w.sales);
  json_decref(w.backtest);
  free(w.bt_mu);
  free(w.bt_base);
  rows_release(&w.all);
  return rc;
}
