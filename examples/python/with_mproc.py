"""Run a multiprocessing program on mproc: the same source with its import
lines changed, nothing else.

usage: python3 with_mproc.py [--module NAME] [--show] PROGRAM.py [ARG...]

Every line of PROGRAM.py that imports multiprocessing is rewritten to import
mproc instead, and the result runs as the main program with ARGs:

    import multiprocessing            ->  import mproc as multiprocessing
    import multiprocessing as mp      ->  import mproc as mp
    from multiprocessing import X     ->  from mproc import X
    from multiprocessing.sub import X ->  from mproc.sub import X

Every other line, and so every line number, stays as it is. --show prints
the lines that changed (on stderr) before running. --module NAME imports
NAME instead of mproc (`--module multiprocessing` runs the program as it
is written, through the same path).

Exit status: the program's; 2 for bad usage or an import line this cannot
rewrite (`import multiprocessing.sub` without `as`).
"""
import builtins
import linecache
import os
import re
import sys
import traceback
import types

IMPORT = re.compile(r"^(\s*)import\s+multiprocessing(\.[\w.]+)?(\s+as\s+\w+)?\s*(#.*)?$")
FROM = re.compile(r"^(\s*)from\s+multiprocessing(\.[\w.]+)?(\s+import\s.*)$")


def rewrite_line(line, module):
    """The line with its import of multiprocessing pointed at module, or
    the line itself; raises ValueError for a form this does not handle."""
    m = FROM.match(line)
    if m:
        return f"{m.group(1)}from {module}{m.group(2) or ''}{m.group(3)}"
    m = IMPORT.match(line)
    if m:
        indent, sub, alias, comment = m.groups()
        if sub and not alias:
            raise ValueError("'import multiprocessing.<sub>' binds 'multiprocessing' itself; "
                             "write 'from multiprocessing import <sub>'")
        alias = alias.strip() if alias else "as multiprocessing"
        return f"{indent}import {module}{sub or ''} {alias}" + (f"  {comment}" if comment else "")
    return line


def rewrite(source, module):
    """(new source, [(line number, old, new)]) for every changed line."""
    lines = source.split("\n")
    changed = []
    for i, line in enumerate(lines):
        new = rewrite_line(line, module)
        if new != line:
            changed.append((i + 1, line, new))
            lines[i] = new
    return "\n".join(lines), changed


def load(path, module="mproc"):
    """(the program's source with its imports changed, [changed lines]);
    ValueError for an import line this cannot rewrite."""
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    if module == "multiprocessing":
        return source, []
    return rewrite(source, module)


def run(path, args, module="mproc", show=False, loaded=None):
    new, changed = loaded if loaded is not None else load(path, module)
    if show:
        for n, old, line in changed:
            print(f"{path}:{n}: {old.strip()}  ->  {line.strip()}", file=sys.stderr)
    code = compile(new, path, "exec")
    # Tracebacks quote the lines that ran, not those of the file on disk.
    linecache.cache[path] = (len(new), None, new.splitlines(True), path)
    # Run it as __main__, as `python3 PROGRAM.py` would: its functions belong
    # to a module of that name, its directory comes first on the path.
    main = types.ModuleType("__main__")
    main.__file__ = os.path.abspath(path)
    main.__builtins__ = builtins
    # A child that mproc spawns runs this code too, not the file on disk.
    main.__mproc_main_source__ = new
    sys.modules["__main__"] = main
    sys.argv = [path] + list(args)
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    exec(code, main.__dict__)


def main(argv):
    module, show = "mproc", False
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--module" and argv:
            module = argv.pop(0)
        elif opt == "--show":
            show = True
        else:
            argv = []
            break
    if not argv:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        loaded = load(argv[0], module)
    except ValueError as e:
        print(f"with_mproc.py: {argv[0]}: {e}", file=sys.stderr)
        return 2
    try:
        run(argv[0], argv[1:], module, show, loaded)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:
        # The default hook would quote the file on disk; this one quotes the
        # lines that ran (linecache), from the program's frames on.
        tb = e.__traceback__
        while tb and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
