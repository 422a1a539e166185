/* queue_hello.c - producers and a consumer talking through a queue.
 *
 * The Python it mirrors:
 *
 *     def produce(q, n):
 *         for i in range(3):
 *             q.put(f"producer {n} says hello #{i}")
 *
 *     q = Queue()
 *     ps = [Process(target=produce, args=(q, n)) for n in range(2)]
 *     for p in ps: p.start()
 *     for _ in range(6): print(q.get())
 *     for p in ps: p.join()
 *
 * The queue is anonymous (name NULL): the children inherit it across fork.
 * A message is in the queue when put returns, so a child may exit at once.
 *
 * Build: cc queue_hello.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

#define PRODUCERS 2
#define EACH 3

static mproc_queue *q;

static int produce(void *arg)
{
    int n = (int)(long)arg;
    for (int i = 0; i < EACH; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "producer %d says hello #%d", n, i);
        int rc = mproc_queue_put(q, msg, (size_t)len, MPROC_FOREVER);
        if (rc < 0)
            return 1;
    }
    /* The child's copy of the handle: closing it never removes the queue. */
    mproc_queue_close(q);
    return 0;
}

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;

    struct mproc_queue_opts opts = {.capacity = 64 * 1024};
    int rc = mproc_queue_create(&q, NULL, &opts);
    if (rc < 0) {
        fprintf(stderr, "mproc_queue_create: %s\n", mproc_strerror(rc));
        return 1;
    }

    mproc_process *ps[PRODUCERS];
    int started = 0, failed = 0;
    for (; started < PRODUCERS; started++) {
        rc = mproc_process_start(&ps[started], produce, (void *)(long)started, NULL);
        if (rc < 0) {
            fprintf(stderr, "mproc_process_start: %s\n", mproc_strerror(rc));
            failed = 1;
            break;
        }
    }

    for (int i = 0; i < started * EACH; i++) {
        char buf[128];
        /* A timeout instead of MPROC_FOREVER: if a producer died, we do
         * not wait for its messages forever. */
        ssize_t n = mproc_queue_get(q, buf, sizeof buf - 1, 5000);
        if (n < 0) {
            fprintf(stderr, "mproc_queue_get: %s\n", mproc_strerror((int)n));
            failed = 1;
            break;
        }
        buf[n] = '\0';
        printf("got: %s\n", buf);
    }

    for (int i = 0; i < started; i++) {
        struct mproc_exit st;
        if (mproc_process_join(ps[i], MPROC_FOREVER, &st) < 0 || !st.exited || st.code != 0)
            failed = 1;
        mproc_process_close(ps[i]);
    }
    mproc_queue_close(q);
    return failed;
}
