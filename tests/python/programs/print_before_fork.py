"""Output printed before the children start (not flushed, stdout a pipe)
appears once; children print without flushing and the parent joins each
before the next starts."""
import multiprocessing as mp
import atexit


def bye():
    print("atexit handler ran in", mp.current_process().name)


atexit.register(bye)


def talk(i):
    print(f"child {i} says hello")
    print(f"child {i} again")


if __name__ == "__main__":
    print("parent starts")
    for i in range(3):
        p = mp.Process(target=talk, args=(i,))
        p.start()
        p.join()
    print("parent ends")
