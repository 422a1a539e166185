"""A daemon child that never ends, terminate() and kill() and the exit codes
they leave."""
import multiprocessing as mp
import signal
import sys
import time


def forever():
    while True:
        time.sleep(0.05)


def quick(code):
    sys.exit(code)


def raises():
    raise RuntimeError("boom")


if __name__ == "__main__":
    d = mp.Process(target=forever, daemon=True, name="sleeper")
    d.start()
    print(d.name, "daemon", d.daemon, "alive", d.is_alive())
    d.terminate()
    d.join(5)
    print("terminated exit code", d.exitcode, d.exitcode == -signal.SIGTERM)
    k = mp.Process(target=forever)
    k.start()
    k.kill()
    k.join(5)
    print("killed exit code", k.exitcode)
    for code in (0, 3, "text"):
        p = mp.Process(target=quick, args=(code,))
        p.start()
        p.join()
        print("sys.exit(%r) ->" % (code,), p.exitcode)
    p = mp.Process(target=raises)
    p.start()
    p.join()
    print("exception ->", p.exitcode)
    p.close()
    try:
        p.is_alive()
    except ValueError:
        print("ValueError after close")
    j = mp.Process(target=forever, daemon=True)
    j.start()
    j.join(0.1)
    print("join timeout leaves it alive:", j.is_alive(), j.exitcode)
    j.terminate()
    j.join()
    print("before start:", mp.Process(target=quick).exitcode)
