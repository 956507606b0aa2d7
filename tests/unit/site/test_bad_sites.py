"""Bad site files are refused with exit code 2, one located line per problem, and nothing written.

Two sets of inputs:

* the corpus in ``tests/fixtures/bad_sites/``: each ``NN-short-name.yaml`` is a small site with exactly
  one deliberate problem, and its first line says what an operator must see::

      # expect: LINE: KEY: MESSAGE-FRAGMENT      (KEY empty for a file-level problem: "# expect: 1: : ...")

  The first stderr line must start with ``FILE:LINE: KEY: `` and contain the fragment.
* hostile raw inputs (alias bombs, bad bytes, tabs, huge files, ...), written at run time into
  ``tmp_path`` so that no large or binary file is stored in the repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from anyrack.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "fixtures" / "bad_sites"
FILES = sorted(CORPUS.glob("*.yaml"))
MIN_CASES = 45

FILE_NAME = re.compile(r"^(?P<number>\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*\.yaml$")
HEADER = re.compile(r"^# expect: (?P<line>[1-9]\d*): (?P<key>[^\s:]*): (?P<fragment>\S.*)$")

# The valid site every corpus file is a one-problem variant of (the lab example, shortened).
SITE = """\
version: 1
site: lab
defaults:
  bmc_credential: lab-bmc
credentials:
  lab-bmc:
    username: admin
    password: {env: ANYRACK_LAB_BMC_PASSWORD}
networks:
  bmc: {cidr: 10.10.0.0/24}
  management: {cidr: 10.77.0.0/24, gateway: 10.77.0.1}
racks:
  - name: lab
    height: 42
skus:
  lab-small:
    cpu: 2 vCPU
    memory_gib: 2
nodes:
  - name: ctl1
    rack: lab
    u: 1
    sku: lab-small
    role: controller
    bmc: redfish+https://10.10.0.11
    addresses: {management: 10.77.0.11}
  - name: gpu1
    rack: lab
    u: 2
    sku: lab-small
    role: compute
    bmc: redfish+https://10.10.0.21
    addresses: {management: 10.77.0.21}
slurm:
  partitions:
    - name: batch
      nodes: gpu1
      default: true
"""


@dataclass(frozen=True)
class Expect:
    line: int | None
    """The line the first problem must cite; None for a file-level problem with no line."""
    key: str
    fragment: str

    def prefix(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line is not None else str(path)
        return f"{where}: {self.key}: " if self.key else f"{where}: "


def read_header(path: Path) -> Expect:
    with path.open(encoding="utf-8") as f:
        first = f.readline().rstrip("\n")
    match = HEADER.match(first)
    if not match:
        raise ValueError(f"{path.name}: first line {first!r} is not '# expect: LINE: KEY: MESSAGE-FRAGMENT'")
    return Expect(int(match["line"]), match["key"], match["fragment"])


@dataclass(frozen=True)
class Outcome:
    rc: int
    out: str
    err: str

    @property
    def first(self) -> str:
        lines = self.err.splitlines()
        return lines[0] if lines else ""


def run_generate(path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> Outcome:
    """``anyrack inventory generate PATH --out OUT`` in-process."""
    capsys.readouterr()  # drop anything printed before
    rc = main(["inventory", "generate", str(path), "--out", str(out)])
    captured = capsys.readouterr()
    return Outcome(rc, captured.out, captured.err)


def check_refused(outcome: Outcome, path: Path, out: Path, expect: Expect) -> None:
    shown = (f"\nexpected: {expect.prefix(path)}...{expect.fragment}...\nactual:   {outcome.first}"
             f"\nstderr:\n{outcome.err}")
    assert "Traceback" not in outcome.out + outcome.err, shown
    assert outcome.rc == 2, f"exit code {outcome.rc}, not 2{shown}"
    assert outcome.first.startswith(expect.prefix(path)), f"wrong location or key{shown}"
    assert expect.fragment in outcome.first[len(expect.prefix(path)):], f"message lacks the fragment{shown}"
    assert not out.exists(), f"{out} was written although the input was refused"


# --- the corpus ---------------------------------------------------------------------------------------------


def test_corpus_is_large_enough_and_well_formed() -> None:
    assert len(FILES) >= MIN_CASES, f"{len(FILES)} bad sites in {CORPUS}; want at least {MIN_CASES}"
    assert sorted(p.name for p in CORPUS.iterdir()) == [p.name for p in FILES], "only *.yaml files belong here"
    problems = []
    numbers = []
    for path in FILES:
        name = FILE_NAME.match(path.name)
        if not name:
            problems.append(f"{path.name}: name is not NN-short-name.yaml")
            continue
        numbers.append(int(name["number"]))
        try:
            expect = read_header(path)
        except (ValueError, UnicodeDecodeError) as err:
            problems.append(str(err))
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        if expect.line is not None and expect.line > len(lines):
            problems.append(f"{path.name}: expects line {expect.line}, but the file has {len(lines)} lines")
    assert not problems, "\n".join(problems)
    assert numbers == list(range(1, len(numbers) + 1)), f"files are not numbered 01..{len(numbers):02d}: {numbers}"


def test_the_base_site_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each corpus file is this site with one deliberate change; the site itself must be accepted."""
    path = tmp_path / "site.yaml"
    path.write_text(SITE)
    outcome = run_generate(path, tmp_path / "out", capsys)
    assert outcome.rc == 0, outcome.err
    assert (tmp_path / "out").is_dir()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_bad_site_is_refused(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect = read_header(path)
    out = tmp_path / "out"
    check_refused(run_generate(path, out, capsys), path, out, expect)


CONSOLE_CASES = ["06-bmc-long-form-bad-scheme.yaml", "12-missing-site.yaml", "33-top-level-list.yaml",
                 "45-mgmt-address-duplicate.yaml"]


@pytest.mark.parametrize("name", CONSOLE_CASES)
def test_console_script_exits_2(name: str, tmp_path: Path) -> None:
    """The installed ``anyrack`` entry point turns the return code into the process exit status."""
    script = Path(sys.executable).parent / "anyrack"
    assert script.is_file(), f"no console script at {script}; is the package installed in this venv?"
    path = CORPUS / name
    assert path.is_file(), f"{name} is not in the corpus"
    out = tmp_path / "out"
    proc = subprocess.run([str(script), "inventory", "generate", str(path), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    check_refused(Outcome(proc.returncode, proc.stdout, proc.stderr), path, out, read_header(path))


# --- hostile raw inputs, written at run time ----------------------------------------------------------------


def line_of(text: str, line: str) -> int:
    """1-based number of the first line of ``text`` equal to ``line``."""
    return text.splitlines().index(line) + 1


def edit(old: str, new: str) -> str:
    assert SITE.count(old) == 1, old
    return SITE.replace(old, new)


def alias_bomb(tmp: Path) -> tuple[Path, Expect]:
    """Billion laughs: nine levels of ten aliases each, 10**9 values once expanded."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    path = tmp / "site.yaml"
    path.write_text("\n".join(lines) + "\n")
    # a..e expand to at most 111,111 values; f is the first past 1,000,000
    return path, Expect(line_of(path.read_text(), lines[5]), "", "alias bomb")


def duplicate_key_nested(tmp: Path) -> tuple[Path, Expect]:
    text = edit("    u: 2\n", "    u: 2\n    u: 3\n")
    path = tmp / "site.yaml"
    path.write_text(text)
    first = line_of(text, "    u: 2")
    return path, Expect(first + 1, "nodes[1].u", f"duplicate key (first set on line {first})")


def duplicate_key_top(tmp: Path) -> tuple[Path, Expect]:
    text = SITE + "site: lab2\n"
    path = tmp / "site.yaml"
    path.write_text(text)
    return path, Expect(line_of(text, "site: lab2"), "site",
                        f"duplicate key (first set on line {line_of(text, 'site: lab')})")


def not_utf8(tmp: Path) -> tuple[Path, Expect]:
    text = edit("site: lab\n", "site: lab\ndescription: café lab\n")
    path = tmp / "site.yaml"
    path.write_bytes(text.encode("latin-1"))  # é is the single byte 0xe9
    return path, Expect(line_of(text, "description: café lab"), "", "not valid UTF-8 (byte 0xe9")


def tab_indent(tmp: Path) -> tuple[Path, Expect]:
    text = edit("  - name: gpu1\n    rack: lab\n", "  - name: gpu1\n\track: lab\n")
    path = tmp / "site.yaml"
    path.write_text(text)
    return path, Expect(line_of(text, "\track: lab"), "", "tab character")


def empty_file(tmp: Path) -> tuple[Path, Expect]:
    path = tmp / "site.yaml"
    path.write_bytes(b"")
    return path, Expect(None, "", "file is empty")


def comments_only(tmp: Path) -> tuple[Path, Expect]:
    path = tmp / "site.yaml"
    path.write_text("# site file for rack r01\n# TODO: fill in\n\n")
    return path, Expect(None, "", "empty")


def directory(tmp: Path) -> tuple[Path, Expect]:
    path = tmp / "site.yaml"
    path.mkdir()
    return path, Expect(None, "", "is a directory")


def missing_file(tmp: Path) -> tuple[Path, Expect]:
    return tmp / "no-such-site.yaml", Expect(None, "", "no such file")


def huge_file(tmp: Path) -> tuple[Path, Expect]:
    """50 MiB: a valid site extended (sparsely, so quickly) with NUL bytes; refused by size before reading."""
    path = tmp / "site.yaml"
    with path.open("w") as f:
        f.write(SITE)
        f.truncate(50 * 2**20)
    return path, Expect(None, "", "file is 50.0 MiB; the limit is")


def two_documents(tmp: Path) -> tuple[Path, Expect]:
    text = SITE + "---\n" + SITE
    path = tmp / "site.yaml"
    path.write_text(text)
    return path, Expect(line_of(text, "---"), "", "more than one YAML document")


def recursive_alias(tmp: Path) -> tuple[Path, Expect]:
    text = SITE + "loop: &loop [1, *loop]\n"
    path = tmp / "site.yaml"
    path.write_text(text)
    return path, Expect(line_of(text, "loop: &loop [1, *loop]"), "", "alias refers to the mapping or list that "
                                                                      "contains it")


def yaml_syntax_error(tmp: Path) -> tuple[Path, Expect]:
    text = edit("site: lab\n", "site: [lab\n")
    path = tmp / "site.yaml"
    path.write_text(text)
    return path, Expect(line_of(text, "site: [lab"), "", "not valid YAML")


HOSTILE: dict[str, Callable[[Path], tuple[Path, Expect]]] = {
    "alias-bomb": alias_bomb,
    "duplicate-key-nested": duplicate_key_nested,
    "duplicate-key-top-level": duplicate_key_top,
    "not-utf8": not_utf8,
    "tab-indentation": tab_indent,
    "empty-file": empty_file,
    "comments-only": comments_only,
    "directory": directory,
    "missing-file": missing_file,
    "50-mib-file": huge_file,
    "two-documents": two_documents,
    "recursive-alias": recursive_alias,
    "yaml-syntax-error": yaml_syntax_error,
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_refused(make: Callable[[Path], tuple[Path, Expect]], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "in"
    work.mkdir()
    path, expect = make(work)
    out = tmp_path / "out"
    check_refused(run_generate(path, out, capsys), path, out, expect)
