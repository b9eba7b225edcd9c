/* Reader of sales records in legacy XLS (BIFF) workbooks, through freexl.
 *
 * freexl is not safe with hostile files: corrupt ones can make it free
 * twice or read out of bounds, and it turns every date cell into text by
 * counting days one at a time from 1900, so a few date cells holding huge
 * serial numbers keep it busy for hours. Hence:
 *  - before freexl sees the file, a small reader of the container (CFBF)
 *    and of the BIFF records here adds up the days freexl would count and
 *    refuses the file past XLS_MAX_DATE_DAYS;
 *  - freexl runs in a short-lived child process (fork, no exec) with CPU
 *    time and memory limits, and sends the cells back through a pipe; a
 *    crash, a limit or a silence of XLS_CHILD_IDLE_SECONDS there refuses the
 *    file, never harms the caller.
 * freexl reads the whole first worksheet into memory when it opens the file,
 * so the file size (max_uncompressed) and the cells the sheet declares are
 * limited too. The parent hands the cells one row at a time to tab_rows.
 * The parent reads the file with pread, never through a memory map: a file
 * that shrinks while it is read (gromo import of a file being rewritten) is
 * an error, not a SIGBUS. */
#include <errno.h>
#include <fcntl.h>
#include <freexl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gromo/tabular.h"
#include "ingest/tabular_int.h"

/* A BIFF8 sheet holds at most 65,536 x 256 cells; freexl keeps each one in
 * memory, so a sheet may declare at most this many. */
#define XLS_MAX_CELLS (4u * 1024 * 1024)
/* Days freexl may count converting dates (about a nanosecond each): a full
 * sheet of 65,536 rows with two columns of present-day dates counts 6e9. */
#define XLS_MAX_DATE_DAYS 8e9
/* The child reading the file: CPU seconds, bytes of memory beyond what it
 * inherits, and seconds it may stay silent before it is killed. */
#define XLS_CHILD_CPU_SECONDS 30
#define XLS_CHILD_MEMORY (1024ull * 1024 * 1024)
#define XLS_CHILD_IDLE_SECONDS 30
/* The longest text a cell of BIFF8 can hold is 32,767 characters. */
#define XLS_MAX_TEXT (32767u * 4)

#define CFB_END 0xFFFFFFFEu
#define BIFF_BOF 0x0809
#define BIFF_FORMAT 0x041E
#define BIFF_XF 0x00E0
#define BIFF_NUMBER 0x0203
#define BIFF_RK 0x027E
#define BIFF_MULRK 0x00BD

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) {
  return le16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Bytes a stream is read from: the file (fd, read with pread) or memory
 * (mem, the mini stream). len is the size the file had when it was opened:
 * a pread that finds fewer bytes marks it changed. */
struct src {
  int fd;
  const unsigned char *mem;
  size_t len;
  int changed;
};

static int src_read(struct src *s, size_t off, size_t k, unsigned char *out) {
  if (off > s->len || s->len - off < k)
    return -1;
  if (s->mem) {
    memcpy(out, s->mem + off, k);
    return 0;
  }
  while (k) {
    ssize_t r = pread(s->fd, out, k, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      s->changed = r == 0; /* it was longer when it was opened */
      return -1;
    }
    out += r;
    off += (size_t)r;
    k -= (size_t)r;
  }
  return 0;
}

/* A compound file (CFBF): its header, sectors and FAT. */
struct cfb {
  struct src *file;
  unsigned char hdr[512];
  size_t n;
  unsigned shift; /* sector size 1 << shift */
  size_t nsect;   /* whole sectors after the header */
  uint32_t *fat;
  size_t nfat;
};

/* Copies the stream of size bytes that starts at unit start of base
 * (units of 1 << shift bytes, from offset skip), following next[nnext].
 * 0, or -1 when the chain leaves the file, loops or ends early. */
static int chain_copy(const uint32_t *next, size_t nnext, uint32_t start,
                      size_t size, struct src *base, size_t skip, unsigned shift,
                      unsigned char *out) {
  size_t usz = (size_t)1 << shift, done = 0, steps = 0;
  uint32_t u = start;
  while (done < size) {
    if (u >= nnext || ++steps > nnext)
      return -1;
    size_t off = skip + ((size_t)u << shift), k = size - done < usz ? size - done : usz;
    if (src_read(base, off, k, out + done) < 0)
      return -1;
    done += k;
    u = next[u];
  }
  return 0;
}

/* Units in the chain from start (directory streams have no size). */
static size_t chain_length(const uint32_t *next, size_t nnext, uint32_t start) {
  size_t count = 0;
  for (uint32_t u = start; u != CFB_END; u = next[u])
    if (u >= nnext || ++count > nnext)
      return 0;
  return count;
}

static int cfb_open(struct cfb *c, struct src *file) {
  memset(c, 0, sizeof *c);
  c->file = file;
  const unsigned char *p = c->hdr;
  size_t n = file->len;
  if (n < 512 || src_read(file, 0, 512, c->hdr) < 0 ||
      memcmp(p, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) != 0)
    return -1;
  c->n = n;
  c->shift = le16(p + 0x1E);
  if (c->shift != 9 && c->shift != 12)
    return -1;
  size_t ssz = (size_t)1 << c->shift, per = ssz / 4;
  c->nsect = n / ssz - 1;
  size_t nfatsec = le32(p + 0x2C);
  if (nfatsec == 0 || nfatsec > c->nsect)
    return -1;
  c->fat = malloc(nfatsec * ssz);
  if (!c->fat)
    return -1;
  c->nfat = nfatsec * per;
  /* the FAT's sectors: 109 in the header, then a chain of DIFAT sectors */
  uint32_t difat = le32(p + 0x44);
  size_t ndifat = le32(p + 0x48), k = 0;
  for (size_t i = 0; i < 109 && k < nfatsec; i++, k++) {
    uint32_t s = le32(p + 0x4C + 4 * i);
    if (s >= c->nsect ||
        src_read(file, ((size_t)s + 1) * ssz, ssz, (unsigned char *)c->fat + k * ssz) < 0)
      return -1;
  }
  unsigned char *sec = ndifat && k < nfatsec ? malloc(ssz) : NULL;
  for (size_t d = 0; d < ndifat && k < nfatsec; d++) {
    if (!sec || difat >= c->nsect || src_read(file, ((size_t)difat + 1) * ssz, ssz, sec) < 0) {
      free(sec);
      return -1;
    }
    for (size_t i = 0; i + 1 < per && k < nfatsec; i++, k++) {
      uint32_t s = le32(sec + 4 * i);
      if (s >= c->nsect ||
          src_read(file, ((size_t)s + 1) * ssz, ssz, (unsigned char *)c->fat + k * ssz) < 0) {
        free(sec);
        return -1;
      }
    }
    difat = le32(sec + ssz - 4);
  }
  free(sec);
  if (k < nfatsec)
    return -1;
  for (size_t i = 0; i < c->nfat; i++) /* as numbers of this machine */
    c->fat[i] = le32((unsigned char *)&c->fat[i]);
  return 0;
}

static int name_is(const unsigned char *e, const char *want) {
  size_t len = le16(e + 0x40) / 2; /* UTF-16 units, with the NUL */
  size_t n = strlen(want);
  if (len != n + 1)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned ch = le16(e + 2 * i);
    if (ch >= 'a' && ch <= 'z')
      ch -= 'a' - 'A';
    if (ch != (unsigned)want[i])
      return 0;
  }
  return 1;
}

/* The workbook stream, malloc'd, in *out[*len]. 0 or -1. */
static int cfb_workbook(const struct cfb *c, unsigned char **out, size_t *len) {
  const unsigned char *p = c->hdr;
  size_t ssz = (size_t)1 << c->shift;
  size_t nd = chain_length(c->fat, c->nfat, le32(p + 0x30));
  if (nd == 0)
    return -1;
  unsigned char *dir = malloc(nd * ssz);
  if (!dir || chain_copy(c->fat, c->nfat, le32(p + 0x30), nd * ssz, c->file, ssz,
                         c->shift, dir) < 0) {
    free(dir);
    return -1;
  }
  const unsigned char *root = NULL, *book = NULL;
  for (size_t i = 0; i + 128 <= nd * ssz; i += 128) {
    const unsigned char *e = dir + i;
    if (e[0x42] == 5 && !root)
      root = e;
    else if (e[0x42] == 2 && !book && (name_is(e, "WORKBOOK") || name_is(e, "BOOK")))
      book = e;
  }
  int rc = -1;
  unsigned char *data = NULL, *mini = NULL;
  uint32_t *minifat = NULL;
  size_t size = book ? le32(book + 0x78) : 0;
  if (!book || !root || size > c->n)
    goto out;
  data = malloc(size ? size : 1);
  if (!data)
    goto out;
  if (size >= le32(p + 0x38)) { /* in ordinary sectors */
    rc = chain_copy(c->fat, c->nfat, le32(book + 0x74), size, c->file, ssz,
                    c->shift, data);
    goto out;
  }
  /* in the mini stream: units of 64 bytes inside the root's stream */
  size_t msize = le32(root + 0x78), nmf = chain_length(c->fat, c->nfat, le32(p + 0x3C));
  unsigned mshift = le16(p + 0x20);
  if (msize > c->n || nmf == 0 || mshift != 6)
    goto out;
  mini = malloc(msize ? msize : 1);
  minifat = malloc(nmf * ssz);
  if (!mini || !minifat ||
      chain_copy(c->fat, c->nfat, le32(root + 0x74), msize, c->file, ssz, c->shift, mini) < 0 ||
      chain_copy(c->fat, c->nfat, le32(p + 0x3C), nmf * ssz, c->file, ssz, c->shift,
                 (unsigned char *)minifat) < 0)
    goto out;
  for (size_t i = 0; i < nmf * ssz / 4; i++)
    minifat[i] = le32((unsigned char *)&minifat[i]);
  struct src ministream = {.fd = -1, .mem = mini, .len = msize};
  rc = chain_copy(minifat, nmf * ssz / 4, le32(book + 0x74), size, &ministream, 0, mshift,
                  data);
out:
  free(dir);
  free(mini);
  free(minifat);
  if (rc == 0) {
    *out = data;
    *len = size;
  } else {
    free(data);
  }
  return rc;
}

/* The days freexl counts for a date cell holding v. */
static double date_days(double v) {
  if (!(v >= 1))
    return 0;
  return v >= 2147483648.0 ? 2147483648.0 : floor(v);
}

static double rk_value(uint32_t rk) {
  double v;
  if (rk & 2) {
    v = (double)((int32_t)rk >> 2);
  } else {
    uint64_t bits = (uint64_t)(rk & 0xFFFFFFFCu) << 32;
    memcpy(&v, &bits, sizeof v);
  }
  return rk & 1 ? v / 100 : v;
}

/* Does freexl take format code s[n] (8-bit or UTF-16LE) for a date? It
 * counts letters anywhere: y and m, or m and d. */
static int format_counts_days(const unsigned char *s, size_t n, size_t step) {
  int y = 0, m = 0, d = 0;
  for (size_t i = 0; i < n; i += step) {
    unsigned ch = s[i] | 0x20;
    y |= ch == 'y';
    m |= ch == 'm';
    d |= ch == 'd';
  }
  return (y && m) || (m && d);
}

/* Adds up the days freexl would count for the date cells of the workbook
 * stream w[n]. */
static double biff_date_days(const unsigned char *w, size_t n) {
  static const unsigned char builtin[] = {14, 15, 16, 17, 22};
  unsigned char *date_fmt = calloc(65536, 1); /* by format index */
  uint16_t *xf_fmt = malloc(65536 * sizeof *xf_fmt);
  size_t nxf = 0;
  int biff8 = 1;
  double days = 0;
  if (!date_fmt || !xf_fmt) {
    free(date_fmt);
    free(xf_fmt);
    return HUGE_VAL;
  }
  for (size_t i = 0; i < sizeof builtin; i++)
    date_fmt[builtin[i]] = 1;
  for (size_t pos = 0; pos + 4 <= n;) {
    unsigned type = le16(w + pos), len = le16(w + pos + 2);
    const unsigned char *b = w + pos + 4;
    if (len > n - pos - 4)
      break;
    pos += 4 + (size_t)len;
    if (type == BIFF_BOF && len >= 2) {
      biff8 = le16(b) == 0x0600;
    } else if (type == BIFF_FORMAT && len >= 3) {
      unsigned id = le16(b);
      int days_fmt;
      if (biff8 && len >= 5) {
        size_t cch = le16(b + 2), wide = b[4] & 1;
        size_t have = len - 5;
        size_t bytes = (cch << wide) < have ? (cch << wide) : have;
        days_fmt = format_counts_days(b + 5, bytes, wide ? 2 : 1);
      } else {
        size_t cch = b[2] < len - 3 ? b[2] : len - 3;
        days_fmt = format_counts_days(b + 3, cch, 1);
      }
      if (id > 22 || id < 14) /* freexl judges the built-in ones itself */
        date_fmt[id] = (unsigned char)days_fmt;
    } else if (type == BIFF_XF && len >= 4 && nxf < 65536) {
      xf_fmt[nxf++] = (uint16_t)le16(b + 2);
    } else if (type == BIFF_NUMBER && len >= 14) {
      unsigned xf = le16(b + 4);
      double v;
      memcpy(&v, b + 6, sizeof v);
      if (xf < nxf && date_fmt[xf_fmt[xf]])
        days += date_days(v);
    } else if (type == BIFF_RK && len >= 10) {
      unsigned xf = le16(b + 4);
      if (xf < nxf && date_fmt[xf_fmt[xf]])
        days += date_days(rk_value(le32(b + 6)));
    } else if (type == BIFF_MULRK && len >= 12) {
      for (size_t k = 0; 4 + 6 * k + 6 <= (size_t)len - 2; k++) {
        unsigned xf = le16(b + 4 + 6 * k);
        if (xf < nxf && date_fmt[xf_fmt[xf]])
          days += date_days(rk_value(le32(b + 6 + 6 * k)));
      }
    }
  }
  free(date_fmt);
  free(xf_fmt);
  return days;
}

/* Reads the container and the records of the file: -1 with *err when it is
 * not a compound file we can read, or its dates are too costly. */
static int scan_dates(struct src *file, struct gerr *err) {
  struct cfb c;
  unsigned char *w = NULL;
  size_t wn = 0;
  int rc = 0;
  if (cfb_open(&c, file) < 0 || cfb_workbook(&c, &w, &wn) < 0)
    rc = file->changed
             ? gerr_set(err, GERR_INVALID_INPUT, "the XLS file shrank while it was read")
             : gerr_set(err, GERR_INVALID_INPUT,
                        "the XLS file is corrupt or truncated, or older than Excel 5");
  else if (biff_date_days(w, wn) > XLS_MAX_DATE_DAYS)
    rc = gerr_set(err, GERR_INVALID_INPUT,
                  "refused: the dates of the XLS file would take too long to "
                  "read (more than the limit of %.0f days counted); save it "
                  "as XLSX",
                  XLS_MAX_DATE_DAYS);
  free(c.fat);
  free(w);
  return rc;
}

/* Checks what can be checked before freexl runs: size, kind, dates. */
static int precheck(const char *path, const struct tab_limits *lim,
                    struct gerr *err) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) < 0) {
    if (fd >= 0)
      close(fd);
    return gerr_set(err, GERR_INTERNAL, "cannot read the uploaded file");
  }
  struct src file = {.fd = fd, .len = (size_t)st.st_size};
  unsigned char head[8] = {0};
  int rc;
  if (st.st_size == 0)
    rc = gerr_set(err, GERR_INVALID_INPUT, "the file is empty");
  else if ((uint64_t)st.st_size > lim->max_uncompressed)
    rc = gerr_set(err, GERR_INVALID_INPUT,
                  "refused: the XLS file has %llu bytes, more than the limit "
                  "of %llu bytes",
                  (unsigned long long)st.st_size,
                  (unsigned long long)lim->max_uncompressed);
  else if (src_read(&file, 0, file.len < 8 ? file.len : 8, head) < 0)
    rc = gerr_set(err, GERR_INVALID_INPUT, "the XLS file shrank while it was read");
  else if (file.len >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
    rc = gerr_set(err, GERR_INVALID_INPUT,
                  "not an XLS workbook: it looks like an XLSX file");
  else if (file.len < 8 || memcmp(head, "\xD0\xCF\x11\xE0", 4) != 0)
    rc = gerr_set(err, GERR_INVALID_INPUT,
                  "not an XLS workbook (Excel 97-2003 or Excel 5/95)");
  else
    rc = scan_dates(&file, err);
  close(fd);
  return rc;
}

/* ---- the child: freexl, cells into the pipe ------------------------------
 * Frames, in this machine's byte order (parent and child are one program):
 *   'E' int32 freexl error code      'P' password-protected
 *   'N' no worksheet                 'D' uint32 rows, uint32 columns (too many)
 *   'H' uint32 rows, uint32 columns, uint8 date1904
 *   'C' uint32 row, uint16 column, uint8 freexl type, then int32 (INT),
 *       double (DOUBLE) or uint32 length + bytes (texts, dates)
 *   'Z' the end */

struct pipe_out {
  int fd;
  size_t len;
  unsigned char buf[64 * 1024];
};

static void out_flush(struct pipe_out *o) {
  for (size_t done = 0; done < o->len;) {
    ssize_t w = write(o->fd, o->buf + done, o->len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      _exit(1);
    done += (size_t)w;
  }
  o->len = 0;
}

static void out_put(struct pipe_out *o, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n) {
    if (o->len == sizeof o->buf)
      out_flush(o);
    size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
    memcpy(o->buf + o->len, b, k);
    o->len += k;
    b += k;
    n -= k;
  }
}

static void out_u8(struct pipe_out *o, unsigned char v) { out_put(o, &v, 1); }
static void out_u32(struct pipe_out *o, uint32_t v) { out_put(o, &v, sizeof v); }

static _Noreturn void child_end(struct pipe_out *o, const void *h) {
  if (h)
    freexl_close(h);
  out_flush(o);
  _exit(0);
}

/* The budget of memory: what the process already maps, plus
 * XLS_CHILD_MEMORY. Skipped when /proc cannot tell. */
static void child_limits(void) {
  struct rlimit cpu = {XLS_CHILD_CPU_SECONDS, XLS_CHILD_CPU_SECONDS + 1};
  setrlimit(RLIMIT_CPU, &cpu);
  char text[64] = "";
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  unsigned long long pages = n > 0 ? strtoull(text, NULL, 10) : 0;
  long page = sysconf(_SC_PAGESIZE);
  if (pages && page > 0) {
    rlim_t as = (rlim_t)(pages * (unsigned long long)page + XLS_CHILD_MEMORY);
    struct rlimit mem = {as, as};
    setrlimit(RLIMIT_AS, &mem);
  }
}

/* Runs in the child after fork(): only freexl, the pipe and _exit. glibc's
 * malloc stays usable in the child of a threaded process; anything worse
 * (a lock held across the fork) ends as silence, and the parent kills us. */
static _Noreturn void child_main(const char *path, int fd) {
  static struct pipe_out o;
  o.fd = fd;
  o.len = 0;
  child_limits();
  const void *h = NULL;
  int code = freexl_open_info(path, &h);
  if (code != FREEXL_OK) {
    out_u8(&o, 'E');
    out_u32(&o, (uint32_t)code);
    child_end(&o, h);
  }
  unsigned int info = 0, rows = 0, mode = 0;
  unsigned short cols = 0;
  if (freexl_get_info(h, FREEXL_BIFF_PASSWORD, &info) == FREEXL_OK &&
      info == FREEXL_BIFF_OBFUSCATED) {
    out_u8(&o, 'P');
    child_end(&o, h);
  }
  if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &info) != FREEXL_OK || info == 0 ||
      freexl_select_active_worksheet(h, 0) != FREEXL_OK ||
      freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK) {
    out_u8(&o, 'N');
    child_end(&o, h);
  }
  if ((uint64_t)rows * cols > XLS_MAX_CELLS) {
    out_u8(&o, 'D');
    out_u32(&o, rows);
    out_u32(&o, cols);
    child_end(&o, h);
  }
  freexl_close(h);
  h = NULL;
  code = freexl_open(path, &h);
  if (code != FREEXL_OK || freexl_select_active_worksheet(h, 0) != FREEXL_OK ||
      freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK) {
    out_u8(&o, 'E');
    out_u32(&o, (uint32_t)(code != FREEXL_OK ? code : FREEXL_BIFF_ILLEGAL_SHEET_INDEX));
    child_end(&o, h);
  }
  int date1904 = freexl_get_info(h, FREEXL_BIFF_DATEMODE, &mode) == FREEXL_OK &&
                 mode == FREEXL_BIFF_DATEMODE_1904;
  out_u8(&o, 'H');
  out_u32(&o, rows);
  out_u32(&o, cols);
  out_u8(&o, (unsigned char)date1904);
  for (unsigned int r = 0; r < rows; r++) {
    for (unsigned short c = 0; c < cols; c++) {
      FreeXL_CellValue v;
      if (freexl_get_cell_value(h, r, c, &v) != FREEXL_OK || v.type == FREEXL_CELL_NULL)
        continue;
      const char *text = NULL;
      switch (v.type) {
      case FREEXL_CELL_INT:
      case FREEXL_CELL_DOUBLE:
        break;
      case FREEXL_CELL_TEXT:
      case FREEXL_CELL_SST_TEXT:
      case FREEXL_CELL_DATE:
      case FREEXL_CELL_DATETIME:
      case FREEXL_CELL_TIME:
        text = v.value.text_value;
        if (!text)
          continue;
        break;
      default:
        continue;
      }
      uint16_t col = c;
      out_u8(&o, 'C');
      out_u32(&o, r);
      out_put(&o, &col, sizeof col);
      out_u8(&o, v.type);
      if (v.type == FREEXL_CELL_INT) {
        int32_t iv = v.value.int_value;
        out_put(&o, &iv, sizeof iv);
      } else if (v.type == FREEXL_CELL_DOUBLE) {
        out_put(&o, &v.value.double_value, sizeof v.value.double_value);
      } else {
        size_t len = strnlen(text, XLS_MAX_TEXT + 1);
        out_u32(&o, (uint32_t)len);
        out_put(&o, text, len);
      }
    }
  }
  out_u8(&o, 'Z');
  child_end(&o, h);
}

/* ---- the parent: cells from the pipe into tab_rows ------------------------ */

struct pipe_in {
  int fd;
  int silent; /* the child said nothing for XLS_CHILD_IDLE_SECONDS */
  size_t pos, len;
  unsigned char buf[64 * 1024];
};

/* Exactly n bytes; -1 at the end of the pipe, on error or after
 * XLS_CHILD_IDLE_SECONDS without a byte. */
static int in_get(struct pipe_in *in, void *dst, size_t n) {
  unsigned char *d = dst;
  while (n) {
    if (in->pos == in->len) {
      struct pollfd pfd = {in->fd, POLLIN, 0};
      int pr = poll(&pfd, 1, XLS_CHILD_IDLE_SECONDS * 1000);
      if (pr < 0 && errno == EINTR)
        continue;
      if (pr == 0)
        in->silent = 1;
      if (pr <= 0)
        return -1;
      ssize_t r = read(in->fd, in->buf, sizeof in->buf);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return -1;
      in->pos = 0;
      in->len = (size_t)r;
    }
    size_t k = in->len - in->pos < n ? in->len - in->pos : n;
    memcpy(d, in->buf + in->pos, k);
    in->pos += k;
    d += k;
    n -= k;
  }
  return 0;
}

static const char *freexl_problem(int code) {
  switch (code) {
  case FREEXL_INSUFFICIENT_MEMORY:
    return "the XLS file needs too much memory to read";
  case FREEXL_INVALID_CFBF_HEADER:
  case FREEXL_CFBF_INVALID_SIGNATURE:
  case FREEXL_BIFF_INVALID_BOF:
  case FREEXL_BIFF_WORKBOOK_NOT_FOUND:
    return "not an XLS workbook";
  case FREEXL_CRAFTED_FILE:
    return "the XLS file is damaged or crafted to harm";
  default:
    return "the XLS file is corrupt or truncated";
  }
}

/* Hands one cell to tab_rows as text. */
static int take_cell(struct pipe_in *in, struct tab_rows *t, size_t col, int type,
                     int date1904, char *text, size_t keep) {
  double d;
  if (type == FREEXL_CELL_INT) {
    int32_t iv;
    if (in_get(in, &iv, sizeof iv) < 0)
      return -1;
    d = iv;
  } else if (type == FREEXL_CELL_DOUBLE) {
    if (in_get(in, &d, sizeof d) < 0)
      return -1;
  } else {
    uint32_t len;
    if (in_get(in, &len, sizeof len) < 0 || len > XLS_MAX_TEXT)
      return -1;
    if (len <= keep) {
      if (in_get(in, text, len) < 0)
        return -1;
      tab_row_cell(t, col, text, len);
      return 0;
    }
    for (uint32_t left = len; left;) { /* too long: skipped */
      uint32_t k = left < keep ? left : (uint32_t)keep;
      if (in_get(in, text, k) < 0)
        return -1;
      left -= k;
    }
    tab_row_cell_too_long(t, col, len);
    return 0;
  }
  char num[48];
  int len = -1;
  if (tab_rows_field(t, col) == SF_DATE)
    len = tab_excel_date(d, date1904, num);
  if (len < 0)
    len = (int)tab_number_text(d, num);
  tab_row_cell(t, col, num, (size_t)len);
  return 0;
}

#define BROKEN "the XLS file is corrupt: it could not be read"

/* Reads the frames of the child. 0, -1 (*err) or -2 (stopped). */
static int read_frames(struct pipe_in *in, struct tab_rows *t, struct gerr *err) {
  unsigned char tag, date1904;
  uint32_t rows, cols, code;
  if (in_get(in, &tag, 1) < 0)
    return gerr_set(err, GERR_INVALID_INPUT, BROKEN);
  switch (tag) {
  case 'E':
    if (in_get(in, &code, sizeof code) < 0)
      return gerr_set(err, GERR_INVALID_INPUT, BROKEN);
    return gerr_set(err, GERR_INVALID_INPUT, "%s (freexl error %d)",
                    freexl_problem((int32_t)code), (int32_t)code);
  case 'P':
    return gerr_set(err, GERR_INVALID_INPUT, "the XLS file is password-protected");
  case 'N':
    return gerr_set(err, GERR_INVALID_INPUT, "the XLS file has no readable worksheet");
  case 'D':
    if (in_get(in, &rows, sizeof rows) < 0 || in_get(in, &cols, sizeof cols) < 0)
      return gerr_set(err, GERR_INVALID_INPUT, BROKEN);
    return gerr_set(err, GERR_INVALID_INPUT,
                    "refused: the first sheet declares %u rows x %u columns, "
                    "more than the limit of %u cells",
                    (unsigned)rows, (unsigned)cols, XLS_MAX_CELLS);
  case 'H':
    if (in_get(in, &rows, sizeof rows) < 0 || in_get(in, &cols, sizeof cols) < 0 ||
        in_get(in, &date1904, 1) < 0)
      return gerr_set(err, GERR_INVALID_INPUT, BROKEN);
    break;
  default:
    return gerr_set(err, GERR_INVALID_INPUT, BROKEN);
  }
  size_t keep = tab_cell_keep(&t->lim);
  char *text = malloc(keep + 1);
  if (!text)
    return gerr_set(err, GERR_INTERNAL, "out of memory");
  int rc = 0, open_row = 0;
  uint32_t row = 0;
  for (;;) {
    if (in_get(in, &tag, 1) < 0) {
      rc = gerr_set(err, GERR_INVALID_INPUT, BROKEN);
      break;
    }
    if (tag == 'Z') {
      if (open_row)
        rc = tab_row_end(t, err);
      break;
    }
    uint32_t r;
    uint16_t col;
    unsigned char type;
    if (tag != 'C' || in_get(in, &r, sizeof r) < 0 || in_get(in, &col, sizeof col) < 0 ||
        in_get(in, &type, 1) < 0 || r >= rows || col >= cols || (open_row && r < row)) {
      rc = gerr_set(err, GERR_INVALID_INPUT, BROKEN);
      break;
    }
    if (!open_row || r != row) {
      if (open_row && (rc = tab_row_end(t, err)) != 0)
        break;
      row = r;
      open_row = 1;
      tab_row_begin(t, (size_t)r + 1);
    }
    if (take_cell(in, t, col, type, date1904, text, keep) < 0) {
      rc = gerr_set(err, GERR_INVALID_INPUT, BROKEN);
      break;
    }
  }
  free(text);
  return rc;
}

/* Starts the child, reads its frames, and reaps it. */
static int read_in_child(const char *path, struct tab_rows *t, struct gerr *err) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0)
    return gerr_set(err, GERR_INTERNAL, "cannot start the XLS reader");
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return gerr_set(err, GERR_INTERNAL, "cannot start the XLS reader");
  }
  if (pid == 0) {
    close(fds[0]);
    child_main(path, fds[1]);
  }
  close(fds[1]);
  struct gerr e = {GERR_OK, ""};
  struct pipe_in *in = calloc(1, sizeof *in);
  int rc, silent = 0;
  if (!in) {
    rc = gerr_set(&e, GERR_INTERNAL, "out of memory");
  } else {
    in->fd = fds[0];
    rc = read_frames(in, t, &e);
    silent = in->silent;
  }
  free(in);
  close(fds[0]);
  int status = 0;
  kill(pid, SIGKILL); /* done with it, whatever it is doing */
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (rc == -1 && strcmp(e.msg, BROKEN) == 0) {
    if (silent)
      gerr_set(&e, GERR_INVALID_INPUT,
               "refused: reading the XLS file stalled for more than the limit "
               "of %d seconds",
               XLS_CHILD_IDLE_SECONDS);
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
      gerr_set(&e, GERR_INVALID_INPUT,
               "refused: the XLS file takes more than the limit of %d seconds "
               "of processor time to read",
               XLS_CHILD_CPU_SECONDS);
  }
  if (rc == -1 && err)
    *err = e;
  return rc;
}

int xlsrec_read(const char *path, const struct sale_rules *rules,
                const struct tab_limits *lim, tab_row_fn fn, void *ctx,
                size_t *rows, struct gerr *err) {
  struct tab_rows t;
  tab_rows_init(&t, rules, lim, fn, ctx);
  int rc = precheck(path, &t.lim, err);
  if (rc == 0)
    rc = read_in_child(path, &t, err);
  if (rc == 0)
    rc = tab_rows_finish(&t, "sheet", err);
  if (rows)
    *rows = t.rows;
  tab_rows_release(&t);
  return rc;
}
