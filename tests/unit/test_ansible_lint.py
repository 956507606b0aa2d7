"""ansible-lint under the repository's .ansible-lint (production profile, offline) finds nothing in any role
or playbook."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# every role and playbook (a new one is held to the profile as soon as it exists)
TARGETS = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "roles").iterdir() if p.is_dir())) + ("playbooks",)
# a parseable finding: path:line[:column]: rule[detail]: message
FINDING = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+)(?::\d+)?: (?P<rule>[\w\-\[\]]+): ")


def _ansible_lint() -> Path | None:
    found = BIN / "ansible-lint"
    if found.is_file():
        return found
    on_path = shutil.which("ansible-lint")
    return Path(on_path) if on_path else None


def test_the_configuration_holds_everything_to_the_production_profile() -> None:
    config = yaml.safe_load((ROOT / ".ansible-lint").read_text())
    assert config["profile"] == "production"
    assert config["offline"] is True  # Galaxy is not reachable; collections come from ./collections
    assert not config.get("skip_list"), "a skipped rule needs a comment why; prefer fixing the finding"
    for path in (".venv/", "collections/", "tests/fixtures/", "inventory/**/generated/"):
        assert path in config["exclude_paths"], path


def test_roles_and_playbooks_have_no_ansible_lint_findings() -> None:
    lint = _ansible_lint()
    if lint is None:
        pytest.skip("ansible-lint is not installed: add ansible-lint>=25.12 to the dev dependency group")
    # the repository's .ansible-lint supplies the profile (production) and --offline is repeated for safety;
    # the venv's bin leads PATH so ansible-lint finds the ansible-playbook it belongs with
    env = {**os.environ, "PATH": f"{lint.parent}:{os.environ.get('PATH', '')}", "NO_COLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0"}
    done = subprocess.run([str(lint), "--offline", "-p", *TARGETS], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
    findings = [line for line in done.stdout.splitlines() if FINDING.match(line)]
    assert findings == [] and done.returncode == 0, (
        f"ansible-lint exited {done.returncode} with {len(findings)} finding(s):\n"
        + "\n".join(findings or [done.stdout[-4000:], done.stderr[-4000:]]))
    assert "Profile 'production' was required, and it passed" in done.stderr + done.stdout, done.stderr[-4000:]
    assert {"roles/slurm_dbd", "roles/burnin", "playbooks"} <= set(TARGETS)
