/* bench_sync.c - locks and semaphores across processes, against the peers
 * people would otherwise use: pthread mutexes in shared memory (plain and
 * robust, both PTHREAD_PROCESS_SHARED), POSIX unnamed (pshared) and named
 * (sem_open) semaphores, and Python's multiprocessing.Lock with a Value.
 *
 * Rows
 *   sync,contended,<impl>    two processes, each n x (lock; counter++;
 *                            unlock) on one shared counter; ns per op
 *                            (elapsed / 2n); the counter is checked
 *   sync,uncontended,<impl>  one process, acquire+release; ns per pair
 *   sync,handoff,<impl>      two processes ping-pong through two
 *                            semaphores; ns per hand-off (a round trip is
 *                            two)
 *   sync,handoff_same_cpu / contended_same_cpu
 *                            the same with both processes pinned to CPU 0
 * Python rows run /usr/bin/python3 (or $MPROC_BENCH_PYTHON) with an inline
 * script that forks, times only its loop, and prints the nanoseconds.
 *
 * Driver: everything lives in one anonymous MAP_SHARED mapping made before
 * fork. The child spins on `go` after announcing itself ready, so the
 * fork is outside the timed part; the parent times from `go` to the end of
 * its own work plus waitpid of the child. Indirect calls are avoided: each
 * implementation is its own pair of inline functions and its own loops.
 */
#include "harness.h"

#include <mproc.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum impl { I_MPROC, I_PTHREAD, I_ROBUST, I_SEM_T, I_SEM_OPEN, I_MPROC_SEM, I_COUNT };

struct shared {
    _Alignas(128) mproc_lock lock;
    _Alignas(128) pthread_mutex_t mutex;
    _Alignas(128) pthread_mutex_t robust;
    _Alignas(128) sem_t sem;
    _Alignas(128) mproc_sem msem;
    _Alignas(128) sem_t ping, pong;
    _Alignas(128) mproc_sem mping, mpong;
    _Alignas(128) long counter;
    _Alignas(128) _Atomic int ready;
    _Atomic int go;
};

static struct shared *S;
static sem_t *named_sem, *named_ping, *named_pong;
static char named_base[64];
static int failed;

static void shared_setup(void)
{
    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&S->mutex, &a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&S->robust, &a);
    pthread_mutexattr_destroy(&a);
    sem_init(&S->sem, 1, 1);
    sem_init(&S->ping, 1, 0);
    sem_init(&S->pong, 1, 0);
    mproc_lock_init(&S->lock);
    mproc_sem_init(&S->msem, 1, 0);
    mproc_sem_init(&S->mping, 0, 0);
    mproc_sem_init(&S->mpong, 0, 0);

    char name[96];
    snprintf(named_base, sizeof named_base, "/mproc-bench-sync-%d", (int)getpid());
    snprintf(name, sizeof name, "%s-m", named_base);
    named_sem = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
    sem_unlink(name); /* the mapping stays valid; nothing is left behind */
    snprintf(name, sizeof name, "%s-a", named_base);
    named_ping = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    sem_unlink(name);
    snprintf(name, sizeof name, "%s-b", named_base);
    named_pong = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    sem_unlink(name);
    if (named_sem == SEM_FAILED || named_ping == SEM_FAILED || named_pong == SEM_FAILED) {
        perror("sem_open");
        exit(1);
    }
}

static inline void do_lock(enum impl i)
{
    switch (i) {
    case I_MPROC:
        mproc_lock_acquire(&S->lock, MPROC_FOREVER);
        break;
    case I_PTHREAD:
        pthread_mutex_lock(&S->mutex);
        break;
    case I_ROBUST:
        pthread_mutex_lock(&S->robust);
        break;
    case I_SEM_T:
        while (sem_wait(&S->sem) != 0) {
        }
        break;
    case I_SEM_OPEN:
        while (sem_wait(named_sem) != 0) {
        }
        break;
    case I_MPROC_SEM:
        mproc_sem_acquire(&S->msem, MPROC_FOREVER);
        break;
    default:
        break;
    }
}

static inline void do_unlock(enum impl i)
{
    switch (i) {
    case I_MPROC:
        mproc_lock_release(&S->lock);
        break;
    case I_PTHREAD:
        pthread_mutex_unlock(&S->mutex);
        break;
    case I_ROBUST:
        pthread_mutex_unlock(&S->robust);
        break;
    case I_SEM_T:
        sem_post(&S->sem);
        break;
    case I_SEM_OPEN:
        sem_post(named_sem);
        break;
    case I_MPROC_SEM:
        mproc_sem_release(&S->msem);
        break;
    default:
        break;
    }
}

/* The loops are spelled out per implementation (a constant `i` after
 * inlining) so the switch disappears from the timed code. */
#define LOOP_CONTENDED(IMPL)                                                                       \
    static void contended_##IMPL(uint64_t n)                                                       \
    {                                                                                              \
        for (uint64_t k = 0; k < n; k++) {                                                         \
            do_lock(IMPL);                                                                         \
            S->counter++;                                                                          \
            do_unlock(IMPL);                                                                       \
        }                                                                                          \
    }
LOOP_CONTENDED(I_MPROC)
LOOP_CONTENDED(I_PTHREAD)
LOOP_CONTENDED(I_ROBUST)
LOOP_CONTENDED(I_SEM_T)
LOOP_CONTENDED(I_SEM_OPEN)
LOOP_CONTENDED(I_MPROC_SEM)

static void (*const contended_loop[I_COUNT])(uint64_t) = {
    contended_I_MPROC, contended_I_PTHREAD,  contended_I_ROBUST,
    contended_I_SEM_T, contended_I_SEM_OPEN, contended_I_MPROC_SEM,
};

static pid_t start_child(void (*fn)(uint64_t, int), uint64_t n, int arg)
{
    atomic_store(&S->ready, 0);
    atomic_store(&S->go, 0);
    pid_t pid = fork();
    if (pid == 0) {
        atomic_store(&S->ready, 1);
        while (!atomic_load_explicit(&S->go, memory_order_acquire))
            ;
        fn(n, arg);
        _exit(0);
    }
    while (!atomic_load(&S->ready))
        sched_yield();
    return pid;
}

static void finish_child(pid_t pid)
{
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("# ERROR: child status %d\n", st);
        failed = 1;
    }
}

static void contended_child(uint64_t n, int impl)
{
    contended_loop[impl](n);
}

static uint64_t run_contended(uint64_t n, void *arg)
{
    enum impl impl = (enum impl)(intptr_t)arg;
    S->counter = 0;
    pid_t pid = start_child(contended_child, n, impl);
    uint64_t t0 = bench_now_ns();
    atomic_store_explicit(&S->go, 1, memory_order_release);
    contended_loop[impl](n);
    finish_child(pid);
    uint64_t ns = bench_now_ns() - t0;
    if (S->counter != (long)(2 * n)) {
        printf("# ERROR: %d: counter %ld, expected %llu\n", (int)impl, S->counter,
               (unsigned long long)(2 * n));
        failed = 1;
    }
    return ns / 2; /* per op of either process: n ops reported, 2n done */
}

static uint64_t run_uncontended(uint64_t n, void *arg)
{
    enum impl impl = (enum impl)(intptr_t)arg;
    uint64_t t0 = bench_now_ns();
    switch (impl) {
    case I_MPROC:
        for (uint64_t k = 0; k < n; k++) {
            do_lock(I_MPROC);
            do_unlock(I_MPROC);
        }
        break;
    case I_PTHREAD:
        for (uint64_t k = 0; k < n; k++) {
            do_lock(I_PTHREAD);
            do_unlock(I_PTHREAD);
        }
        break;
    case I_ROBUST:
        for (uint64_t k = 0; k < n; k++) {
            do_lock(I_ROBUST);
            do_unlock(I_ROBUST);
        }
        break;
    case I_SEM_T:
        for (uint64_t k = 0; k < n; k++) {
            do_lock(I_SEM_T);
            do_unlock(I_SEM_T);
        }
        break;
    case I_SEM_OPEN:
        for (uint64_t k = 0; k < n; k++) {
            do_lock(I_SEM_OPEN);
            do_unlock(I_SEM_OPEN);
        }
        break;
    case I_MPROC_SEM:
        for (uint64_t k = 0; k < n; k++) {
            do_lock(I_MPROC_SEM);
            do_unlock(I_MPROC_SEM);
        }
        break;
    default:
        break;
    }
    return bench_now_ns() - t0;
}

/* Hand-off: the parent posts ping and waits for pong; the child the
 * reverse. */
static void pong_child(uint64_t n, int impl)
{
    for (uint64_t k = 0; k < n; k++) {
        switch (impl) {
        case I_MPROC_SEM:
            mproc_sem_acquire(&S->mping, MPROC_FOREVER);
            mproc_sem_release(&S->mpong);
            break;
        case I_SEM_T:
            while (sem_wait(&S->ping) != 0) {
            }
            sem_post(&S->pong);
            break;
        case I_SEM_OPEN:
            while (sem_wait(named_ping) != 0) {
            }
            sem_post(named_pong);
            break;
        default:
            break;
        }
    }
}

static uint64_t run_handoff(uint64_t n, void *arg)
{
    enum impl impl = (enum impl)(intptr_t)arg;
    pid_t pid = start_child(pong_child, n, impl);
    uint64_t t0 = bench_now_ns();
    atomic_store_explicit(&S->go, 1, memory_order_release);
    for (uint64_t k = 0; k < n; k++) {
        switch (impl) {
        case I_MPROC_SEM:
            mproc_sem_release(&S->mping);
            mproc_sem_acquire(&S->mpong, MPROC_FOREVER);
            break;
        case I_SEM_T:
            sem_post(&S->ping);
            while (sem_wait(&S->pong) != 0) {
            }
            break;
        case I_SEM_OPEN:
            sem_post(named_ping);
            while (sem_wait(named_pong) != 0) {
            }
            break;
        default:
            break;
        }
    }
    finish_child(pid);
    return (bench_now_ns() - t0) / 2; /* n round trips = 2n hand-offs */
}

/* The same rows with both processes pinned to one CPU (what `taskset -c 0`
 * does to a program, and what a busy machine does now and then): a waiter
 * that spins keeps the process it waits for off the CPU. The child
 * inherits the parent's affinity at fork; the parent's is restored after. */
static uint64_t on_cpu0(uint64_t (*fn)(uint64_t, void *), uint64_t n, void *arg)
{
    cpu_set_t old;
    int saved = sched_getaffinity(0, sizeof old, &old) == 0;
    bench_pin(0);
    uint64_t ns = fn(n, arg);
    if (saved)
        sched_setaffinity(0, sizeof old, &old);
    return ns;
}

static uint64_t run_handoff_same_cpu(uint64_t n, void *arg)
{
    return on_cpu0(run_handoff, n, arg);
}

static uint64_t run_contended_same_cpu(uint64_t n, void *arg)
{
    return on_cpu0(run_contended, n, arg);
}

static void same_cpu_rows(void)
{
    uint64_t nh = bench_scale(50000);
    struct bench_case handoff[] = {
        {"mproc_sem", run_handoff_same_cpu, (void *)(intptr_t)(I_MPROC_SEM), nh},
        {"sem_t", run_handoff_same_cpu, (void *)(intptr_t)(I_SEM_T), nh},
        {"sem_open", run_handoff_same_cpu, (void *)(intptr_t)(I_SEM_OPEN), nh},
    };
    bench_run("sync", "handoff_same_cpu", handoff, 3, "ns/op", 0);

    uint64_t nc = bench_scale(2000000);
    struct bench_case contended[] = {
        {"mproc_lock", run_contended_same_cpu, (void *)(intptr_t)(I_MPROC), nc},
        {"pthread_mutex", run_contended_same_cpu, (void *)(intptr_t)(I_PTHREAD), nc},
        {"pthread_mutex_robust", run_contended_same_cpu, (void *)(intptr_t)(I_ROBUST), nc},
        {"sem_t", run_contended_same_cpu, (void *)(intptr_t)(I_SEM_T), nc},
        {"mproc_sem", run_contended_same_cpu, (void *)(intptr_t)(I_MPROC_SEM), nc},
    };
    bench_run("sync", "contended_same_cpu", contended, 5, "ns/op", 0);
}

/* Python: two processes, `with lock: v.value += 1`, n each. */
static const char py_contended[] =
    "import multiprocessing as mp, sys, time\n"
    "def work(v, n, go):\n"
    "    go.wait()\n"
    "    for _ in range(n):\n"
    "        with v.get_lock():\n"
    "            v.value += 1\n"
    "if __name__ == '__main__':\n"
    "    mp.set_start_method('fork')\n"
    "    n = int(sys.argv[1]); v = mp.Value('q', 0); go = mp.Event()\n"
    "    ps = [mp.Process(target=work, args=(v, n, go)) for _ in range(2)]\n"
    "    [p.start() for p in ps]; time.sleep(0.2)\n"
    "    t0 = time.monotonic_ns(); go.set()\n"
    "    [p.join() for p in ps]\n"
    "    t = time.monotonic_ns() - t0\n"
    "    print(t if v.value == 2 * n else -1)\n";

/* Python: ping-pong through two multiprocessing.Semaphores, n round trips. */
static const char py_handoff[] =
    "import multiprocessing as mp, sys, time\n"
    "def pong(a, b, n):\n"
    "    for _ in range(n):\n"
    "        a.acquire(); b.release()\n"
    "if __name__ == '__main__':\n"
    "    mp.set_start_method('fork')\n"
    "    n = int(sys.argv[1]); a = mp.Semaphore(0); b = mp.Semaphore(0)\n"
    "    p = mp.Process(target=pong, args=(a, b, n)); p.start(); time.sleep(0.2)\n"
    "    t0 = time.monotonic_ns()\n"
    "    for _ in range(n):\n"
    "        a.release(); b.acquire()\n"
    "    t = time.monotonic_ns() - t0\n"
    "    p.join()\n"
    "    print(t)\n";

static uint64_t run_python(uint64_t n, void *arg)
{
    const char *script = arg ? arg : py_contended;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%llu", (unsigned long long)n);
    int fds[2];
    if (pipe(fds) != 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const char *py = getenv("MPROC_BENCH_PYTHON");
        execl(py && *py ? py : "/usr/bin/python3", "python3", "-c", script, cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[64] = {0};
    ssize_t r = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    long long ns = r > 0 ? atoll(buf) : -1;
    if (ns <= 0) {
        printf("# python peer failed (status %d)\n", st);
        return 0;
    }
    return (uint64_t)ns / 2;
}

#define ARG(i) ((void *)(intptr_t)(i))

int main(void)
{
    shared_setup();
    bench_print_header();

    uint64_t nc = bench_scale(2000000);
    int py_ok = access("/usr/bin/python3", X_OK) == 0 || getenv("MPROC_BENCH_PYTHON");
    struct bench_case contended[] = {
        {"mproc_lock", run_contended, ARG(I_MPROC), nc},
        {"pthread_mutex", run_contended, ARG(I_PTHREAD), nc},
        {"pthread_mutex_robust", run_contended, ARG(I_ROBUST), nc},
        {"sem_t", run_contended, ARG(I_SEM_T), nc},
        {"sem_open", run_contended, ARG(I_SEM_OPEN), nc},
        {"mproc_sem", run_contended, ARG(I_MPROC_SEM), nc},
        {"python_mp_lock", run_python, NULL, bench_scale(20000)},
    };
    bench_run("sync", "contended", contended,
              (int)(sizeof contended / sizeof contended[0]) - (py_ok ? 0 : 1), "ns/op", 0);

    uint64_t nu = bench_scale(20000000);
    struct bench_case uncontended[] = {
        {"mproc_lock", run_uncontended, ARG(I_MPROC), nu},
        {"pthread_mutex", run_uncontended, ARG(I_PTHREAD), nu},
        {"pthread_mutex_robust", run_uncontended, ARG(I_ROBUST), nu},
        {"sem_t", run_uncontended, ARG(I_SEM_T), nu},
        {"sem_open", run_uncontended, ARG(I_SEM_OPEN), nu},
        {"mproc_sem", run_uncontended, ARG(I_MPROC_SEM), nu},
    };
    bench_run("sync", "uncontended", uncontended, 6, "ns/op", 0);

    uint64_t nh = bench_scale(200000);
    struct bench_case handoff[] = {
        {"mproc_sem", run_handoff, ARG(I_MPROC_SEM), nh},
        {"sem_t", run_handoff, ARG(I_SEM_T), nh},
        {"sem_open", run_handoff, ARG(I_SEM_OPEN), nh},
        {"python_mp_semaphore", run_python, (void *)py_handoff, bench_scale(20000)},
    };
    bench_run("sync", "handoff", handoff, py_ok ? 4 : 3, "ns/op", 0);
    same_cpu_rows();
    return failed;
}
