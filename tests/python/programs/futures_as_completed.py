"""ProcessPoolExecutor: submit, as_completed, map and an exception."""
from concurrent.futures import ProcessPoolExecutor, as_completed, wait, ALL_COMPLETED
import math


def is_prime(n):
    if n < 2:
        return False
    for d in range(2, int(math.isqrt(n)) + 1):
        if n % d == 0:
            return False
    return True


def divide(a, b):
    return a / b


if __name__ == "__main__":
    numbers = [97, 100, 7919, 7920, 2, 1]
    with ProcessPoolExecutor(max_workers=2) as ex:
        futs = {ex.submit(is_prime, n): n for n in numbers}
        res = {}
        for f in as_completed(futs):
            res[futs[f]] = f.result()
        print(sorted(res.items()))
        print(list(ex.map(divide, [10, 9, 8], [2, 3, 4])))
        f = ex.submit(divide, 1, 0)
        try:
            f.result(timeout=10)
        except ZeroDivisionError as e:
            print("ZeroDivisionError:", e)
        print("exception():", type(f.exception()).__name__)
        done, not_done = wait([ex.submit(divide, 8, 2) for _ in range(3)], return_when=ALL_COMPLETED)
        print(len(done), len(not_done), sorted(x.result() for x in done))
