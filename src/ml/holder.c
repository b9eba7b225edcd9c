/* The holder of the serving suite (model_holder in include/gromo/models.h):
 * readers take a reference, a swap never frees a suite still read. */
#include <pthread.h>
#include <stdlib.h>

#include "ml/ml_int.h"

struct model_holder {
  pthread_mutex_t mu;
  struct suite *cur;
  /* references by suite; a suite no longer current is freed at zero */
  struct ref {
    struct suite *s;
    long n;
  } refs[16];
};

int model_holder_new(struct model_holder **out) {
  struct model_holder *h = calloc(1, sizeof *h);
  if (!h || pthread_mutex_init(&h->mu, NULL) != 0) {
    free(h);
    return -1;
  }
  *out = h;
  return 0;
}

static struct ref *ref_of(struct model_holder *h, const struct suite *s, int add) {
  struct ref *free_slot = NULL;
  for (size_t i = 0; i < sizeof h->refs / sizeof *h->refs; i++) {
    if (h->refs[i].s == s)
      return &h->refs[i];
    if (!h->refs[i].s && !free_slot)
      free_slot = &h->refs[i];
  }
  if (add && free_slot) {
    free_slot->s = (struct suite *)s;
    free_slot->n = 0;
  }
  return add ? free_slot : NULL;
}

const struct suite *model_holder_get(struct model_holder *h) {
  pthread_mutex_lock(&h->mu);
  struct suite *s = h->cur;
  struct ref *r = s ? ref_of(h, s, 0) : NULL;
  if (r)
    r->n++;
  pthread_mutex_unlock(&h->mu);
  return s;
}

void model_holder_put(struct model_holder *h, const struct suite *s) {
  if (!s)
    return;
  struct suite *dead = NULL;
  pthread_mutex_lock(&h->mu);
  struct ref *r = ref_of(h, s, 0);
  if (r && --r->n == 0 && r->s != h->cur) {
    dead = r->s;
    r->s = NULL;
  }
  pthread_mutex_unlock(&h->mu);
  suite_free(dead);
}

void model_holder_swap(struct model_holder *h, struct suite *s) {
  struct suite *dead = NULL;
  pthread_mutex_lock(&h->mu);
  struct suite *old = h->cur;
  struct ref *r = s ? ref_of(h, s, 1) : NULL;
  if (s && !r) { /* every slot holds a suite still read: keep the old one */
    pthread_mutex_unlock(&h->mu);
    suite_free(s);
    return;
  }
  h->cur = s;
  if (r)
    r->n++; /* the holder's own reference */
  struct ref *o = old ? ref_of(h, old, 0) : NULL;
  if (o && --o->n == 0) {
    dead = o->s;
    o->s = NULL;
  }
  pthread_mutex_unlock(&h->mu);
  suite_free(dead);
}

void model_holder_free(struct model_holder *h) {
  if (!h)
    return;
  model_holder_swap(h, NULL);
  pthread_mutex_destroy(&h->mu);
  free(h);
}
