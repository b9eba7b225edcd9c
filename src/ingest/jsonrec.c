/* Streaming reader of sales records in JSON: a top-level array of record
 * objects (or one record object), fed in chunks of any size. The JSON is
 * read by the flat-object reader (jsonobj.c), so records go straight into
 * struct sale without a document tree and memory stays bounded whatever
 * the input size. */
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
};

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
  j->rules = rules;
  j->fn = fn;
  j->ctx = ctx;
  *out = j;
  return 0;
}

int jsonrec_feed(struct jsonrec *j, const char *p, size_t n, struct gerr *err) {
  return jsonobj_feed(j->jo, p, n, err);
}

int jsonrec_finish(struct jsonrec *j, struct gerr *err) {
  return jsonobj_finish(j->jo, err);
}

size_t jsonrec_count(const struct jsonrec *j) { return jsonobj_count(j->jo); }

int jsonrec_single(const struct jsonrec *j) { return jsonobj_single(j->jo); }

void jsonrec_free(struct jsonrec *j) {
  if (!j)
    return;
  jsonobj_free(j->jo);
  free(j);
}
