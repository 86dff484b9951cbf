"""What importing a part of the package loads: the sandbox, a process of its own, loads nothing
of the shop (its settings, catalog, ledger, database or Babel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
# The shop's own state and what only the shop needs: none of it belongs in the sandbox's process.
SHOP_ONLY = (
    "bookshop.config",
    "bookshop.catalog",
    "bookshop.orders",
    "bookshop.database",
    "bookshop.payments",
    "sqlalchemy",
    "babel",
    "limits",
)


def loaded_by(script: str) -> list[str]:
    """The modules a fresh interpreter has loaded after `script` (the test session itself has
    imported the shop already)."""
    report = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", f"{script}\n{report}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "SHOP_ENV": "development"},
        timeout=60,
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def shop_only(modules: list[str]) -> list[str]:
    return [name for name in modules if name.startswith(SHOP_ONLY)]


def test_importing_the_package_loads_nothing_of_the_shop() -> None:
    assert shop_only(loaded_by("import bookshop")) == []


def test_the_sandbox_and_every_module_it_runs_load_nothing_of_the_shop() -> None:
    # Every module of the sandbox package, its __main__ (what `python -m bookshop.sandbox` runs)
    # included, and the app it serves.
    script = "\n".join(
        [
            "import importlib, pkgutil",
            "import bookshop.sandbox",
            "import bookshop.sandbox.__main__",
            "for module in pkgutil.walk_packages(bookshop.sandbox.__path__, 'bookshop.sandbox.'):",
            "    importlib.import_module(module.name)",
            "from bookshop.sandbox.app import create_sandbox_app",
            "from bookshop.sandbox.settings import SandboxSettings",
            "create_sandbox_app(SandboxSettings())",
        ]
    )
    modules = loaded_by(script)
    assert "bookshop.sandbox.api" in modules
    assert shop_only(modules) == []


def test_create_app_still_loads_the_shop() -> None:
    # The lazy imports moved into create_app: it builds the whole shop as before.
    modules = loaded_by("from bookshop import create_app; create_app()")
    assert {"bookshop.config", "bookshop.orders", "bookshop.catalog"} <= set(modules)
