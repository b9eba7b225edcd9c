/* GET /openapi.json: the OpenAPI 3.1 document of a route table. The paths
 * come from the table (method, pattern, least role, body limit, flags and
 * each route's struct route_doc), the shared parts (schemas, parameters,
 * error responses, info, tags) from src/http/openapi.json, embedded in the
 * executable by openapi_data.S. Nothing is written by hand twice, so the
 * document lists exactly the routes the server has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/app.h"
#include "gromo/http.h"

extern const char gromo_openapi_json[];
extern const char gromo_openapi_json_end[];

/* A copy of the next space-separated word of *p into out; NULL at the end. */
static const char *next_word(const char **p, char *out, size_t cap) {
  const char *s = *p;
  while (s && *s == ' ')
    s++;
  if (!s || !*s)
    return NULL;
  size_t n = strcspn(s, " ");
  if (n >= cap)
    n = cap - 1;
  memcpy(out, s, n);
  out[n] = '\0';
  *p = s + strcspn(s, " ");
  return out;
}

static json_t *ref(const char *kind, const char *name) {
  char r[160];
  snprintf(r, sizeof r, "#/components/%s/%s", kind, name);
  return json_pack("{s:s}", "$ref", r);
}

static int status_seen(const int *st, size_t n, int s) {
  for (size_t i = 0; i < n; i++)
    if (st[i] == s)
      return 1;
  return 0;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

size_t openapi_route_statuses(const struct route *r, int *out, size_t cap) {
  size_t n = 0;
  const char *p = r->doc ? r->doc->statuses : NULL;
  char word[16];
  while (n < cap && next_word(&p, word, sizeof word)) {
    int s = atoi(word);
    if (s >= 100 && s <= 599 && !status_seen(out, n, s))
      out[n++] = s;
  }
  /* What the router and server may answer before (or around) the handler. */
  int derived[8];
  size_t nd = 0;
  if (r->role > ROLE_PUBLIC) {
    derived[nd++] = 401;
    derived[nd++] = 403;
    derived[nd++] = 503; /* the key store cannot be reached */
  }
  if (!(r->flags & ROUTE_UNLIMITED))
    derived[nd++] = 429;
  if (r->body_limit > 0) {
    derived[nd++] = 413;
    derived[nd++] = 503; /* the memory for request bodies is full */
    if ((r->flags & (ROUTE_JSON | ROUTE_STREAM)) ||
        (r->doc && r->doc->request))
      derived[nd++] = 415;
  }
  derived[nd++] = 500;
  for (size_t i = 0; i < nd && n < cap; i++)
    if (!status_seen(out, n, derived[i]))
      out[n++] = derived[i];
  qsort(out, n, sizeof *out, cmp_int);
  return n;
}

static const char *status_text(int s) {
  switch (s) {
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted: the work goes on in the background";
  case 204: return "No Content";
  case 304: return "Not Modified: the ETag sent in If-None-Match is current";
  default: return "";
  }
}

/* The body of a successful answer, by media type. */
static json_t *success_content(const struct route_doc *d) {
  json_t *content = json_object();
  json_t *schema;
  if (!d->produces) {
    json_t *data = d->response ? ref("schemas", d->response) : json_object();
    schema = json_pack("{s:[o,{s:s,s:{s:o}}]}", "allOf", ref("schemas", "Success"), "type",
                       "object", "properties", "data", data);
    json_object_set_new(content, "application/json", json_pack("{s:o}", "schema", schema));
  } else {
    if (d->response)
      schema = ref("schemas", d->response);
    else if (!strncmp(d->produces, "text/", 5))
      schema = json_pack("{s:s}", "type", "string");
    else
      schema = json_pack("{s:s}", "contentMediaType", d->produces);
    json_object_set_new(content, d->produces, json_pack("{s:o}", "schema", schema));
  }
  char mt[128];
  const char *p = d->also;
  while (next_word(&p, mt, sizeof mt))
    if (!json_object_get(content, mt))
      json_object_set_new(content, mt,
                          json_pack("{s:{s:s}}", "schema", "contentMediaType", mt));
  return content;
}

static json_t *request_body(const struct route_doc *d) {
  json_t *content = json_object();
  const char *p = d->consumes ? d->consumes : "application/json";
  char mt[128];
  while (next_word(&p, mt, sizeof mt)) {
    json_t *schema;
    if (!strcmp(mt, "application/json"))
      schema = ref("schemas", d->request);
    else if (!strcmp(mt, "multipart/form-data"))
      schema = json_pack("{s:s,s:[s],s:{s:{s:s,s:s}}}", "type", "object", "required",
                         "file", "properties", "file", "type", "string",
                         "contentMediaType", "application/octet-stream");
    else
      schema = json_pack("{s:s}", "contentMediaType", mt);
    json_object_set_new(content, mt, json_pack("{s:o}", "schema", schema));
  }
  return json_pack("{s:b,s:o}", "required", 1, "content", content);
}

/* "GET /regions/{region_id}" -> "get_regions_region_id" */
static void operation_id(const struct route *r, char *out, size_t cap) {
  size_t n = 0;
  for (const char *m = r->method; *m && n + 1 < cap; m++)
    out[n++] = (char)(*m | 0x20);
  for (const char *p = r->pattern; *p && n + 1 < cap; p++) {
    char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      out[n++] = c;
    else if (c >= 'A' && c <= 'Z')
      out[n++] = (char)(c | 0x20);
    else if (n && out[n - 1] != '_')
      out[n++] = '_';
  }
  while (n && out[n - 1] == '_')
    n--;
  if (n == 3 && n + 6 < cap) { /* "GET /" */
    memcpy(out + n, "_index", 6);
    n += 6;
  }
  out[n] = '\0';
}

static json_t *operation(const struct route *r) {
  const struct route_doc *d = r->doc;
  char id[160], desc[2048];
  operation_id(r, id, sizeof id);
  const char *role = role_name(r->role);
  if (r->role == ROLE_PUBLIC)
    snprintf(desc, sizeof desc, "%s%s%s\n\nPublic: no API key needed.", r->summary,
             d->notes ? "\n\n" : "", d->notes ? d->notes : "");
  else
    snprintf(desc, sizeof desc,
             "%s%s%s\n\nLeast role: **%s**%s.", r->summary, d->notes ? "\n\n" : "",
             d->notes ? d->notes : "", role,
             r->role == ROLE_VIEWER    ? " (analyst and admin keys work too)"
             : r->role == ROLE_ANALYST ? " (an admin key works too)"
                                       : "");
  json_t *op = json_pack("{s:s,s:s,s:s,s:[s],s:s}", "operationId", id, "summary", r->summary,
                         "description", desc, "tags", d->tag ? d->tag : "other", "x-role",
                         role);
  if (!op)
    return NULL;
  if (r->role == ROLE_PUBLIC)
    json_object_set_new(op, "security", json_array());
  else
    json_object_set_new(op, "security",
                        json_pack("[{s:[]},{s:[]}]", "ApiKey", "Bearer"));
  json_t *params = json_array();
  /* {name} segments of the pattern, then the query parameters */
  for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
    const char *e = strchr(p, '}');
    char name[64] = "path_";
    size_t n = e ? (size_t)(e - p - 1) : 0;
    if (n == 0 || n + 6 > sizeof name)
      continue;
    memcpy(name + 5, p + 1, n);
    name[5 + n] = '\0';
    json_array_append_new(params, ref("parameters", name));
  }
  char q[64];
  const char *qp = d->query;
  while (next_word(&qp, q, sizeof q))
    json_array_append_new(params, ref("parameters", q));
  if (json_array_size(params))
    json_object_set_new(op, "parameters", params);
  else
    json_decref(params);
  if (d->request)
    json_object_set_new(op, "requestBody", request_body(d));

  json_t *responses = json_object();
  int st[32];
  size_t ns = openapi_route_statuses(r, st, sizeof st / sizeof *st);
  for (size_t i = 0; i < ns; i++) {
    char code[16];
    snprintf(code, sizeof code, "%d", st[i]);
    json_t *resp;
    if (st[i] < 300) {
      resp = json_pack("{s:s,s:o}", "description", status_text(st[i]), "content",
                       success_content(d));
      if (st[i] == 202)
        json_object_set_new(resp, "headers",
                            json_pack("{s:{s:s,s:{s:s}}}", "Location", "description",
                                      "where the job's status is", "schema", "type",
                                      "string"));
    } else if (st[i] < 400) {
      resp = json_pack("{s:s}", "description", status_text(st[i]));
    } else {
      char name[16];
      snprintf(name, sizeof name, "E%d", st[i]);
      resp = ref("responses", name);
    }
    json_object_set_new(responses, code, resp);
  }
  json_object_set_new(op, "responses", responses);
  return op;
}

json_t *openapi_document(const struct route *table) {
  json_error_t je;
  size_t len = (size_t)(gromo_openapi_json_end - gromo_openapi_json);
  json_t *base = json_loadb(gromo_openapi_json, len, 0, &je);
  if (!base)
    return NULL;
  json_t *info = json_object_get(base, "info");
  json_t *doc = json_pack("{s:s,s:O,s:[{s:s,s:s}],s:O,s:{},s:O}", "openapi", "3.1.0", "info",
                          info, "servers", "url", "/", "description", "this server", "tags",
                          json_object_get(base, "tags"), "paths", "components",
                          json_object_get(base, "components"));
  json_decref(base);
  if (!doc)
    return NULL;
  json_object_set_new(json_object_get(doc, "info"), "version", json_string(GROMO_API_VERSION));
  json_t *paths = json_object_get(doc, "paths");
  for (const struct route *r = table; r->method; r++) {
    if (!r->doc)
      continue;
    json_t *item = json_object_get(paths, r->pattern);
    if (!item) {
      item = json_object();
      json_object_set_new(paths, r->pattern, item);
    }
    char m[16];
    size_t i = 0;
    for (; r->method[i] && i + 1 < sizeof m; i++)
      m[i] = (char)(r->method[i] | 0x20);
    m[i] = '\0';
    json_t *op = operation(r);
    if (!op || json_object_set_new(item, m, op) < 0) {
      json_decref(doc);
      return NULL;
    }
  }
  return doc;
}
