"""What a Pool says when a task's argument cannot be pickled: a Queue (it
must be inherited, through the initializer) and a thread lock."""
import multiprocessing as mp
import threading


def use(obj):
    return type(obj).__name__


if __name__ == "__main__":
    with mp.Pool(1) as pool:
        try:
            pool.apply(use, (mp.Queue(),))
        except RuntimeError as e:
            print("RuntimeError; shared through inheritance:", "inheritance" in str(e))
        try:
            pool.map(use, [1, threading.Lock()])
        except TypeError as e:
            print("TypeError:", e)
        print("the pool goes on:", pool.map(use, [1, "a"]))
