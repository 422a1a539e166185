"""cpu_count, current_process().name, parent_process(), active_children()."""
import multiprocessing as mp
import os
import time


def info(q):
    me = mp.current_process()
    parent = mp.parent_process()
    q.put((me.name, parent is not None and parent.pid == os.getppid(),
           parent.name if parent else None, me.pid == os.getpid()))


def nap(t):
    time.sleep(t)


if __name__ == "__main__":
    print("cpu_count positive int:", isinstance(mp.cpu_count(), int) and mp.cpu_count() > 0)
    print(mp.current_process().name, mp.parent_process())
    q = mp.Queue()
    p = mp.Process(target=info, args=(q,), name="Info")
    p.start()
    print(q.get(timeout=10))
    p.join()
    auto = mp.Process(target=nap, args=(0,))
    print("auto name:", auto.name.startswith("Process-"))
    sleepers = [mp.Process(target=nap, args=(0.5,)) for _ in range(3)]
    for s in sleepers:
        s.start()
    print("active children:", len(mp.active_children()))
    for s in sleepers:
        s.join()
    print("after join:", mp.active_children())
    print("pid set:", p.pid is not None, "ident == pid:", p.ident == p.pid)
    print(repr(mp.current_process()).startswith("<_MainProcess"))
