"""What multiprocessing raises for common mistakes: using a closed Queue,
task_done too often, joining a process that never started, and so on.
Each line prints the exception's type. (Left out: where multiprocessing
fails by accident and mproc answers as threading does: terminate() before
start() is an AttributeError there and nothing here; Semaphore(-1) an
OSError there, ValueError here; Barrier(0) a barrier that breaks on wait
there, ValueError here.)"""
import multiprocessing as mp


def noop():
    pass


def attempt(label, fn):
    try:
        fn()
        print(label, "-> no error")
    except Exception as e:
        print(label, "->", type(e).__name__)


if __name__ == "__main__":
    q = mp.Queue()
    q.close()
    attempt("put on a closed Queue", lambda: q.put(1))
    jq = mp.JoinableQueue()
    jq.put(1)
    jq.get()
    jq.task_done()
    attempt("task_done once too often", jq.task_done)
    p = mp.Process(target=noop)
    attempt("join before start", p.join)
    attempt("sentinel before start", lambda: p.sentinel)
    p.start()
    p.join()
    attempt("terminate after exit", p.terminate)
    attempt("start twice", p.start)
    p.close()
    attempt("start after close", p.start)
    attempt("pid after close", lambda: p.pid)
    attempt("Value with a bad typecode", lambda: mp.Value("?", 1))
    attempt("Array too short an initializer", lambda: mp.Array("i", [1, 2, 3])[5])
    attempt("Queue get with negative timeout", lambda: mp.Queue().get(timeout=-1))
    attempt("Pipe recv on a closed end", lambda: (lambda a: (a.close(), a.recv()))(mp.Pipe()[0]))
    attempt("get_context('nope')", lambda: mp.get_context("nope"))
    attempt("Event.wait(0)", lambda: print(mp.Event().wait(0)))
