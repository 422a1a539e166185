"""setup.py - the extension module of `pip install .` (pyproject.toml).

Compiles mproc._mproc from python/src/*.c together with the C core's
sources, as python/CMakeLists.txt does: one copy of the core inside the
module, every symbol but PyInit__mproc hidden, nothing else to install.
Linux only (the core is). The build directory is build-pip/, so that it
does not mix with CMake's build/.
"""
import glob
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

if not sys.platform.startswith("linux"):
    sys.exit("mproc: Linux only (futexes, pidfds, memfd)")


def sources(*patterns, skip=()):
    out = []
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(HERE, pattern))):
            if os.path.basename(path) not in skip:
                out.append(os.path.relpath(path, HERE))
    return out


# The core, as CMakeLists.txt's MPROC_SOURCES: without the msgpack values
# (libmproc_value) and without the crash tests' kill points (fault.c).
CORE = sources("src/*.c", "src/linux/*.c", "src/pool/*.c", "src/sync/*.c", "src/queue/*.c",
               skip=("msgpack.c", "fault.c"))

setup(
    package_dir={"": "python"},
    packages=["mproc"],
    ext_modules=[
        Extension(
            "mproc._mproc",
            sources=sources("python/src/*.c") + CORE,
            include_dirs=["include", "src", "python/src"],
            define_macros=[("MPROC_BUILDING", "1"), ("MPROC_STATIC", "1"), ("_GNU_SOURCE", None),
                           ("PY_SSIZE_T_CLEAN", None)],
            extra_compile_args=["-std=c11", "-fvisibility=hidden"],
            libraries=["pthread"],
        )
    ],
    options={"build": {"build_base": "build-pip"}},
)
