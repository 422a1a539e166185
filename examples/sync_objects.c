/* sync_objects.c - a Barrier, a Condition and an Event across processes.
 *
 * The Python it mirrors:
 *
 *     def worker(barrier, cond, arrived, go):
 *         barrier.wait()                   # all workers start together
 *         with cond:
 *             arrived.value += 1
 *             cond.notify_all()
 *         go.wait()                        # released by the main process
 *
 *     barrier, cond, go = Barrier(3), Condition(), Event()
 *     arrived = Value("q", 0, lock=False)
 *     ps = [Process(target=worker, args=(barrier, cond, arrived, go)) for _ in range(3)]
 *     for p in ps: p.start()
 *     with cond:
 *         cond.wait_for(lambda: arrived.value == 3)
 *     go.set()
 *     for p in ps: p.join()
 *
 * Each object here is standalone and anonymous (created with a NULL name):
 * forked children inherit it. All of them survive the death of a process
 * using them: a barrier breaks (MPROC_EBROKEN) instead of hanging, a
 * condition's lock comes back with MPROC_EOWNERDEAD.
 *
 * Build: cc sync_objects.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define WORKERS 3

static mproc_barrier *barrier;
static mproc_cond *cond;
static mproc_event *go;
static mproc_value *arrived;

static int worker(void *arg)
{
    (void)arg;
    int rc = mproc_barrier_wait(barrier, 10000); /* arrival index 0..WORKERS-1 */
    if (rc < 0)
        return 1;
    if (mproc_cond_acquire(cond, 10000) != 0)
        return 2;
    mproc_value_add_i64(arrived, 1, NULL);
    mproc_cond_notify_all(cond);
    mproc_cond_release(cond);
    return mproc_event_wait(go, 10000) == 0 ? 0 : 3;
}

static bool all_arrived(void *arg)
{
    (void)arg;
    int64_t n = 0;
    mproc_value_get_i64(arrived, &n);
    return n == WORKERS;
}

int main(void)
{
    int rc;
    if ((rc = mproc_barrier_create(&barrier, NULL, WORKERS)) < 0 ||
        (rc = mproc_cond_create(&cond, NULL)) < 0 || (rc = mproc_event_create(&go, NULL)) < 0 ||
        (rc = mproc_value_create(&arrived, MPROC_TYPE_I64, NULL, MPROC_VALUE_RAW)) < 0) {
        fprintf(stderr, "create: %s\n", mproc_strerror(rc));
        return 1;
    }

    mproc_process *ps[WORKERS];
    int started = 0, ok = 1;
    for (; started < WORKERS; started++) {
        rc = mproc_process_start(&ps[started], worker, NULL, NULL);
        if (rc < 0) {
            fprintf(stderr, "start: %s\n", mproc_strerror(rc));
            mproc_barrier_abort(barrier); /* the started ones stop waiting */
            ok = 0;
            break;
        }
    }

    if (ok && mproc_cond_acquire(cond, 10000) == 0) {
        rc = mproc_cond_wait_for(cond, all_arrived, NULL, 10000);
        mproc_cond_release(cond);
        if (rc != 0) {
            fprintf(stderr, "wait_for: %s\n", mproc_strerror(rc));
            ok = 0;
        } else {
            printf("all %d workers passed the barrier and checked in\n", WORKERS);
        }
    }
    mproc_event_set(go); /* also on failure: nobody waits forever */

    for (int i = 0; i < started; i++) {
        struct mproc_exit st;
        if (mproc_process_join(ps[i], 30000, &st) != 0 || !st.exited || st.code != 0)
            ok = 0;
        mproc_process_close(ps[i]);
    }
    mproc_value_close(arrived);
    mproc_event_close(go);
    mproc_cond_close(cond);
    mproc_barrier_close(barrier);
    return ok ? 0 : 1;
}
