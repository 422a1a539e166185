"""The spawn start method: a fresh interpreter runs the Process.

The parent pickles two things into a sealed memfd: what the child needs to
look like the parent (sys.path, sys.argv, the working directory, how to find
the main module) and then the Process object itself (target, args, kwargs),
with reduction.spawning() true so that Queues, Pipe ends and the other
objects hand their descriptors over (reduction.send_fd). The child is

    <sys.executable> <interpreter flags> -c 'from mproc.spawn import spawn_main; spawn_main()'
        --mproc-spawn <memfd> <parent pid> <daemon> <fd,fd,...>

started by posix_spawn with exactly those descriptors inherited (by that
child only). It runs the parent's main module under the name __mp_main__
(its `if __name__ == "__main__":` block does not run) and makes it
sys.modules["__main__"], so functions defined in the parent's main module
unpickle; then it unpickles the Process and runs it. A daemon child arms
PR_SET_PDEATHSIG first: it dies with its parent.

Nothing here is trusted blindly: the record's lengths are checked before use.
"""
import os
import runpy
import struct
import subprocess
import sys
import types

from . import _mproc, process, reduction

__all__ = ["start", "spawn_main", "set_executable", "get_executable"]

_executable = None
_HDR = struct.Struct("<8sQ")
_MAGIC = b"mprocspn"


def set_executable(exe):
    global _executable
    _executable = os.fsdecode(exe) if exe is not None else None


def get_executable():
    return _executable or sys.executable


def _preparation_data(name):
    d = {
        "name": name,
        "sys_path": list(sys.path),
        "sys_argv": list(sys.argv),
        "dir": os.getcwd(),
        "authkey": process.current_process().authkey,
    }
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        d["main_name"] = spec.name
    else:
        path = getattr(main, "__file__", None)
        if path:
            d["main_path"] = os.path.normpath(os.path.join(os.getcwd(), path)) \
                if not os.path.isabs(path) else path
            # A main module whose code is not its file's (with_mproc.py runs
            # a program with its import lines changed) says so: the child
            # runs that code, not the file on disk.
            source = getattr(main, "__mproc_main_source__", None)
            if isinstance(source, str):
                d["main_source"] = source
    return d


def start(proc):
    """Start proc in a fresh interpreter; returns its mproc._mproc.Child."""
    prep = reduction.dumps(_preparation_data(proc.name))
    h = reduction._Handover()
    try:
        reduction._local.handover = h
        try:
            body = reduction.dumps(proc)
        finally:
            reduction._local.handover = None
        fd = os.memfd_create("mproc-spawn", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        h.fds.append(fd)
        with open(fd, "wb", closefd=False) as f:
            f.write(_HDR.pack(_MAGIC, len(prep)))
            f.write(prep)
            f.write(body)
        import fcntl
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
        exe = get_executable()
        argv = [exe] + subprocess._args_from_interpreter_flags() + [
            "-c", "from mproc.spawn import spawn_main; spawn_main()",
            "--mproc-spawn", str(fd), str(os.getpid()), "1" if proc.daemon else "0",
            ",".join(str(x) for x in h.fds[:-1])]
        return _mproc.start_spawn(exe, argv, h.fds)
    finally:
        h.close()


def _fail(msg):
    sys.stderr.write(f"mproc.spawn: {msg}\n")
    sys.exit(255)


def spawn_main():
    """Run in the spawned interpreter: set up like the parent, then run the Process."""
    args = sys.argv[1:]
    if len(args) != 5 or args[0] != "--mproc-spawn":
        _fail("not started by mproc (bad arguments)")
    try:
        fd, ppid, daemon = int(args[1]), int(args[2]), args[3] == "1"
        fds = {int(x) for x in args[4].split(",") if x}
    except ValueError:
        _fail("not started by mproc (bad arguments)")
    if daemon and not _mproc.set_pdeathsig(ppid):
        os._exit(255)  # the parent is gone already: a daemon dies with it
    for x in fds:
        os.set_inheritable(x, False)
    reduction._received = fds
    with open(fd, "rb") as f:
        f.seek(0)
        data = f.read()
    if len(data) < _HDR.size:
        _fail("truncated hand-over")
    magic, prep_len = _HDR.unpack_from(data)
    if magic != _MAGIC or prep_len > len(data) - _HDR.size:
        _fail("bad hand-over")
    prep = reduction.loads(data[_HDR.size:_HDR.size + prep_len])
    _prepare(prep)
    proc = reduction.loads(memoryview(data)[_HDR.size + prep_len:])
    del data
    sys.exit(proc._bootstrap())


def _prepare(d):
    process.current_process().name = d["name"]
    process.current_process().authkey = d["authkey"]
    sys.path[:] = d["sys_path"]
    sys.argv[:] = d["sys_argv"]
    try:
        os.chdir(d["dir"])
    except OSError:
        pass
    if "main_name" in d:
        _main_from_name(d["main_name"])
    elif "main_source" in d:
        _main_from_source(d["main_path"], d["main_source"])
    elif "main_path" in d:
        _main_from_path(d["main_path"])


def _install_main(namespace):
    mod = types.ModuleType("__mp_main__")
    mod.__dict__.update(namespace)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = mod


def _main_from_name(name):
    # A package's __main__ (python -m pytest, python -m pkg) would run the
    # whole program again: leave it out, as multiprocessing does.
    if name == "__main__" or name.endswith(".__main__"):
        return
    _install_main(runpy.run_module(name, run_name="__mp_main__", alter_sys=True))


def _main_from_source(path, source):
    # As runpy.run_path would run the file, but with the parent's code.
    import builtins
    import linecache
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    mod = types.ModuleType("__mp_main__")
    mod.__file__ = path
    mod.__builtins__ = builtins
    mod.__mproc_main_source__ = source
    sys.modules["__main__"] = sys.modules["__mp_main__"] = mod
    exec(compile(source, path, "exec"), mod.__dict__)


def _main_from_path(path):
    base = os.path.splitext(os.path.basename(path))[0]
    if base == "ipython" or not os.path.exists(path):
        return
    _install_main(runpy.run_path(path, run_name="__mp_main__"))
