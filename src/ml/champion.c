/* Champion and challenger (docs/models.md "Promotion: champion and
 * challenger"): a newly trained suite serves only when it is no worse than
 * the serving one on the same evaluation. Both sides are the figures each
 * training recorded out of sample (the demand backtest's rows by as-of
 * date and horizon, the holdouts of demand rise and top product), of what
 * each suite serves: the model where it beat its baseline, else the
 * baseline. Works on the /models reports alone, so a decision can be made
 * inside the transaction that saves the challenger. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ml/ml_int.h"

/* One model's loss as its suite serves it: the holdout figure of the model
 * when it was promoted over its baseline, else the serving baseline's. */
static double served_loss(const json_t *report, const char *model, const char *metric) {
  json_t *m = json_object_get(json_object_get(report, "models"), model);
  json_t *fig = json_object_get(m, "holdout");
  if (!json_is_true(json_object_get(m, "promoted"))) {
    const char *base = json_string_value(json_object_get(m, "serving"));
    json_t *b = base ? json_object_get(json_object_get(m, "baselines"), base) : NULL;
    if (b)
      fig = b;
  }
  json_t *v = json_object_get(fig, metric);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *as_of(const json_t *report) {
  return json_string_value(json_object_get(json_object_get(report, "data"), "as_of"));
}

/* A by_month row's key: its as-of date and horizon. */
static int row_key(const json_t *row, char *key, size_t cap) {
  const char *a = json_string_value(json_object_get(row, "as_of"));
  json_t *h = json_object_get(row, "horizon");
  if (!a || !json_is_integer(h))
    return -1;
  int n = snprintf(key, cap, "%s/%lld", a, (long long)json_integer_value(h));
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

struct dev_sum {
  double dev; /* cells x mean deviance */
  double cells;
  int rows;
};

static void dev_add(struct dev_sum *s, const json_t *row) {
  json_t *all = json_object_get(row, "all");
  json_t *d = json_object_get(all, "poisson_deviance"), *c = json_object_get(all, "cells");
  if (!json_is_number(d) || !json_is_integer(c) || json_integer_value(c) <= 0)
    return;
  s->dev += json_number_value(d) * (double)json_integer_value(c);
  s->cells += (double)json_integer_value(c);
  s->rows++;
}

static double dev_mean(const struct dev_sum *s) { return s->cells > 0 ? s->dev / s->cells : NAN; }

/* The demand model: the mean served deviance (weighted by cells) over the
 * backtest rows (as-of date, horizon) both reports hold; with none in
 * common, over every row of each. */
static json_t *compare_demand(const json_t *ch, const json_t *cp, double *a, double *b) {
  json_t *rows_ch = json_object_get(json_object_get(ch, "backtest"), "by_month");
  json_t *rows_cp = json_object_get(json_object_get(cp, "backtest"), "by_month");
  struct dev_sum sa = {0, 0, 0}, sb = {0, 0, 0};
  size_t i, j;
  json_t *r, *q;
  char ka[48], kb[48];
  json_array_foreach(rows_ch, i, r) {
    if (row_key(r, ka, sizeof ka) < 0)
      continue;
    json_array_foreach(rows_cp, j, q) {
      if (row_key(q, kb, sizeof kb) == 0 && !strcmp(ka, kb)) {
        struct dev_sum ta = sa, tb = sb;
        dev_add(&ta, r);
        dev_add(&tb, q);
        if (ta.rows > sa.rows && tb.rows > sb.rows) /* both usable */
          sa = ta, sb = tb;
        break;
      }
    }
  }
  const char *basis = "backtest rows (as-of date and horizon) of both";
  if (sa.rows == 0) {
    basis = "whole backtests (no as-of date in common)";
    json_array_foreach(rows_ch, i, r) dev_add(&sa, r);
    json_array_foreach(rows_cp, j, q) dev_add(&sb, q);
  }
  *a = dev_mean(&sa);
  *b = dev_mean(&sb);
  return json_pack("{s:s,s:s,s:i,s:i}", "metric", "poisson_deviance", "basis", basis,
                   "challenger_rows", sa.rows, "champion_rows", sb.rows);
}

/* Demand rise and top product: the served log loss of each holdout. */
static json_t *compare_holdout(const json_t *ch, const json_t *cp, const char *model, double *a,
                               double *b) {
  *a = served_loss(ch, model, "log_loss");
  *b = served_loss(cp, model, "log_loss");
  const char *x = as_of(ch), *y = as_of(cp);
  int same = x && y && !strcmp(x, y);
  return json_pack("{s:s,s:s}", "metric", "log_loss", "basis",
                   same ? "the same holdout (the last period)"
                        : "each one's holdout (their last periods differ)");
}

json_t *champion_compare(const json_t *challenger, const json_t *champion, double tolerance,
                         int *worse) {
  static const char *const names[] = {"demand", "demand_rise", "top_product"};
  json_t *out = json_object();
  *worse = 0;
  for (size_t k = 0; out && k < sizeof names / sizeof names[0]; k++) {
    double a = NAN, b = NAN;
    json_t *m = k == 0 ? compare_demand(challenger, champion, &a, &b)
                       : compare_holdout(challenger, champion, names[k], &a, &b);
    if (!m) {
      json_decref(out);
      return NULL;
    }
    /* Lower is better. A figure missing on the champion's side (an older
     * report) cannot hold the challenger back; one missing on the
     * challenger's side can. */
    int bad = isfinite(b) && (!isfinite(a) || a > b * (1 + tolerance) + 1e-12);
    *worse |= bad;
    json_object_set_new(m, "challenger", isfinite(a) ? json_real(a) : json_null());
    json_object_set_new(m, "champion", isfinite(b) ? json_real(b) : json_null());
    json_object_set_new(m, "no_worse", json_boolean(!bad));
    json_object_set_new(out, names[k], m);
  }
  return out;
}
