/* GET /generate-sample-data/{count}?seed=S&end=YYYY-MM-DD (docs/api.md,
 * docs/sample-data.md): generates realistic records from real pincodes and
 * inserts them. */
#include <stdlib.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/record_json.h"
#include "gromo/sample.h"
#include "gromo/timeutil.h"

#define SAMPLE_SHOWN 5

int api_sample_generate(struct req *rq, struct resp *rs) {
  long long count, seed_ll;
  if (param_int(rq->params[0], 1, SAMPLE_MAX, &count) < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "count must be an integer from 1 to %d", SAMPLE_MAX);
  uint64_t seed;
  const char *s = req_query(rq, "seed");
  if (s) {
    if (param_int(s, 0, (1LL << 53) - 1, &seed_ll) < 0)
      return resp_error(rs, GERR_INVALID_INPUT, NULL,
                        "seed must be an integer from 0 to 2^53-1");
    seed = (uint64_t)seed_ll;
  } else {
    seed = sample_random_seed();
  }
  /* The data end now unless a last day is given; the same seed and end give
   * the same records. */
  int64_t now = now_ist_ms(), end = now;
  s = req_query(rq, "end");
  if (s && sample_end_parse(s, now, &end) < 0)
    return resp_error(rs, GERR_INVALID_INPUT, NULL,
                      "end must be a date YYYY-MM-DD from 2000-01-01 to today (IST)");
  if (!rq->app || !rq->app->gaz)
    return resp_error(rs, GERR_UNAVAILABLE, NULL, "the gazetteer is not loaded");

  struct gerr err;
  struct store *db = req_store(rq, &err);
  if (!db)
    return resp_error_from(rs, &err);
  struct sale first[SAMPLE_SHOWN];
  size_t inserted = 0;
  if (sample_insert(db, rq->app->gaz, (size_t)count, seed, end, first,
                    SAMPLE_SHOWN, NULL, NULL, &inserted, &err) < 0)
    return resp_error_from(rs, &err);

  json_t *sample = json_array();
  for (size_t i = 0; sample && i < inserted && i < SAMPLE_SHOWN; i++) {
    const struct gaz_entry *ge = gaz_find(rq->app->gaz, first[i].pincode);
    json_array_append_new(sample, sale_to_json(&first[i], ge ? ge->district : NULL));
  }
  json_t *data = json_pack("{s:I,s:I,s:o}", "inserted_count", (json_int_t)inserted,
                           "seed", (json_int_t)seed, "sample",
                           sample ? sample : json_array());
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "Generated and inserted %zu sample records", inserted);
}
