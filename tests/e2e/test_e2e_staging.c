/* End-to-end: uploads staged before they touch the store, the spool of
 * upload files, gromo import's checks of its files, and the lock waits
 * that keep a key revocation from being starved. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"

/* The server of the running test, stopped by its teardown also when the
 * test fails. */
static struct srv S;

static void start(const char *const *extra) {
  assert_int_equal(srv_start(&S, extra), 0);
}

static int stop(void **state) {
  if (S.pid > 0 && srv_stop(&S) != 0)
    return -1;
  memset(&S, 0, sizeof S);
  return 0;
}

/* ---- gromo keys revoke ---------------------------------------------------- */

/* The audit line of a revocation names the revoked key's role. */
static void test_staging__revoke_audit_names_the_role(void **state) {
  start(NULL);
  char key[128], err[4096];
  assert_int_equal(make_key(&S, "analyst", "audited", key, sizeof key), 0);
  const char *const rv[] = {"keys", "revoke", "audited", "--db", S.db, NULL};
  assert_int_equal(run_cli(rv, NULL, 0, err, sizeof err), 0);
  if (!strstr(err, "\"action\":\"key_revoked\",\"key\":\"audited\",\"role\":\"analyst\""))
    fail_msg("the audit line does not name the role: %s", err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_staging__revoke_audit_names_the_role, stop),
  };
  return cmocka_run_group_tests_name("e2e_staging", tests, NULL, NULL);
}
