/* The spool: a folder for the temporary files of uploads (spreadsheets kept
 * whole until they are read, the staged records of every upload) and a
 * bound on the bytes all of them hold at once. Files have no name from the
 * moment they exist (O_TMPFILE, or mkstemp and unlink at once), so a crash,
 * even kill -9, leaves nothing behind. */
#ifndef GROMO_SPOOL_H
#define GROMO_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "gromo/error.h"

#define SPOOL_DEFAULT_MAX (4ull << 30) /* 4 GiB */
/* How long a client refused for want of room is told to wait (Retry-After). */
#define SPOOL_RETRY_AFTER_SECONDS 30

struct spool; /* opaque; shared by threads */

/* dir NULL: $TMPDIR, else /tmp. max: the most bytes all files may hold
 * together, 0 for no bound. Checks that dir is a folder where a file can be
 * made. 0, or -1 (*err, GERR_INVALID_INPUT naming the folder). */
int spool_new(const char *dir, uint64_t max, struct spool **out, struct gerr *err) GROMO_WUR;
void spool_free(struct spool *sp); /* NULL allowed; its files must be freed */
const char *spool_dir(const struct spool *sp);
/* Bytes the spool's files hold now. */
uint64_t spool_used(const struct spool *sp);

/* One file in the spool, written through a buffer. Every byte written
 * counts against the bound until the file is freed. Used by one thread. */
struct spool_file; /* opaque */

/* sp NULL: the default spool ($TMPDIR or /tmp, no bound). 0, or -1 (*err:
 * GERR_INSUFFICIENT_STORAGE when the folder's disk is full, else
 * GERR_UNAVAILABLE). */
int spool_file_new(struct spool *sp, struct spool_file **out, struct gerr *err) GROMO_WUR;
/* Appends p[n]. 0, or -1 with *err: GERR_INSUFFICIENT_STORAGE when the
 * spool would pass its bound or the disk is full (ENOSPC, EDQUOT),
 * GERR_UNAVAILABLE for other failures. After a failure the file is no
 * longer usable. */
int spool_file_write(struct spool_file *f, const void *p, size_t n,
                     struct gerr *err) GROMO_WUR;
/* Writes the buffer out, so the file holds every byte written. 0 or -1 as
 * spool_file_write. */
int spool_file_flush(struct spool_file *f, struct gerr *err) GROMO_WUR;
/* Reads up to n bytes at off of what was flushed: the count, 0 at the end,
 * -1 (*err) on failure. */
long spool_file_read(struct spool_file *f, uint64_t off, void *p, size_t n,
                     struct gerr *err);
uint64_t spool_file_size(const struct spool_file *f);
/* A path that opens the file ("/proc/self/fd/N"), for readers that take a
 * path: valid while f lives, also in a child forked without exec. */
const char *spool_file_path(const struct spool_file *f);
/* Closes the file (the disk space is freed) and gives its bytes back to the
 * bound. NULL allowed. */
void spool_file_free(struct spool_file *f);

#endif
