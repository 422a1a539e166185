"""An exception in Pool.map reaches the caller with its type and message."""
from multiprocessing import Pool


class Oops(Exception):
    pass


def check(n):
    if n == 5:
        raise Oops("five is not allowed")
    return n


if __name__ == "__main__":
    with Pool(2) as p:
        try:
            p.map(check, range(10))
        except Oops as e:
            print("caught", type(e).__name__, e)
        print("pool still works", p.map(check, [1, 2, 3]))
        it = p.imap(check, range(7))
        got = []
        try:
            for v in it:
                got.append(v)
        except Oops as e:
            print("imap stopped after", got, "with", e)
