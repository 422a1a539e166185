"""apply_async with callback and error_callback; the callbacks run in the
parent and record what they saw."""
import multiprocessing as mp


def risky(n):
    if n % 4 == 3:
        raise ValueError(f"bad input {n}")
    return n * 10


if __name__ == "__main__":
    good = []
    bad = []
    with mp.Pool(2) as pool:
        results = [pool.apply_async(risky, (n,), callback=good.append,
                                    error_callback=lambda e: bad.append(repr(e)))
                   for n in range(10)]
        for r in results:
            r.wait(10)
        outcomes = []
        for n, r in enumerate(results):
            try:
                outcomes.append(r.get(timeout=5))
            except ValueError as e:
                outcomes.append(f"error: {e}")
        print(outcomes)
        print("successful", [r.successful() for r in results])
    print("callbacks", sorted(good))
    print("errors", sorted(bad))
