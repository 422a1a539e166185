"""The progress-bar idiom: imap_unordered over enumerate, counting results
as they come back, then sorting them."""
import multiprocessing as mp


def work(item):
    index, value = item
    return index, sum(i * i for i in range(value))


if __name__ == "__main__":
    jobs = list(enumerate([1000, 10, 5000, 1, 300, 42, 7, 2500]))
    done = 0
    results = [None] * len(jobs)
    with mp.Pool(processes=3) as pool:
        for index, value in pool.imap_unordered(work, jobs, chunksize=2):
            done += 1
            results[index] = value
    print(f"{done}/{len(jobs)} done")
    print(results)
