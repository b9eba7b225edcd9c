/* Readers of sales files. Each reader turns its format into validated
 * struct sale records, one at a time, naming the row of each. */
#ifndef GROMO_INGEST_H
#define GROMO_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"
#include "gromo/record.h"

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

/* Streaming reader of a JSON array of records (or one record object), fed
 * in chunks of any size (src/ingest/jsonrec.c): uploads, POST /sales/add and
 * gromo import read JSON records through it. Each record, valid or not,
 * goes to the callback as soon as its object closes; a non-zero return
 * stops the reading. A UTF-8 byte order mark before the JSON is skipped. */
typedef int (*jsonrec_fn)(void *ctx, size_t index, const struct sale *rec,
                          int valid, const struct sale_problems *pr);
struct jsonrec; /* opaque */
/* The longest record by default: from the end of the record before (or the
 * start of the input) to its own end, white space included. A longer one ends the
 * reading, as soon as a piece ends past the bound, so that memory stays
 * bounded by it whatever the input. */
#define INGEST_JSON_RECORD_MAX ((size_t)64 << 20)
/* rules is borrowed. 0, or -1 when out of memory. */
int jsonrec_new(const struct sale_rules *rules, jsonrec_fn fn, void *ctx,
                struct jsonrec **out) GROMO_WUR;
/* Another bound than INGEST_JSON_RECORD_MAX (0: none); before any feed. */
void jsonrec_set_max_record(struct jsonrec *j, size_t max);
/* 0; -1 on malformed JSON, a body that is not records or a record past the
 * bound (*err, GERR_INVALID_INPUT); -2 when the callback stopped the
 * reading. */
int jsonrec_feed(struct jsonrec *j, const char *p, size_t n, struct gerr *err);
/* Call after the last chunk: -1 when the input ended early or was empty. */
int jsonrec_finish(struct jsonrec *j, struct gerr *err);
size_t jsonrec_count(const struct jsonrec *j);
/* 1 when the top level was one object rather than an array. */
int jsonrec_single(const struct jsonrec *j);
/* In the callback: the 1-based line where the record handed over begins
 * (its '{'). */
size_t jsonrec_record_line(const struct jsonrec *j);
/* The 1-based line the reading has reached; after a failure, the line of
 * the failure (for messages: jsonrec's own do not name it). */
size_t jsonrec_line(struct jsonrec *j);
void jsonrec_free(struct jsonrec *j);

/* ---- NDJSON, fed in chunks of any size (src/ingest/json.c) -------------
 * One record a line; blank lines (spaces, tabs, a '\r') are skipped but
 * counted, and a UTF-8 byte order mark may open the first. A line that is
 * not JSON, or too long, is a rejected record (field "record"), never the
 * end of the reading: the callback's `index` argument is the record's
 * 1-based line number. POST /sales/upload and gromo import both read
 * NDJSON through it. */
/* The longest line read as a record; a longer one is rejected as a record
 * without being kept whole. */
#define INGEST_NDJSON_LINE_MAX (1 << 20)
struct ndjsonrec; /* opaque */
/* rules is borrowed. 0, or -1 when out of memory. */
int ndjsonrec_new(const struct sale_rules *rules, jsonrec_fn fn, void *ctx,
                  struct ndjsonrec **out) GROMO_WUR;
/* 0; -1 when out of memory (*err); -2 when the callback stopped the reading
 * (every later call returns it too). */
int ndjsonrec_feed(struct ndjsonrec *r, const char *p, size_t n, struct gerr *err);
/* After the last chunk: the last line, when it has no '\n'. 0 or -2. */
int ndjsonrec_finish(struct ndjsonrec *r, struct gerr *err);
/* Records handed to the callback so far (blank lines are none). */
size_t ndjsonrec_count(const struct ndjsonrec *r);
void ndjsonrec_free(struct ndjsonrec *r); /* NULL allowed */

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
