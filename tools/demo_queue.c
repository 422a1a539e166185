/* demo_queue.c - a list through a Queue, as in the tutorial: a child
 * process puts [42, None, 'hello'] on a Queue; the parent gets it and
 * prints it.
 *
 *     from multiprocessing import Process, Queue
 *     def f(q): q.put([42, None, 'hello'])
 *     q = Queue(); p = Process(target=f, args=(q,)); p.start()
 *     print(q.get()); p.join()
 *
 * Run o->repeat times, each from creating the Queue to joining the child,
 * timed (the median is shown, like the tutorial's Python program with
 * --time); the list is printed once.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef MPROC_HAVE_VALUE
#include <mproc/msgpack.h>

static int child(void *arg)
{
    mproc_queue *q = arg;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "hello", 5);
    int rc = mproc_queue_put_msgpack(q, &sb, MPROC_FOREVER);
    msgpack_sbuffer_destroy(&sb);
    return rc == 0 ? 0 : 1;
}

/* One exchange, as the tutorial's program: a fresh Queue, a child that puts
 * the list on it, the parent gets it (and prints it when show), joins the
 * child. Its time into *t. 0, or 1 after reporting the failure. */
static int exchange(int show, double *t)
{
    double t0 = demo_seconds();
    mproc_queue *q;
    mproc_process *p;
    int rc = mproc_queue_create(&q, NULL, NULL); /* anonymous: shared by fork */
    if (rc == 0) {
        rc = mproc_process_start(&p, child, q, NULL);
        if (rc < 0)
            mproc_queue_close(q);
    }
    if (rc < 0)
        return demo_fail("a Queue between two processes", rc);
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    rc = mproc_queue_get_msgpack(q, &v, 10000);
    if (rc == 0 && show) {
        mproc_msgpack_print(stdout, &v.obj);
        printf("\n");
    } else if (rc != 0) {
        demo_fail("getting the list from the Queue", rc);
    }
    mproc_msgpack_value_destroy(&v);
    struct mproc_exit st;
    int jrc = mproc_process_join(p, 10000, &st);
    mproc_process_close(p);
    mproc_queue_close(q);
    *t = demo_seconds() - t0;
    return rc == 0 && jrc == 0 && st.exited && st.code == 0 ? 0 : 1;
}

int demo_queue(const struct demo_opts *o)
{
    printf("== A list through a Queue: a child process puts it, the parent gets it\n");
    double *t = calloc((size_t)o->repeat, sizeof *t);
    if (!t)
        return demo_fail("timing", MPROC_ENOMEM);
    int rc = 0;
    for (int r = 0; r < o->repeat && rc == 0; r++)
        rc = exchange(r == 0, &t[r]);
    if (rc == 0)
        demo_print_time_row("one child", demo_stats_of(t, o->repeat));
    free(t);
    return rc;
}
#else
int demo_queue(const struct demo_opts *o)
{
    (void)o;
    printf("== A list through a Queue: needs msgpack-c (Debian: libmsgpack-dev) at build "
           "time, not built\n");
    return 0;
}
#endif
