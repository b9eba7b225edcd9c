#include "gromo/export.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xlsxwriter.h>

#include "gromo/record.h"
#include "gromo/timeutil.h"

static const struct {
  const char *name, *type, *ext;
} formats[] = {
    [EXPORT_CSV] = {"csv", "text/csv; charset=utf-8", "csv"},
    [EXPORT_NDJSON] = {"ndjson", "application/x-ndjson", "ndjson"},
    [EXPORT_JSON] = {"json", "application/json", "json"},
    [EXPORT_XLSX] = {"xlsx",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "xlsx"},
};

int export_format_parse(const char *s, enum export_format *out) {
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
    if (!strcmp(s, formats[i].name)) {
      *out = (enum export_format)i;
      return 0;
    }
  return -1;
}

const char *export_content_type(enum export_format f) { return formats[f].type; }
const char *export_extension(enum export_format f) { return formats[f].ext; }

static const char CSV_HEADER[] =
    "date,pincode,city,product,channel,agent_id,customer_age,customer_income,id\n";

void export_cursor_init(struct export_cursor *c, enum export_format fmt,
                        const struct sales_filter *f, const struct gaz *gaz) {
  memset(c, 0, sizeof *c);
  c->fmt = fmt;
  c->filter = *f;
  c->remaining = f->limit ? f->limit : SIZE_MAX;
  c->gaz = gaz;
}

/* A CSV cell: quoted when it holds a delimiter, a quote or a line break. */
static int csv_cell(struct buf *b, const char *s) {
  if (!strpbrk(s, ",\"\r\n"))
    return buf_puts(b, s);
  if (buf_puts(b, "\"") < 0)
    return -1;
  for (const char *p = s; *p; p++)
    if ((*p == '"' && buf_puts(b, "\"\"") < 0) || (*p != '"' && buf_append(b, p, 1) < 0))
      return -1;
  return buf_puts(b, "\"");
}

static void format_income(double v, char out[32]) {
  snprintf(out, 32, "%.2f", v);
  size_t n = strlen(out); /* 75000.00 -> 75000, 75000.50 -> 75000.5 */
  while (n && out[n - 1] == '0')
    out[--n] = '\0';
  if (n && out[n - 1] == '.')
    out[--n] = '\0';
}

struct page {
  struct export_cursor *c;
  struct buf *out;
  size_t n;
  int failed;
};

static int page_row(void *ctx, const struct sale *s, int64_t seq) {
  struct page *p = ctx;
  struct export_cursor *c = p->c;
  const struct gaz_entry *ge = c->gaz ? gaz_find(c->gaz, s->pincode) : NULL;
  const char *city = s->city[0] ? s->city : ge ? ge->district : "";
  int rc = 0;
  if (c->fmt == EXPORT_CSV) {
    char date[24], income[32], line[64];
    ist_format(s->ts_ms, date);
    format_income(s->customer_income, income);
    snprintf(line, sizeof line, "%s,%06d,", date, (int)s->pincode);
    rc = buf_puts(p->out, line) | csv_cell(p->out, city);
    rc |= buf_printf(p->out, ",%s,%s,%s,%d,%s,", s->product, s->channel, s->agent_id,
                     (int)s->customer_age, income);
    rc |= csv_cell(p->out, s->id) | buf_puts(p->out, "\n");
  } else {
    if (c->fmt == EXPORT_JSON && c->rows + p->n > 0)
      rc |= buf_puts(p->out, ",\n");
    rc |= sale_to_json_buf(s, ge ? ge->district : NULL, p->out);
    if (c->fmt == EXPORT_NDJSON)
      rc |= buf_puts(p->out, "\n");
  }
  if (rc) {
    p->failed = 1;
    return 1;
  }
  p->n++;
  c->filter.has_cursor = 1;
  c->filter.after_ts_ms = s->ts_ms;
  c->filter.after_seq = seq;
  return 0;
}

int export_next_page(struct export_cursor *c, struct store *db, size_t page_rows,
                     struct buf *out, struct gerr *err) {
  if (c->done)
    return 0;
  if (!c->started) {
    c->started = 1;
    int rc = c->fmt == EXPORT_CSV ? buf_puts(out, CSV_HEADER)
             : c->fmt == EXPORT_JSON ? buf_puts(out, "[\n") : 0;
    if (rc < 0)
      return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  struct page p = {.c = c, .out = out};
  size_t want = c->remaining < page_rows ? c->remaining : page_rows;
  c->filter.limit = want;
  if (want && store_sales_query(db, &c->filter, page_row, &p, err) < 0)
    return -1;
  if (p.failed)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  c->rows += p.n;
  c->remaining -= p.n;
  if (p.n < want || c->remaining == 0 || want == 0) {
    c->done = 1;
    if (c->fmt == EXPORT_JSON && buf_puts(out, "\n]\n") < 0)
      return gerr_set(err, GERR_INTERNAL, "out of memory");
  }
  return 0;
}

struct xlsx_ctx {
  lxw_worksheet *ws;
  lxw_format *date_fmt;
  const struct gaz *gaz;
  lxw_row_t row;
  size_t limit;
  int failed;
};

static int xlsx_row(void *ctx, const struct sale *s, int64_t seq) {
  struct xlsx_ctx *x = ctx;
  int64_t days = s->ts_ms >= 0 ? s->ts_ms / DAY_MS : (s->ts_ms - DAY_MS + 1) / DAY_MS;
  int64_t in_day = s->ts_ms - days * DAY_MS;
  int y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  lxw_datetime dt = {y, (int)m, (int)d, (int)(in_day / 3600000), (int)(in_day / 60000 % 60),
                     (double)(in_day % 60000) / 1000.0};
  const struct gaz_entry *ge = x->gaz ? gaz_find(x->gaz, s->pincode) : NULL;
  const char *city = s->city[0] ? s->city : ge ? ge->district : "";
  lxw_worksheet *ws = x->ws;
  lxw_row_t r = ++x->row;
  lxw_error e = worksheet_write_datetime(ws, r, 0, &dt, x->date_fmt);
  e |= worksheet_write_number(ws, r, 1, s->pincode, NULL);
  if (*city)
    e |= worksheet_write_string(ws, r, 2, city, NULL);
  e |= worksheet_write_string(ws, r, 3, s->product, NULL);
  e |= worksheet_write_string(ws, r, 4, s->channel, NULL);
  if (s->agent_id[0])
    e |= worksheet_write_string(ws, r, 5, s->agent_id, NULL);
  e |= worksheet_write_number(ws, r, 6, s->customer_age, NULL);
  e |= worksheet_write_number(ws, r, 7, s->customer_income, NULL);
  if (s->id[0])
    e |= worksheet_write_string(ws, r, 8, s->id, NULL);
  (void)seq;
  if (e != LXW_NO_ERROR || x->row >= 1048575) { /* Excel's last row */
    x->failed = e != LXW_NO_ERROR;
    return 1;
  }
  return 0;
}

int export_xlsx(struct store *db, const struct sales_filter *f, const struct gaz *gaz,
                const char *path, size_t *rows, struct gerr *err) {
  lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = NULL};
  lxw_workbook *wb = workbook_new_opt(path, &opt);
  if (!wb)
    return gerr_set(err, GERR_UNAVAILABLE, "cannot create the workbook %s", path);
  lxw_worksheet *ws = workbook_add_worksheet(wb, "sales");
  lxw_format *date_fmt = workbook_add_format(wb);
  format_set_num_format(date_fmt, "yyyy-mm-dd hh:mm:ss");
  static const char *const head[] = {"date", "pincode", "city", "product", "channel",
                                     "agent_id", "customer_age", "customer_income", "id"};
  for (lxw_col_t c = 0; c < 9; c++)
    worksheet_write_string(ws, 0, c, head[c], NULL);
  struct xlsx_ctx x = {.ws = ws, .date_fmt = date_fmt, .gaz = gaz};
  int rc = store_sales_query(db, f, xlsx_row, &x, err);
  lxw_error ce = workbook_close(wb);
  if (rc < 0)
    return -1;
  if (x.failed || ce != LXW_NO_ERROR)
    return gerr_set(err, GERR_INTERNAL, "writing the workbook failed: %s",
                    lxw_strerror(ce));
  if (rows)
    *rows = x.row;
  return 0;
}
