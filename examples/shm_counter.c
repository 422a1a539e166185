/* shm_counter.c - several processes add into one counter in shared memory.
 *
 * The Python it mirrors (with a lock-free counter instead of Value + Lock):
 *
 *     counter = Value("q", 0)
 *     def work():
 *         for _ in range(N):
 *             with counter.get_lock(): counter.value += 1
 *
 * The segment is anonymous (name NULL), so the children inherit the mapping
 * across fork at the same address. For anything bigger than one word, put an
 * mproc lock next to the data (see lock_counter.c).
 *
 * Build: cc shm_counter.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define WORKERS 4
#define EACH 100000

static _Atomic uint64_t *counter;

static int work(void *arg)
{
    (void)arg;
    for (int i = 0; i < EACH; i++)
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    return 0;
}

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;

    mproc_shm *shm;
    int rc = mproc_shm_create(&shm, NULL, sizeof *counter);
    if (rc < 0) {
        fprintf(stderr, "mproc_shm_create: %s\n", mproc_strerror(rc));
        return 1;
    }
    counter = mproc_shm_ptr(shm); /* zeroed, 128-byte aligned */

    mproc_process *ps[WORKERS];
    int started = 0;
    for (; started < WORKERS; started++) {
        rc = mproc_process_start(&ps[started], work, NULL, NULL);
        if (rc < 0) {
            fprintf(stderr, "mproc_process_start: %s\n", mproc_strerror(rc));
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        mproc_process_join(ps[i], MPROC_FOREVER, NULL);
        mproc_process_close(ps[i]);
    }

    uint64_t total = atomic_load(counter);
    printf("%d processes x %d increments = %llu\n", started, EACH, (unsigned long long)total);
    int ok = started == WORKERS && total == (uint64_t)WORKERS * EACH;
    mproc_shm_close(shm);
    return ok ? 0 : 1;
}
