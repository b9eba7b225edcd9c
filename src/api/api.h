/* Handlers, one file per resource. Each is called by the router after the
 * route's checks passed; each fills struct resp and returns 0, or returns
 * resp_error(...). */
#ifndef GROMO_API_H
#define GROMO_API_H

#include "gromo/http.h"

int api_health(struct req *rq, struct resp *rs);        /* health.c */
int api_version(struct req *rq, struct resp *rs);       /* health.c */
int api_sales_add(struct req *rq, struct resp *rs);     /* sales.c */
int api_sales_list(struct req *rq, struct resp *rs);    /* sales.c */
int api_sample_generate(struct req *rq, struct resp *rs); /* sample.c */
int api_metrics(struct req *rq, struct resp *rs);       /* ops.c */
int api_stats(struct req *rq, struct resp *rs);         /* ops.c */
extern const struct stream_ops api_upload_ops;         /* upload.c */

/* Helpers shared by handlers (params.c). */
/* Parses a decimal integer in [lo, hi]; 0 or -1. */
int param_int(const char *s, long long lo, long long hi, long long *out);
/* "true"/"1"/"yes" → 1, "false"/"0"/"no" → 0, absent → def; -1 if invalid. */
int param_bool(const char *s, int def);

#endif
