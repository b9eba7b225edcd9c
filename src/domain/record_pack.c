/* A compact form of validated records, for holding many of them while a
 * request is read (and staging them): the fixed fields, then each string as
 * its length and bytes, so a record takes about 100 bytes instead of
 * sizeof(struct sale). Host byte order: the form never leaves the process. */
#include <string.h>

#include "gromo/record.h"

static int put_str(struct buf *b, const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  unsigned char len[2] = {(unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
  if (buf_append(b, len, 2) < 0)
    return -1;
  return n ? buf_append(b, s, n) : 0;
}

int sale_pack(const struct sale *s, struct buf *b) {
  unsigned char fixed[8 + 4 + 4 + 8];
  memcpy(fixed, &s->ts_ms, 8);
  memcpy(fixed + 8, &s->pincode, 4);
  memcpy(fixed + 12, &s->customer_age, 4);
  memcpy(fixed + 16, &s->customer_income, 8);
  size_t mark = b->len;
  if (buf_append(b, fixed, sizeof fixed) < 0 ||
      put_str(b, s->product, sizeof s->product) < 0 ||
      put_str(b, s->channel, sizeof s->channel) < 0 ||
      put_str(b, s->agent_id, sizeof s->agent_id) < 0 || put_str(b, s->id, sizeof s->id) < 0 ||
      put_str(b, s->city, sizeof s->city) < 0) {
    b->len = mark; /* nothing half-written */
    if (b->data)
      b->data[mark] = '\0';
    return -1;
  }
  return 0;
}

static int get_str(const unsigned char **p, const unsigned char *end, char *out, size_t cap) {
  if (end - *p < 2)
    return -1;
  size_t n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
  *p += 2;
  if (n >= cap || (size_t)(end - *p) < n)
    return -1;
  memcpy(out, *p, n);
  out[n] = '\0';
  *p += n;
  return 0;
}

size_t sale_unpack(const char *data, size_t n, struct sale *out) {
  const unsigned char *p = (const unsigned char *)data, *end = p + n;
  if (n < 24)
    return 0;
  memset(out, 0, sizeof *out);
  memcpy(&out->ts_ms, p, 8);
  memcpy(&out->pincode, p + 8, 4);
  memcpy(&out->customer_age, p + 12, 4);
  memcpy(&out->customer_income, p + 16, 8);
  p += 24;
  if (get_str(&p, end, out->product, sizeof out->product) < 0 ||
      get_str(&p, end, out->channel, sizeof out->channel) < 0 ||
      get_str(&p, end, out->agent_id, sizeof out->agent_id) < 0 ||
      get_str(&p, end, out->id, sizeof out->id) < 0 ||
      get_str(&p, end, out->city, sizeof out->city) < 0)
    return 0;
  return (size_t)(p - (const unsigned char *)data);
}
