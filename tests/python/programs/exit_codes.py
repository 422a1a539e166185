"""Exit codes: os._exit, exitcode while running, join's return value,
a child killed by a signal it sends itself."""
import multiprocessing as mp
import os
import signal
import time


def hard_exit():
    os._exit(7)


def self_kill():
    os.kill(os.getpid(), signal.SIGKILL)


def slow():
    time.sleep(0.3)


if __name__ == "__main__":
    for f in (hard_exit, self_kill):
        p = mp.Process(target=f)
        p.start()
        print(f.__name__, "join returns", p.join(), "exitcode", p.exitcode)
    p = mp.Process(target=slow)
    p.start()
    print("running:", p.exitcode, p.join(0.01), p.is_alive())
    p.join()
    print("done:", p.exitcode, p.is_alive())
    ctx = mp.get_context("fork")
    p = ctx.Process(target=hard_exit)
    p.start()
    p.join()
    print("fork ctx", p.exitcode)
