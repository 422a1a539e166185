/* spawn_objects.c - hand a Queue, a Lock and a Value to children started by
 * the spawn method (a fresh run of this program, not a fork).
 *
 * The Python it mirrors:
 *
 *     def worker(q, lock, total, i):
 *         with lock:
 *             total.value += i
 *         q.put(f"worker {i} done")
 *
 *     if __name__ == "__main__":
 *         set_start_method("spawn")
 *         q, lock, total = Queue(), Lock(), Value("q", 0, lock=False)
 *         ps = [Process(target=worker, args=(q, lock, total, i)) for i in range(1, 4)]
 *         for p in ps: p.start()
 *         for _ in ps: print(q.get())
 *         for p in ps: p.join()
 *         print(total.value)               # 6
 *
 * A spawned child shares nothing by inheritance, so the objects go in the
 * start call (opts.objects) and the child asks for each by its index with
 * mproc_arg_<kind>(). Plain bytes (here the worker's number) go in
 * opts.arg. The entry point is found by name (MPROC_ENTRY), and main()
 * calls mproc_main() first: in a spawned child it runs the entry instead.
 *
 * Build: cc spawn_objects.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WORKERS 3

static int worker(const void *arg, size_t len) /* runs in the spawned child */
{
    int i;
    if (len != sizeof i)
        return 1;
    memcpy(&i, arg, sizeof i);
    mproc_queue *q;
    mproc_lock *lock;
    mproc_value *total;
    if (mproc_arg_queue(0, &q) < 0)
        return 2;
    if (mproc_arg_lock(1, &lock) < 0 || mproc_arg_value(2, &total) < 0) {
        mproc_queue_close(q);
        return 3;
    }
    int rc = mproc_lock_acquire(lock, 10000);
    if (rc == 0) {
        int64_t v;
        mproc_value_get_i64(total, &v); /* a read-modify-write the lock protects */
        mproc_value_set_i64(total, v + i);
        mproc_lock_release(lock);
        char msg[32];
        int n = snprintf(msg, sizeof msg, "worker %d done", i);
        rc = mproc_queue_put(q, msg, (size_t)n, 10000);
    }
    /* Each handle the child got is its own to close. */
    mproc_value_close(total);
    mproc_lock_close(lock);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 4;
}
MPROC_ENTRY(worker)

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0) /* in a spawned child: runs worker, never returns */
        return 1;

    mproc_queue *q;
    mproc_lock *lock;
    mproc_value *total;
    int rc;
    if ((rc = mproc_queue_create(&q, NULL, NULL)) < 0 ||
        (rc = mproc_lock_create(&lock, NULL)) < 0 ||
        (rc = mproc_value_create(&total, MPROC_TYPE_I64, NULL, MPROC_VALUE_RAW)) < 0) {
        fprintf(stderr, "create: %s\n", mproc_strerror(rc));
        return 1;
    }

    struct mproc_object objs[] = {
        {MPROC_OBJ_QUEUE, q},
        {MPROC_OBJ_LOCK, lock},
        {MPROC_OBJ_VALUE, total},
    };
    mproc_process *ps[WORKERS];
    int nums[WORKERS], started = 0, ok = 1;
    for (; started < WORKERS; started++) {
        nums[started] = started + 1;
        struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                       .entry = "worker",
                                       .arg = &nums[started],
                                       .arg_len = sizeof nums[started],
                                       .objects = objs,
                                       .n_objects = 3};
        rc = mproc_process_start(&ps[started], NULL, NULL, &o);
        if (rc < 0) {
            fprintf(stderr, "start: %s\n", mproc_strerror(rc));
            ok = 0;
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        char msg[32];
        ssize_t n = mproc_queue_get(q, msg, sizeof msg, 10000);
        if (n < 0) {
            ok = 0;
            break;
        }
        printf("%.*s\n", (int)n, msg);
    }
    for (int i = 0; i < started; i++) {
        struct mproc_exit st;
        if (mproc_process_join(ps[i], 30000, &st) != 0 || !st.exited || st.code != 0)
            ok = 0;
        mproc_process_close(ps[i]);
    }
    int64_t sum = 0;
    mproc_value_get_i64(total, &sum);
    printf("total = %lld\n", (long long)sum); /* 1 + 2 + 3 */
    mproc_value_close(total);
    mproc_lock_close(lock);
    mproc_queue_close(q);
    return ok && sum == WORKERS * (WORKERS + 1) / 2 ? 0 : 1;
}
