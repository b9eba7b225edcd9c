/* Streaming reader of sales records in CSV, fed in chunks of any size.
 * libcsv splits the bytes into cells and rows; cells go straight into
 * struct sale through tab_rows (columns.c), so nothing but the current cell
 * is buffered. Before the header row is complete its bytes are kept (at most
 * one row) to choose the delimiter. libcsv grows its cell buffer without a
 * limit, so the input is handed to it in slices and a cell that outgrows
 * the limit is cut short between slices (the row is rejected): memory stays
 * within max_cell + one slice whatever the file. */
#include <csv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gromo/tabular.h"
#include "ingest/tabular_int.h"

#define CSV_SLICE (64u * 1024)
#define CSV_BLOCK 4096 /* libcsv's cell buffer grows by this much */

/* libcsv's parser states (libcsv.c), read between slices. */
#define LIBCSV_FIELD_BEGUN 2
#define LIBCSV_FIELD_MIGHT_HAVE_ENDED 3

enum csv_phase { CSV_HEAD, CSV_BODY, CSV_END };

struct csvrec {
  struct csv_parser p;
  int parser_ready;
  enum csv_phase phase;
  struct tab_rows t;
  struct buf head;    /* CSV_HEAD: the bytes so far */
  size_t scan;        /* CSV_HEAD: bytes of head already scanned */
  int scan_quoted;    /* CSV_HEAD: inside quotes at scan */
  size_t line_start;  /* CSV_HEAD: where the line being scanned starts */
  size_t row;         /* spreadsheet number of the current row */
  size_t col;         /* cells completed in the current row */
  int row_started;    /* tab_row_begin was called for the current row */
  int last_term;      /* the character that ended the previous row */
  size_t long_col;    /* 1 + the column whose cell was cut short; 0 none */
  /* The cell under way, when check_growth took bytes out of libcsv's
   * buffer: its text already dropped (counted), the spaces after it set
   * aside (counted only if more text follows them, else libcsv would have
   * trimmed them), and the text kept in the buffer when only spaces were
   * set aside. */
  size_t cut, pend, kept;
  int halt;           /* -1 error (in err), -2 stopped by the callback */
  struct gerr err;
};

static int csv_fail(struct csvrec *c, struct gerr *err, const char *fmt, ...)
    GROMO_PRINTF(3, 4);

/* Records the first error; every later call reports it again. */
static int csv_fail(struct csvrec *c, struct gerr *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gerr_vset(&c->err, GERR_INVALID_INPUT, fmt, ap);
  va_end(ap);
  c->halt = -1;
  c->phase = CSV_END;
  if (err)
    *err = c->err;
  return -1;
}

static int csv_halted(struct csvrec *c, struct gerr *err) {
  c->phase = CSV_END;
  if (c->halt == -1 && err)
    *err = c->err;
  return c->halt;
}

static void row_start(struct csvrec *c) {
  if (!c->row_started) {
    tab_row_begin(&c->t, c->row);
    c->row_started = 1;
  }
}

static void on_cell(void *s, size_t len, void *data) {
  struct csvrec *c = data;
  if (c->halt)
    return;
  row_start(c);
  size_t col = c->col++;
  int spilled = c->pend && len > c->kept; /* text after the spaces set aside */
  if (c->long_col == col + 1 || spilled)
    tab_row_cell_too_long(&c->t, col, c->cut + (spilled ? c->pend : 0) + len);
  else
    tab_row_cell(&c->t, col, s, len);
  c->long_col = 0;
  c->cut = c->pend = c->kept = 0;
}

static void on_row_end(int term, void *data) {
  struct csvrec *c = data;
  if (c->halt)
    return;
  if (!c->row_started) { /* an empty line */
    if (term == '\n' && c->last_term == '\r') { /* the LF of a CRLF */
      c->last_term = '\n';
      return;
    }
    c->last_term = term;
    c->row++;
    return;
  }
  c->last_term = term;
  int rc = tab_row_end(&c->t, &c->err);
  c->row++;
  c->col = 0;
  c->row_started = 0;
  c->long_col = 0;
  if (rc)
    c->halt = rc;
}

/* Between slices: cuts short a cell that outgrew the limit (libcsv keeps
 * parsing it; its text is dropped) and notes a row beyond max_row, so that
 * libcsv's buffer stays within the cell limit and one slice. The cell's
 * length is still counted exactly, as if it had been read whole: the
 * result does not depend on how the input was cut into pieces. The last
 * bytes of the buffer may yet be trimmed by libcsv (spaces after unquoted
 * text; a closing quote and the spaces after it), so they count only once
 * more text follows. A long run of such spaces after short text is set
 * aside the same way, the text kept. */
static void check_growth(struct csvrec *c) {
  struct csv_parser *p = &c->p;
  if (p->pstate != LIBCSV_FIELD_BEGUN && p->pstate != LIBCSV_FIELD_MIGHT_HAVE_ENDED)
    return;
  size_t quote = p->pstate == LIBCSV_FIELD_MIGHT_HAVE_ENDED;
  size_t tail = p->spaces + quote, sure = p->entry_pos - tail;
  size_t keep = tab_cell_keep(&c->t.lim), max_row = c->t.lim.max_row;
  int spilled = c->pend && sure > c->kept; /* the spaces set aside were text */
  size_t text = c->cut + sure + (spilled ? c->pend : 0);
  /* A cell under way in a row not begun yet (its first cell): the bytes
   * counted so far are the previous row's. */
  size_t before = c->row_started ? c->t.row_bytes : 0;
  size_t keep_text;
  if (c->long_col == c->col + 1 || spilled || text > keep || before + text > max_row) {
    row_start(c);
    if (c->t.row_bytes + text > max_row)
      tab_row_too_long(&c->t);
    c->long_col = c->col + 1;
    c->cut = text;
    if (spilled)
      c->pend = 0;
    c->kept = keep_text = 0;
  } else if (tail > keep) {
    c->kept = keep_text = sure;
  } else {
    return;
  }
  /* One space after a closing quote stays: libcsv reads a quote that
   * follows spaces differently. */
  size_t spaces_kept = quote && p->spaces ? 1 : 0;
  c->pend += p->spaces - spaces_kept;
  p->spaces = spaces_kept;
  p->entry_pos = keep_text + quote + spaces_kept;
}

/* Parses p[n] in slices. 0, or the halt code. */
static int body_feed(struct csvrec *c, const char *p, size_t n, struct gerr *err) {
  while (n) {
    size_t k = n < CSV_SLICE ? n : CSV_SLICE;
    size_t done = csv_parse(&c->p, p, k, on_cell, on_row_end, c);
    if (c->halt)
      return csv_halted(c, err);
    if (done < k) {
      c->phase = CSV_END;
      c->halt = -1;
      gerr_set(&c->err, GERR_INTERNAL, "reading CSV: %s",
               csv_strerror(csv_error(&c->p)));
      if (err)
        *err = c->err;
      return -1;
    }
    check_growth(c);
    p += k;
    n -= k;
  }
  return 0;
}

/* Known column names among the cells of line[n] split by delim; *cells
 * gets the cell count. Quotes are honoured as in CSV. */
static int count_known(const char *line, size_t n, char delim, size_t *cells) {
  int known = 0, quoted = 0;
  size_t start = 0;
  *cells = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && line[i] == '"') {
      quoted = !quoted;
      continue;
    }
    if (i < n && (line[i] != delim || quoted))
      continue;
    const char *s = line + start;
    size_t len = i - start;
    while (len && (*s == ' ' || *s == '\t'))
      s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
      len--;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
      s++, len -= 2;
    if (tab_field_for_name(s, len) >= 0)
      known++;
    (*cells)++;
    start = i + 1;
  }
  return known;
}

static char choose_delimiter(const char *line, size_t n) {
  static const char candidates[] = {',', ';', '\t', '|'};
  char best = ',';
  int best_known = -1;
  size_t best_cells = 0;
  for (size_t i = 0; i < sizeof candidates; i++) {
    size_t cells;
    int known = count_known(line, n, candidates[i], &cells);
    if (known > best_known || (known == best_known && cells > best_cells)) {
      best = candidates[i];
      best_known = known;
      best_cells = cells;
    }
  }
  return best;
}

/* Text, not binary: valid UTF-8, no control characters but tab and CR. */
static int looks_like_text(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n; i++) {
    unsigned c = p[i];
    if (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
      return 0;
    if (c == 0x7f)
      return 0;
    if (c < 0x80)
      continue;
    size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > n || c == 0xc0 || c == 0xc1 || c > 0xf4)
      return 0;
    for (size_t k = 1; k < len; k++)
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
    i += len - 1;
  }
  return 1;
}

/* The first bytes of formats people upload by mistake. */
static const char *binary_kind(const char *s, size_t n) {
  if (n >= 4 && memcmp(s, "PK\x03\x04", 4) == 0)
    return "it looks like an XLSX or ZIP file";
  if (n >= 4 && memcmp(s, "\xD0\xCF\x11\xE0", 4) == 0)
    return "it looks like an XLS file";
  if (n >= 2 && (memcmp(s, "\xFF\xFE", 2) == 0 || memcmp(s, "\xFE\xFF", 2) == 0))
    return "it is UTF-16 text; save it as CSV UTF-8";
  if (n >= 4 && memcmp(s, "%PDF", 4) == 0)
    return "it looks like a PDF file";
  return NULL;
}

/* CSV_HEAD -> CSV_BODY once the header line is head[hs, he): chooses the
 * delimiter, starts libcsv and hands it everything kept so far. */
static int start_body(struct csvrec *c, size_t hs, size_t he, struct gerr *err) {
  const char *data = c->head.data;
  size_t skip = c->head.len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  if (!looks_like_text(data + hs, he - hs))
    return csv_fail(c, err, "not a CSV file: the first row is not UTF-8 text");
  if (csv_init(&c->p, CSV_REPALL_NL) != 0)
    return csv_fail(c, err, "reading CSV: cannot start the parser");
  c->parser_ready = 1;
  csv_set_delim(&c->p, (unsigned char)choose_delimiter(data + hs, he - hs));
  csv_set_blk_size(&c->p, CSV_BLOCK);
  c->phase = CSV_BODY;
  struct buf head = c->head;
  buf_init(&c->head, 0);
  int rc = body_feed(c, head.data + skip, head.len - skip, err);
  buf_release(&head);
  return rc;
}

/* Characters of a line that holds no cell text: blank, or only
 * separators and empty quotes (",,,", as spreadsheets export empty rows). */
static int is_filler(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ',' ||
         ch == ';' || ch == '|' || ch == '"';
}

/* The header line must end within the first max_row bytes of the file,
 * however its bytes arrive. */
static int no_header(struct csvrec *c, struct gerr *err) {
  return csv_fail(c, err,
                  "no header row in the first %zu bytes (the row limit): not a "
                  "CSV file, or the header row is too long",
                  c->t.lim.max_row);
}

/* Looks for the end of the header line in the bytes not yet scanned:
 * a line break (LF, CR or CRLF) outside quotes after a line with something
 * on it. */
static int head_scan(struct csvrec *c, struct gerr *err) {
  const char *d = c->head.data;
  size_t n = c->head.len;
  if (c->scan == 0 && n >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0)
    c->scan = c->line_start = 3;
  for (size_t i = c->scan; i < n; i++) {
    if (d[i] == '"') {
      c->scan_quoted = !c->scan_quoted;
    } else if ((d[i] == '\n' || d[i] == '\r') && !c->scan_quoted) {
      size_t s = c->line_start;
      int blank = 1;
      for (size_t k = s; k < i && blank; k++)
        blank = is_filler(d[k]);
      if (!blank)
        return i > c->t.lim.max_row ? no_header(c, err) : start_body(c, s, i, err);
      c->line_start = i + 1;
    }
  }
  c->scan = n;
  if (n > c->t.lim.max_row)
    return no_header(c, err);
  return 0;
}

int csvrec_new(const struct sale_rules *rules, const struct tab_limits *lim,
               tab_row_fn fn, void *ctx, struct csvrec **out, struct gerr *err) {
  struct csvrec *c = calloc(1, sizeof *c);
  if (!c)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  tab_rows_init(&c->t, rules, lim, fn, ctx);
  buf_init(&c->head, c->t.lim.max_row + 1);
  c->row = 1;
  c->phase = CSV_HEAD;
  *out = c;
  return 0;
}

int csvrec_feed(struct csvrec *c, const char *p, size_t n, struct gerr *err) {
  if (c->phase == CSV_END)
    return csv_halted(c, err);
  const char *nul = memchr(p, '\0', n);
  size_t ok = nul ? (size_t)(nul - p) : n;
  int rc;
  if (c->phase == CSV_HEAD) {
    /* Kept: at most one byte past the row limit, enough to find the header
     * line or to know it is too long (head.len <= max_row here). The rest
     * of the piece goes to the parser once the header line is found. */
    size_t room = c->t.lim.max_row + 1 - c->head.len;
    size_t take = ok < room ? ok : room;
    if (buf_append(&c->head, p, take) < 0) {
      c->phase = CSV_END;
      c->halt = -1;
      gerr_set(&c->err, GERR_INTERNAL, "out of memory");
      if (err)
        *err = c->err;
      return -1;
    }
    const char *kind = binary_kind(c->head.data ? c->head.data : "", c->head.len);
    if (kind)
      return csv_fail(c, err, "not a CSV file: %s", kind);
    rc = head_scan(c, err);
    if (rc == 0 && c->phase == CSV_BODY && take < ok)
      rc = body_feed(c, p + take, ok - take, err);
  } else {
    rc = body_feed(c, p, ok, err);
  }
  if (rc)
    return rc;
  if (nul && c->phase == CSV_HEAD)
    return csv_fail(c, err, "not a CSV file: it contains binary data (NUL bytes)");
  if (nul)
    return csv_fail(c, err,
                    "row %zu: not a CSV file, it contains binary data (a NUL "
                    "byte)",
                    c->row);
  return 0;
}

int csvrec_finish(struct csvrec *c, struct gerr *err) {
  if (c->phase == CSV_END)
    return csv_halted(c, err);
  if (c->phase == CSV_HEAD) {
    const char *d = c->head.data ? c->head.data : "";
    size_t s = c->line_start, n = c->head.len;
    int blank = 1;
    for (size_t k = s; k < n && blank; k++)
      blank = is_filler(d[k]);
    if (blank || n <= s)
      return csv_fail(c, err, "the file is empty");
    int rc = start_body(c, s, n, err); /* -2 too: the callback stopped it */
    if (rc)
      return rc;
  }
  if (c->p.pstate == LIBCSV_FIELD_BEGUN && c->p.quoted)
    return csv_fail(c, err,
                    "row %zu: the file ends inside a quoted cell; it is "
                    "truncated or a quote is not closed",
                    c->row);
  csv_fini(&c->p, on_cell, on_row_end, c);
  if (c->halt)
    return csv_halted(c, err);
  c->phase = CSV_END;
  if (tab_rows_finish(&c->t, "file", &c->err) < 0) {
    c->halt = -1;
    return csv_halted(c, err);
  }
  return 0;
}

size_t csvrec_rows(const struct csvrec *c) { return c->t.rows; }

void csvrec_free(struct csvrec *c) {
  if (!c)
    return;
  if (c->parser_ready)
    csv_free(&c->p);
  buf_release(&c->head);
  tab_rows_release(&c->t);
  free(c);
}
