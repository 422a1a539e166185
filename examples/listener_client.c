/* listener_client.c - unrelated processes find each other by name: a
 * Listener accepts, a Client connects, and they talk over the Pipe end each
 * gets.
 *
 * The Python it mirrors:
 *
 *     from multiprocessing.connection import Listener, Client
 *
 *     def client(address):
 *         with Client(address) as conn:
 *             conn.send_bytes(b"ping")
 *             print(conn.recv_bytes())
 *
 *     with Listener(address) as listener:
 *         p = Process(target=client, args=(address,)); p.start()
 *         with listener.accept() as conn:
 *             conn.send_bytes(conn.recv_bytes().replace(b"i", b"o"))
 *         p.join()
 *
 * The name is an abstract socket ("\0mproc-<name>"): nothing in the file
 * system, gone when the listener closes. Only processes of the same user may
 * connect. The client here is a child for brevity; any process of the same
 * user that knows the name can connect the same way.
 *
 * Build: cc listener_client.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

static char name[64];

static int client(void *arg)
{
    (void)arg;
    mproc_pipe *conn;
    /* Waits up to 5 s for the listener to appear (it already has here). */
    int rc = mproc_pipe_connect(&conn, name, 5000);
    if (rc < 0) {
        fprintf(stderr, "connect: %s\n", mproc_strerror(rc));
        return 1;
    }
    char buf[64];
    ssize_t n = -1;
    if (mproc_pipe_send(conn, "ping", 4, 5000) == 0)
        n = mproc_pipe_recv(conn, buf, sizeof buf, 5000);
    if (n >= 0)
        printf("client got: %.*s\n", (int)n, buf);
    mproc_pipe_close(conn);
    return n == 4 && memcmp(buf, "pong", 4) == 0 ? 0 : 1;
}

int main(void)
{
    /* One name per run, so that two runs at once do not collide. */
    snprintf(name, sizeof name, "example-echo-%d", (int)mproc_current_pid());
    mproc_listener *listener;
    int rc = mproc_listener_create(&listener, name, 0);
    if (rc < 0) {
        fprintf(stderr, "listener: %s\n", mproc_strerror(rc));
        return 1;
    }
    mproc_process *p;
    rc = mproc_process_start(&p, client, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "start: %s\n", mproc_strerror(rc));
        mproc_listener_close(listener);
        return 1;
    }

    mproc_pipe *conn;
    int ok = 0;
    rc = mproc_listener_accept(listener, &conn, 5000);
    if (rc == 0) {
        char buf[64];
        ssize_t n = mproc_pipe_recv(conn, buf, sizeof buf, 5000);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == 'i')
                buf[i] = 'o';
        ok = n > 0 && mproc_pipe_send(conn, buf, (size_t)n, 5000) == 0;
        mproc_pipe_close(conn);
    } else {
        fprintf(stderr, "accept: %s\n", mproc_strerror(rc));
    }
    mproc_listener_close(listener);

    struct mproc_exit st;
    rc = mproc_process_join(p, MPROC_FOREVER, &st);
    mproc_process_close(p);
    return ok && rc == 0 && st.exited && st.code == 0 ? 0 : 1;
}
