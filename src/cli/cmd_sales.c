/* gromo sales: query stored sales, as NDJSON or a table. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gromo/gazetteer.h"
#include "gromo/salesquery.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

static const char sales_help[] =
    "usage: gromo sales [OPTIONS]\n\n"
    "Prints stored sales ordered by date, one JSON object a line (ndjson) or\n"
    "as a table. When more rows match than --limit, the cursor for the next\n"
    "page is printed on stderr.\n\n"
    "  -d, --db URI        store (env GROMO_DB, default gromo.db)\n"
    "      --pincode P     only this pincode\n"
    "      --product X     only this product\n"
    "      --channel C     only this channel\n"
    "      --from DATE     on or after (YYYY-MM-DD or a timestamp)\n"
    "      --to DATE       on or before (a bare date includes the whole day)\n"
    "  -n, --limit N       at most N rows (default 100, at most 1,000,000)\n"
    "      --cursor C      continue after a previous page\n"
    "  -f, --format F      ndjson (default) or table\n"
    "      --count         print only the number of stored sales\n"
    "  -h, --help          this help\n";

struct out_ctx {
  const struct gaz *gaz;
  int table;
  size_t limit, count;
  int more;
  int64_t last_ts, last_seq;
  struct buf line;
};

static int print_row(void *ctx, const struct sale *s, int64_t seq) {
  struct out_ctx *o = ctx;
  if (o->count == o->limit) {
    o->more = 1;
    return 1;
  }
  const struct gaz_entry *ge = o->gaz ? gaz_find(o->gaz, s->pincode) : NULL;
  const char *city = s->city[0] ? s->city : ge ? ge->district : "";
  if (o->table) {
    char date[24];
    ist_format(s->ts_ms, date);
    printf("%-23s %06d %-18.18s %-12s %-8s %3d %12.2f %s\n", date, s->pincode,
           city, s->product, s->channel, s->customer_age, s->customer_income,
           s->id);
  } else {
    buf_reset(&o->line);
    if (sale_to_json_buf(s, ge ? ge->district : NULL, &o->line) < 0)
      return 1;
    fwrite(o->line.data, 1, o->line.len, stdout);
    fputc('\n', stdout);
  }
  o->count++;
  o->last_ts = s->ts_ms;
  o->last_seq = seq;
  return 0;
}

int cmd_sales(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  const char *format = "ndjson";
  struct sales_query_text t = {0};
  int count_only = 0;
  enum { O_PIN = 256, O_PROD, O_CHAN, O_FROM, O_TO, O_CURSOR, O_COUNT };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"pincode", required_argument, 0, O_PIN},
                                       {"product", required_argument, 0, O_PROD},
                                       {"channel", required_argument, 0, O_CHAN},
                                       {"from", required_argument, 0, O_FROM},
                                       {"to", required_argument, 0, O_TO},
                                       {"limit", required_argument, 0, 'n'},
                                       {"cursor", required_argument, 0, O_CURSOR},
                                       {"format", required_argument, 0, 'f'},
                                       {"count", no_argument, 0, O_COUNT},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:n:f:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case O_PIN: t.pincode = optarg; break;
    case O_PROD: t.product = optarg; break;
    case O_CHAN: t.channel = optarg; break;
    case O_FROM: t.from = optarg; break;
    case O_TO: t.to = optarg; break;
    case 'n': t.limit = optarg; break;
    case O_CURSOR: t.cursor = optarg; break;
    case 'f': format = optarg; break;
    case O_COUNT: count_only = 1; break;
    case 'h': fputs(sales_help, stdout); return EXIT_OK;
    default: return cli_usage_error("sales", "unknown option");
    }
  }
  if (optind < argc)
    return cli_usage_error("sales", "unexpected argument '%s'", argv[optind]);
  if (strcmp(format, "ndjson") != 0 && strcmp(format, "table") != 0)
    return cli_usage_error("sales", "format must be ndjson or table");
  struct sales_filter f;
  char why[200];
  if (sales_filter_parse(&t, 1000000, &f, why, sizeof why) < 0)
    return cli_usage_error("sales", "%s", why);

  struct gerr err;
  struct gaz *gaz = NULL;
  struct store *st = NULL;
  int rc = EXIT_FAIL;
  struct out_ctx o = {.table = strcmp(format, "table") == 0, .limit = f.limit};
  buf_init(&o.line, 1 << 20);
  if (cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("sales", "%s", err.msg);
    goto out;
  }
  if (count_only) {
    int64_t n;
    if (store_sales_count(st, &n, &err) < 0) {
      rc = cli_fail("sales", "%s", err.msg);
      goto out;
    }
    printf("%lld\n", (long long)n);
    rc = EXIT_OK;
    goto out;
  }
  if (gaz_load_default(&gaz, &err) < 0) {
    rc = cli_fail("sales", "%s", err.msg);
    goto out;
  }
  o.gaz = gaz;
  f.limit = o.limit + 1;
  if (store_sales_query(st, &f, print_row, &o, &err) < 0) {
    rc = cli_fail("sales", "%s", err.msg);
    goto out;
  }
  if (o.more) {
    char cursor[48];
    sales_cursor_format(o.last_ts, o.last_seq, cursor);
    fprintf(stderr, "more rows: --cursor %s\n", cursor);
  }
  rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
  buf_release(&o.line);
  store_close(st);
  gaz_free(gaz);
  return rc;
}
