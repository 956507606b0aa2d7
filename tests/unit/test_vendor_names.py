"""Vendor knowledge lives in src/anyrack/bmc/profiles/ only: no BMC or server vendor name, product line or
controller name appears anywhere else in the product — code, comments, docstrings, roles, plays, file
paths. Tokens, not substrings: ``iDRAC9``, ``iLO 5``, ``ilo5``, ``DellSystem`` and ``roles/xcc_tools`` are
caught, ``silo`` and ``0xCC`` are not. Out of scope: the profiles, recorded fixtures (and paths that point at
them), docs, tests and benchmarks (which drive the recorded trees by name), and operator data under
inventory/ (a site may name its hardware).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
VENDORS = frozenset({"dell", "idrac", "hpe", "ilo", "lenovo", "xcc", "supermicro", "gigabyte", "gbt", "megarac",
                     "ami", "asrock", "cray", "openbmc"})
SCANNED = ("src/anyrack", "roles", "playbooks", "plugins", "stacks", "scripts", "meta", "galaxy.yml", "ansible.cfg",
           "Makefile", "Vagrantfile", "pyproject.toml")
EXEMPT = ("src/anyrack/bmc/profiles",)
FIXTURE_PATH = re.compile(r"tests/fixtures/redfish/[\w./-]+")
HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")


def tokens(text: str) -> set[str]:
    """Lower-case words of ``text``: each run of letters whole and split at case changes."""
    words: set[str] = set()
    for run in re.findall(r"[A-Za-z]+", HEX.sub(" ", FIXTURE_PATH.sub(" ", text))):
        words.add(run.lower())
        words.update(part.lower() for part in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", run))
    return words


def vendor_names(text: str) -> list[str]:
    return sorted(tokens(text) & VENDORS)


@pytest.mark.parametrize(("text", "found"), [
    ("# iDRAC9 6.x links HostEthernetInterfaces", ["idrac"]),
    ("seen on iLO 5 and ilo5", ["ilo"]),
    ("class DellSystem(Resource):", ["dell"]),
    ("roles/xcc_tools/tasks/main.yml", ["xcc"]),
    ("AMI MegaRAC on a GIGABYTE board", ["ami", "gigabyte", "megarac"]),
    ("HPE Cray EX", ["cray", "hpe"]),
    ("silo, philosophy, amid, xccd, dellish", []),
    ("_NO_FRU = (0x81, 0xCC, 0xC9)", []),
    ('BMC_TREE = "tests/fixtures/redfish/dell/idrac9-r750"', []),
])
def test_tokens(text: str, found: list[str]) -> None:
    assert vendor_names(text) == found


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for entry in map(ROOT.joinpath, SCANNED):
        candidates = [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
        files += [p for p in candidates if not p.is_symlink() and "__pycache__" not in p.parts
                  and not any(p.is_relative_to(ROOT / e) for e in EXEMPT)]
    return files


def test_no_vendor_names_outside_profiles() -> None:
    offenders = []
    files = scanned_files()
    assert len(files) > 300, "the scan found too few files to mean anything"
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        offenders += [f"{rel}: path names {v}" for v in vendor_names(rel)]
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            offenders += [f"{rel}:{number}: {v}: {line.strip()[:100]}" for v in vendor_names(line)]
    assert offenders == []
