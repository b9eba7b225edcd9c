/* The format of a sales file, decided one way for `gromo import` and
 * POST /sales/upload: the media type, then the file name's extension, then
 * the first bytes. */
#include <string.h>
#include <strings.h>

#include "gromo/ingest.h"

const char *ingest_file_name(enum ingest_file f) {
  static const char *const names[] = {
      [FILE_UNKNOWN] = "unknown", [FILE_CSV] = "csv",   [FILE_JSON] = "json",
      [FILE_NDJSON] = "ndjson",   [FILE_XLSX] = "xlsx", [FILE_XLS] = "xls",
  };
  return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

enum ingest_file ingest_file_of_type(const char *type) {
  if (!type)
    return FILE_UNKNOWN;
  while (*type == ' ')
    type++;
  size_t n = strcspn(type, "; ");
  static const struct {
    const char *type;
    enum ingest_file f;
  } types[] = {
      {"text/csv", FILE_CSV},
      {"application/csv", FILE_CSV},
      {"text/tab-separated-values", FILE_CSV},
      {"application/json", FILE_JSON},
      {"application/x-ndjson", FILE_NDJSON},
      {"application/ndjson", FILE_NDJSON},
      {"application/jsonl", FILE_NDJSON},
      {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", FILE_XLSX},
      {"application/vnd.ms-excel", FILE_XLS},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strlen(types[i].type) == n && !strncasecmp(type, types[i].type, n))
      return types[i].f;
  return FILE_UNKNOWN;
}

enum ingest_file ingest_file_of_name(const char *name) {
  const char *dot = name ? strrchr(name, '.') : NULL;
  if (!dot)
    return FILE_UNKNOWN;
  static const struct {
    const char *ext;
    enum ingest_file f;
  } exts[] = {{".csv", FILE_CSV},     {".tsv", FILE_CSV},       {".txt", FILE_CSV},
              {".json", FILE_JSON},   {".ndjson", FILE_NDJSON}, {".jsonl", FILE_NDJSON},
              {".xlsx", FILE_XLSX},   {".xls", FILE_XLS}};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (!strcasecmp(dot, exts[i].ext))
      return exts[i].f;
  return FILE_UNKNOWN;
}

enum ingest_file ingest_file_of_bytes(const char *head, size_t n) {
  if (n >= 4 && !memcmp(head, "PK\x03\x04", 4))
    return FILE_XLSX;
  if (n >= 4 && !memcmp(head, "\xD0\xCF\x11\xE0", 4))
    return FILE_XLS;
  size_t i = n >= 3 && !memcmp(head, "\xEF\xBB\xBF", 3) ? 3 : 0;
  while (i < n && strchr(" \t\r\n", head[i]))
    i++;
  return i == n ? FILE_CSV : head[i] == '[' ? FILE_JSON : head[i] == '{' ? FILE_NDJSON : FILE_CSV;
}

enum ingest_file ingest_file_detect(const char *type, const char *name, const char *head,
                                    size_t n) {
  enum ingest_file f = ingest_file_of_type(type);
  if (f == FILE_UNKNOWN)
    f = ingest_file_of_name(name);
  return f != FILE_UNKNOWN ? f : ingest_file_of_bytes(head, n);
}
