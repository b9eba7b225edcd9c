/* gromo export: stored sales to a file or standard output, as CSV, NDJSON,
 * a JSON array or XLSX. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gromo/export.h"
#include "gromo/gazetteer.h"
#include "gromo/salesquery.h"
#include "gromo/store.h"

static const char export_help[] =
    "usage: gromo export [OPTIONS]\n\n"
    "Writes stored sales, ordered by date, as CSV (default), NDJSON, a JSON\n"
    "array or XLSX. `gromo import` reads every one of them back into the same\n"
    "records.\n\n"
    "  -f, --format F      csv, ndjson, json or xlsx\n"
    "  -o, --out FILE      write here (required for xlsx; default: standard output)\n"
    "  -d, --db URI        store (env GROMO_DB, default gromo.db)\n"
    "      --pincode P, --product X, --channel C, --from DATE, --to DATE\n"
    "                      only matching sales (as gromo sales)\n"
    "  -n, --limit N       at most N rows (default: all)\n"
    "  -q, --quiet         no progress or summary\n"
    "  -h, --help          this help\n";

int cmd_export(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  const char *format = "csv", *out_path = NULL;
  struct sales_query_text t = {0};
  int quiet = 0;
  enum { O_PIN = 256, O_PROD, O_CHAN, O_FROM, O_TO };
  static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                       {"out", required_argument, 0, 'o'},
                                       {"db", required_argument, 0, 'd'},
                                       {"pincode", required_argument, 0, O_PIN},
                                       {"product", required_argument, 0, O_PROD},
                                       {"channel", required_argument, 0, O_CHAN},
                                       {"from", required_argument, 0, O_FROM},
                                       {"to", required_argument, 0, O_TO},
                                       {"limit", required_argument, 0, 'n'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "f:o:d:n:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'f': format = optarg; break;
    case 'o': out_path = optarg; break;
    case 'd': db = optarg; break;
    case O_PIN: t.pincode = optarg; break;
    case O_PROD: t.product = optarg; break;
    case O_CHAN: t.channel = optarg; break;
    case O_FROM: t.from = optarg; break;
    case O_TO: t.to = optarg; break;
    case 'n': t.limit = optarg; break;
    case 'q': quiet = 1; break;
    case 'h': fputs(export_help, stdout); return EXIT_OK;
    default: return cli_usage_error("export", "unknown option");
    }
  }
  if (optind < argc)
    return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
  enum export_format fmt;
  if (export_format_parse(format, &fmt) < 0)
    return cli_usage_error("export", "format must be csv, ndjson, json or xlsx");
  if (fmt == EXPORT_XLSX && !out_path)
    return cli_usage_error("export", "xlsx needs --out FILE");
  struct sales_filter f;
  char why[200];
  if (sales_filter_parse(&t, (size_t)1 << 40, &f, why, sizeof why) < 0)
    return cli_usage_error("export", "%s", why);
  if (!t.limit)
    f.limit = 0;

  struct gerr err;
  struct store *st = NULL;
  struct gaz *gaz = NULL;
  FILE *out = NULL;
  struct buf page;
  buf_init(&page, (size_t)1 << 26);
  int rc = EXIT_FAIL;
  size_t rows = 0;
  if (cli_store_open(db, &st, &err) < 0 || gaz_load_default(&gaz, &err) < 0) {
    rc = cli_fail("export", "%s", err.msg);
    goto out;
  }
  if (fmt == EXPORT_XLSX) {
    if (export_xlsx(st, &f, gaz, out_path, &rows, &err) < 0) {
      rc = cli_fail("export", "%s", err.msg);
      goto out;
    }
  } else {
    out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
      rc = cli_fail("export", "cannot write %s", out_path);
      goto out;
    }
    struct export_cursor cur;
    export_cursor_init(&cur, fmt, &f, gaz);
    while (!cur.done) {
      buf_reset(&page);
      if (export_next_page(&cur, st, 5000, &page, &err) < 0) {
        rc = cli_fail("export", "%s", err.msg);
        goto out;
      }
      if (page.len && fwrite(page.data, 1, page.len, out) != page.len) {
        rc = cli_fail("export", "writing failed");
        goto out;
      }
    }
    rows = cur.rows;
    if (fflush(out) != 0) {
      rc = cli_fail("export", "writing failed");
      goto out;
    }
  }
  if (!quiet)
    fprintf(stderr, "exported %zu records as %s\n", rows, export_extension(fmt));
  rc = EXIT_OK;
out:
  if (out && out != stdout)
    fclose(out);
  buf_release(&page);
  gaz_free(gaz);
  store_close(st);
  return rc;
}
