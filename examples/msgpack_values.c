/* msgpack_values.c - a list of mixed values, [42, None, "hello"], through a
 * Queue and through a Pipe, unpacked and printed as Python would.
 *
 * The Python it mirrors:
 *
 *     def sender(q, conn):
 *         q.put([42, None, "hello"])
 *         conn.send([42, None, "hello"])
 *
 *     q = Queue(); parent, child = Pipe()
 *     p = Process(target=sender, args=(q, child)); p.start()
 *     print(q.get())          # [42, None, 'hello']
 *     print(parent.recv())    # [42, None, 'hello']
 *     p.join()
 *
 * Python pickles; mproc carries msgpack (the values library, libmproc_value,
 * built when msgpack-c is found). The sender packs with msgpack-c's packer;
 * the receiver gets an owned mproc_msgpack_value (free it with
 * mproc_msgpack_value_destroy) whose .obj is a msgpack_object.
 *
 * Build: cc msgpack_values.c $(pkg-config --cflags --libs mproc_value)
 *   or CMake: find_package(mproc COMPONENTS value) -> mproc::mproc_value
 */
#include <mproc.h>
#include <mproc/msgpack.h>

#include <stdio.h>
#include <string.h>

static mproc_queue *q;
static mproc_pipe *parent_end, *child_end;

static void pack_list(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "hello", 5);
}

static int sender(void *arg)
{
    (void)arg;
    mproc_pipe_close(parent_end); /* the child uses its own end only */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_list(&sb);
    int rc = mproc_queue_put_msgpack(q, &sb, 5000);
    if (rc == 0)
        rc = mproc_pipe_send_msgpack(child_end, &sb, 5000);
    msgpack_sbuffer_destroy(&sb);
    mproc_pipe_close(child_end);
    return rc == 0 ? 0 : 1;
}

/* Prints the value and checks that it is [42, None, "hello"]. */
static int check(const char *via, int rc, const mproc_msgpack_value *v)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", via, mproc_strerror(rc));
        return 0;
    }
    char text[64];
    if (mproc_msgpack_repr(&v->obj, text, sizeof text) < 0)
        return 0;
    printf("through a %s: %s\n", via, text);
    return strcmp(text, "[42, None, 'hello']") == 0;
}

int main(void)
{
    int rc = mproc_queue_create(&q, NULL, NULL);
    if (rc == 0 && (rc = mproc_pipe_create(&parent_end, &child_end, MPROC_PIPE_DUPLEX)) < 0)
        mproc_queue_close(q);
    if (rc < 0) {
        fprintf(stderr, "create: %s\n", mproc_strerror(rc));
        return 1;
    }
    mproc_process *p;
    rc = mproc_process_start(&p, sender, NULL, NULL);
    mproc_pipe_close(child_end); /* the parent uses its own end only */
    if (rc < 0) {
        fprintf(stderr, "start: %s\n", mproc_strerror(rc));
        mproc_pipe_close(parent_end);
        mproc_queue_close(q);
        return 1;
    }

    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    int ok = check("Queue", mproc_queue_get_msgpack(q, &v, 5000), &v);
    mproc_msgpack_value_destroy(&v);
    ok &= check("Pipe", mproc_pipe_recv_msgpack(parent_end, &v, 5000), &v);
    mproc_msgpack_value_destroy(&v);

    struct mproc_exit st;
    rc = mproc_process_join(p, MPROC_FOREVER, &st);
    mproc_process_close(p);
    mproc_pipe_close(parent_end);
    mproc_queue_close(q);
    return ok && rc == 0 && st.exited && st.code == 0 ? 0 : 1;
}
