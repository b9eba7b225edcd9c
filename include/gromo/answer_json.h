/* One prediction answer as JSON text: the shape the API answers with
 * (docs/api.md), also written by `gromo predict --json`. Rendered without
 * printf or a document tree into a bounded stack buffer: the hot path of
 * batch predictions. Thread-safe (no state). */
#ifndef GROMO_ANSWER_JSON_H
#define GROMO_ANSWER_JSON_H

#include <stdint.h>

#include "gromo/buf.h"
#include "gromo/models.h"

/* Appends the answer a to query q (a JSON object, preceded by a comma when
 * `comma`) to b; explain adds the drivers. 0, or -1 (b's limit or
 * memory). */
int predict_render(struct buf *b, int comma, enum predict_kind kind, const struct predict_query *q,
                   const struct predict_answer *a, int64_t version, int explain) GROMO_WUR;

#endif
