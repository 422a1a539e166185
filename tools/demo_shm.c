/* demo_shm.c - the seed's program 3: a named shared block holding one
 * integer, two processes each counting to 50,000,000 and adding their count
 * into the block under a semaphore.
 *
 * The block is an mproc_shm segment with a fresh random name; its first
 * bytes are an in-place mproc_sem (all-zero memory is a valid semaphore; it
 * is initialised to 1, a mutex) followed by the integer. Each child attaches
 * by name, as an unrelated process would (Python's
 * SharedMemory(name=...)), adds its count under the semaphore and closes
 * its handle; the parent prints the total, then closes and unlinks the
 * block, so nothing is left in /dev/shm.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <string.h>

#define TOTAL 100000000LL
#define HALF (TOTAL / 2)

struct block {
    mproc_sem sem;
    long long total_number;
};

static int count_and_add(void *arg)
{
    const char *name = arg;
    mproc_shm *shm;
    if (mproc_shm_open(&shm, name) != 0)
        return 1;
    struct block *b = mproc_shm_ptr(shm);
    long long mine = demo_count_to(HALF);
    int rc = mproc_sem_acquire(&b->sem, MPROC_FOREVER);
    if (rc == 0) {
        b->total_number += mine;
        rc = mproc_sem_release(&b->sem);
    }
    mproc_shm_close(shm);
    return rc == 0 ? 0 : 2;
}

int demo_shm(void)
{
    printf("== The seed's program 3: shared memory + a semaphore\n");
    fflush(stdout);

    mproc_shm *shm;
    int rc = mproc_shm_create(&shm, "", sizeof(struct block));
    if (rc != 0) {
        printf("shared block: %s\n", mproc_strerror(rc));
        return 1;
    }
    struct block *b = mproc_shm_ptr(shm);
    mproc_sem_init(&b->sem, 1, 0);
    b->total_number = 0;
    char name[256];
    snprintf(name, sizeof name, "%s", mproc_shm_name(shm));

    double t0 = demo_seconds();
    mproc_process *p[2] = {NULL, NULL};
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = mproc_process_start(&p[i], count_and_add, name, NULL);
    for (int i = 0; i < 2; i++) {
        struct mproc_exit st;
        if (p[i] && (mproc_process_join(p[i], MPROC_FOREVER, &st) != 0 || !st.exited || st.code))
            rc = -1;
        mproc_process_close(p[i]);
    }
    double t = demo_seconds() - t0;
    long long total = b->total_number;

    mproc_shm_unlink(mproc_shm_name(shm));
    mproc_shm_close(shm);
    if (rc != 0) {
        printf("two processes    failed\n");
        return 1;
    }
    printf("two processes %7.2f s   total_number=%lld   (Python: about 1.8 s)\n", t, total);
    fflush(stdout);
    return total == TOTAL ? 0 : 1;
}
