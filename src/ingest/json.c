/* JSON sales files: the NDJSON reader, fed in chunks of any size: gromo import and
 * POST /sales/upload both read NDJSON through it (JSON arrays: jsonrec.c).
 *
 * A line is parsed where it lies when a piece holds it whole, and else
 * gathered in a buffer bounded by NDJSON_KEEP; a longer line is dropped as
 * it arrives and rejected as a record once its end is seen. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/buf.h"
#include "gromo/ingest.h"
#include "gromo/record_json.h"

#define NDJSON_LINE_MAX INGEST_NDJSON_LINE_MAX
/* A line is kept up to this many bytes, blanks around it included: a
 * record of NDJSON_LINE_MAX bytes may still have a few around it. */
#define NDJSON_KEEP (NDJSON_LINE_MAX + (64 << 10))

struct ndjsonrec {
  const struct sale_rules *rules;
  jsonrec_fn fn;
  void *ctx;
  struct buf line; /* the current line, when it spans pieces */
  int skip;        /* the current line is too long: dropped */
  size_t line_no;  /* lines complete */
  size_t records;
  int rc;          /* -2 once the callback stopped */
};

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static void too_long(struct sale *rec, struct sale_problems *pr) {
  memset(rec, 0, sizeof *rec);
  sale_problems_clear(pr);
  sale_problem_add(pr, SF_RECORD, "the line is longer than %d bytes", NDJSON_LINE_MAX);
}

/* One NDJSON line, without its '\n': blanks and a '\r' around it are
 * ignored. 0 for a blank line (no record); 1 for a record, with *valid set
 * and, when not valid, the problems in *pr (malformed JSON is a problem of
 * the record, naming the column counted from the line's start). */
static int parse_line(const char *p, size_t n, const struct sale_rules *rules,
                      struct sale *out, int *valid, struct sale_problems *pr) {
  size_t a = 0, b = n;
  while (a < b && is_blank(p[a]))
    a++;
  while (b > a && is_blank(p[b - 1]))
    b--;
  if (a == b)
    return 0;
  if (b - a > NDJSON_LINE_MAX) {
    too_long(out, pr);
    *valid = 0;
    return 1;
  }
  json_error_t je;
  json_t *j = json_loadb(p + a, b - a, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    sale_problems_clear(pr);
    sale_problem_add(pr, SF_RECORD, "malformed JSON at column %d: %s", je.column + (int)a,
                     je.text);
    *valid = 0;
    return 1;
  }
  *valid = sale_from_json(j, rules, out, pr) == 0;
  json_decref(j);
  return 1;
}

/* A complete line (p NULL: the line too long to keep) to the callback.
 * 0, or -2 when the callback stopped the reading. */
static int line_done(struct ndjsonrec *r, const char *p, size_t n) {
  struct sale rec;
  struct sale_problems pr;
  int valid = 0, got = 1;
  if (++r->line_no == 1 && p && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
    p += 3, n -= 3;
  if (p)
    got = parse_line(p, n, r->rules, &rec, &valid, &pr);
  else
    too_long(&rec, &pr);
  buf_reset(&r->line);
  r->skip = 0;
  if (!got)
    return 0;
  r->records++;
  return r->fn(r->ctx, r->line_no, &rec, valid, &pr) ? (r->rc = -2) : 0;
}

/* Keeps p[n] of a line that goes on past the piece; past NDJSON_KEEP the
 * line is dropped. */
static int keep(struct ndjsonrec *r, const char *p, size_t n, struct gerr *err) {
  if (r->skip || buf_append(&r->line, p, n) == 0)
    return 0;
  if (errno == ENOMEM)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  r->skip = 1;
  buf_reset(&r->line);
  return 0;
}

int ndjsonrec_new(const struct sale_rules *rules, jsonrec_fn fn, void *ctx,
                  struct ndjsonrec **out) {
  struct ndjsonrec *r = calloc(1, sizeof *r);
  if (!r)
    return -1;
  r->rules = rules;
  r->fn = fn;
  r->ctx = ctx;
  buf_init(&r->line, NDJSON_KEEP);
  *out = r;
  return 0;
}

int ndjsonrec_feed(struct ndjsonrec *r, const char *p, size_t n, struct gerr *err) {
  while (n && r->rc == 0) {
    const char *nl = memchr(p, '\n', n);
    if (!nl)
      return keep(r, p, n, err);
    size_t take = (size_t)(nl - p);
    if (!r->skip && r->line.len == 0 && take <= NDJSON_KEEP) {
      line_done(r, p, take); /* whole in this piece: read where it lies */
    } else {
      if (keep(r, p, take, err) < 0)
        return -1;
      line_done(r, r->skip ? NULL : r->line.data ? r->line.data : "", r->line.len);
    }
    p = nl + 1;
    n -= take + 1;
  }
  return r->rc;
}

int ndjsonrec_finish(struct ndjsonrec *r, struct gerr *err) {
  (void)err;
  if (r->rc == 0 && (r->skip || r->line.len))
    line_done(r, r->skip ? NULL : r->line.data, r->line.len);
  return r->rc;
}

size_t ndjsonrec_count(const struct ndjsonrec *r) { return r->records; }

void ndjsonrec_free(struct ndjsonrec *r) {
  if (!r)
    return;
  buf_release(&r->line);
  free(r);
}
