"""docs/python-module.md lists every multiprocessing name, and says the truth
about it: a name marked supported or different is there in mproc, a name
marked missing is not."""
import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "python-module.md")

# multiprocessing's submodules the doc covers, and the futures names
SUBMODULES = ["connection", "shared_memory", "sharedctypes", "pool", "managers", "queues",
              "synchronize", "process"]
FUTURES = ["ProcessPoolExecutor", "Future", "as_completed", "wait"]


def sections():
    """{python module: (mproc module or None, {name: status})} from the doc."""
    out, cur = {}, None
    with open(DOC) as fh:
        for line in fh:
            m = re.match(r"^### `([\w.]+)`(?: → `([\w.]+)`)?", line)
            if m:
                cur = m.group(1)
                out[cur] = (m.group(2) or ("mproc" if cur == "multiprocessing" else None), {})
                continue
            if cur and line.startswith("| `"):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) >= 2 and cells[1] in ("supported", "different", "missing"):
                    for name in re.findall(r"`([\w.]+)`", cells[0]):
                        out[cur][1][name] = cells[1]
            elif line.startswith("## ") and cur:
                cur = None
    return out


def names_of(modname):
    return list(importlib.import_module(modname).__all__)


def test_every_multiprocessing_name_is_in_the_table():
    doc = sections()
    want = {"multiprocessing": names_of("multiprocessing")}
    for sub in SUBMODULES:
        want[f"multiprocessing.{sub}"] = names_of(f"multiprocessing.{sub}")
    want["concurrent.futures.ProcessPoolExecutor"] = FUTURES
    for mod, names in want.items():
        assert mod in doc, f"no section for {mod} in {DOC}"
        listed = doc[mod][1]
        absent = [n for n in names if n not in listed]
        assert not absent, f"{mod}: not in the table: {absent}"


def test_the_table_says_the_truth_about_this_build():
    mproc = pytest.importorskip("mproc")
    if not hasattr(mproc, "Process"):
        pytest.skip("this build's mproc has no Process: the module's areas are not merged")
    wrong = []
    for pymod, (mxmod, names) in sections().items():
        if pymod == "concurrent.futures.ProcessPoolExecutor":
            scope = FUTURES
        else:
            scope = names_of(pymod)
        try:
            target = importlib.import_module(mxmod) if mxmod else None
        except ImportError:
            target = None
        for name, status in names.items():
            if name not in scope:
                continue
            there = target is not None and hasattr(target, name)
            if status == "missing" and there:
                wrong.append(f"{mxmod}.{name} is there but marked missing")
            elif status != "missing" and not there:
                wrong.append(f"{mxmod or pymod}.{name} is marked {status} but is not there")
    assert not wrong, "docs/python-module.md is out of step:\n" + "\n".join(wrong)
