/* gromo generate N: realistic sample sales into the store. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gromo/gazetteer.h"
#include "gromo/parse.h"
#include "gromo/sample.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

static const char generate_help[] =
    "usage: gromo generate N [OPTIONS]\n\n"
    "Generates N (1-1,000,000) realistic sales records from real pincodes over\n"
    "the 24 months ending on the end date and inserts them in one transaction.\n"
    "The same seed and end date give the same records.\n\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "  -s, --seed S      random seed, 0 to 2^53-1 (default: random, printed)\n"
    "      --end DATE    last day of the data, YYYY-MM-DD, not after today\n"
    "                    (default: up to now, IST)\n"
    "  -q, --quiet       no progress bar or summary\n"
    "  -h, --help        this help\n";

static void on_progress(void *ctx, size_t done, size_t total) {
  progress_update(ctx, done, 0);
  (void)total;
}

int cmd_generate(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  const char *seed_s = NULL, *end_s = NULL;
  int quiet = 0;
  enum { O_END = 256 };
  static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                       {"seed", required_argument, 0, 's'},
                                       {"end", required_argument, 0, O_END},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:s:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 's': seed_s = optarg; break;
    case O_END: end_s = optarg; break;
    case 'q': quiet = 1; break;
    case 'h': fputs(generate_help, stdout); return EXIT_OK;
    default: return cli_usage_error("generate", "unknown option");
    }
  }
  if (optind + 1 != argc)
    return cli_usage_error("generate", "give exactly one count N");
  long long count;
  if (parse_int_range(argv[optind], 1, SAMPLE_MAX, &count) < 0)
    return cli_usage_error("generate", "N must be an integer from 1 to %d", SAMPLE_MAX);
  uint64_t seed = sample_random_seed();
  if (seed_s) {
    long long s;
    if (parse_int_range(seed_s, 0, (1LL << 53) - 1, &s) < 0)
      return cli_usage_error("generate", "seed must be an integer from 0 to 2^53-1");
    seed = (uint64_t)s;
  }
  int64_t now_ms = now_ist_ms(), end_ms = now_ms;
  if (end_s && sample_end_parse(end_s, now_ms, &end_ms) < 0)
    return cli_usage_error("generate",
                           "--end must be a date YYYY-MM-DD from 2000-01-01 to today (IST)");

  struct gerr err;
  struct gaz *gaz = NULL;
  struct store *st = NULL;
  int rc = EXIT_FAIL;
  if (gaz_load_default(&gaz, &err) < 0 || cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("generate", "%s", err.msg);
    goto out;
  }
  struct progress pb;
  progress_start(&pb, "generate", (size_t)count);
  if (quiet)
    pb.enabled = 0;
  int64_t t0 = mono_us();
  size_t inserted = 0;
  if (sample_insert(st, gaz, (size_t)count, seed, end_ms, NULL, 0, on_progress,
                    &pb, &inserted, &err) < 0) {
    progress_finish(&pb);
    rc = cli_fail("generate", "%s (nothing was stored)", err.msg);
    goto out;
  }
  progress_finish(&pb);
  double secs = (double)(mono_us() - t0) / 1e6;
  if (!quiet)
    fprintf(stderr, "generated and inserted %zu records (seed %llu) in %.2f s\n",
            inserted, (unsigned long long)seed, secs);
  rc = EXIT_OK;
out:
  store_close(st);
  gaz_free(gaz);
  return rc;
}
