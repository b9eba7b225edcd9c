/* Readers of sales files. Each reader turns its format into validated
 * struct sale records, one at a time, naming the row of each. */
#ifndef GROMO_INGEST_H
#define GROMO_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"
#include "gromo/record.h"

enum ingest_format { INGEST_UNKNOWN = 0, INGEST_JSON_ARRAY, INGEST_NDJSON };

const char *ingest_format_name(enum ingest_format f);
/* From the file name's extension, then the first bytes. */
enum ingest_format ingest_detect(const char *name, const char *head, size_t n);

/* ---- Which format (src/ingest/detect.c) ------------------------------
 * The formats of a sales file, as gromo import and POST /sales/upload
 * decide them: a known media type says, else the file name's extension
 * (.csv .tsv .txt .json .ndjson .jsonl .xlsx .xls, any case), else the
 * first bytes (the zip signature: XLSX; the OLE2 signature: XLS; '[' or '{'
 * after a BOM and blanks: a JSON array or NDJSON; anything else: CSV). */
enum ingest_file { FILE_UNKNOWN = 0, FILE_CSV, FILE_JSON, FILE_NDJSON, FILE_XLSX, FILE_XLS };

/* "csv", "json", "ndjson", "xlsx", "xls" ("unknown"). */
const char *ingest_file_name(enum ingest_file f);
/* From a media type ("text/csv; charset=utf-8"); FILE_UNKNOWN when type is
 * NULL or none of the above (application/octet-stream says nothing). */
enum ingest_file ingest_file_of_type(const char *type);
/* From a file name's extension; FILE_UNKNOWN when it has none we know. */
enum ingest_file ingest_file_of_name(const char *name);
/* From the first bytes of the file (head[n], n may be 0): never unknown. */
enum ingest_file ingest_file_of_bytes(const char *head, size_t n);
/* The three in turn; type and name may be NULL. Never FILE_UNKNOWN. */
enum ingest_file ingest_file_detect(const char *type, const char *name, const char *head,
                                    size_t n);

/* ---- NDJSON, one line at a time (src/ingest/json.c) -------------------
 * The longest line read as a record; a longer one is rejected as a record
 * without being parsed (ingest_ndjson_too_long). */
#define INGEST_NDJSON_LINE_MAX (1 << 20)

/* One NDJSON line, without its '\n' (p need not be NUL-terminated): blanks
 * and a '\r' around it are ignored. 0 for a blank line (no record); 1 for
 * a record, with *valid set and, when not valid, the problems in *pr
 * (malformed JSON is a problem of the record, naming the column counted
 * from the line's start). The one reading of an NDJSON line: the file
 * reader below and POST /sales/upload both use it. */
int ingest_ndjson_line(const char *p, size_t n, const struct sale_rules *rules,
                       struct sale *out, int *valid, struct sale_problems *pr);
/* The problem of a line longer than INGEST_NDJSON_LINE_MAX, in *pr. */
void ingest_ndjson_too_long(struct sale_problems *pr);

struct ingest_reader; /* opaque */

/* A reader over data[len] (borrowed: must outlive the reader). */
int ingest_json_open(const char *data, size_t len, enum ingest_format fmt,
                     struct ingest_reader **out, struct gerr *err) GROMO_WUR;

/* Reads more input into dst[cap]: the count, 0 at the end, -1 on failure
 * (*err set). */
typedef long (*ingest_read_fn)(void *ctx, char *dst, size_t cap, struct gerr *err);
/* A reader of input read as it goes through fn (a file read in pieces):
 * it keeps a window of about 1 MiB, more for a longer record (a JSON array's
 * element may have 64 MiB; an NDJSON line longer than 1 MiB is rejected as
 * a record without being kept). A failure of fn ends the reading:
 * ingest_next returns -1 with fn's error. */
int ingest_json_open_stream(ingest_read_fn fn, void *ctx, enum ingest_format fmt,
                            struct ingest_reader **out, struct gerr *err) GROMO_WUR;

/* The next record. Returns 1 with *valid set (problems in *pr when not),
 * 0 at the end, -1 when the file cannot be read further (malformed JSON
 * array, ...; *err names the line and column). *row is the 1-based line
 * where the record starts, *index its 0-based position. */
int ingest_next(struct ingest_reader *r, const struct sale_rules *rules,
                struct sale *out, int *valid, struct sale_problems *pr,
                size_t *row, size_t *index, struct gerr *err);
/* Bytes consumed so far (for progress). */
size_t ingest_offset(const struct ingest_reader *r);
void ingest_free(struct ingest_reader *r);

/* Streaming reader of a JSON array of records (or one record object), fed
 * in chunks of any size (src/ingest/jsonrec.c). Each record, valid or not,
 * goes to the callback as soon as its object closes; a non-zero return
 * stops the reading. */
typedef int (*jsonrec_fn)(void *ctx, size_t index, const struct sale *rec,
                          int valid, const struct sale_problems *pr);
struct jsonrec; /* opaque */
/* rules is borrowed. 0, or -1 when out of memory. */
int jsonrec_new(const struct sale_rules *rules, jsonrec_fn fn, void *ctx,
                struct jsonrec **out) GROMO_WUR;
/* 0; -1 on malformed JSON or a body that is not records (*err,
 * GERR_INVALID_INPUT); -2 when the callback stopped the reading. */
int jsonrec_feed(struct jsonrec *j, const char *p, size_t n, struct gerr *err);
/* Call after the last chunk: -1 when the input ended early or was empty. */
int jsonrec_finish(struct jsonrec *j, struct gerr *err);
size_t jsonrec_count(const struct jsonrec *j);
/* 1 when the top level was one object rather than an array. */
int jsonrec_single(const struct jsonrec *j);
void jsonrec_free(struct jsonrec *j);

/* Staged records: validated sales written to a spool file (spool.h) in a
 * compact binary form (about 90 bytes a record where struct sale takes
 * 560), to be stored later in one go (src/ingest/stage.c). An upload stages
 * its records while they arrive and opens its transaction only once the
 * body is complete, so no store lock is held while a client sends. Used by
 * one thread at a time. */
struct sale_stage; /* opaque */
struct spool;
/* sp NULL: the default spool. 0, or -1 (*err) when no file can be made. */
int sale_stage_new(struct spool *sp, struct sale_stage **out, struct gerr *err) GROMO_WUR;
/* 0, or -1 (*err: GERR_INSUFFICIENT_STORAGE when the spool is at its bound
 * or its disk is full). */
int sale_stage_add(struct sale_stage *st, const struct sale *rec, struct gerr *err) GROMO_WUR;
size_t sale_stage_count(const struct sale_stage *st);
uint64_t sale_stage_bytes(const struct sale_stage *st);
/* Hands each staged record, in the order added, to fn; a non-zero return
 * stops (-2). 0, or -1 (*err) when the file cannot be read back. May run
 * more than once; records added after it are not allowed. */
int sale_stage_replay(struct sale_stage *st,
                      int (*fn)(void *ctx, const struct sale *rec), void *ctx,
                      struct gerr *err);
void sale_stage_free(struct sale_stage *st); /* NULL allowed */

/* Stores valid records in batches from a second thread, so that reading a
 * file and storing it overlap: the caller's thread parses while the writer
 * inserts the previous batch (src/ingest/writer.c). From start to finish
 * (or free) the writer alone uses the store; the caller opens and ends the
 * transaction around it. At most three batches are held. */
struct ingest_writer; /* opaque */
struct store;
struct store_insert_stats;
/* batch: records per insert. 0, or -1 when out of memory (*err). */
int ingest_writer_start(struct store *st, size_t batch, struct ingest_writer **out,
                        struct gerr *err) GROMO_WUR;
/* Copies rec into the batch being filled, handing a full batch over. 0;
 * -1 once an insert has failed (*err: the store's error). */
int ingest_writer_add(struct ingest_writer *w, const struct sale *rec,
                      struct gerr *err) GROMO_WUR;
/* Hands the last batch over and waits until every batch is stored; the
 * store is the caller's again. 0 with *stats (may be NULL), or -1 (*err). */
int ingest_writer_finish(struct ingest_writer *w, struct store_insert_stats *stats,
                         struct gerr *err) GROMO_WUR;
/* Without finish: waits for the insert under way and stores nothing more
 * (the caller then rolls back). NULL allowed. */
void ingest_writer_free(struct ingest_writer *w);

#endif
