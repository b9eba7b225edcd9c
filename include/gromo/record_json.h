/* The jansson forms of a sales record (src/domain/record_json.c), apart from
 * record.h so that users of struct sale need not see jansson. */
#ifndef GROMO_RECORD_JSON_H
#define GROMO_RECORD_JSON_H

#include <jansson.h>

#include "gromo/record.h"

/* Validates a JSON object against the record rules of docs/records.md into
 * *out. Unknown members are ignored; a JSON null counts as absent. Returns
 * 0 when valid, -1 when not (the reasons are in *pr, which is cleared
 * first). */
int sale_from_json(const json_t *obj, const struct sale_rules *rules,
                   struct sale *out, struct sale_problems *pr);

/* The record as a jansson object: sale_to_json_buf's text, read back.
 * NULL when out of memory. */
json_t *sale_to_json(const struct sale *s, const char *city_fallback);

#endif
