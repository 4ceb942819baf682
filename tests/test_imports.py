"""No import cycles: every module of the package imports on its own, in a fresh interpreter state
(the bug this catches: module A imports B, which imports A back before A has defined B's names)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

# One subprocess imports each module after dropping every ragline module loaded before it (one
# process per module took 76 x ~1 s on this machine; this takes ~3 s). prometheus_client goes too:
# ragline.metrics registers its metrics in that library's process-wide registry, once per process.
_SCRIPT = textwrap.dedent("""
    import importlib, json, pkgutil, sys, traceback
    import ragline
    names = sorted(info.name for info in pkgutil.walk_packages(ragline.__path__, "ragline."))
    failures = {}
    for name in names:
        for loaded in [m for m in sys.modules if m.split(".")[0] in ("ragline", "prometheus_client")]:
            del sys.modules[loaded]
        try:
            importlib.import_module(name)
        except Exception:
            failures[name] = traceback.format_exc(limit=-3)
    print(json.dumps({"modules": names, "failures": failures}))
""")


def test_every_module_imports_on_its_own() -> None:
    import json

    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": SRC, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # the walk saw the package, not an empty path
    assert {"ragline.engine", "ragline.registry", "ragline.store.local.store", "ragline.cli"} <= set(report["modules"])
    assert report["failures"] == {}


def test_importing_the_package_loads_nothing_heavy() -> None:
    result = subprocess.run([sys.executable, "-c", "import sys, ragline, ragline.registry; "
                             "print(sorted(m for m in sys.modules if m.startswith('ragline')))"],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['ragline', 'ragline.errors', 'ragline.registry']"
