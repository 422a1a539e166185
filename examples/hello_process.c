/* hello_process.c - start a process, wait for it, read its exit code.
 *
 * The Python it mirrors:
 *
 *     def greet(who):
 *         print(f"hello, {who}")
 *         sys.exit(3)
 *
 *     p = Process(target=greet, args=("world",), name="greeter")
 *     p.start(); p.join()
 *     print(p.name, "exited with code", p.exitcode)
 *
 * Build: cc hello_process.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdio.h>

/* Runs in the child. Its return value is the child's exit code. */
static int greet(void *arg)
{
    printf("hello, %s, from %s (pid %d)\n", (const char *)arg, mproc_current_name(),
           (int)mproc_current_pid());
    return 3;
}

int main(int argc, char **argv)
{
    /* First thing in main() of every mproc program: in a child started by
     * the spawn method this runs the child's entry point and never returns. */
    if (mproc_main(argc, argv) < 0)
        return 1;

    mproc_process *p;
    struct mproc_process_opts opts = {.name = "greeter"};
    int rc = mproc_process_start(&p, greet, "world", &opts);
    if (rc < 0) {
        fprintf(stderr, "mproc_process_start: %s\n", mproc_strerror(rc));
        return 1;
    }

    struct mproc_exit st;
    rc = mproc_process_join(p, MPROC_FOREVER, &st);
    if (rc < 0) {
        fprintf(stderr, "mproc_process_join: %s\n", mproc_strerror(rc));
        mproc_process_close(p);
        return 1;
    }
    if (st.exited)
        printf("%s exited with code %d\n", mproc_process_name(p), st.code);
    else if (st.signaled)
        printf("%s was killed by signal %d\n", mproc_process_name(p), st.signal);
    int ok = st.exited && st.code == 3;
    mproc_process_close(p);
    return ok ? 0 : 1;
}
