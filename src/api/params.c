#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "gromo/parse.h"

int param_int(const char *s, long long lo, long long hi, long long *out) {
  return parse_int_range(s, lo, hi, out);
}

int param_bool(const char *s, int def) {
  if (!s)
    return def;
  if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"))
    return 1;
  if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no"))
    return 0;
  return -1;
}

int api_json_content_type(struct req *rq, struct resp *rs) {
  if (http_content_type_is_json(rq->content_type))
    return 0;
  return resp_error(rs, GERR_MEDIA_TYPE, NULL, "this endpoint takes application/json, not %.80s",
                    rq->content_type);
}
