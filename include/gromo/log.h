/* Structured logging: one JSON object per line, written with one write(2)
 * so lines from several threads never interleave. A library function never
 * prints; it returns errors. Only the server and the CLI log. */
#ifndef GROMO_LOG_H
#define GROMO_LOG_H

#include <stddef.h>

#include "gromo/error.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Logs go to fd 2 until log_open() names a file. */
int log_open(const char *path, struct gerr *err) GROMO_WUR;
void log_close(void);
void log_set_level(enum log_level min);

/* {"ts":"...","level":"info","event":EVENT,"msg":"..."} */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    GROMO_PRINTF(3, 4);
/* {"ts":"...","level":..,"event":EVENT, <fields_json>} where fields_json is
 * the inside of an object ("\"k\":1,\"j\":\"v\"") already escaped. */
void log_fields(enum log_level level, const char *event, const char *fields_json,
                size_t len);

#endif
