/* demo_shm.c - a shared-memory counter under a semaphore, the tutorial's
 * third program: a named shared block holding one integer, two processes
 * each counting to N/2 and adding their count into the block under a
 * semaphore.
 *
 * The block is an mproc_shm segment with a fresh random name; its first
 * bytes are an in-place mproc_sem (all-zero memory is a valid semaphore; it
 * is initialised to 1, a mutex) followed by the integer. Each child attaches
 * by name, as an unrelated process would (Python's
 * SharedMemory(name=...)), adds its count under the semaphore and closes
 * its handle; the parent prints the total, then closes and unlinks the
 * block, so nothing is left in /dev/shm. The run is repeated o->repeat
 * times on the same block (its counter reset each time); the median time
 * is shown.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    mproc_sem sem;
    long long total_number;
};

struct child_arg {
    const char *name;
    long long n;
};

static int count_and_add(void *arg)
{
    const struct child_arg *a = arg;
    mproc_shm *shm;
    if (mproc_shm_open(&shm, a->name) != 0)
        return 1;
    struct block *b = mproc_shm_ptr(shm);
    long long mine = demo_count_to(a->n);
    int rc = mproc_sem_acquire(&b->sem, MPROC_FOREVER);
    if (rc == 0) {
        b->total_number += mine;
        rc = mproc_sem_release(&b->sem);
    }
    mproc_shm_close(shm);
    return rc == 0 ? 0 : 2;
}

/* One run: two children add into b; 0 or a negative code (-1: a child
 * failed). */
static int one_run(struct block *b, const char *name, long long n)
{
    struct child_arg a[2] = {{name, n / 2}, {name, n - n / 2}};
    mproc_process *p[2] = {NULL, NULL};
    int rc = 0;
    b->total_number = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = mproc_process_start(&p[i], count_and_add, &a[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (!p[i])
            continue;
        struct mproc_exit st;
        int jrc = mproc_process_join(p[i], MPROC_FOREVER, &st);
        if (rc == 0)
            rc = jrc != 0 ? jrc : !st.exited || st.code ? -1 : 0;
        mproc_process_close(p[i]);
    }
    return rc;
}

int demo_shm(const struct demo_opts *o)
{
    char half[80];
    printf("== A shared-memory counter under a Semaphore: two processes count to %s\n"
           "   and add their counts into it\n",
           demo_fmt_halves(half, sizeof half, o->count));
    fflush(stdout);

    mproc_shm *shm;
    int rc = mproc_shm_create(&shm, "", sizeof(struct block));
    if (rc != 0)
        return demo_fail("creating the shared block", rc);
    struct block *b = mproc_shm_ptr(shm);
    mproc_sem_init(&b->sem, 1, 0);
    char name[256];
    snprintf(name, sizeof name, "%s", mproc_shm_name(shm));

    double *t = calloc((size_t)o->repeat, sizeof *t);
    long long total = 0;
    if (!t)
        rc = MPROC_ENOMEM;
    for (int r = 0; r < o->repeat && rc == 0; r++) {
        double t0 = demo_seconds();
        rc = one_run(b, name, o->count);
        t[r] = demo_seconds() - t0;
        total = b->total_number;
        if (rc == 0 && total != o->count)
            rc = -1;
    }
    mproc_shm_unlink(mproc_shm_name(shm));
    mproc_shm_close(shm);
    if (rc != 0) {
        free(t);
        return demo_fail("two processes adding into shared memory", rc);
    }
    struct demo_stats s = demo_stats_of(t, o->repeat);
    free(t);
    demo_print_row("two processes", s, total);
    printf("\n");
    return 0;
}
