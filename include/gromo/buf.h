/* Bounded growable byte buffer. It refuses to grow past its limit, which is
 * how every read of client input is bounded.
 * Invariants: after buf_init, data is NULL or NUL-terminated at len;
 * len <= limit. */
#ifndef GROMO_BUF_H
#define GROMO_BUF_H

#include <stddef.h>

#include "gromo/error.h"

struct buf {
  char *data;
  size_t len;
  size_t cap;
  size_t limit; /* most bytes the content may hold (SIZE_MAX: no limit) */
};

void buf_init(struct buf *b, size_t limit);
/* 0, or -1 when the limit would be exceeded (errno E2BIG) or memory ran out
 * (errno ENOMEM); the content is unchanged on failure. */
int buf_append(struct buf *b, const void *p, size_t n) GROMO_WUR;
int buf_puts(struct buf *b, const char *s) GROMO_WUR;
int buf_printf(struct buf *b, const char *fmt, ...) GROMO_PRINTF(2, 3) GROMO_WUR;
/* Appends s as the inside of a JSON string (no quotes added): the escapes
 * RFC 8259 requires and no others, as jansson writes them: '"', '\\' and
 * the control characters below 0x20 ("\n", "\r", "\t", else "\u00XX");
 * DEL (0x7f) and bytes above it are copied as they are. The one JSON string
 * escaper of the service. */
int buf_json_escape(struct buf *b, const char *s, size_t n) GROMO_WUR;
/* The escape of one byte as buf_json_escape writes it into esc[] and its
 * length (2 or 6), or 0 when the byte is copied as it is: for writers
 * that do not append to a struct buf. */
size_t json_escape_byte(unsigned char c, char esc[6]);
/* Makes room for n more bytes without changing the content (a hint: 0 or
 * -1 as buf_append). */
int buf_reserve(struct buf *b, size_t n) GROMO_WUR;
void buf_reset(struct buf *b);
void buf_release(struct buf *b);
/* Hands the bytes to the caller (free() them); the buffer is left empty. */
char *buf_detach(struct buf *b, size_t *len);

#endif
