/* pipe_hello.c - a request and a reply over a pipe.
 *
 * The Python it mirrors:
 *
 *     def child(conn):
 *         msg = conn.recv_bytes()
 *         conn.send_bytes(msg.upper())
 *         conn.close()
 *
 *     parent, child_end = Pipe()
 *     p = Process(target=child, args=(child_end,)); p.start()
 *     parent.send_bytes(b"hello through a pipe")
 *     print(parent.recv_bytes())
 *     p.join()
 *
 * Build: cc pipe_hello.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static mproc_pipe *parent_end, *child_end;

static int child(void *arg)
{
    (void)arg;
    mproc_pipe_close(parent_end); /* the child uses its own end only */
    char buf[256];
    ssize_t n = mproc_pipe_recv(child_end, buf, sizeof buf, 5000);
    if (n < 0)
        return 1;
    for (ssize_t i = 0; i < n; i++)
        buf[i] = (char)toupper((unsigned char)buf[i]);
    int rc = mproc_pipe_send(child_end, buf, (size_t)n, 5000);
    mproc_pipe_close(child_end);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;

    int rc = mproc_pipe_create(&parent_end, &child_end, MPROC_PIPE_DUPLEX);
    if (rc < 0) {
        fprintf(stderr, "mproc_pipe_create: %s\n", mproc_strerror(rc));
        return 1;
    }
    mproc_process *p;
    rc = mproc_process_start(&p, child, NULL, NULL);
    mproc_pipe_close(child_end); /* the parent uses its own end only */
    if (rc < 0) {
        fprintf(stderr, "mproc_process_start: %s\n", mproc_strerror(rc));
        mproc_pipe_close(parent_end);
        return 1;
    }

    const char *msg = "hello through a pipe";
    int failed = mproc_pipe_send(parent_end, msg, strlen(msg), 5000) != 0;
    char reply[256];
    ssize_t n = failed ? -1 : mproc_pipe_recv(parent_end, reply, sizeof reply - 1, 5000);
    if (n >= 0) {
        reply[n] = '\0';
        printf("sent \"%s\", got back \"%s\"\n", msg, reply);
    } else {
        fprintf(stderr, "mproc_pipe_recv: %s\n", mproc_strerror((int)n));
        failed = 1;
    }
    /* After the reply the child closes its end: the next recv says so. */
    if (mproc_pipe_recv(parent_end, reply, sizeof reply, 5000) != MPROC_ECLOSED)
        failed = 1;

    struct mproc_exit st;
    if (mproc_process_join(p, MPROC_FOREVER, &st) != 0 || !st.exited || st.code != 0)
        failed = 1;
    mproc_process_close(p);
    mproc_pipe_close(parent_end);
    return failed;
}
