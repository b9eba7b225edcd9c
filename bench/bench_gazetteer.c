/* The embedded gazetteer: its load at start (cold, then warm) and
 * gaz_nearest for k = 200 around a pincode it holds and one it does not.
 *   bench_gazetteer [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>

#include "gromo/gazetteer.h"
#include "gromo/timeutil.h"

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 100;
  if (rounds < 1)
    rounds = 100;
  struct gerr err;
  struct gaz *gz = NULL, *again = NULL;
  int64_t t0 = mono_us();
  if (gaz_load_default(&gz, &err) < 0) {
    fprintf(stderr, "bench_gazetteer: %s\n", err.msg);
    return 1;
  }
  int64_t t1 = mono_us();
  if (gaz_load_default(&again, &err) < 0) {
    fprintf(stderr, "bench_gazetteer: %s\n", err.msg);
    gaz_free(gz);
    return 1;
  }
  int64_t t2 = mono_us();
  gaz_free(again);
  printf("gazetteer: %zu pincodes loaded in %.2f ms (cold %.2f ms)\n", gaz_count(gz),
         (double)(t2 - t1) / 1000.0, (double)(t1 - t0) / 1000.0);
  static const struct {
    const char *what;
    int32_t pin;
  } at[] = {{"known", 560001}, {"unknown", 400090}};
  struct gaz_near out[200];
  for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
    int64_t a = mono_us();
    for (int i = 0; i < rounds; i++)
      if (gaz_nearest(gz, at[k].pin, NULL, NULL, 200, out) != 200) {
        fprintf(stderr, "bench_gazetteer: gaz_nearest(%d) found fewer than 200\n",
                (int)at[k].pin);
        gaz_free(gz);
        return 1;
      }
    printf("gaz_nearest k=200, %s pincode %d: %.3f ms\n", at[k].what, (int)at[k].pin,
           (double)(mono_us() - a) / 1000.0 / rounds);
  }
  gaz_free(gz);
  return 0;
}
