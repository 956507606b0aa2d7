"""Interrupting discovery (issue #21): Ctrl-C against 40 emulated BMCs prints one line, exits 130 and leaves no
session open on any BMC (read from each emulator's session table); after a SIGKILL the run journal makes
``--retry-failed`` retry every node the killed run never finished."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab
from anyrack.lab.sitefile import lab_site

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
ANYRACK = Path(sys.executable).parent / "anyrack"
PASSWORD = "lab-Pa55word-intr"
BMCS = 40
SESSIONS = "/redfish/v1/SessionService/Sessions"


def open_sessions(entry: BmcEntry) -> int:
    """How many sessions the emulated BMC holds (read with basic auth, which opens none)."""
    auth = "Basic " + base64.b64encode(f"{entry.username}:{entry.password}".encode()).decode()
    request = urllib.request.Request(entry.url + SESSIONS, headers={"Authorization": auth})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=entry.ca), timeout=20) as resp:
        return len(json.load(resp)["Members"])


def session_table(entries: list[BmcEntry]) -> list[int]:
    with ThreadPoolExecutor(len(entries)) as pool:
        return list(pool.map(open_sessions, entries))


@pytest.fixture(scope="module")
def lab() -> list[BmcEntry]:
    """40 BMCs answering after 250 ms each, so that a discovery is still logged in everywhere when stopped."""
    port_base = random.SystemRandom().randrange(20000, 32000, 100)
    options = LabOptions(port_base=port_base, password=PASSWORD, latency_ms=250, seed=7)
    with serve_lab([TreeSpec(FIXTURES / "dell/idrac9-r750", count=BMCS)], options) as entries:
        yield entries


def start_discover(tmp_path: Path, entries: list[BmcEntry], *extra: str) -> tuple[subprocess.Popen, Path]:
    site = tmp_path / "site.yaml"
    site.write_text(lab_site(entries, password_env="ANYRACK_TEST_BMC_PASSWORD"))
    out = tmp_path / "facts"
    proc = subprocess.Popen([str(ANYRACK), "discover", str(site), "--out", str(out), "--ca", entries[0].ca,
                             "--timeout", "20", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ANYRACK_TEST_BMC_PASSWORD": PASSWORD})
    return proc, out


def wait_logged_in(proc: subprocess.Popen, entries: list[BmcEntry], at_least: int) -> list[int]:
    """Poll the session tables until ``at_least`` BMCs hold a session of this discovery."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        table = session_table(entries)
        if sum(1 for n in table if n) >= at_least:
            return table
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"discovery never held {at_least} sessions at once: {table}")


def test_ctrl_c_during_discovery_prints_one_line_exits_130_and_leaves_no_session(lab: list[BmcEntry],
                                                                                  tmp_path: Path) -> None:
    assert session_table(lab) == [0] * BMCS
    proc, out = start_discover(tmp_path, lab)
    during = wait_logged_in(proc, lab, at_least=BMCS // 2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Error" not in stderr.replace("failed:", ""), stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("[", "failed: "))]
    assert len(lines) == 1, stderr  # only progress bars (if a node finished) besides it
    assert lines[0].startswith("discover: interrupted by SIGINT; ") and "--retry-failed" in lines[0]
    assert took < 15, f"cleanup took {took:.1f} s"
    after = session_table(lab)
    assert after == [0] * BMCS, f"sessions left: {after} (held when interrupted: {during})"
    assert (out / ".discovery-journal").is_file()  # the run did not finish: the journal says what is left
    print(f"interrupted with {sum(during)} sessions open on {sum(1 for n in during if n)} BMCs; "
          f"exit {proc.returncode} after {took:.2f} s; {sum(after)} sessions left")


def test_retry_failed_after_sigkill_retries_what_never_finished(lab: list[BmcEntry], tmp_path: Path) -> None:
    proc, out = start_discover(tmp_path, lab)
    wait_logged_in(proc, lab, at_least=5)
    proc.kill()  # SIGKILL: no cleanup, no report
    proc.communicate(timeout=30)
    written = {p.stem for p in out.glob("*.json") if not p.name.startswith(".")}
    assert not (out / ".discovery-report.json").exists()
    assert len(written) < BMCS
    journal = [json.loads(line) for line in (out / ".discovery-journal").read_text().splitlines()]
    planned, finished = set(journal[0]["planned"]), {e["node"] for e in journal[1:] if e["ok"]}
    assert len(planned) == BMCS and finished <= written

    # the leaked sessions of the killed run expire on a real BMC; here they stay, below the limit of 8
    retry = subprocess.run([str(ANYRACK), "discover", str(tmp_path / "site.yaml"), "--out", str(out), "--ca",
                            lab[0].ca, "--timeout", "20", "--retry-failed", "--json"], capture_output=True, text=True,
                           timeout=180, env={**os.environ, "ANYRACK_TEST_BMC_PASSWORD": PASSWORD})
    assert retry.returncode == 0, retry.stderr
    retried = {o["node"] for o in json.loads(retry.stdout[: retry.stdout.rindex("]") + 1])}
    assert retried == planned - finished  # exactly what the killed run never finished
    assert retried >= planned - written
    assert len([p for p in out.glob("*.json") if not p.name.startswith(".")]) == BMCS
    assert not (out / ".discovery-journal").exists()
    assert json.loads((out / ".discovery-report.json").read_text())["failed"] == {}
