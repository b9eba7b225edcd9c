/* Reader of sales records in XLSX workbooks: libzip opens the archive,
 * expat parses the XML. The workbook and its relationships name the first
 * sheet; the shared strings (the only part kept whole, within the entry
 * limit) and the styles (which cells hold dates) are read first, then the
 * sheet is streamed through expat a chunk at a time, one row at a time into
 * tab_rows (columns.c). Never is the sheet held in memory.
 *
 * Zip bombs: an entry is refused before reading when it declares more than
 * max_uncompressed bytes or inflates more than max_ratio times, and reading
 * stops as soon as it inflates past what it declared. expat's own memory is
 * capped too (one huge tag or attribute cannot make it buffer the sheet), and
 * a DTD is refused (no entity tricks). */
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "gromo/tabular.h"
#include "ingest/tabular_int.h"

#define XLSX_CHUNK (64 * 1024)
#define XLSX_PATH_MAX 256
#define XLSX_MAX_STYLES 65536
#define XLSX_MAX_CUSTOM_DATE_FORMATS 1024

struct xlsx {
  zip_t *zip;
  struct tab_rows t;
  XML_Parser parser;   /* the parse under way */
  int halt;            /* -1 error (in err), -2 stopped by the callback */
  struct gerr err;
  int date1904;
  char sheet_rid[64];  /* the first sheet's relationship id */
  char sheet_path[XLSX_PATH_MAX];
  /* shared strings: string i is sst.data[sst_off[i], sst_off[i + 1]) */
  struct buf sst;
  size_t *sst_off;
  size_t sst_n, sst_cap;
  /* styles: numFmtId of each cell format, then whether it shows a date */
  unsigned *xf_fmt;
  unsigned char *xf_date;
  size_t xf_n, xf_cap;
  unsigned date_fmts[XLSX_MAX_CUSTOM_DATE_FORMATS]; /* custom date formats */
  size_t date_fmt_n;
  /* while reading shared strings and styles */
  int in_si, in_t, in_rph, in_cellxfs;
  size_t si_start; /* where the current string starts in sst */
  /* while reading the sheet */
  int in_data, in_row, in_cell, in_v;
  char cell_type;  /* 'n' number, 's' shared, 'i' inline, 'b', 'e', 't' str, 'd' */
  int cell_date;   /* the cell's format shows a date */
  size_t next_row, col, next_col;
  struct buf val;  /* the cell's text, at most tab_cell_keep() bytes */
  int val_long;    /* the text was longer */
  size_t val_bytes; /* the text's whole length */
};

static int xlsx_fail(struct xlsx *x, enum gerr_code code, const char *fmt, ...)
    GROMO_PRINTF(3, 4);

/* Records the first error and stops the parse under way. Returns -1. */
static int xlsx_fail(struct xlsx *x, enum gerr_code code, const char *fmt, ...) {
  if (x->halt == 0) {
    va_list ap;
    va_start(ap, fmt);
    gerr_vset(&x->err, code, fmt, ap);
    va_end(ap);
    x->halt = -1;
  }
  if (x->parser)
    XML_StopParser(x->parser, XML_FALSE);
  return -1;
}

/* ---- expat's memory, capped ------------------------------------------
 * The allocator has no user pointer, so the account is per thread; one
 * parser at a time per thread. */
#define XML_MEM_HDR 16 /* keeps max_align_t alignment */
static _Thread_local size_t xml_mem_used, xml_mem_limit;

static void *xml_mem_malloc(size_t n) {
  if (n > xml_mem_limit - xml_mem_used || n > SIZE_MAX - XML_MEM_HDR)
    return NULL;
  char *p = malloc(n + XML_MEM_HDR);
  if (!p)
    return NULL;
  memcpy(p, &n, sizeof n);
  xml_mem_used += n;
  return p + XML_MEM_HDR;
}

static void xml_mem_free(void *q) {
  if (!q)
    return;
  char *p = (char *)q - XML_MEM_HDR;
  size_t n;
  memcpy(&n, p, sizeof n);
  xml_mem_used -= n;
  free(p);
}

static void *xml_mem_realloc(void *q, size_t n) {
  if (!q)
    return xml_mem_malloc(n);
  char *p = (char *)q - XML_MEM_HDR;
  size_t old;
  memcpy(&old, p, sizeof old);
  if ((n > old && n - old > xml_mem_limit - xml_mem_used) ||
      n > SIZE_MAX - XML_MEM_HDR)
    return NULL;
  char *np = realloc(p, n + XML_MEM_HDR);
  if (!np)
    return NULL;
  memcpy(np, &n, sizeof n);
  xml_mem_used = xml_mem_used - old + n;
  return np + XML_MEM_HDR;
}

static const XML_Memory_Handling_Suite xml_mem_suite = {
    xml_mem_malloc, xml_mem_realloc, xml_mem_free};

/* ---- zip entries --------------------------------------------------------- */

struct entry {
  zip_file_t *zf;
  const char *name;
  zip_uint64_t size; /* declared uncompressed size */
  zip_uint64_t got;  /* inflated so far */
};

static const char *zip_code_text(int code) {
  zip_error_t ze;
  zip_error_init_with_code(&ze, code);
  static _Thread_local char text[128];
  snprintf(text, sizeof text, "%s", zip_error_strerror(&ze));
  zip_error_fini(&ze);
  return text;
}

/* Opens entry name after the size and ratio checks. 0; 1 when absent and
 * !required; -1 on error. */
static int entry_open(struct xlsx *x, const char *name, int required,
                      struct entry *e) {
  memset(e, 0, sizeof *e);
  e->name = name;
  zip_int64_t idx = zip_name_locate(x->zip, name, ZIP_FL_NOCASE);
  if (idx < 0) {
    if (!required)
      return 1;
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "not an XLSX workbook: it has no %s", name);
  }
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(x->zip, (zip_uint64_t)idx, 0, &st) < 0 ||
      !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "the XLSX file is corrupt: cannot read the size of %s", name);
  uint64_t limit = x->t.lim.max_uncompressed;
  if (st.size > limit)
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "refused: %s would inflate to %llu bytes, more than the "
                     "limit of %llu bytes",
                     name, (unsigned long long)st.size, (unsigned long long)limit);
  if (st.size >= TAB_RATIO_MIN_SIZE) {
    double ratio = (double)st.size / (double)(st.comp_size ? st.comp_size : 1);
    if (ratio > x->t.lim.max_ratio)
      return xlsx_fail(x, GERR_INVALID_INPUT,
                       "refused: %s is compressed %.0f:1, more than the limit "
                       "of %.0f:1 (a zip bomb?)",
                       name, ratio, x->t.lim.max_ratio);
  }
  e->size = st.size;
  e->zf = zip_fopen_index(x->zip, (zip_uint64_t)idx, 0);
  if (!e->zf) {
    zip_error_t *ze = zip_get_error(x->zip);
    int code = zip_error_code_zip(ze);
    if (code == ZIP_ER_NOPASSWD || code == ZIP_ER_WRONGPASSWD ||
        code == ZIP_ER_ENCRNOTSUPP)
      return xlsx_fail(x, GERR_INVALID_INPUT,
                       "the XLSX file is password-protected");
    if (code == ZIP_ER_MEMORY)
      return xlsx_fail(x, GERR_INTERNAL, "out of memory");
    return xlsx_fail(x, GERR_INVALID_INPUT, "the XLSX file is corrupt: %s: %s",
                     name, zip_error_strerror(ze));
  }
  return 0;
}

/* Up to n bytes; 0 at the end; -1 on error (corrupt data, or more bytes
 * than the entry declared). */
static zip_int64_t entry_read(struct xlsx *x, struct entry *e, void *buf,
                              size_t n) {
  zip_int64_t r = zip_fread(e->zf, buf, n);
  if (r < 0)
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "the XLSX file is corrupt or truncated: %s: %s", e->name,
                     zip_file_strerror(e->zf));
  e->got += (zip_uint64_t)r;
  if (e->got > e->size)
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "refused: %s inflates to more than the %llu bytes it "
                     "declares (a zip bomb?)",
                     e->name, (unsigned long long)e->size);
  return r;
}

static void entry_close(struct entry *e) {
  if (e->zf)
    zip_fclose(e->zf);
  e->zf = NULL;
}

/* ---- XML helpers ---------------------------------------------------------- */

/* The name without its namespace prefix ("x:row" -> "row"). */
static const char *local_name(const char *name) {
  const char *c = strrchr(name, ':');
  return c ? c + 1 : name;
}

/* The value of attribute name (compared without prefix when prefixed is 0;
 * when 1 only a prefixed attribute matches, as r:id). NULL if absent. */
static const char *attr(const XML_Char **atts, const char *name, int prefixed) {
  for (size_t i = 0; atts[i]; i += 2) {
    const char *c = strrchr(atts[i], ':');
    if (prefixed ? c && strcmp(c + 1, name) == 0 : strcmp(atts[i], name) == 0)
      return atts[i + 1];
  }
  return NULL;
}

static int parse_uint(const char *s, size_t n, unsigned long long *out) {
  unsigned long long v = 0;
  if (n == 0 || n > 18)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return 0;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
  struct xlsx *x = ud;
  xlsx_fail(x, GERR_INVALID_INPUT,
            "refused: the XLSX file contains a DTD, which workbooks never do");
}

/* Streams entry name through expat with the handlers given (user data: x).
 * 0; 1 when absent and !required; -1 on error. */
static int xml_parse_entry(struct xlsx *x, const char *name, int required,
                           XML_StartElementHandler start,
                           XML_EndElementHandler end,
                           XML_CharacterDataHandler text) {
  struct entry e;
  int rc = entry_open(x, name, required, &e);
  if (rc)
    return rc;
  xml_mem_used = 0;
  xml_mem_limit = 8u * 1024 * 1024 + 4 * x->t.lim.max_row;
  XML_Parser p = XML_ParserCreate_MM(NULL, &xml_mem_suite, NULL);
  if (!p) {
    entry_close(&e);
    return xlsx_fail(x, GERR_INTERNAL, "out of memory");
  }
  x->parser = p;
  XML_SetUserData(p, x);
  XML_SetElementHandler(p, start, end);
  XML_SetCharacterDataHandler(p, text);
  XML_SetStartDoctypeDeclHandler(p, on_doctype);
  for (;;) {
    void *b = XML_GetBuffer(p, XLSX_CHUNK);
    if (!b) {
      rc = xlsx_fail(x, GERR_INVALID_INPUT,
                     "refused: %s has an XML element larger than the memory "
                     "limit of %zu bytes",
                     name, xml_mem_limit);
      break;
    }
    zip_int64_t n = entry_read(x, &e, b, XLSX_CHUNK);
    if (n < 0) {
      rc = -1;
      break;
    }
    if (XML_ParseBuffer(p, (int)n, n == 0) != XML_STATUS_OK) {
      enum XML_Error code = XML_GetErrorCode(p);
      if (x->halt) {
        rc = x->halt;
      } else if (code == XML_ERROR_NO_MEMORY) {
        rc = xlsx_fail(x, GERR_INVALID_INPUT,
                       "refused: %s has an XML element larger than the memory "
                       "limit of %zu bytes",
                       name, xml_mem_limit);
      } else {
        rc = xlsx_fail(x, GERR_INVALID_INPUT,
                       "the XLSX file is corrupt: malformed XML in %s at line "
                       "%lu: %s",
                       name, (unsigned long)XML_GetCurrentLineNumber(p),
                       XML_ErrorString(code));
      }
      break;
    }
    if (x->halt) {
      rc = x->halt;
      break;
    }
    if (n == 0)
      break;
  }
  x->parser = NULL;
  XML_ParserFree(p);
  entry_close(&e);
  return rc;
}

/* ---- the workbook: date system and first sheet ---------------------------- */

static void XMLCALL workbook_start(void *ud, const XML_Char *name,
                                   const XML_Char **atts) {
  struct xlsx *x = ud;
  const char *el = local_name(name);
  if (strcmp(el, "workbookPr") == 0) {
    const char *v = attr(atts, "date1904", 0);
    x->date1904 = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
  } else if (strcmp(el, "sheet") == 0 && !x->sheet_rid[0]) {
    const char *rid = attr(atts, "id", 1);
    if (rid)
      snprintf(x->sheet_rid, sizeof x->sheet_rid, "%s", rid);
  }
}

static void XMLCALL rels_start(void *ud, const XML_Char *name,
                               const XML_Char **atts) {
  struct xlsx *x = ud;
  if (x->sheet_path[0] || strcmp(local_name(name), "Relationship") != 0)
    return;
  const char *id = attr(atts, "Id", 0), *target = attr(atts, "Target", 0);
  if (!id || !target || strcmp(id, x->sheet_rid) != 0)
    return;
  if (target[0] == '/')
    snprintf(x->sheet_path, sizeof x->sheet_path, "%s", target + 1);
  else
    snprintf(x->sheet_path, sizeof x->sheet_path, "xl/%s",
             strncmp(target, "./", 2) == 0 ? target + 2 : target);
}

static void XMLCALL no_end(void *ud, const XML_Char *name) {}
static void XMLCALL no_text(void *ud, const XML_Char *s, int len) {}

static int read_workbook(struct xlsx *x) {
  int rc = xml_parse_entry(x, "xl/workbook.xml", 1, workbook_start, no_end, no_text);
  if (rc)
    return rc;
  if (x->sheet_rid[0]) {
    rc = xml_parse_entry(x, "xl/_rels/workbook.xml.rels", 0, rels_start, no_end,
                         no_text);
    if (rc < 0)
      return rc;
  }
  if (!x->sheet_path[0]) /* the usual name when the workbook does not say */
    snprintf(x->sheet_path, sizeof x->sheet_path, "xl/worksheets/sheet1.xml");
  return 0;
}


/* ---- shared strings ------------------------------------------------------ */

static void XMLCALL sst_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  struct xlsx *x = ud;
  const char *el = local_name(name);
  if (strcmp(el, "si") == 0) {
    x->in_si = 1;
    x->si_start = x->sst.len;
  } else if (strcmp(el, "rPh") == 0) { /* phonetic guide: not the text */
    x->in_rph++;
  } else if (strcmp(el, "t") == 0 && x->in_si && !x->in_rph) {
    x->in_t = 1;
  }
}

static void XMLCALL sst_end(void *ud, const XML_Char *name) {
  struct xlsx *x = ud;
  const char *el = local_name(name);
  if (strcmp(el, "t") == 0) {
    x->in_t = 0;
  } else if (strcmp(el, "rPh") == 0) {
    if (x->in_rph)
      x->in_rph--;
  } else if (strcmp(el, "si") == 0 && x->in_si) {
    x->in_si = 0;
    if (x->sst_n + 2 > x->sst_cap) {
      size_t cap = x->sst_cap ? x->sst_cap * 2 : 1024;
      size_t *p = realloc(x->sst_off, cap * sizeof *p);
      if (!p) {
        xlsx_fail(x, GERR_INTERNAL, "out of memory");
        return;
      }
      x->sst_off = p;
      x->sst_cap = cap;
    }
    x->sst_off[x->sst_n++] = x->si_start;
    x->sst_off[x->sst_n] = x->sst.len;
  }
}

/* A string longer than the cell limit is kept at one byte more: enough to
 * tell it is too long, no more. */
static void XMLCALL sst_text(void *ud, const XML_Char *s, int len) {
  struct xlsx *x = ud;
  if (!x->in_t)
    return;
  size_t have = x->sst.len - x->si_start, room = tab_cell_keep(&x->t.lim) + 1;
  size_t n = (size_t)len;
  if (have >= room)
    return;
  if (n > room - have)
    n = room - have;
  if (buf_append(&x->sst, s, n) < 0)
    xlsx_fail(x, GERR_INVALID_INPUT,
              "refused: the shared strings are larger than the limit of %zu "
              "bytes",
              x->sst.limit);
}

static int read_shared_strings(struct xlsx *x) {
  int rc = xml_parse_entry(x, "xl/sharedStrings.xml", 0, sst_start, sst_end,
                           sst_text);
  return rc < 0 ? rc : 0;
}

/* ---- styles: which cell formats show dates --------------------------------- */

/* Built-in date and time formats (ECMA-376 18.8.30). */
static int builtin_date_format(unsigned id) {
  return (id >= 14 && id <= 22) || (id >= 45 && id <= 47);
}

/* A custom format shows a date or time when it has d, m, y or h outside
 * quoted text, escapes and [..] sections ("[Red]", "[$-409]"). */
static int format_code_is_date(const char *code) {
  for (const char *p = code; *p; p++) {
    switch (*p) {
    case '"':
      while (p[1] && p[1] != '"')
        p++;
      if (p[1])
        p++;
      break;
    case '[':
      while (p[1] && p[1] != ']')
        p++;
      if (p[1])
        p++;
      break;
    case '\\':
    case '_':
    case '*':
      if (p[1])
        p++;
      break;
    case 'd': case 'D': case 'm': case 'M':
    case 'y': case 'Y': case 'h': case 'H':
      return 1;
    default:
      break;
    }
  }
  return 0;
}

static void XMLCALL styles_start(void *ud, const XML_Char *name,
                                 const XML_Char **atts) {
  struct xlsx *x = ud;
  const char *el = local_name(name);
  unsigned long long id;
  if (strcmp(el, "numFmt") == 0) {
    const char *sid = attr(atts, "numFmtId", 0), *code = attr(atts, "formatCode", 0);
    if (sid && code && parse_uint(sid, strlen(sid), &id) == 0 &&
        format_code_is_date(code) && x->date_fmt_n < XLSX_MAX_CUSTOM_DATE_FORMATS)
      x->date_fmts[x->date_fmt_n++] = (unsigned)id;
  } else if (strcmp(el, "cellXfs") == 0) {
    x->in_cellxfs = 1;
  } else if (strcmp(el, "xf") == 0 && x->in_cellxfs && x->xf_n < XLSX_MAX_STYLES) {
    const char *sid = attr(atts, "numFmtId", 0);
    if (!sid || parse_uint(sid, strlen(sid), &id) < 0)
      id = 0;
    if (x->xf_n == x->xf_cap) {
      size_t cap = x->xf_cap ? x->xf_cap * 2 : 64;
      unsigned *p = realloc(x->xf_fmt, cap * sizeof *p);
      if (!p) {
        xlsx_fail(x, GERR_INTERNAL, "out of memory");
        return;
      }
      x->xf_fmt = p;
      x->xf_cap = cap;
    }
    x->xf_fmt[x->xf_n++] = (unsigned)id;
  }
}

static void XMLCALL styles_end(void *ud, const XML_Char *name) {
  struct xlsx *x = ud;
  if (strcmp(local_name(name), "cellXfs") == 0)
    x->in_cellxfs = 0;
}

static int read_styles(struct xlsx *x) {
  int rc = xml_parse_entry(x, "xl/styles.xml", 0, styles_start, styles_end, no_text);
  if (rc < 0)
    return rc;
  x->xf_date = calloc(x->xf_n ? x->xf_n : 1, 1);
  if (!x->xf_date)
    return xlsx_fail(x, GERR_INTERNAL, "out of memory");
  for (size_t i = 0; i < x->xf_n; i++) {
    unsigned id = x->xf_fmt[i];
    int date = builtin_date_format(id);
    for (size_t k = 0; k < x->date_fmt_n && !date; k++)
      date = x->date_fmts[k] == id;
    x->xf_date[i] = (unsigned char)date;
  }
  return 0;
}

/* ---- the sheet ------------------------------------------------------------ */

/* "C5" -> column 2 (0-based), row 5. Either may be absent (0 then). */
static void cell_ref(const char *r, size_t *col, size_t *row) {
  size_t c = 0, n = 0;
  for (; *r >= 'A' && *r <= 'Z'; r++) {
    if (c <= TAB_MAX_COLUMNS)
      c = c * 26 + (size_t)(*r - 'A' + 1);
  }
  for (; *r >= '0' && *r <= '9'; r++)
    if (n < (size_t)1 << 40)
      n = n * 10 + (size_t)(*r - '0');
  *col = c;
  *row = n;
}

static void XMLCALL sheet_start(void *ud, const XML_Char *name,
                                const XML_Char **atts) {
  struct xlsx *x = ud;
  const char *el = local_name(name);
  if (!x->in_data) {
    if (strcmp(el, "sheetData") == 0)
      x->in_data = 1;
    return;
  }
  if (x->in_cell) {
    if (strcmp(el, "v") == 0 || (strcmp(el, "t") == 0 && x->cell_type == 'i' && !x->in_rph))
      x->in_v = 1;
    else if (strcmp(el, "rPh") == 0)
      x->in_rph++;
    return;
  }
  if (strcmp(el, "c") == 0 && x->in_row) {
    const char *r = attr(atts, "r", 0), *t = attr(atts, "t", 0);
    const char *s = attr(atts, "s", 0);
    size_t col = 0, row = 0;
    if (r)
      cell_ref(r, &col, &row);
    x->col = col ? col - 1 : x->next_col;
    x->next_col = x->col + 1;
    x->cell_type = 'n';
    if (t) {
      if (strcmp(t, "s") == 0)
        x->cell_type = 's';
      else if (strcmp(t, "inlineStr") == 0)
        x->cell_type = 'i';
      else if (strcmp(t, "b") == 0)
        x->cell_type = 'b';
      else if (strcmp(t, "e") == 0)
        x->cell_type = 'e';
      else if (strcmp(t, "str") == 0)
        x->cell_type = 't';
      else if (strcmp(t, "d") == 0)
        x->cell_type = 'd';
    }
    unsigned long long style = 0;
    x->cell_date = s && parse_uint(s, strlen(s), &style) == 0 && style < x->xf_n &&
                   x->xf_date[style];
    x->in_cell = 1;
    x->in_v = 0;
    x->in_rph = 0;
    x->val_long = 0;
    x->val_bytes = 0;
    buf_reset(&x->val);
  } else if (strcmp(el, "row") == 0) {
    const char *r = attr(atts, "r", 0);
    unsigned long long n;
    size_t row = r && parse_uint(r, strlen(r), &n) == 0 && n ? (size_t)n : x->next_row;
    x->next_row = row + 1;
    x->next_col = 0;
    x->in_row = 1;
    tab_row_begin(&x->t, row);
  }
}

static void XMLCALL sheet_text(void *ud, const XML_Char *s, int len) {
  struct xlsx *x = ud;
  if (!x->in_v)
    return;
  x->val_bytes += (size_t)len;
  if (x->val_long)
    return;
  if ((size_t)len > x->val.limit - x->val.len) {
    x->val_long = 1;
    return;
  }
  if (buf_append(&x->val, s, (size_t)len) < 0)
    xlsx_fail(x, GERR_INTERNAL, "out of memory");
}

/* Hands the finished cell to tab_rows, as text a spreadsheet would show. */
static void cell_done(struct xlsx *x) {
  if (x->val_long) {
    tab_row_cell_too_long(&x->t, x->col, x->val_bytes);
    return;
  }
  const char *s = x->val.data ? x->val.data : "";
  size_t n = x->val.len;
  char text[48];
  unsigned long long idx;
  switch (x->cell_type) {
  case 's':
    if (parse_uint(s, n, &idx) < 0 || idx >= x->sst_n) {
      xlsx_fail(x, GERR_INVALID_INPUT,
                "the XLSX file is corrupt: row %zu refers to a shared string "
                "that does not exist",
                x->t.row);
      return;
    }
    s = x->sst.data + x->sst_off[idx];
    n = x->sst_off[idx + 1] - x->sst_off[idx];
    if (n > tab_cell_keep(&x->t.lim)) { /* cut short when read: n is one more */
      tab_row_cell_too_long(&x->t, x->col, n);
      return;
    }
    break;
  case 'b':
    s = n == 1 && s[0] == '1' ? "TRUE" : "FALSE";
    n = strlen(s);
    break;
  case 'n': {
    if (n == 0)
      return;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
      break; /* not a number after all: the text as it is */
    int len = -1;
    if (x->cell_date || tab_rows_field(&x->t, x->col) == SF_DATE)
      len = tab_excel_date(v, x->date1904, text);
    if (len < 0)
      len = (int)tab_number_text(v, text);
    s = text;
    n = (size_t)len;
    break;
  }
  default: /* inline and formula strings, errors (#N/A), ISO dates */
    break;
  }
  tab_row_cell(&x->t, x->col, s, n);
}

static void XMLCALL sheet_end(void *ud, const XML_Char *name) {
  struct xlsx *x = ud;
  if (!x->in_data)
    return;
  const char *el = local_name(name);
  if (x->in_cell) {
    if (strcmp(el, "c") == 0) {
      x->in_cell = 0;
      cell_done(x);
    } else if (strcmp(el, "rPh") == 0) {
      if (x->in_rph)
        x->in_rph--;
    } else if (strcmp(el, "v") == 0 || strcmp(el, "t") == 0) {
      x->in_v = 0;
    }
    return;
  }
  if (strcmp(el, "row") == 0 && x->in_row) {
    x->in_row = 0;
    int rc = tab_row_end(&x->t, &x->err);
    if (rc) {
      x->halt = rc;
      XML_StopParser(x->parser, XML_FALSE);
    }
  } else if (strcmp(el, "sheetData") == 0) {
    x->in_data = 0;
  }
}

static int read_sheet(struct xlsx *x) {
  x->next_row = 1;
  return xml_parse_entry(x, x->sheet_path, 1, sheet_start, sheet_end, sheet_text);
}

/* ---- the whole ------------------------------------------------------------ */

static int open_failed(struct xlsx *x, const char *path, int code) {
  if (code == ZIP_ER_MEMORY)
    return xlsx_fail(x, GERR_INTERNAL, "out of memory");
  if (code == ZIP_ER_OPEN || code == ZIP_ER_NOENT || code == ZIP_ER_READ ||
      code == ZIP_ER_SEEK)
    return xlsx_fail(x, GERR_INTERNAL, "cannot read the uploaded file: %s",
                     zip_code_text(code));
  unsigned char head[8] = {0};
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f)
    fclose(f);
  if (n == 0)
    return xlsx_fail(x, GERR_INVALID_INPUT, "the file is empty");
  if (n >= 4 && memcmp(head, "\xD0\xCF\x11\xE0", 4) == 0)
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "not an XLSX workbook: it is an XLS file or a "
                     "password-protected workbook");
  if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
    return xlsx_fail(x, GERR_INVALID_INPUT,
                     "the XLSX file is corrupt or truncated (%s)",
                     zip_code_text(code));
  return xlsx_fail(x, GERR_INVALID_INPUT,
                   "not an XLSX workbook (%s)", zip_code_text(code));
}

int xlsxrec_read(const char *path, const struct sale_rules *rules,
                 const struct tab_limits *lim, tab_row_fn fn, void *ctx,
                 size_t *rows, struct gerr *err) {
  struct xlsx *x = calloc(1, sizeof *x);
  if (!x)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  tab_rows_init(&x->t, rules, lim, fn, ctx);
  buf_init(&x->sst, (size_t)x->t.lim.max_uncompressed);
  buf_init(&x->val, tab_cell_keep(&x->t.lim));
  int rc, code = 0;
  x->zip = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!x->zip)
    rc = open_failed(x, path, code);
  else if ((rc = read_workbook(x)) == 0 && (rc = read_shared_strings(x)) == 0 &&
           (rc = read_styles(x)) == 0 && (rc = read_sheet(x)) == 0)
    rc = tab_rows_finish(&x->t, "sheet", &x->err);
  if (rc == -1 && x->halt == 0)
    x->halt = -1;
  if (rc == -1 && err)
    *err = x->err;
  if (rows)
    *rows = x->t.rows;
  if (x->zip)
    zip_discard(x->zip);
  tab_rows_release(&x->t);
  buf_release(&x->sst);
  buf_release(&x->val);
  free(x->sst_off);
  free(x->xf_fmt);
  free(x->xf_date);
  free(x);
  return rc;
}
