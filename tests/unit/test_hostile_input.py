"""Hostile input, round 2 (issue #21): one test per finding of the hostile corpus.

Inputs are files in ``tests/fixtures/hostile/`` (and ``tests/fixtures/bad_sites/69-74``, checked by
test_bad_sites); what cannot live in git — a FIFO, a symbolic link out of the tree, ``/dev/zero`` — is
made at run time in ``tmp_path``. Every case that hung on the old code runs the CLI in a subprocess
with a deadline, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from anyrack.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/hostile"
SITE = FIXTURES / "site.yaml"
ANYRACK = Path(sys.executable).parent / "anyrack"
DEADLINE_S = 60  # generous for a loaded 2-core machine; a refused input takes about a second


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script with a deadline (a hang is a failure, not a stuck suite)."""
    try:
        return subprocess.run([str(ANYRACK), *args], capture_output=True, text=True, timeout=DEADLINE_S,
                              env={**os.environ, **(env or {})}, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"anyrack {' '.join(args)} hung for {DEADLINE_S} s")


def refused(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    """Exit code 2, one line naming the problem, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert fragment in proc.stderr, proc.stderr
    assert len([ln for ln in lines if ln.strip()]) <= 3, proc.stderr  # click: usage, hint, the error line


# --- non-regular files and sizes: FIFO, /dev/zero, --ca ------------------------------------------------------

def test_site_file_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "site.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would block forever
    proc = run_cli("site", "validate", str(fifo))
    refused(proc, f"{fifo}: is a named pipe (FIFO); give a regular file")


def test_site_path_dev_zero_is_refused_without_reading() -> None:
    proc = run_cli("site", "validate", "/dev/zero")
    refused(proc, "/dev/zero: is a character device; give a regular file")


def test_facts_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    facts = tmp_path / "facts"
    facts.mkdir()
    os.mkfifo(facts / "gpu1.json")
    out = tmp_path / "out"
    proc = run_cli("inventory", "generate", str(SITE), "--facts", str(facts), "--out", str(out))
    refused(proc, f"{facts / 'gpu1.json'}: is a named pipe (FIFO)")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_ca_bundle_must_be_a_regular_file(kind: str, tmp_path: Path) -> None:
    ca = Path("/dev/zero")
    if kind == "fifo":
        ca = tmp_path / "ca.pem"
        os.mkfifo(ca)
    out = tmp_path / "facts"
    proc = run_cli("discover", str(SITE), "--out", str(out), "--ca", str(ca),
                   env={"ANYRACK_LAB_BMC_PASSWORD": "x" * 12})
    refused(proc, "Invalid value for '--ca'")
    assert "regular file" in proc.stderr
    assert not out.exists()


# --- CLI numbers: ranges, finite ---------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value"), [
    ("--concurrency", "0"), ("--concurrency", "-5"), ("--timeout", "-1"), ("--timeout", "nan"),
    ("--timeout", "inf"), ("--timeout", "0"),
])
def test_discover_numbers_out_of_range_are_refused(option: str, value: str, tmp_path: Path) -> None:
    out = tmp_path / "facts"
    proc = run_cli("discover", str(SITE), "--out", str(out), f"{option}={value}",
                   env={"ANYRACK_LAB_BMC_PASSWORD": "x" * 12})
    refused(proc, f"Invalid value for '{option}'")
    assert not out.exists()


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_bmc_timeout_and_wait_must_be_finite(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    for option in ("--timeout", "--wait"):
        rc = main(["bmc", "power", "redfish+https://127.0.0.1:9", "status", "-u", "x", "--password-env", "NOPE",
                   f"{option}={value}"] if option == "--timeout" else
                  ["bmc", "power", "redfish+https://127.0.0.1:9", "on", "-u", "x", "--password-env", "NOPE",
                   f"{option}={value}"])
        assert rc == 2
        assert f"Invalid value for '{option}'" in capsys.readouterr().err


# --- --out that is a file ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["inventory", "discover"])
def test_out_that_is_a_file_is_refused(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.write_text("an operator's notes\n")
    args = ["inventory", "generate", str(SITE)] if command == "inventory" else ["discover", str(SITE)]
    rc = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Invalid value for '--out'" in err and "is a file" in err
    assert out.read_text() == "an operator's notes\n"


# --- collected_at must be a timestamp ----------------------------------------------------------------------

def test_collected_at_must_be_a_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main(["inventory", "generate", str(SITE), "--facts", str(FIXTURES / "facts-bad-time"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"{FIXTURES / 'facts-bad-time/gpu1.json'}:2: collected_at: ")
    assert "'last tuesday' is not a timestamp" in err
    assert not out.exists()


# --- writes never follow a link out of the output tree -------------------------------------------------------

def test_symlink_planted_in_the_output_is_not_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, outside = tmp_path / "generated", tmp_path / "outside"
    assert main(["inventory", "generate", str(SITE), "--out", str(out)]) == 0
    outside.mkdir()
    (outside / "gpu1.yml").write_text("someone else's file\n")
    shutil.rmtree(out / "host_vars")
    (out / "host_vars").symlink_to(outside)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.is_symlink()}
    capsys.readouterr()

    rc = main(["inventory", "generate", str(SITE), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert f"{out / 'host_vars'}: cannot write: is a symbolic link or not a directory" in err
    assert sorted(p.name for p in outside.iterdir()) == ["gpu1.yml"]  # nothing written or replaced outside
    assert (outside / "gpu1.yml").read_text() == "someone else's file\n"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.is_symlink()} == before
    assert not [p for p in out.rglob("*.tmp")]


def test_symlinked_file_in_the_output_is_replaced_not_written_through(tmp_path: Path) -> None:
    out, target = tmp_path / "generated", tmp_path / "precious.txt"
    assert main(["inventory", "generate", str(SITE), "--out", str(out)]) == 0
    target.write_text("precious\n")
    (out / "hosts.yml").unlink()
    (out / "hosts.yml").symlink_to(target)
    assert main(["inventory", "generate", str(SITE), "--out", str(out)]) == 0
    assert target.read_text() == "precious\n"
    assert not (out / "hosts.yml").is_symlink() and "ctl1" in (out / "hosts.yml").read_text()


# --- two writers into one --out ------------------------------------------------------------------------------

def big_site(path: Path, computes: int) -> Path:
    """A valid site of one controller and ``computes`` compute nodes over racks of 40."""
    nodes = [{"name": "ctl1", "rack": "r00", "u": 1, "sku": "s", "role": "controller",
              "bmc": "redfish+https://10.10.0.1", "addresses": {"management": "10.77.0.1"}}]
    for i in range(computes):
        nodes.append({"name": f"gpu{i:04d}", "rack": f"r{i // 40 + 1:02d}", "u": i % 40 + 1, "sku": "s",
                      "role": "compute", "bmc": f"redfish+https://10.10.{i // 200 + 1}.{i % 200 + 1}",
                      "addresses": {"management": f"10.77.{i // 200 + 1}.{i % 200 + 1}"}})
    racks = sorted({n["rack"] for n in nodes})
    doc = {"version": 1, "site": path.stem, "defaults": {"bmc_credential": "bmc"},
           "credentials": {"bmc": {"username": "admin", "password": {"env": "ANYRACK_LAB_BMC_PASSWORD"}}},
           "networks": {"bmc": {"cidr": "10.10.0.0/16"}, "management": {"cidr": "10.77.0.0/16"}},
           "racks": [{"name": r, "height": 42} for r in racks], "skus": {"s": {"cpu": "2 vCPU", "memory_gib": 2}},
           "nodes": nodes}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _generate(site: str, out: str, rc_file: str) -> None:
    """Child process body: one ``anyrack inventory generate``, its exit code and stderr written to ``rc_file``."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["inventory", "generate", site, "--out", out])
    Path(rc_file).write_text(json.dumps({"rc": rc, "err": err.getvalue()}))


def test_two_concurrent_generates_twenty_times(tmp_path: Path) -> None:
    """Two runs into the same --out, started together, 20 times: each completes (the second waits on the lock) or
    says busy; afterwards hosts.yml and host_vars/ always describe the same, whole site."""
    small, large = big_site(tmp_path / "small.yaml", 99), big_site(tmp_path / "large.yaml", 149)
    want = {str(s): {"ctl1", *(f"gpu{i:04d}" for i in range(n))} for s, n in ((small, 99), (large, 149))}
    out = tmp_path / "generated"
    ctx = multiprocessing.get_context("fork")
    outcomes: list[int] = []
    for round_ in range(20):
        order = (small, large) if round_ % 2 else (large, small)
        rc_files = [tmp_path / f"rc{round_}-{i}.json" for i in range(2)]
        procs = [ctx.Process(target=_generate, args=(str(s), str(out), str(f))) for s, f in zip(order, rc_files,
                                                                                               strict=True)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(DEADLINE_S)
            assert p.exitcode == 0, f"round {round_}: child exit {p.exitcode}"
        results = [json.loads(f.read_text()) for f in rc_files]
        for r in results:
            assert r["rc"] == 0 or (r["rc"] == 75 and "busy" in r["err"]), (round_, r)
        outcomes += [r["rc"] for r in results]
        hosts = yaml.safe_load((out / "hosts.yml").read_text())["all"]["children"]
        in_hosts = {h for group in hosts.values() for h in (group.get("hosts") or {})}
        host_vars = {p.stem for p in (out / "host_vars").iterdir()}
        assert in_hosts == host_vars, f"round {round_}: {len(in_hosts)} hosts, {len(host_vars)} host_vars"
        assert host_vars in list(want.values()), f"round {round_}: a mix of both sites"
        assert not list(out.rglob("*.tmp")), f"round {round_}: temporaries left"
    assert outcomes.count(0) >= 20  # at least one run per round wrote the inventory


# --- the provision scrubber knows every secret the site declares ----------------------------------------------

def test_provision_redacts_a_declared_secret_whatever_its_variable_name(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    shutil.copy(FIXTURES / "provision-site.yaml", site)
    (tmp_path / "generated").mkdir()
    shutil.copy(ROOT / "tests/fixtures/provision/hosts.yml", tmp_path / "generated/hosts.yml")
    password = "Idr4c-Pl4nted-Passw0rd"
    proc = subprocess.run([str(ANYRACK), "provision", str(site), "--playbook-dir",
                           str(ROOT / "tests/fixtures/provision"), "--playbook", "bmc_env.yml", "--limit", "n1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "IDRAC_PASS": password})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = [p for p in (tmp_path / ".anyrack").rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files) and any(p.parent.name == "job_events" for p in files)
    for where, text in [("stdout", proc.stdout), ("stderr", proc.stderr),
                        *((str(p), p.read_text(errors="replace")) for p in files)]:
        assert password not in text, f"the IDRAC_PASS value leaked into {where}"
    run = next((tmp_path / ".anyrack/runs").iterdir())
    assert json.loads((run / "command").read_text())["env"]["IDRAC_PASS"] == "<redacted by anyrack>"
    assert "bmc password <redacted by anyrack>" in (run / "stdout").read_text()  # the task ran and was scrubbed


# --- Ctrl-C while the command is still starting up -----------------------------------------------------------

@pytest.mark.parametrize("library", ["_yaml", "pydantic_core"])
def test_ctrl_c_during_start_up_prints_one_line(library: str, tmp_path: Path) -> None:
    """SIGINT while the CLI is still importing (the moment a native library of its imports is mapped), and the
    site is a large one, so the command cannot have finished: one line, exit 130, no traceback."""
    site = big_site(tmp_path / "site.yaml", 1000)
    proc = subprocess.Popen([str(ANYRACK), "site", "validate", str(site)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + DEADLINE_S
    while library not in maps.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert stderr == "anyrack: interrupted by SIGINT\n", stderr
