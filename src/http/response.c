/* Response building and rendering. http_render() is the only writer of the
 * success and error envelopes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gromo/http.h"
#include "gromo/log.h"

#define RESP_DATA_LIMIT ((size_t)1 << 30)

void resp_init(struct resp *rs) {
  memset(rs, 0, sizeof *rs);
  rs->status = 200;
  rs->body_fd = -1;
  buf_init(&rs->data_raw, RESP_DATA_LIMIT);
  buf_init(&rs->body, RESP_DATA_LIMIT);
}

void resp_release(struct resp *rs) {
  json_decref(rs->data);
  json_decref(rs->json_bare);
  json_decref(rs->details);
  buf_release(&rs->data_raw);
  buf_release(&rs->body);
  rs->data = rs->json_bare = rs->details = NULL;
  if (rs->stream_ctx && rs->stream_free)
    rs->stream_free(rs->stream_ctx);
  rs->stream_ctx = NULL;
  rs->stream_read = NULL;
  if (rs->body_fd >= 0)
    close(rs->body_fd);
  rs->body_fd = -1;
  if (rs->wait_ctx && rs->wait_free)
    rs->wait_free(rs->wait_ctx);
  rs->wait_ctx = NULL;
  rs->wait_fn = NULL;
}

void resp_wait_run(struct resp *rs) {
  if (!rs->wait_fn)
    return;
  rs->wait_fn(rs->wait_ctx, rs);
  if (rs->wait_ctx && rs->wait_free)
    rs->wait_free(rs->wait_ctx);
  rs->wait_ctx = NULL;
  rs->wait_fn = NULL;
}

static void resp_vmessage(struct resp *rs, const char *fmt, va_list ap) {
  if (fmt)
    vsnprintf(rs->message, sizeof rs->message, fmt, ap);
  else
    rs->message[0] = '\0';
}

int resp_ok(struct resp *rs, json_t *data, const char *fmt, ...) {
  va_list ap;
  json_decref(rs->data);
  rs->data = data;
  rs->is_error = 0;
  va_start(ap, fmt);
  resp_vmessage(rs, fmt, ap);
  va_end(ap);
  return 0;
}

int resp_ok_raw(struct resp *rs, const char *fmt, ...) {
  va_list ap;
  rs->is_error = 0;
  va_start(ap, fmt);
  resp_vmessage(rs, fmt, ap);
  va_end(ap);
  return 0;
}

int resp_error(struct resp *rs, enum gerr_code code, json_t *details,
               const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gerr_vset(&rs->err, code, fmt, ap);
  va_end(ap);
  json_decref(rs->details);
  rs->details = details;
  rs->is_error = 1;
  rs->status = gerr_http_status(code);
  return -1;
}

int resp_error_from(struct resp *rs, const struct gerr *err) {
  return resp_error(rs, err->code, NULL, "%s", err->msg);
}

int resp_header(struct resp *rs, const char *name, const char *fmt, ...) {
  if (rs->nhdr >= RESP_MAX_HEADERS)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rs->hdr_value[rs->nhdr], sizeof rs->hdr_value[0], fmt, ap);
  va_end(ap);
  rs->hdr_name[rs->nhdr++] = name;
  return 0;
}

static int render_error(struct resp *rs, const char *request_id, struct buf *out) {
  const char *msg = rs->err.msg[0] ? rs->err.msg : gerr_default_message(rs->err.code);
  json_t *err = json_object();
  json_t *root = json_object();
  if (!err || !root)
    goto fail;
  json_object_set_new(err, "code", json_string(gerr_name(rs->err.code)));
  json_object_set_new(err, "message", json_string(msg));
  json_object_set_new(err, "details", rs->details ? json_incref(rs->details) : json_array());
  if (request_id && request_id[0])
    json_object_set_new(err, "request_id", json_string(request_id));
  json_object_set_new(root, "status", json_string("error"));
  json_object_set_new(root, "error", err);
  err = NULL;
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text)
    return -1;
  int rc = buf_puts(out, text);
  free(text);
  return rc;
fail:
  json_decref(err);
  json_decref(root);
  return -1;
}

static int render_success(struct resp *rs, struct buf *out) {
  if (buf_puts(out, "{\"status\":\"success\",\"data\":") < 0)
    return -1;
  if (rs->data_raw.len) {
    if (buf_append(out, rs->data_raw.data, rs->data_raw.len) < 0)
      return -1;
  } else if (rs->data) {
    char *text = json_dumps(rs->data, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                          JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    if (!text)
      return -1;
    int rc = buf_puts(out, text);
    free(text);
    if (rc < 0)
      return -1;
  } else if (buf_puts(out, "null") < 0) {
    return -1;
  }
  if (buf_puts(out, ",\"message\":\"") < 0 ||
      buf_json_escape(out, rs->message, strlen(rs->message)) < 0 ||
      buf_puts(out, "\"}") < 0)
    return -1;
  return 0;
}

/* Refusals an operator has to act on (a full disk, the upload spool at its
 * bound) are logged at warning level with their cause: the request's own
 * log line has only the status. */
static void log_storage_error(const struct resp *rs, const char *request_id) {
  if (rs->err.code != GERR_INSUFFICIENT_STORAGE)
    return;
  const char *msg = rs->err.msg[0] ? rs->err.msg : gerr_default_message(rs->err.code);
  struct buf b;
  buf_init(&b, 2048);
  char head[160];
  snprintf(head, sizeof head, "\"id\":\"%s\",\"status\":%d,\"code\":\"%s\",\"cause\":\"",
           request_id ? request_id : "", rs->status, gerr_name(rs->err.code));
  if (buf_puts(&b, head) == 0 && buf_json_escape(&b, msg, strlen(msg)) == 0 &&
      buf_puts(&b, "\"") == 0)
    log_fields(LOG_WARN, "storage", b.data, b.len);
  buf_release(&b);
}

int http_render(struct resp *rs, const char *request_id, char **body,
                size_t *len, const char **content_type) {
  if (rs->is_error)
    log_storage_error(rs, request_id);
  struct buf out;
  buf_init(&out, RESP_DATA_LIMIT);
  *content_type = "application/json";
  int rc;
  if (rs->is_error) {
    rc = render_error(rs, request_id, &out);
  } else if (rs->content_type) {
    *content_type = rs->content_type;
    rc = buf_append(&out, rs->body.data ? rs->body.data : "", rs->body.len);
  } else if (rs->json_bare) {
    char *text = json_dumps(rs->json_bare, JSON_COMPACT | JSON_PRESERVE_ORDER);
    rc = text ? buf_puts(&out, text) : -1;
    free(text);
  } else {
    rc = render_success(rs, &out);
  }
  if (rc < 0) {
    /* Out of memory or over the limit while rendering: a fixed answer. */
    buf_release(&out);
    static const char oom[] =
        "{\"status\":\"error\",\"error\":{\"code\":\"internal_error\","
        "\"message\":\"the response could not be rendered\",\"details\":[]}}";
    *body = strdup(oom);
    *len = *body ? sizeof oom - 1 : 0;
    *content_type = "application/json";
    return 500;
  }
  *body = buf_detach(&out, len);
  if (!*body) {
    *body = strdup("");
    *len = 0;
  }
  return rs->status;
}
