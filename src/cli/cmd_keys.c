/* gromo keys create|list|revoke: API keys, stored hashed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gromo/keys.h"
#include "gromo/log.h"
#include "gromo/store.h"

static const char keys_help[] =
    "usage: gromo keys create --role ROLE --name NAME [--db URI]\n"
    "       gromo keys list [--db URI]\n"
    "       gromo keys revoke NAME|ID [--db URI]\n\n"
    "API keys for the HTTP API. Roles nest: admin > analyst > viewer.\n"
    "create prints the new key once, alone on the last line of standard\n"
    "output; only a keyed hash of it is stored, so it cannot be shown again.\n"
    "list shows names, roles and the keys' first characters, never a key.\n"
    "revoke refuses the key at once, also in a running server.\n\n"
    "  -r, --role ROLE   viewer, analyst or admin (create)\n"
    "  -n, --name NAME   1-64 letters, digits, _ . @ - (create)\n"
    "  -d, --db URI      store (env GROMO_DB, default gromo.db)\n"
    "  -h, --help        this help\n";

/* Every key change is audited to standard error as a JSON log line. */
static void audit(const char *action, const char *name, const char *role) {
  char line[256];
  int n = snprintf(line, sizeof line, "\"action\":\"%s\",\"key\":\"%s\",\"role\":\"%s\"",
                   action, name, role);
  if (n > 0 && (size_t)n < sizeof line)
    log_fields(LOG_INFO, "audit", line, (size_t)n);
}

/* The active key a revocation names: by id or by name, as store_key_revoke
 * matches (store_key_id_of). */
struct key_find {
  const char *name;
  struct key_row row;
  int found;
};

static int find_active(void *ctx, const struct key_row *k) {
  struct key_find *f = ctx;
  const char *n = f->name;
  int64_t id;
  int by_id = store_key_id_of(n, &id);
  if (k->revoked_at[0] || (by_id ? k->id != id : strcmp(k->name, n) != 0))
    return 0;
  f->row = *k;
  f->found = 1;
  return 1;
}

/* Revokes the key and reads its name and role first, in one transaction:
 * 0 done (*row: the key), 1 no such active key, -1 error. */
static int revoke(struct store *st, const char *name, struct key_row *row,
                  struct gerr *err) {
  struct key_find f = {.name = name};
  if (store_begin(st, err) < 0)
    return -1;
  int rc = store_key_scan(st, NULL, find_active, &f, err) < 0 ? -1
           : !f.found                                         ? 1
                                                              : store_key_revoke(st, name, err);
  if (rc == 0 && store_commit(st, err) < 0)
    return -1;
  store_rollback(st);
  *row = f.row;
  return rc;
}

static int print_key(void *ctx, const struct key_row *k) {
  int *n = ctx;
  if ((*n)++ == 0)
    printf("%-6s %-24s %-8s %-16s %-21s %s\n", "ID", "NAME", "ROLE", "STARTS WITH",
           "CREATED", "REVOKED");
  printf("%-6lld %-24s %-8s %-16s %-21s %s\n", (long long)k->id, k->name, k->role,
         k->prefix, k->created_at, k->revoked_at[0] ? k->revoked_at : "-");
  return 0;
}

int cmd_keys(int argc, char **argv) {
  const char *db = cli_env("GROMO_DB", "gromo.db");
  const char *role_s = NULL, *name = NULL;
  static const struct option opts[] = {{"role", required_argument, 0, 'r'},
                                       {"name", required_argument, 0, 'n'},
                                       {"db", required_argument, 0, 'd'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "r:n:d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'r': role_s = optarg; break;
    case 'n': name = optarg; break;
    case 'd': db = optarg; break;
    case 'h': fputs(keys_help, stdout); return EXIT_OK;
    default: return cli_usage_error("keys", "unknown option");
    }
  }
  if (optind >= argc)
    return cli_usage_error("keys", "say create, list or revoke");
  const char *verb = argv[optind++];
  enum role role = ROLE_VIEWER;
  if (!strcmp(verb, "create")) {
    if (!role_s || !name || optind != argc)
      return cli_usage_error("keys", "create needs --role and --name");
    if (role_parse(role_s, 0, &role) < 0)
      return cli_usage_error("keys", "role must be viewer, analyst or admin");
  } else if (!strcmp(verb, "revoke")) {
    if (optind + 1 != argc)
      return cli_usage_error("keys", "revoke takes one NAME or ID");
  } else if (strcmp(verb, "list") != 0 || optind != argc) {
    return cli_usage_error("keys", "unknown keys command '%s'", verb);
  }

  struct gerr err;
  struct store *st = NULL;
  int rc = EXIT_FAIL;
  if (cli_store_open(db, &st, &err) < 0) {
    rc = cli_fail("keys", "%s", err.msg);
    goto out;
  }
  if (!strcmp(verb, "create")) {
    unsigned char secret[KEY_SECRET_LEN];
    char key[KEY_TEXT_LEN + 1];
    struct key_row row;
    if (keys_secret(st, secret, &err) < 0 ||
        keys_create(st, secret, name, role, key, &row, &err) < 0) {
      rc = err.code == GERR_INVALID_INPUT ? cli_usage_error("keys", "%s", err.msg)
                                          : cli_fail("keys", "%s", err.msg);
      goto out;
    }
    audit("key_created", row.name, row.role);
    printf("created key %lld '%s' with the %s role; it is shown only now:\n%s\n",
           (long long)row.id, row.name, row.role, key);
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
  } else if (!strcmp(verb, "list")) {
    int n = 0;
    if (store_key_scan(st, NULL, print_key, &n, &err) < 0) {
      rc = cli_fail("keys", "%s", err.msg);
      goto out;
    }
    if (n == 0)
      printf("no keys yet: gromo keys create --role admin --name NAME\n");
    rc = EXIT_OK;
  } else {
    struct key_row row;
    int r = revoke(st, argv[optind], &row, &err);
    if (r < 0) {
      rc = cli_fail("keys", "%s", err.msg);
    } else if (r == 1) {
      rc = cli_fail("keys", "no active key named or numbered '%s'", argv[optind]);
    } else {
      audit("key_revoked", row.name, row.role);
      printf("revoked '%s'\n", argv[optind]);
      rc = EXIT_OK;
    }
  }
out:
  store_close(st);
  return rc;
}
