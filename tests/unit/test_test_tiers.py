"""README's ``scripts/test-tiers unit`` works as written: run by the Python the project's .venv was made from
(which has no anyrack), the script runs itself again with .venv's Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_runs_again_in_the_project_venv() -> None:
    base = Path(sys.executable).resolve()  # .venv/bin/python links to the interpreter it was made from
    assert subprocess.run([str(base), "-c", "import anyrack"], capture_output=True, cwd="/").returncode != 0
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(base), str(ROOT / "scripts/test-tiers"), "no-such-tier"], capture_output=True,
                          text=True, env=env, cwd="/", timeout=60)
    assert (done.returncode, done.stderr) == (2, "test-tiers: unknown tier 'no-such-tier' (tiers: unit, bmc, iac, "
                                                 "roles, fabric, lab, package)\n")
