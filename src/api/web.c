/* The web UI's files and the description of the API, all public:
 * GET / and /assets/{file} (the dashboard), GET /docs and /docs/{file}
 * (Swagger UI) from the --web-root folder that `make web` fills, and
 * GET /openapi.json, made from the route table once per process.
 *
 * A file name is one path segment (the router never gives a "/") of
 * letters, digits, '.', '-' and '_' that does not begin with a dot, so no
 * name leaves its folder; symbolic links are not followed and only regular
 * files are sent. A gzip twin ("name.gz", written by the build) is sent to
 * clients that accept gzip. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/wire.h"
#include "gromo/app.h"

#define WEB_NAME_MAX 128

/* The dashboard's pages may load nothing from elsewhere. Inline styles are
 * allowed: the chart library positions its tooltips with them. */
#define PAGE_CSP                                                                \
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " \
  "object-src 'none'; frame-ancestors 'none'"

/* Content-hashed names (the build puts a hash in every asset's name) never
 * change; the rest is revalidated with its ETag. */
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_REVALIDATE "no-cache"

static const struct {
  const char *ext;
  const char *type;
  int compressible;
} media_types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".map", "application/json", 1},
    {".svg", "image/svg+xml", 1},
    {".txt", "text/plain; charset=utf-8", 1},
    {".png", "image/png", 0},
    {".ico", "image/x-icon", 0},
    {".woff2", "font/woff2", 0},
};

int web_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > WEB_NAME_MAX || name[0] == '.')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

const char *web_media_type(const char *name, int *compressible) {
  size_t n = strlen(name);
  for (size_t i = 0; i < sizeof media_types / sizeof *media_types; i++) {
    size_t e = strlen(media_types[i].ext);
    if (n > e && !strcasecmp(name + n - e, media_types[i].ext)) {
      if (compressible)
        *compressible = media_types[i].compressible;
      return media_types[i].type;
    }
  }
  if (compressible)
    *compressible = 0;
  return "application/octet-stream";
}

/* 1 when the client takes gzip (a "gzip" coding not refused with q=0). */
static int accepts_gzip(const char *ae) {
  for (const char *p = ae; p && (p = strcasestr(p, "gzip")); p += 4) {
    const char *q = p + 4;
    while (*q == ' ')
      q++;
    if (*q == ';') {
      const char *v = strchr(q, '=');
      if (v && strtod(v + 1, NULL) == 0)
        continue;
    }
    return 1;
  }
  return 0;
}

/* 1 when If-None-Match names etag (or is "*"). */
static int etag_matches(const char *inm, const char *etag) {
  if (!inm)
    return 0;
  if (!strcmp(inm, "*"))
    return 1;
  return strstr(inm, etag) != NULL;
}

/* Opens dir/name as a regular file (no symbolic link); -1 when absent. */
static int open_regular(const char *dir, const char *name, struct stat *sb) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= sizeof path)
    return -1;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void security_headers(struct resp *rs, int page) {
  resp_header(rs, "X-Content-Type-Options", "nosniff");
  if (page) {
    resp_header(rs, "Content-Security-Policy", "%s", PAGE_CSP);
    resp_header(rs, "Referrer-Policy", "no-referrer");
    resp_header(rs, "X-Frame-Options", "DENY");
  }
}

/* Sends <web root>/<sub>/<name>. */
static int send_file(struct req *rq, struct resp *rs, const char *sub, const char *name,
                     const char *cache) {
  if (!web_name_ok(name))
    return resp_error(rs, GERR_NOT_FOUND, NULL, "no file '%.60s' here", name);
  const char *root = rq->app && rq->app->cfg && rq->app->cfg->web_root
                         ? rq->app->cfg->web_root
                         : GROMO_WEB_ROOT;
  char dir[4096];
  int dn = snprintf(dir, sizeof dir, "%s%s%s", root, sub[0] ? "/" : "", sub);
  if (dn < 0 || (size_t)dn >= sizeof dir)
    return resp_error(rs, GERR_NOT_FOUND, NULL, "the web root's path is too long");
  int compressible = 0;
  const char *type = web_media_type(name, &compressible);
  struct stat sb;
  int fd = -1, gz = 0;
  if (compressible && accepts_gzip(req_header(rq, "Accept-Encoding"))) {
    char gzname[WEB_NAME_MAX + 4];
    snprintf(gzname, sizeof gzname, "%s.gz", name);
    fd = open_regular(dir, gzname, &sb);
    gz = fd >= 0;
  }
  if (fd < 0)
    fd = open_regular(dir, name, &sb);
  if (fd < 0) {
    if (!strcmp(name, "index.html"))
      return resp_error(rs, GERR_NOT_FOUND, NULL,
                        "the web UI is not installed in %.200s: build it with `make web` "
                        "(or point --web-root at it)",
                        dir);
    return resp_error(rs, GERR_NOT_FOUND, NULL, "no file '%.60s' here", name);
  }
  char etag[80];
  snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", (unsigned long long)sb.st_size,
           (unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL +
               (unsigned long long)sb.st_mtim.tv_nsec,
           gz ? "-gz" : "");
  int page = !strncmp(type, "text/html", 9);
  security_headers(rs, page);
  resp_header(rs, "Cache-Control", "%s", cache);
  resp_header(rs, "ETag", "%s", etag);
  if (compressible)
    resp_header(rs, "Vary", "Accept-Encoding");
  rs->content_type = type;
  if (etag_matches(req_header(rq, "If-None-Match"), etag)) {
    close(fd);
    rs->status = 304;
    return 0;
  }
  if (gz)
    resp_header(rs, "Content-Encoding", "gzip");
  rs->status = 200;
  rs->body_fd = fd;
  return 0;
}

int api_web_index(struct req *rq, struct resp *rs) {
  return send_file(rq, rs, "", "index.html", CACHE_REVALIDATE);
}

int api_web_asset(struct req *rq, struct resp *rs) {
  return send_file(rq, rs, "assets", rq->nparams ? rq->params[0] : "", CACHE_IMMUTABLE);
}

int api_docs(struct req *rq, struct resp *rs) {
  return send_file(rq, rs, "docs", "index.html", CACHE_REVALIDATE);
}

int api_docs_file(struct req *rq, struct resp *rs) {
  return send_file(rq, rs, "docs", rq->nparams ? rq->params[0] : "", CACHE_REVALIDATE);
}

/* ---- /openapi.json ---- */

static pthread_once_t openapi_once = PTHREAD_ONCE_INIT;
static char *openapi_text;
static size_t openapi_len;
static char openapi_etag[24];
/* The table the document is made from: the app's, set before the first
 * openapi_build (one process serves one table). */
static const struct route *openapi_routes;

static void openapi_build(void) {
  json_t *doc = openapi_document(openapi_routes);
  openapi_text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  if (!openapi_text)
    return;
  openapi_len = strlen(openapi_text);
  uint64_t h = wire_fnv1a64((const unsigned char *)openapi_text, openapi_len);
  snprintf(openapi_etag, sizeof openapi_etag, "\"%016llx\"", (unsigned long long)h);
}

int api_openapi(struct req *rq, struct resp *rs) {
  if (!rq->app || !rq->app->routes)
    return resp_error(rs, GERR_UNAVAILABLE, NULL, "no route table to describe");
  openapi_routes = rq->app->routes;
  pthread_once(&openapi_once, openapi_build);
  if (!openapi_text)
    return resp_error(rs, GERR_INTERNAL, NULL, "the API description could not be made");
  security_headers(rs, 0);
  resp_header(rs, "Cache-Control", "public, max-age=300");
  resp_header(rs, "ETag", "%s", openapi_etag);
  rs->content_type = "application/json";
  if (etag_matches(req_header(rq, "If-None-Match"), openapi_etag)) {
    rs->status = 304;
    return 0;
  }
  if (buf_append(&rs->body, openapi_text, openapi_len) < 0)
    return resp_error(rs, GERR_INTERNAL, NULL, "out of memory");
  rs->status = 200;
  return 0;
}
