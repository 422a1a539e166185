/* pool.c - (stub while the engine is written). */
#include "pool_internal.h"

int mproc__pool_opts_resolve(const struct mproc_pool_opts *opts, struct mproc_pool_opts *out)
{
    (void)opts;
    (void)out;
    return MPROC_ENOSYS;
}
int mproc__pool_new(mproc_pool **out, const struct mproc_pool_opts *resolved,
                    const struct mproc__pool_backend *ops, void *be)
{
    (void)out, (void)resolved, (void)ops, (void)be;
    return MPROC_ENOSYS;
}
int mproc_pool_create(mproc_pool **out, const struct mproc_pool_opts *opts)
{
    (void)out, (void)opts;
    return MPROC_ENOSYS;
}
int mproc_pool_map(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n, size_t in_size,
                   void *out, size_t out_size, const struct mproc_pool_map_opts *opts,
                   int timeout_ms)
{
    (void)pool, (void)fn, (void)in, (void)n, (void)in_size, (void)out, (void)out_size, (void)opts,
        (void)timeout_ms;
    return MPROC_ENOSYS;
}
int mproc_pool_map_unordered(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                             size_t in_size, size_t out_size, mproc_pool_result_fn on_result,
                             void *arg, const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    (void)pool, (void)fn, (void)in, (void)n, (void)in_size, (void)out_size, (void)on_result,
        (void)arg, (void)opts, (void)timeout_ms;
    return MPROC_ENOSYS;
}
int mproc_pool_map_stream(mproc_pool *pool, mproc_task_fn fn, mproc_pool_next_fn next,
                          void *next_arg, size_t max_in_size, size_t out_size,
                          mproc_pool_result_fn on_result, void *arg,
                          const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    (void)pool, (void)fn, (void)next, (void)next_arg, (void)max_in_size, (void)out_size,
        (void)on_result, (void)arg, (void)opts, (void)timeout_ms;
    return MPROC_ENOSYS;
}
int mproc_pool_submit(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t in_len,
                      size_t out_cap, mproc_future **out)
{
    (void)pool, (void)fn, (void)in, (void)in_len, (void)out_cap, (void)out;
    return MPROC_ENOSYS;
}
int mproc_future_wait(mproc_future *f, int timeout_ms) { (void)f, (void)timeout_ms; return MPROC_ENOSYS; }
int mproc_future_done(mproc_future *f) { (void)f; return MPROC_ENOSYS; }
int mproc_future_result(const mproc_future *f, const void **out, size_t *out_len)
{
    (void)f, (void)out, (void)out_len;
    return MPROC_ENOSYS;
}
int mproc_future_error(const mproc_future *f, struct mproc_pool_error *err) { (void)f, (void)err; return MPROC_ENOSYS; }
void mproc_future_free(mproc_future *f) { (void)f; }
int mproc_pool_close(mproc_pool *pool) { (void)pool; return MPROC_ENOSYS; }
int mproc_pool_join(mproc_pool *pool, int timeout_ms) { (void)pool, (void)timeout_ms; return MPROC_ENOSYS; }
int mproc_pool_terminate(mproc_pool *pool) { (void)pool; return MPROC_ENOSYS; }
void mproc_pool_free(mproc_pool *pool) { (void)pool; }
int mproc_pool_workers(const mproc_pool *pool) { (void)pool; return MPROC_ENOSYS; }
int mproc_pool_worker_pids(const mproc_pool *pool, pid_t *out, int max) { (void)pool, (void)out, (void)max; return MPROC_ENOSYS; }
int mproc_pool_get_stats(const mproc_pool *pool, struct mproc_pool_stats *out) { (void)pool, (void)out; return MPROC_ENOSYS; }
void mproc_pool_progress_bar(void *arg, uint64_t done, uint64_t total) { (void)arg, (void)done, (void)total; }
int mproc_task_register(const char *name, mproc_task_fn fn) { (void)name, (void)fn; return MPROC_ENOSYS; }
mproc_task_fn mproc_task_find(const char *name) { (void)name; return NULL; }
const char *mproc_task_name(mproc_task_fn fn) { (void)fn; return NULL; }
