/* segment.h - the header every mproc shared object starts with, and the
 * mapping of named and anonymous segments.
 *
 * Layout of every segment (named file in /dev/shm or anonymous memfd):
 *
 *   offset 0    struct mproc__seg_hdr (128 bytes)
 *   hdr_size    the object's body (a queue, a lock, the user's bytes, ...)
 *
 * The creator writes its record (every header field but the magic) first —
 * into a named file right after creating it, before the file is even sized —
 * then initialises the body and publishes the segment last by storing
 * `magic` with release order. An opener that finds magic == 0 waits (at most
 * MPROC_OPEN_WAIT_MS) only while the recorded creator is alive; a creator
 * that died, or a zero-filled file with no record that has not changed for
 * MPROC_OPEN_WAIT_MS, is MPROC_ECORRUPT at once. Every field is validated
 * against the size of the file before anything else is read.
 */
#ifndef MPROC_SEGMENT_H
#define MPROC_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MPROC__SEG_MAGIC 0x4350524Du /* "MRPC" read as bytes on little-endian */
#define MPROC__SEG_VERSION 1
#define MPROC__SEG_HDR_SIZE 128

enum mproc__seg_kind {
    MPROC__SEG_SHM = 1,
    MPROC__SEG_QUEUE = 2,
    MPROC__SEG_LOCK = 3,
    MPROC__SEG_RLOCK = 4,
    MPROC__SEG_SEM = 5,
    MPROC__SEG_COND = 6,
    MPROC__SEG_EVENT = 7,
    MPROC__SEG_BARRIER = 8,
    MPROC__SEG_VALUE = 9,
    MPROC__SEG_POOL = 10,
    MPROC__SEG_KIND_MAX = 10
};

struct mproc__seg_hdr {
    _Atomic uint32_t magic; /* MPROC__SEG_MAGIC once initialised (release) */
    uint16_t version;       /* MPROC__SEG_VERSION */
    uint16_t kind;          /* enum mproc__seg_kind */
    uint32_t hdr_size;      /* offset of the body; MPROC__SEG_HDR_SIZE */
    uint32_t flags;
    uint64_t total_size; /* bytes of the whole segment */
    uint64_t body_size;  /* bytes of the body */
    int32_t creator_pid;
    uint32_t creator_uid;
    uint64_t creator_start; /* start time of the creator (see linux/proc.c) */
    uint64_t created_unix_ns;
    char name[72]; /* user part of the name, NUL-terminated; "" if anonymous */
};
_Static_assert(sizeof(struct mproc__seg_hdr) == MPROC__SEG_HDR_SIZE, "segment header size");

/* A process-local view of a mapped segment. */
struct mproc__seg {
    struct mproc__seg_hdr *hdr;
    void *body;
    size_t body_size;
    size_t map_size;
    int fd;     /* -1 once closed */
    bool owner; /* created here: the creator unlinks */
    char name[MPROC__NAME_MAX + 1];
};

/* mproc__seg_kind_name - "queue", "lock", ...; "?" for unknown. */
const char *mproc__seg_kind_name(unsigned kind);

/* mproc__seg_create - create and map a segment with a body of body_size
 * bytes. name == NULL: anonymous (memfd); name == "": a random name;
 * otherwise that name (MPROC_EEXIST if taken). The header is filled but not
 * published: initialise the body, then call mproc__seg_publish(). */
int mproc__seg_create(struct mproc__seg *seg, const char *name, unsigned kind, size_t body_size);
void mproc__seg_publish(struct mproc__seg *seg);

/* mproc__seg_open - open and map a named segment of the given kind.
 * MPROC_ENOENT, MPROC_EACCES (not a regular file of ours),
 * MPROC_EFOREIGN (not mproc's, or another kind), MPROC_EVERSION,
 * MPROC_ECORRUPT (sizes disagree with the file; the creator died before
 * publishing; zero-filled with no creator), MPROC_EAGAIN (its creator is
 * alive and still initialising it after MPROC_OPEN_WAIT_MS), MPROC_EMFILE,
 * MPROC_ENFILE, MPROC_ENOMEM. */
int mproc__seg_open(struct mproc__seg *seg, const char *name, unsigned kind);

/* mproc__seg_from_fd - map the segment behind fd (for instance an anonymous
 * segment received over a pipe). Takes a dup of fd; the caller keeps its own.
 * Same errors as mproc__seg_open. */
int mproc__seg_from_fd(struct mproc__seg *seg, int fd, unsigned kind);

/* mproc__seg_check - validate a header against the size of its file and
 * the expected kind (0: any kind). */
int mproc__seg_check(const struct mproc__seg_hdr *hdr, size_t file_size, unsigned kind);

/* mproc__seg_unlink - remove the name of a named object of the given kind:
 * checks the name, then that the file is an mproc segment of that kind (or
 * one whose header never got written: a creator that died initialising),
 * then unlinks it. MPROC_EINVAL (bad name), MPROC_ENOENT, MPROC_EACCES,
 * MPROC_EFOREIGN (not mproc's, or another kind: left in place). */
int mproc__seg_unlink(const char *name, unsigned kind);

/* mproc__seg_close - unmap and close; unlinks the name if unlink is true and
 * the segment is named. */
void mproc__seg_close(struct mproc__seg *seg, bool unlink_name);

#endif
