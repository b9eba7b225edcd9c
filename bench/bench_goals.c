/* Forecast quality through the year: for each seed, sample sales over three
 * years; for each as-of date (the last day of each of 12 months) a store
 * holding only the sales up to that day is trained on, and every cell of a
 * pincode with sales in the year before is forecast, through the served
 * answer (suite_predict), 1 to 3 periods ahead and compared with the sales
 * the generator made after the as-of date. Prints, per month and horizon,
 * pooled over the seeds: bias overall and per product (mean predicted /
 * mean realized - 1), Poisson deviance and its skill against the best of
 * the four baselines of training (gromo/evaluate.h: last period, moving
 * averages of 3 and 6, seasonal naive, each shrunk toward the cell's prior,
 * with the pincode's demand apportioned by product and channel as parent),
 * WAPE (sum |y - mu| / sum y) of the forecast and of that baseline,
 * interval coverage on cells expecting >= 1 sale and on
 * cells realizing >= 1; and each trained model's rise ROC AUC, top-product
 * log loss and training time. Then the noise of the sample itself, next
 * period: per month the cells expecting >= 1 and the binomial standard
 * error of their coverage, and per product the standard error of the bias
 * over the seeds (their standard deviation over sqrt(seeds)); per month
 * the next period's coverage in each band of expected demand; and what the
 * models' calibrations were fitted on.
 *   bench_goals [--seeds N] [--sales N] [--last YYYY-MM] [--rounds N] [--dir D]
 *               [--months YYYY-MM-DD,...]
 * --months replaces the 12 as-of dates by the listed ones (at most 12, for
 * quick runs). Uses public interfaces only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gromo/evaluate.h"
#include "gromo/gazetteer.h"
#include "gromo/generator.h"
#include "gromo/models.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

#ifdef PREDICT_MAX_HORIZON
#define HZ PREDICT_MAX_HORIZON
#else
#define HZ 1 /* built against a release without horizons */
#endif
#define MONTHS 12
#define PERIOD 30
#define HIST 15
#define NBASE EVAL_BASELINES
#define MAXP 8

/* The bands of expected demand whose intervals get a level of their own
 * (docs/models.md, "Calibration"), their lower ends as the first model's
 * report lists them. */
#define NBAND 8
static double band_from[NBAND];
static int nband;

struct acc {
  double n, mu, y, dev, bdev[NBASE], ae, bae[NBASE], n_inf, cov_inf, n_real, cov_real;
  double n_band[NBAND], cov_band[NBAND];
  double pmu[MAXP], py[MAXP];
  /* cells without a sale in the 12 periods before the as-of day */
  double zn[MAXP], zmu[MAXP], zy[MAXP];
};

static struct acc accs[MONTHS][HZ];
/* per seed, month and product: the next period's predicted and realized
 * sums, for the spread of the bias over the seeds */
#define MAXSEED 16
static double seed_mu[MAXSEED][MONTHS][MAXP], seed_y[MAXSEED][MONTHS][MAXP];
static int nmonths = MONTHS;

/* "YYYY-MM-DD,..." into day numbers; the count, or -1. */
static int parse_months(const char *arg, int64_t *out) {
  int n = 0;
  for (const char *p = arg; *p;) {
    int y, m, d, len = 0;
    if (n == MONTHS || sscanf(p, "%4d-%2d-%2d%n", &y, &m, &d, &len) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
      return -1;
    out[n++] = days_from_civil(y, (unsigned)m, (unsigned)d);
    p += len;
    if (*p == ',')
      p++;
    else if (*p)
      return -1;
  }
  return n ? n : -1;
}
static char prods[MAXP][SALE_IDENT_MAX + 1], chans[16][SALE_IDENT_MAX + 1];
static size_t nprod, nchan;

static int name_ix(char (*list)[SALE_IDENT_MAX + 1], size_t *n, size_t cap, const char *s) {
  for (size_t i = 0; i < *n; i++)
    if (!strcmp(list[i], s))
      return (int)i;
  if (*n == cap)
    return -1;
  snprintf(list[*n], sizeof list[*n], "%s", s);
  return (int)(*n)++;
}

static double dev_term(double y, double mu) { return eval_poisson_term(y, mu); }

/* Per cell: counts of periods -HZ..HIST-1 around the as-of day (index a + HZ
 * for period a; a < 0 after the as-of day). */
struct cell {
  int32_t pin;
  int prod, chan;
  uint32_t c[HIST + HZ];
};

static int cmp_cell(const void *a, const void *b) {
  const struct cell *x = a, *y = b;
  if (x->pin != y->pin)
    return x->pin < y->pin ? -1 : 1;
  if (x->prod != y->prod)
    return x->prod - y->prod;
  return x->chan - y->chan;
}

static double jnum(json_t *o, const char *path) {
  char buf[200];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *t = strtok(buf, "."); t && o; t = strtok(NULL, "."))
    o = json_object_get(o, t);
  return json_is_number(o) ? json_number_value(o) : NAN;
}

int main(int argc, char **argv) {
  int seeds = 3, rounds = 120, last_y = 2026, last_m = 9;
  size_t nsales = 600000;
  const char *dir = "/tmp", *months = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
      seeds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--sales") && i + 1 < argc)
      nsales = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      dir = argv[++i];
    else if (!strcmp(argv[i], "--months") && i + 1 < argc)
      months = argv[++i];
    else if (!strcmp(argv[i], "--last") && i + 1 < argc &&
             sscanf(argv[++i], "%d-%d", &last_y, &last_m) == 2)
      ;
    else {
      fprintf(stderr, "usage: bench_goals [--seeds N] [--sales N] [--last YYYY-MM] "
                      "[--rounds N] [--dir D] [--months YYYY-MM-DD,...]\n");
      return 2;
    }
  }
  if (seeds < 1 || seeds > MAXSEED) {
    fprintf(stderr, "bench_goals: --seeds: 1 to %d\n", MAXSEED);
    return 2;
  }
  struct gerr err;
  struct gaz *gaz = NULL;
  if (gaz_load_default(&gaz, &err) < 0) {
    fprintf(stderr, "bench_goals: %s\n", err.msg);
    return 1;
  }
  /* as-of days: the last day of each of the 12 months ending last_y-last_m */
  int64_t asof[MONTHS];
  for (int m = 0; m < MONTHS; m++) {
    int y = last_y, mo = last_m - (MONTHS - 1 - m);
    while (mo < 1) {
      mo += 12;
      y--;
    }
    int ny = mo == 12 ? y + 1 : y, nm = mo == 12 ? 1 : mo + 1;
    asof[m] = days_from_civil(ny, (unsigned)nm, 1) - 1;
  }
  if (months && (nmonths = parse_months(months, asof)) < 0) {
    fprintf(stderr, "bench_goals: --months: at most %d dates YYYY-MM-DD, comma-separated\n",
            MONTHS);
    return 2;
  }
  /* the sales end where the 12-month default ends, whatever dates run */
  int64_t end_day = (days_from_civil(last_m == 12 ? last_y + 1 : last_y,
                                     (unsigned)(last_m == 12 ? 1 : last_m + 1), 1) -
                     1) +
                    (int64_t)HZ * PERIOD;
  double auc_sum = 0, top_sum = 0, train_s = 0, train_max = 0;
  double cal_inf = 0, cal_extra = 0, cal_drawn = 0;
  int nmodels = 0;
  printf("== forecasts through the year: %d seed(s), %zu sales over 3 years each, "
         "horizons 1-%d, %d rounds at most\n", seeds, nsales, HZ, rounds);
  for (int seed = 1; seed <= seeds; seed++) {
    struct gen_config gc = {.seed = (uint64_t)seed, .end_ist_ms = end_day * DAY_MS + DAY_MS - 1,
                            .days = 3 * 365, .count = nsales};
    struct gen *g = NULL;
    struct sale *all = malloc(nsales * sizeof *all);
    if (!all || gen_new(gaz, &gc, &g, &err) < 0) {
      fprintf(stderr, "bench_goals: %s\n", all ? err.msg : "out of memory");
      return 1;
    }
    for (size_t i = 0; i < nsales; i++)
      gen_next(g, &all[i]);
    gen_free(g);
    for (int m = 0; m < nmonths; m++) {
      int64_t T = asof[m];
      char path[512], date[11];
      ist_format_date(T * DAY_MS, date);
      snprintf(path, sizeof path, "%s/gromo-goals-%d.db", dir, (int)getpid());
      unlink(path);
      struct store *db = NULL;
      if (store_open(path, &db, &err) < 0) {
        fprintf(stderr, "bench_goals: %s\n", err.msg);
        return 1;
      }
      /* the store: sales up to the as-of day; the cells: counted around it */
      size_t ncell = 0, ccap = 1 << 16;
      struct cell *cells = malloc(ccap * sizeof *cells);
      /* the generator gives its sales in date order: those up to T are a
       * prefix */
      size_t nin = 0;
      while (nin < nsales && all[nin].ts_ms / DAY_MS <= T)
        nin++;
      for (size_t i = 0; i < nin; i += 10000) {
        struct store_insert_stats st;
        size_t n = nin - i < 10000 ? nin - i : 10000;
        if (store_sales_insert(db, all + i, n, NULL, &st, &err) < 0) {
          fprintf(stderr, "bench_goals: %s\n", err.msg);
          return 1;
        }
      }
      for (size_t i = 0; i < nsales; i++) {
        int64_t day = all[i].ts_ms / DAY_MS;
        int64_t a = day <= T ? (T - day) / PERIOD : -((day - T - 1) / PERIOD) - 1;
        if (a >= HIST || a < -HZ)
          continue;
        int p = name_ix(prods, &nprod, MAXP, all[i].product);
        int c = name_ix(chans, &nchan, 16, all[i].channel);
        if (p < 0 || c < 0)
          continue;
        if (ncell == ccap) {
          struct cell *nc = realloc(cells, (ccap *= 2) * sizeof *cells);
          if (!nc)
            return 1;
          cells = nc;
        }
        cells[ncell] = (struct cell){all[i].pincode, p, c, {0}};
        cells[ncell++].c[a + HZ] = 1;
      }
      /* merge the one-sale cells */
      qsort(cells, ncell, sizeof *cells, cmp_cell);
      size_t u = 0;
      for (size_t i = 0; i < ncell; i++) {
        if (u && !cmp_cell(&cells[u - 1], &cells[i])) {
          for (int a = 0; a < HIST + HZ; a++)
            cells[u - 1].c[a] += cells[i].c[a];
        } else {
          cells[u++] = cells[i];
        }
      }
      ncell = u;
      struct train_config cfg;
      train_config_defaults(&cfg);
      cfg.rounds = rounds;
      struct suite *s = NULL;
      if (suite_train(db, gaz, &cfg, NULL, NULL, &s, &err) < 0) {
        fprintf(stderr, "bench_goals: training as of %s: %s\n", date, err.msg);
        return 1;
      }
      json_t *rep = suite_report(s);
      double secs = jnum(rep, "duration_ms") / 1000;
      train_s += secs;
      if (secs > train_max)
        train_max = secs;
      auc_sum += jnum(rep, "models.demand_rise.holdout.roc_auc");
      top_sum += jnum(rep, "models.top_product.holdout.log_loss");
      nmodels++;
      /* what the next period's calibration of the cells without segment
       * was fitted on */
      json_t *iv = json_object_get(json_object_get(json_object_get(rep, "models"), "demand"),
                                   "intervals"),
             *e;
      size_t ie;
      json_array_foreach(iv, ie, e) {
        const char *kind = json_string_value(json_object_get(e, "cells"));
        if (json_integer_value(json_object_get(e, "horizon")) != 1 || !kind ||
            strcmp(kind, "without_segment"))
          continue;
        cal_inf += jnum(e, "fitted_on.backtest_cells_expecting_1_or_more");
        double more = jnum(e, "fitted_on.extra_cells");
        cal_extra += isnan(more) ? 0 : more;
        cal_drawn += more > 0;
        json_t *bands = json_object_get(e, "bands"), *band;
        size_t ib;
        json_array_foreach(bands, ib, band) {
          if (nmodels == 1 && nband < NBAND)
            band_from[nband++] = jnum(band, "expected_from");
        }
      }
      json_decref(rep);
      /* every cell of a pincode with sales in the last 12 periods: each
       * product and channel, sold there or not */
      for (size_t i = 0; i < ncell;) {
        size_t j = i;
        int active = 0;
        while (j < ncell && cells[j].pin == cells[i].pin) {
          for (int a = 0; a < 12; a++)
            active |= cells[j].c[a + HZ] > 0;
          j++;
        }
        /* the parent of the baselines: the pincode's demand per period
         * (6 periods) apportioned by the product's and the channel's shares
         * of its sales (12 periods), as training's features give it */
        double pin6 = 0, pin12 = 0, pshare[MAXP] = {0}, cshare[16] = {0};
        for (size_t k = i; active && k < j; k++)
          for (int a = 0; a < 12; a++) {
            double v = cells[k].c[a + HZ];
            pin6 += a < 6 ? v : 0;
            pin12 += v;
            pshare[cells[k].prod] += v;
            cshare[cells[k].chan] += v;
          }
        for (size_t p = 0; active && p < nprod; p++)
          for (size_t c = 0; c < nchan; c++) {
            uint32_t zero[HIST + HZ] = {0};
            const uint32_t *cnt = zero;
            for (size_t k = i; k < j; k++)
              if (cells[k].prod == (int)p && cells[k].chan == (int)c)
                cnt = cells[k].c;
            struct predict_query q;
            memset(&q, 0, sizeof q);
            q.pincode = cells[i].pin;
            snprintf(q.product, sizeof q.product, "%s", prods[p]);
            snprintf(q.channel, sizeof q.channel, "%s", chans[c]);
            for (int h = 1; h <= HZ; h++) {
#ifdef PREDICT_MAX_HORIZON
              q.horizon = h;
#endif
              struct predict_answer ans;
              suite_predict(s, PREDICT_DEMAND, &q, 0, &ans);
              double y = cnt[HZ - h], mu = ans.predicted_demand;
              double hist[HIST], b[NBASE]; /* hist[a]: period a */
              for (int a = 0; a < HIST; a++)
                hist[a] = cnt[HZ + a];
              struct eval_history eh;
              eval_history_of_counts(hist, HIST, h,
                                     eval_parent_rate(pin6 / 6, pin12 > 0 ? pshare[p] / pin12 : NAN,
                                                      pin12 > 0 ? cshare[c] / pin12 : NAN),
                                     &eh);
              for (int k = 0; k < NBASE; k++)
                b[k] = eval_baseline(&eh, k);
              struct acc *ac = &accs[m][h - 1];
              ac->n++;
              ac->mu += mu;
              ac->y += y;
              ac->pmu[p] += mu;
              ac->py[p] += y;
              if (h == 1) {
                seed_mu[seed - 1][m][p] += mu;
                seed_y[seed - 1][m][p] += y;
              }
              int sold = 0;
              for (int k = 0; k < 12; k++)
                sold |= hist[k] > 0;
              if (!sold) {
                ac->zn[p]++;
                ac->zmu[p] += mu;
                ac->zy[p] += y;
              }
              ac->dev += dev_term(y, mu);
              ac->ae += fabs(y - mu);
              for (int k = 0; k < NBASE; k++) {
                ac->bdev[k] += dev_term(y, b[k]);
                ac->bae[k] += fabs(y - b[k]);
              }
              int in = y >= ans.low && y <= ans.high;
              if (mu >= 1) {
                ac->n_inf++;
                ac->cov_inf += in;
                int bd = nband - 1;
                while (bd > 0 && mu < band_from[bd])
                  bd--;
                if (bd >= 0) {
                  ac->n_band[bd]++;
                  ac->cov_band[bd] += in;
                }
              }
              if (y >= 1) {
                ac->n_real++;
                ac->cov_real += in;
              }
            }
          }
        i = j;
      }
      free(cells);
      suite_free(s);
      store_close(db);
      unlink(path);
      char wal[530];
      snprintf(wal, sizeof wal, "%s-wal", path);
      unlink(wal);
      snprintf(wal, sizeof wal, "%s-shm", path);
      unlink(wal);
      fprintf(stderr, "seed %d, as of %s: trained in %.1f s\n", seed, date, secs);
    }
    free(all);
  }
  printf("\n%-10s %2s %7s", "as of", "h", "bias");
  for (size_t p = 0; p < nprod; p++)
    printf(" %12.12s", prods[p]);
  printf(" %9s %9s %8s %16s %7s %9s %9s %10s\n", "deviance", "best base", "skill", "baseline",
         "wape", "base wape", "cov mu>=1", "cov y>=1");
  double worst = 0, cov_lo = 1, cov_hi = 0;
  for (int h = 1; h <= HZ; h++)
    for (int m = 0; m < nmonths; m++) {
      struct acc *a = &accs[m][h - 1];
      char date[11];
      ist_format_date(asof[m] * DAY_MS, date);
      int best = 0;
      for (int k = 1; k < NBASE; k++)
        if (a->bdev[k] < a->bdev[best])
          best = k;
      double bias = a->mu / a->y - 1;
      printf("%-10s %2d %+7.3f", date, h, bias);
      for (size_t p = 0; p < nprod; p++) {
        double pb = a->pmu[p] / a->py[p] - 1;
        printf(" %+12.3f", pb);
        if (fabs(pb) > fabs(worst))
          worst = pb;
      }
      double cov = a->cov_inf / a->n_inf;
      if (h == 1) {
        cov_lo = fmin(cov_lo, cov);
        cov_hi = fmax(cov_hi, cov);
      }
      printf(" %9.4f %9.4f %8.3f %16s %7.3f %9.3f %9.3f %10.3f\n", a->dev / a->n,
             a->bdev[best] / a->n, 1 - a->dev / a->bdev[best], eval_baseline_names[best],
             a->ae / a->y, a->bae[best] / a->y, cov, a->cov_real / a->n_real);
    }
  /* the noise of the sample: a month's coverage is a share of n_inf cells
   * (binomial standard error); a product's bias, the spread of the seeds'
   * biases over sqrt(seeds) */
  printf("\nsampling noise, next period: cells expecting >= 1 and the standard error of their "
         "coverage; per product, the standard error of the bias over the seeds\n%-10s %9s %8s",
         "as of", "cells>=1", "cov se");
  for (size_t p = 0; p < nprod; p++)
    printf(" %12.12s", prods[p]);
  printf("\n");
  for (int m = 0; m < nmonths; m++) {
    struct acc *a = &accs[m][0];
    char date[11];
    ist_format_date(asof[m] * DAY_MS, date);
    double cov = a->cov_inf / a->n_inf;
    printf("%-10s %9.0f %8.4f", date, a->n_inf, sqrt(cov * (1 - cov) / a->n_inf));
    for (size_t p = 0; p < nprod; p++) {
      double sum = 0, sq = 0;
      for (int k = 0; k < seeds; k++) {
        double b = seed_mu[k][m][p] / seed_y[k][m][p] - 1;
        sum += b;
        sq += b * b;
      }
      double var = seeds > 1 ? (sq - sum * sum / seeds) / (seeds - 1) : NAN;
      printf(" %12.3f", sqrt(var / seeds));
    }
    printf("\n");
  }
  printf("\ninterval coverage by band of expected demand, next period (the band's cells in "
         "parentheses)\n%-10s", "as of");
  for (int bd = 0; bd < nband; bd++) {
    char hd[48];
    if (bd + 1 < nband)
      snprintf(hd, sizeof hd, "%g-%g", band_from[bd], band_from[bd + 1]);
    else
      snprintf(hd, sizeof hd, "%g+", band_from[bd]);
    printf(" %15s", hd);
  }
  printf("\n");
  for (int m = 0; m < nmonths; m++) {
    struct acc *a = &accs[m][0];
    char date[11];
    ist_format_date(asof[m] * DAY_MS, date);
    printf("%-10s", date);
    for (int bd = 0; bd < nband; bd++)
      printf("  %5.3f (%6.0f)", a->n_band[bd] ? a->cov_band[bd] / a->n_band[bd] : NAN,
             a->n_band[bd]);
    printf("\n");
  }
  printf("\ncells without a sale in the 12 periods before (per product: share of the "
         "product's realized sales, bias)\n%-10s %2s", "as of", "h");
  for (size_t p = 0; p < nprod; p++)
    printf(" %21.21s", prods[p]);
  printf("\n");
  for (int h = 1; h <= HZ; h++)
    for (int m = 0; m < nmonths; m++) {
      struct acc *a = &accs[m][h - 1];
      char date[11];
      ist_format_date(asof[m] * DAY_MS, date);
      printf("%-10s %2d", date, h);
      for (size_t p = 0; p < nprod; p++)
        printf("      %6.3f  %+8.3f", a->zy[p] / a->py[p], a->zmu[p] / a->zy[p] - 1);
      printf("\n");
    }
  printf("\nlargest product bias, any month and horizon: %+.3f\n", worst);
  printf("interval coverage (cells expecting >= 1, next period), lowest and highest month: "
         "%.3f, %.3f\n", cov_lo, cov_hi);
  printf("calibration of the next period, cells without segment (mean of %d models): %.0f "
         "backtest cells expecting >= 1, %.0f extra cells (drawn by %.0f models)\n",
         nmodels, cal_inf / nmodels, cal_extra / nmodels, cal_drawn);
  printf("rise ROC AUC (holdout, mean of %d models): %.4f\n", nmodels, auc_sum / nmodels);
  printf("top-product log loss (holdout, mean of %d models): %.4f\n", nmodels, top_sum / nmodels);
  printf("training: mean %.1f s, longest %.1f s\n", train_s / nmodels, train_max);
  gaz_free(gaz);
  return 0;
}
