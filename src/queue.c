/* queue.c - the shared-memory queue (stub; implementation in progress). */
#include "internal.h"

int mproc_queue_create(mproc_queue **out, const char *name, const struct mproc_queue_opts *opts)
{ (void)out; (void)name; (void)opts; return MPROC_ENOSYS; }
int mproc_queue_open(mproc_queue **out, const char *name) { (void)out; (void)name; return MPROC_ENOSYS; }
int mproc_queue_from_fd(mproc_queue **out, int fd) { (void)out; (void)fd; return MPROC_ENOSYS; }
int mproc_queue_fd(const mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
const char *mproc_queue_name(const mproc_queue *q) { (void)q; return ""; }
int mproc_queue_close(mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_unlink(const char *name) { (void)name; return MPROC_ENOSYS; }
int mproc_queue_shutdown(mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_put(mproc_queue *q, const void *buf, size_t len, int timeout_ms)
{ (void)q; (void)buf; (void)len; (void)timeout_ms; return MPROC_ENOSYS; }
ssize_t mproc_queue_get(mproc_queue *q, void *buf, size_t cap, int timeout_ms)
{ (void)q; (void)buf; (void)cap; (void)timeout_ms; return MPROC_ENOSYS; }
ssize_t mproc_queue_get_alloc(mproc_queue *q, void **out, int timeout_ms)
{ (void)q; (void)out; (void)timeout_ms; return MPROC_ENOSYS; }
ssize_t mproc_queue_peek_size(mproc_queue *q, int timeout_ms) { (void)q; (void)timeout_ms; return MPROC_ENOSYS; }
int mproc_queue_reserve(mproc_queue *q, size_t len, void **ptr, int timeout_ms)
{ (void)q; (void)len; (void)ptr; (void)timeout_ms; return MPROC_ENOSYS; }
int mproc_queue_commit(mproc_queue *q, size_t len) { (void)q; (void)len; return MPROC_ENOSYS; }
int mproc_queue_cancel(mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
ssize_t mproc_queue_get_view(mproc_queue *q, const void **ptr, int timeout_ms)
{ (void)q; (void)ptr; (void)timeout_ms; return MPROC_ENOSYS; }
int mproc_queue_release_view(mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_task_done(mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_join(mproc_queue *q, int timeout_ms) { (void)q; (void)timeout_ms; return MPROC_ENOSYS; }
ssize_t mproc_queue_qsize(const mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_empty(const mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_full(const mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
ssize_t mproc_queue_capacity(const mproc_queue *q) { (void)q; return MPROC_ENOSYS; }
int mproc_queue_stats(mproc_queue *q, struct mproc_queue_stats *st) { (void)q; (void)st; return MPROC_ENOSYS; }
int mproc_queue_stats_by_name(const char *name, struct mproc_queue_stats *st) { (void)name; (void)st; return MPROC_ENOSYS; }
