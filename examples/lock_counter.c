/* lock_counter.c - processes update shared data under a lock, and one of
 * them is killed while holding it.
 *
 * The Python it mirrors:
 *
 *     lock = Lock(); total = Value("q", 0, lock=False)
 *     def work():
 *         for _ in range(N):
 *             with lock: total.value += 1
 *
 * with what Python cannot do: a worker SIGKILLed inside the critical section
 * does not leave the lock held forever. The next acquirer gets the lock with
 * MPROC_EOWNERDEAD, repairs the data and marks the lock consistent.
 *
 * The lock and the data live in one anonymous shared segment, in place: an
 * mproc_lock is a plain fixed-size struct and all-zero bytes are unlocked.
 *
 * Build: cc lock_counter.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <signal.h>
#include <stdio.h>

#define WORKERS 3
#define EACH 20000

struct shared {
    mproc_lock lock;
    long total;
    long in_progress; /* 1 while an update is half done */
    long repairs;
};

static struct shared *sh;

/* take - acquire, repairing after a dead owner. */
static int take(void)
{
    int rc = mproc_lock_acquire(&sh->lock, MPROC_FOREVER);
    if (rc == MPROC_EOWNERDEAD) {
        /* The previous owner died between setting and clearing
         * in_progress: its increment did not happen, undo the mark. */
        sh->in_progress = 0;
        sh->repairs++;
        rc = mproc_lock_consistent(&sh->lock);
    }
    return rc;
}

static int work(void *arg)
{
    (void)arg;
    for (int i = 0; i < EACH; i++) {
        if (take() != 0)
            return 1;
        sh->in_progress = 1;
        sh->total++;
        sh->in_progress = 0;
        mproc_lock_release(&sh->lock);
    }
    return 0;
}

/* Takes the lock and dies holding it. */
static int die_holding(void *arg)
{
    (void)arg;
    if (take() != 0)
        return 1;
    sh->in_progress = 1;
    raise(SIGKILL);
    return 1;
}

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;

    mproc_shm *shm;
    int rc = mproc_shm_create(&shm, NULL, sizeof *sh);
    if (rc < 0) {
        fprintf(stderr, "mproc_shm_create: %s\n", mproc_strerror(rc));
        return 1;
    }
    sh = mproc_shm_ptr(shm); /* zeroed: the lock is free */

    mproc_process *victim, *ps[WORKERS];
    struct mproc_exit st;
    int failed = 0;
    if (mproc_process_start(&victim, die_holding, NULL, NULL) != 0) {
        mproc_shm_close(shm);
        return 1;
    }
    if (mproc_process_join(victim, MPROC_FOREVER, &st) != 0) {
        mproc_process_close(victim);
        mproc_shm_close(shm);
        return 1;
    }
    printf("victim: %s by signal %d while holding the lock\n",
           st.signaled ? "killed" : "not killed", st.signal);
    mproc_process_close(victim);

    int started = 0;
    for (; started < WORKERS; started++)
        if (mproc_process_start(&ps[started], work, NULL, NULL) != 0) {
            failed = 1;
            break;
        }
    for (int i = 0; i < started; i++) {
        if (mproc_process_join(ps[i], MPROC_FOREVER, &st) != 0 || !st.exited || st.code != 0)
            failed = 1;
        mproc_process_close(ps[i]);
    }

    printf("total = %ld (expected %d), repairs after a dead owner = %ld\n", sh->total,
           started * EACH, sh->repairs);
    if (sh->total != (long)WORKERS * EACH || sh->repairs != 1)
        failed = 1;
    mproc_shm_close(shm);
    return failed;
}
