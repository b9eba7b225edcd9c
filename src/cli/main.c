/* gromo: the one executable. Subcommands are rows of a table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "gromo/app.h"

static const struct cli_command commands[] = {
    {"serve", cmd_serve, "run the HTTP API server"},
    {"generate", cmd_generate, "generate realistic sample sales into the store"},
    {"import", cmd_import, "import sales from CSV, XLSX, XLS, JSON or NDJSON files"},
    {"sales", cmd_sales, "query stored sales"},
    {"export", cmd_export, "export sales as CSV, NDJSON, JSON or XLSX"},
    {"train", cmd_train, "train the demand models on the stored sales"},
    {"models", cmd_models, "list trained model versions, roll back to one"},
    {"predict", cmd_predict, "predict demand, demand rise or the top product"},
    {"regions", cmd_regions, "the regions of the serving models, or one of them"},
    {"keys", cmd_keys, "create, list and revoke API keys"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: gromo COMMAND [OPTIONS]\n\n"
          "Demand analytics for fintech distribution in India.\n\n"
          "Commands:\n");
  for (const struct cli_command *c = commands; c->name; c++)
    fprintf(f, "  %-10s %s\n", c->name, c->summary);
  fprintf(f,
          "\nEvery command answers --help. Settings come from flags or the\n"
          "environment (GROMO_DB, GROMO_PORT, ...); flags win.\n"
          "  gromo --version   print the version\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    if (argc > 2 && strcmp(name, "help") == 0) {
      for (const struct cli_command *c = commands; c->name; c++)
        if (!strcmp(c->name, argv[2])) {
          char *args[] = {argv[2], "--help", NULL};
          return c->run(2, args);
        }
    }
    usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "version")) {
    printf("gromo %s (build %s)\n", GROMO_API_VERSION, GROMO_BUILD);
    return EXIT_OK;
  }
  for (const struct cli_command *c = commands; c->name; c++)
    if (!strcmp(c->name, name))
      return c->run(argc - 1, argv + 1);
  fprintf(stderr, "gromo: unknown command '%s'\n\n", name);
  usage(stderr);
  return EXIT_USAGE;
}
