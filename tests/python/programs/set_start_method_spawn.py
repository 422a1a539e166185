"""set_start_method('spawn') once at the top of the main block."""
import multiprocessing as mp


def greet(conn, who):
    conn.send(f"hello {who} from {mp.current_process().name}")
    conn.close()


if __name__ == "__main__":
    mp.set_start_method("spawn")
    print(mp.get_start_method())
    try:
        mp.set_start_method("fork")
    except RuntimeError:
        print("RuntimeError: context already set")
    mp.set_start_method("fork", force=True)
    print(mp.get_start_method())
    mp.set_start_method("spawn", force=True)
    a, b = mp.Pipe()
    p = mp.Process(target=greet, args=(b, "parent"), name="greeter")
    p.start()
    print(a.recv())
    p.join()
    print(p.exitcode)
    print(sorted(mp.get_all_start_methods())[:1])
