"""A list through a Pipe: a child process sends [42, None, 'hello'] through
one end of a Pipe and closes it; the parent receives it from the other end
and prints it. One of the tutorial's programs.

usage: python3 pipe_hello.py [--time]   (--time: also print how long it took)

Written for Python's multiprocessing; with_mproc.py runs it on mproc with
only the import line changed.
"""
import sys
import time
from multiprocessing import Process, Pipe


def f(conn):
    conn.send([42, None, 'hello'])
    conn.close()


if __name__ == '__main__':
    start_time = time.time()
    parent_conn, child_conn = Pipe()
    p = Process(target=f, args=(child_conn,))
    p.start()
    p.join()
    print(parent_conn.recv())
    parent_conn.close()
    child_conn.close()
    if "--time" in sys.argv[1:]:
        print("--- %s seconds ---" % (time.time() - start_time))
