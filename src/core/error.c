#include "gromo/error.h"

#include <stdio.h>
#include <string.h>

static const struct {
  int status;
  const char *name;
  const char *msg;
} gerr_table[] = {
#define GERR_ROW(e, status, name, msg) {status, name, msg},
    GERR_MAP(GERR_ROW)
#undef GERR_ROW
};

int gerr_http_status(enum gerr_code code) {
  return (unsigned)code < GERR__COUNT ? gerr_table[code].status : 500;
}

const char *gerr_name(enum gerr_code code) {
  return (unsigned)code < GERR__COUNT ? gerr_table[code].name : "internal_error";
}

const char *gerr_default_message(enum gerr_code code) {
  return (unsigned)code < GERR__COUNT ? gerr_table[code].msg : "internal error";
}

int gerr_vset(struct gerr *e, enum gerr_code code, const char *fmt, va_list ap) {
  if (e) {
    e->code = code;
    if (fmt)
      vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    else
      snprintf(e->msg, sizeof e->msg, "%s", gerr_default_message(code));
  }
  return -1;
}

int gerr_set(struct gerr *e, enum gerr_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gerr_vset(e, code, fmt, ap);
  va_end(ap);
  return -1;
}

void gerr_clear(struct gerr *e) {
  if (e) {
    e->code = GERR_OK;
    e->msg[0] = '\0';
  }
}

void gerr_prefix(struct gerr *e, const char *prefix) {
  if (!e)
    return;
  size_t pl = strlen(prefix), cap = sizeof e->msg;
  if (pl + 2 >= cap)
    pl = cap - 3;
  size_t ml = strnlen(e->msg, cap - 1);
  if (pl + 2 + ml > cap - 1)
    ml = cap - 1 - pl - 2;
  memmove(e->msg + pl + 2, e->msg, ml);
  memcpy(e->msg, prefix, pl);
  e->msg[pl] = ':';
  e->msg[pl + 1] = ' ';
  e->msg[pl + 2 + ml] = '\0';
}
