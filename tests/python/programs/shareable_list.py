"""ShareableList edited by a child."""
from multiprocessing import Process
from multiprocessing.shared_memory import ShareableList


def edit(name):
    sl = ShareableList(name=name)
    sl[0] = sl[0] * 2
    sl[2] = "howdy"
    sl[3] = not sl[3]
    sl.shm.close()


if __name__ == "__main__":
    sl = ShareableList([21, 3.5, "hello", False, None, b"raw"])
    p = Process(target=edit, args=(sl.shm.name,))
    p.start()
    p.join()
    print(list(sl))
    print(len(sl), sl.count(3.5), sl.index("howdy"))
    print(sl.format)
    try:
        sl[2] = "a string much longer than the original one"
    except ValueError:
        print("ValueError: too long")
    sl.shm.close()
    sl.shm.unlink()
