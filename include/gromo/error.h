/* Errors: one list makes the codes, their HTTP status, their wire name and a
 * default message together, so the API, the CLI and the logs agree. */
#ifndef GROMO_ERROR_H
#define GROMO_ERROR_H

#include <stdarg.h>

#define GROMO_WUR __attribute__((warn_unused_result))
#define GROMO_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*  XX(enum, http status, wire code, default message) */
#define GERR_MAP(XX)                                                          \
  XX(GERR_OK, 200, "ok", "ok")                                                \
  XX(GERR_INVALID_INPUT, 400, "invalid_input", "the request is malformed")    \
  XX(GERR_UNAUTHORIZED, 401, "unauthorized", "a valid API key is required")  \
  XX(GERR_FORBIDDEN, 403, "forbidden", "the key's role may not do this")      \
  XX(GERR_NOT_FOUND, 404, "not_found", "no such resource")                    \
  XX(GERR_METHOD, 405, "method_not_allowed", "method not allowed here")       \
  XX(GERR_CONFLICT, 409, "conflict", "conflicts with the current state")      \
  XX(GERR_TOO_LARGE, 413, "payload_too_large", "request body too large")      \
  XX(GERR_MEDIA_TYPE, 415, "unsupported_media_type",                          \
     "unsupported content type")                                              \
  XX(GERR_INVALID_RECORDS, 422, "invalid_records", "records failed validation") \
  XX(GERR_RATE_LIMITED, 429, "rate_limited", "too many requests")             \
  XX(GERR_INTERNAL, 500, "internal_error", "internal error")                  \
  XX(GERR_UNAVAILABLE, 503, "unavailable", "a dependency is unavailable")     \
  XX(GERR_INSUFFICIENT_STORAGE, 507, "insufficient_storage",                  \
     "no space is left on the disk (the store's, or the upload spool's)")

enum gerr_code {
#define GERR_ENUM(e, status, name, msg) e,
  GERR_MAP(GERR_ENUM)
#undef GERR_ENUM
  GERR__COUNT
};

/* An error with its own message buffer: never static, never malloc'd, so
 * error paths have nothing to free. */
struct gerr {
  enum gerr_code code;
  char msg[256];
};

int gerr_http_status(enum gerr_code code);
const char *gerr_name(enum gerr_code code);
const char *gerr_default_message(enum gerr_code code);

/* Sets *e (if not NULL) and returns -1, so error paths are one line:
 *   return gerr_set(err, GERR_INVALID_INPUT, "bad count %d", n); */
int gerr_set(struct gerr *e, enum gerr_code code, const char *fmt, ...)
    GROMO_PRINTF(3, 4);
int gerr_vset(struct gerr *e, enum gerr_code code, const char *fmt, va_list ap);
void gerr_clear(struct gerr *e);
/* Prefixes the message with "prefix: " (truncating the end if needed). */
void gerr_prefix(struct gerr *e, const char *prefix);

#endif
