/* GET /whoami: the presented key's name and role, so a client (the
 * dashboard) offers only what the role may do. Any valid key may ask. */
#include "api/api.h"

int api_whoami(struct req *rq, struct resp *rs) {
  json_t *data = json_pack("{s:s,s:s,s:{s:b,s:b,s:b}}", "name", rq->key_name, "role",
                           role_name(rq->role), "may", "view", rq->role >= ROLE_VIEWER,
                           "predict", rq->role >= ROLE_ANALYST, "administer",
                           rq->role >= ROLE_ADMIN);
  if (!data)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  return resp_ok(rs, data, "key '%s' has the %s role", rq->key_name, role_name(rq->role));
}
