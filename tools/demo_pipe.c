/* demo_pipe.c - a list through a Pipe, as in the tutorial: a child
 * process sends [42, None, 'hello'] through one end of a Pipe and closes
 * it; the parent receives from the other end and prints it.
 *
 *     from multiprocessing import Process, Pipe
 *     def f(conn): conn.send([42, None, 'hello']); conn.close()
 *     parent_conn, child_conn = Pipe(); p = Process(target=f, args=(child_conn,))
 *     p.start(); print(parent_conn.recv()); p.join()
 *
 * Run o->repeat times, each from creating the Pipe to joining the child,
 * timed (the median is shown); the list is printed once.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef MPROC_HAVE_VALUE
#include <mproc/msgpack.h>

static int child(void *arg)
{
    mproc_pipe *conn = arg;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "hello", 5);
    int rc = mproc_pipe_send_msgpack(conn, &sb, MPROC_FOREVER);
    msgpack_sbuffer_destroy(&sb);
    mproc_pipe_close(conn);
    return rc == 0 ? 0 : 1;
}

/* One exchange, as the tutorial's program: a fresh Pipe, a child that sends
 * the list through one end and closes it, the parent receives it from the
 * other (and prints it when show), joins the child. Its time into *t. 0, or
 * 1 after reporting the failure. */
static int exchange(int show, double *t)
{
    double t0 = demo_seconds();
    mproc_pipe *parent_conn, *child_conn;
    mproc_process *p;
    int rc = mproc_pipe_create(&parent_conn, &child_conn, MPROC_PIPE_DUPLEX);
    if (rc == 0) {
        rc = mproc_process_start(&p, child, child_conn, NULL);
        /* The parent's copy of the child's end: closed, so that the
         * parent sees MPROC_ECLOSED, not a hang, if the child dies. */
        mproc_pipe_close(child_conn);
        if (rc < 0)
            mproc_pipe_close(parent_conn);
    }
    if (rc < 0)
        return demo_fail("a Pipe between two processes", rc);
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    rc = mproc_pipe_recv_msgpack(parent_conn, &v, 10000);
    if (rc == 0 && show) {
        mproc_msgpack_print(stdout, &v.obj);
        printf("\n");
    } else if (rc != 0) {
        demo_fail("receiving the list from the Pipe", rc);
    }
    mproc_msgpack_value_destroy(&v);
    struct mproc_exit st;
    int jrc = mproc_process_join(p, 10000, &st);
    mproc_process_close(p);
    mproc_pipe_close(parent_conn);
    *t = demo_seconds() - t0;
    return rc == 0 && jrc == 0 && st.exited && st.code == 0 ? 0 : 1;
}

int demo_pipe(const struct demo_opts *o)
{
    printf("== The same list through a Pipe: a child process sends it, the parent "
           "receives it\n");
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
int demo_pipe(const struct demo_opts *o)
{
    (void)o;
    printf("== The same list through a Pipe: needs msgpack-c (Debian: libmsgpack-dev) at "
           "build time, not built\n");
    return 0;
}
#endif
