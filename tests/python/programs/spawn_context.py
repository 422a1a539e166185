"""get_context('spawn'): a fresh interpreter runs a module-level function."""
import multiprocessing
import os

MARK = "module level ran"


def child(q, word):
    q.put((word.upper(), multiprocessing.current_process().name, os.getpid() != PARENT))


PARENT = os.getppid() if multiprocessing.parent_process() is not None else os.getpid()

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q, "spawned"), name="kid")
    p.start()
    print(q.get(timeout=30))
    p.join()
    print("exit code", p.exitcode)
    print("start method of ctx:", ctx.get_start_method())
    with ctx.Pool(2) as pool:
        print(pool.map(abs, [-1, -2, 3]))
