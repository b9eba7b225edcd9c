/* Handlers, one file per resource. Each is called by the router after the
 * route's checks passed; each fills struct resp and returns 0, or returns
 * resp_error(...). */
#ifndef GROMO_API_H
#define GROMO_API_H

#include "gromo/http.h"
#include "gromo/models.h"

int api_health(struct req *rq, struct resp *rs);        /* health.c */
int api_version(struct req *rq, struct resp *rs);       /* health.c */
int api_sales_list(struct req *rq, struct resp *rs);    /* sales.c */
int api_sample_generate(struct req *rq, struct resp *rs); /* sample.c */
int api_metrics(struct req *rq, struct resp *rs);       /* ops.c */
int api_stats(struct req *rq, struct resp *rs);         /* ops.c */
int api_models(struct req *rq, struct resp *rs);              /* models.c */
int api_models_train(struct req *rq, struct resp *rs);        /* models.c */
int api_models_train_job(struct req *rq, struct resp *rs);    /* models.c */
int api_models_rollback(struct req *rq, struct resp *rs);     /* models.c */
int api_models_promote(struct req *rq, struct resp *rs);      /* models.c */
int api_models_accuracy(struct req *rq, struct resp *rs);     /* models.c */
int api_whoami(struct req *rq, struct resp *rs);              /* whoami.c */
int api_regions(struct req *rq, struct resp *rs);             /* regions.c */
int api_region(struct req *rq, struct resp *rs);              /* regions.c */
int api_insights_pincodes(struct req *rq, struct resp *rs);  /* insights.c */
int api_insights_regions(struct req *rq, struct resp *rs);   /* insights.c */
int api_sales_summary(struct req *rq, struct resp *rs);      /* summary.c */
int api_openapi(struct req *rq, struct resp *rs);            /* web.c */
int api_docs(struct req *rq, struct resp *rs);               /* web.c */
int api_docs_file(struct req *rq, struct resp *rs);          /* web.c */
int api_web_index(struct req *rq, struct resp *rs);          /* web.c */
int api_web_asset(struct req *rq, struct resp *rs);          /* web.c */
/* Routes that read their body as it arrives. */
extern const struct stream_ops api_upload_ops;         /* upload.c */
extern const struct stream_ops api_sales_add_ops;      /* sales.c */
extern const struct stream_ops api_predict_demand_ops; /* predict.c */
extern const struct stream_ops api_predict_rise_ops;   /* predict.c */
extern const struct stream_ops api_predict_top_ops;    /* predict.c */

/* web.c: 1 when name may be served from a web folder (one segment of
 * [A-Za-z0-9._-], no leading dot, at most 128 bytes); the media type of
 * a file name, and whether it is worth compressing. */
int web_name_ok(const char *name);
const char *web_media_type(const char *name, int *compressible);

/* Helpers shared by handlers (params.c). */
/* Parses a decimal integer in [lo, hi]; 0 or -1. */
int param_int(const char *s, long long lo, long long hi, long long *out);
/* 0 when the request's content type is JSON (or absent), else -1 after
 * a 415 answer. */
int api_json_content_type(struct req *rq, struct resp *rs);
/* "true"/"1"/"yes" → 1, "false"/"0"/"no" → 0, absent → def; -1 if invalid. */
int param_bool(const char *s, int def);

#endif
