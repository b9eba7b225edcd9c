/* GET /regions, GET /regions?pincode=P and GET /regions/{region_id}: the
 * serving suite's regions (docs/rules.md §4), whose summaries were rendered once
 * when the suite was trained or loaded. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "gromo/app.h"
#include "gromo/models.h"
#include "gromo/record.h"

/* The serving suite with a reference taken, or NULL with rs answered 503. */
static const struct suite *serving(struct req *rq, struct resp *rs) {
  struct model_holder *h = rq->app ? rq->app->models : NULL;
  const struct suite *s = h ? model_holder_get(h) : NULL;
  if (!s)
    resp_error(rs, GERR_UNAVAILABLE, NULL,
               "no model is trained yet: regions are made by training (POST /models/train)");
  return s;
}

/* data = the region's summary with the model version in front. */
static int one_region(struct resp *rs, const struct suite *s, const char *text) {
  /* text is a JSON object: "{...}" */
  if (buf_printf(&rs->data_raw, "{\"model_version\":%lld,", (long long)suite_version(s)) < 0 ||
      buf_puts(&rs->data_raw, text + 1) < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return 0;
}

int api_regions(struct req *rq, struct resp *rs) {
  const char *pin = req_query(rq, "pincode");
  int32_t pincode = 0;
  if (pin && sale_parse_pincode(pin, strlen(pin), &pincode) < 0) {
    json_t *d = json_pack("[{s:s,s:s}]", "field", "pincode", "problem",
                          "must be 6 digits, the first 1-9");
    return resp_error(rs, GERR_INVALID_INPUT, d, "pincode must be 6 digits, the first 1-9");
  }
  const struct suite *s = serving(rq, rs);
  if (!s)
    return -1;
  struct model_holder *h = rq->app->models;
  int rc;
  if (pin) {
    int32_t id = suite_region_of(s, pincode);
    const char *text = id ? suite_region_json(s, id) : NULL;
    if (!text)
      rc = resp_error(rs, GERR_NOT_FOUND, NULL,
                      "pincode %06d is in no region of model version %lld (it had no sales "
                      "in training, or no coordinates)",
                      (int)pincode, (long long)suite_version(s));
    else if ((rc = one_region(rs, s, text)) == 0)
      rc = resp_ok_raw(rs, "pincode %06d is in region %d", (int)pincode, (int)id);
    model_holder_put(h, s);
    return rc;
  }
  const char *list = suite_regions_json(s);
  size_t k = suite_region_count(s);
  if (buf_printf(&rs->data_raw, "{\"model_version\":%lld,\"count\":%zu,\"regions\":",
                 (long long)suite_version(s), k) < 0 ||
      buf_puts(&rs->data_raw, list ? list : "[]") < 0 || buf_puts(&rs->data_raw, "}") < 0)
    rc = resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  else
    rc = resp_ok_raw(rs, "%zu regions of model version %lld", k, (long long)suite_version(s));
  model_holder_put(h, s);
  return rc;
}

int api_region(struct req *rq, struct resp *rs) {
  const char *arg = rq->nparams ? rq->params[0] : "";
  long long id = 0;
  /* anything but a region's number names no region: 404, as for an id
   * that is not there */
  int valid = param_int(arg, 1, INT32_MAX, &id) == 0;
  const struct suite *s = serving(rq, rs);
  if (!s)
    return -1;
  const char *text = valid ? suite_region_json(s, (int32_t)id) : NULL;
  int rc;
  if (!text)
    rc = resp_error(rs, GERR_NOT_FOUND, NULL,
                    "no region '%.40s' in model version %lld (GET /regions lists its %zu)",
                    arg, (long long)suite_version(s), suite_region_count(s));
  else if ((rc = one_region(rs, s, text)) == 0)
    rc = resp_ok_raw(rs, "region %lld of model version %lld", id, (long long)suite_version(s));
  model_holder_put(rq->app->models, s);
  return rc;
}
