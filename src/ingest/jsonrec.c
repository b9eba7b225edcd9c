/* Streaming reader of sales records in JSON: a top-level array of record
 * objects (or one record object), fed in chunks of any size. The JSON is
 * read by the flat-object reader (jsonobj.c), so records go straight into
 * struct sale without a document tree and memory stays bounded whatever
 * the input size: what yajl keeps of a token that spans pieces is bounded
 * by the record's limit. A UTF-8 byte order mark before the JSON is
 * skipped, wherever the pieces cut it. */
#include <stdlib.h>

#include "gromo/ingest.h"
#include "gromo/jsonobj.h"

struct jsonrec {
  struct jsonobj *jo;
  const struct sale_rules *rules;
  jsonrec_fn fn;
  void *ctx;
  struct sale rec;
  struct sale_problems pr;
  size_t rec_line;    /* where the record being read began */
  unsigned bom;       /* bytes of a byte order mark matched so far */
  int bom_done;       /* the input's first bytes are judged */
};

static const char bom_bytes[3] = {'\xEF', '\xBB', '\xBF'};

/* Members are the record's fields, by enum sale_field ("record", the last,
 * names the record as a whole and is no member). */
static const char *const record_names[SF__COUNT] = {
#define SF_NAME(e, name) [e] = name,
    SALE_FIELD_MAP(SF_NAME)
#undef SF_NAME
};

static const struct jsonobj_schema record_schema = {
    record_names, SF_RECORD, "record", "sales records"};

static int rec_begin(void *ctx, size_t index, int is_object) {
  struct jsonrec *j = ctx;
  j->rec_line = jsonobj_line(j->jo);
  sale_text_begin(&j->rec, &j->pr);
  if (!is_object)
    sale_problem_add(&j->pr, SF_RECORD, "must be a JSON object");
  (void)index;
  return 0;
}

static void rec_value(void *ctx, int field, const struct jsonobj_value *v) {
  struct jsonrec *j = ctx;
  enum sale_field f = (enum sale_field)field;
  switch (v->type) {
  case JV_NULL: /* absent */
    break;
  case JV_STRING:
    sale_json_set_string(&j->rec, f, v->s, v->n, j->rules, &j->pr);
    break;
  case JV_INT:
    sale_json_set_integer(&j->rec, f, v->i, j->rules, &j->pr);
    break;
  case JV_REAL:
    sale_json_set_real(&j->rec, f, v->d, j->rules, &j->pr);
    break;
  case JV_TWICE:
    sale_problem_add(&j->pr, f, "is given twice");
    break;
  default:
    sale_json_set_wrong_type(&j->rec, f,
                             v->type == JV_BOOL     ? "boolean"
                             : v->type == JV_OBJECT ? "object"
                                                    : "array",
                             &j->pr);
  }
}

static int rec_end(void *ctx, size_t index, int is_object) {
  struct jsonrec *j = ctx;
  int ok = is_object && sale_text_finish(&j->rec, &j->pr) == 0 && j->pr.count == 0;
  return j->fn(j->ctx, index, &j->rec, ok, &j->pr);
}

static const struct jsonobj_ops record_ops = {rec_begin, rec_value, rec_end};

int jsonrec_new(const struct sale_rules *rules, jsonrec_fn fn, void *ctx,
                struct jsonrec **out) {
  struct jsonrec *j = calloc(1, sizeof *j);
  if (!j)
    return -1;
  if (jsonobj_new(&record_schema, &record_ops, j, &j->jo) < 0) {
    free(j);
    return -1;
  }
  jsonobj_set_max_element(j->jo, INGEST_JSON_RECORD_MAX);
  j->rules = rules;
  j->fn = fn;
  j->ctx = ctx;
  *out = j;
  return 0;
}

/* The first bytes: a byte order mark is dropped; bytes that only began
 * like one go to the JSON reader after all. 0, or feed's error. */
static int skip_bom(struct jsonrec *j, const char **p, size_t *n, struct gerr *err) {
  while (!j->bom_done && *n) {
    if (**p == bom_bytes[j->bom]) {
      ++*p, --*n;
      j->bom_done = ++j->bom == sizeof bom_bytes;
      continue;
    }
    j->bom_done = 1;
    if (j->bom)
      return jsonobj_feed(j->jo, bom_bytes, j->bom, err);
  }
  return 0;
}

int jsonrec_feed(struct jsonrec *j, const char *p, size_t n, struct gerr *err) {
  int rc = skip_bom(j, &p, &n, err);
  if (rc != 0 || n == 0)
    return rc;
  return jsonobj_feed(j->jo, p, n, err);
}

int jsonrec_finish(struct jsonrec *j, struct gerr *err) {
  if (!j->bom_done && j->bom) { /* the input was the start of a mark */
    j->bom_done = 1;
    int rc = jsonobj_feed(j->jo, bom_bytes, j->bom, err);
    if (rc != 0)
      return rc;
  }
  return jsonobj_finish(j->jo, err);
}

void jsonrec_set_max_record(struct jsonrec *j, size_t max) {
  jsonobj_set_max_element(j->jo, max);
}

size_t jsonrec_record_line(const struct jsonrec *j) { return j->rec_line; }

size_t jsonrec_line(struct jsonrec *j) { return jsonobj_line(j->jo); }

size_t jsonrec_count(const struct jsonrec *j) { return jsonobj_count(j->jo); }

int jsonrec_single(const struct jsonrec *j) { return jsonobj_single(j->jo); }

void jsonrec_free(struct jsonrec *j) {
  if (!j)
    return;
  jsonobj_free(j->jo);
  free(j);
}
