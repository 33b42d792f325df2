"""The wheel: runtime/ and passes/ install inside graphc, nothing else leaks to the top level,
and every subpackage on disk is listed in pyproject so none can be left out."""
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# where each source folder installs (pyproject's package-dir)
SOURCE_ROOTS = {"graphc": "graphc", "runtime": "graphc.runtime", "passes": "graphc.passes"}
_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
                                 ".pytest_cache", ".hypothesis")


def _pyproject():
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _packages_on_disk():
    found = set()
    for folder, package in SOURCE_ROOTS.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(root).parts
            found.add(".".join((package,) + rel))
    return found


def test_every_subpackage_is_listed_in_pyproject():
    setuptools_cfg = _pyproject()["tool"]["setuptools"]
    listed = set(setuptools_cfg["packages"])
    on_disk = _packages_on_disk()
    assert {"graphc", "graphc.ir", "graphc.ops", "graphc.runtime", "graphc.passes"} <= on_disk
    missing = on_disk - listed
    assert not missing, f"subpackages missing from [tool.setuptools] packages: {sorted(missing)}"
    stale = listed - on_disk
    assert not stale, f"[tool.setuptools] packages lists folders without __init__.py: {sorted(stale)}"
    assert setuptools_cfg["package-dir"] == {v: k for k, v in SOURCE_ROOTS.items()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a clean copy of the repo (an in-tree build would leave build/ and
    could pack stale files from it)."""
    src = tmp_path_factory.mktemp("src") / "graphc-src"
    shutil.copytree(REPO, src, ignore=_IGNORE)
    out = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        cwd=out, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("graphc-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


def test_wheel_file_list(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    for required in ("graphc/__init__.py", "graphc/runtime/__init__.py", "graphc/runtime/session.py",
                     "graphc/passes/__init__.py", "graphc/ir/__init__.py", "graphc/ir/graph.py",
                     "graphc/ops/__init__.py", "graphc/ops/registry.py"):
        assert required in names, f"{required} missing from the wheel: {names}"
    # every source module is in the wheel, at its installed place
    for folder, package in SOURCE_ROOTS.items():
        for py in (REPO / folder).rglob("*.py"):
            if "__pycache__" in py.parts:
                continue
            target = "/".join(package.split(".") + list(py.relative_to(REPO / folder).parts))
            assert target in names, f"{folder}/{py.relative_to(REPO / folder)} not packed as {target}"
    top = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"graphc"}, f"unexpected top-level entries: {sorted(top - dist_info)}"
    for bad in ("runtime/", "passes/", "tests/", "examples/"):
        assert not any(n.startswith(bad) for n in names), f"wheel has a top-level {bad}"
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_installed_wheel_imports_and_runs(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = textwrap.dedent("""
        import os, sys
        import numpy as np
        import graphc as gc
        import graphc.runtime, graphc.passes, graphc.ir, graphc.ops
        site = os.path.realpath(sys.argv[1])
        for mod in (gc, graphc.runtime, graphc.passes, graphc.ir, graphc.ops):
            path = os.path.realpath(mod.__file__)
            assert path.startswith(site + os.sep), (mod.__name__, path)
        for name in ("runtime", "passes"):
            try:
                __import__(name)
            except ImportError:
                pass
            else:
                raise AssertionError(f"a top-level '{name}' package is importable")
        x = gc.placeholder(gc.float32, (None, 2))
        w = gc.Variable(np.array([[1.0], [2.0]], np.float32))
        y = gc.matmul(x, w) + 1.0
        with gc.Session() as sess:
            out = sess.run(y, {x: np.array([[1.0, 1.0], [3.0, -1.0]], np.float32)})
        np.testing.assert_allclose(out, [[4.0], [2.0]])
        print("ok", gc.__version__)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(site)
    # -I would drop PYTHONPATH; -s keeps user site-packages out; the venv's site-packages
    # still provides numpy, and the editable graphc there must lose to PYTHONPATH.
    proc = subprocess.run([sys.executable, "-s", "-c", script, str(site)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ok 0.1.0"
