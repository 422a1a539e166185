"""A child that raises: the parent sees exit code 1 and goes on; the
program's own exit code comes from sys.exit in the parent."""
import multiprocessing as mp
import sys


def fails(n):
    raise KeyError(n)


if __name__ == "__main__":
    ps = [mp.Process(target=fails, args=(i,)) for i in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    codes = [p.exitcode for p in ps]
    print("children failed with", codes)
    sys.exit(3 if any(codes) else 0)
