"""``anyrack provision``: real ansible-runner runs against two names of this machine (n1, n2, connection local)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from anyrack.cli.main import main
from anyrack.provision.scrub import HIDDEN_ERROR, REDACTED, scrub_event, secret_values

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/provision"
ANYRACK = Path(sys.executable).parent / "anyrack"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A valid site file with generated/hosts.yml beside it holding n1 and n2 (both this machine)."""
    shutil.copy(ROOT / "inventory/examples/lab/site.yaml", tmp_path / "site.yaml")
    (tmp_path / "generated").mkdir()
    shutil.copy(FIXTURES / "hosts.yml", tmp_path / "generated/hosts.yml")
    (tmp_path / "out").mkdir()
    return tmp_path / "site.yaml"


def provision(site: Path, playbook: str, *args: str) -> list[str]:
    return ["provision", str(site), "--playbook-dir", str(FIXTURES), "--playbook", playbook, *args]


def only_run(site: Path) -> Path:
    runs = list((site.parent / ".anyrack/runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def recap_rows(out: str) -> dict[str, list[int]]:
    """host -> [ok, changed, failed, unreachable, skipped] from the printed recap table."""
    assert "host  ok  changed  failed  unreachable  skipped" in out
    return {m[0]: [int(n) for n in m[1:]] for m in re.findall(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$",
                                                              out, re.M)}


def test_all_ok_then_idempotent(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = site.parent / "out"
    assert main(provision(site, "write.yml", "-e", f"out_dir={out_dir}")) == 0
    out = capsys.readouterr().out
    assert "[1/2] TASK Write the marker\n[2/2] TASK Skip this everywhere\n" in out
    assert recap_rows(out) == {"n1": [1, 1, 0, 0, 1], "n2": [1, 1, 0, 0, 1]}
    assert (out_dir / "n1.txt").read_text() == "provisioned n1\n"
    assert (out_dir / "n2.txt").read_text() == "provisioned n2\n"
    run = only_run(site)
    assert f"artifacts: {run}\n" in out
    assert run.name.endswith("Z-write") and (run / "status").read_text() == "successful"
    events = [json.loads(p.read_text()) for p in (run / "job_events").glob("*.json")]
    assert {"playbook_on_start", "runner_on_ok", "playbook_on_stats"} <= {e["event"] for e in events}
    assert "PLAY RECAP" in (run / "stdout").read_text()

    assert main([*provision(site, "write.yml", "-e", f"out_dir={out_dir}"), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["ok"] is True and data["rc"] == 0 and data["failures"] == []
    assert [(h["host"], h["ok"], h["changed"]) for h in data["hosts"]] == [("n1", 1, 0), ("n2", 1, 0)]
    assert "[1/2] TASK Write the marker" in captured.err  # progress goes to stderr with --json
    assert len(list((site.parent / ".anyrack/runs").iterdir())) == 2


def test_a_failing_host_is_named_and_exits_1(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(provision(site, "fail_n2.yml")) == 1
    captured = capsys.readouterr()
    line = "n2: failed: disk /dev/nvme9n1 missing on n2 (task: Check the disk)"
    assert "[1/4] TASK Say hello\n[2/4] TASK Flaky step\n  n1: failed: flaky on n1 (task: Flaky step)\n" \
        in captured.out  # failures are reported as they happen
    assert f"  {line}\n[5/5] TASK After the check\n" in captured.out  # a rescue task is one more than listed
    assert captured.err.splitlines() == [line]  # at the end only n2: n1 recovered in its rescue
    assert recap_rows(captured.out) == {"n1": [3, 0, 0, 0, 1], "n2": [1, 0, 1, 0, 1]}
    assert (only_run(site) / "status").read_text() == "failed"


def test_unreachable_host(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = site.parent / "other.yml"
    inventory.write_text("all:\n  hosts:\n    n1: {ansible_connection: local, ansible_python_interpreter: "
                         "'{{ ansible_playbook_python }}'}\n    gpu2: {ansible_host: 127.0.0.1, ansible_port: 1, "
                         "ansible_connection: ssh, ansible_user: nobody}\n")
    assert main(provision(site, "write.yml", "-i", str(inventory), "-e", f"out_dir={site.parent / 'out'}")) == 1
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("gpu2: unreachable: ") and "port 1" in line
    assert recap_rows(captured.out) == {"gpu2": [0, 0, 0, 1, 0], "n1": [1, 1, 0, 0, 1]}


def test_limit_and_check(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = site.parent / "out"
    assert main(provision(site, "write.yml", "--limit", "n1", "--check", "-e", f"out_dir={out_dir}")) == 0
    assert recap_rows(capsys.readouterr().out) == {"n1": [1, 1, 0, 0, 1]}
    assert list(out_dir.iterdir()) == []  # check mode changed nothing
    assert main(provision(site, "write.yml", "--limit", "n1", "-e", f"out_dir={out_dir}")) == 0
    assert recap_rows(capsys.readouterr().out) == {"n1": [1, 1, 0, 0, 1]}
    assert [p.name for p in out_dir.iterdir()] == ["n1.txt"]


def test_secrets_reach_neither_terminal_nor_artifacts(site: Path, tmp_path: Path) -> None:
    """A vars-file password, an inline token and an environment token, used under no_log (one in a failure message,
    which ansible-core 2.19 would display) and once without (the environment token), appear nowhere the run writes
    or prints."""
    planted = {"file": "Pl4nted-VarsFile-S3cret", "env": "Pl4nted-Env-T0ken", "inline": "Pl4nted-Inline-T0ken"}
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(f"bmc_password: {planted['file']}\n")
    proc = subprocess.run([str(ANYRACK), *provision(site, "secret.yml", "-e", f"@{secrets}",
                                                    "-e", f"api_token={planted['inline']}")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "ANYRACK_TEST_TOKEN": planted["env"]})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("n2: failed: the output has been hidden")
    run = only_run(site)
    files = [p for p in site.parent.joinpath(".anyrack").rglob("*") if p.is_file()]
    assert len(files) > 10
    for where, text in [("stdout", proc.stdout), ("stderr", proc.stderr),
                        *((str(p), p.read_text(errors="replace")) for p in files)]:
        for name, value in planted.items():
            assert value not in text, f"{name} secret leaked into {where}"
    assert HIDDEN_ERROR in (run / "stdout").read_text()
    assert [p.name for p in (run / "env").iterdir()] == ["settings"]
    record = json.loads((run / "command").read_text())
    assert record["env"]["ANYRACK_TEST_TOKEN"] == REDACTED
    assert f"@{secrets}" in record["command"]
    inline = Path(record["command"][record["command"].index(f"@{secrets}") + 2][1:])
    assert inline.name == "extra-vars.json" and not inline.exists()  # the inline vars file is gone


@pytest.mark.parametrize(("args", "message"), [
    (["--playbook", "nope.yml"], "nope.yml: no such playbook (playbooks in "),
    (["-e", "not a pair"], "--extra-vars 'not a pair': expected @FILE or NAME=VALUE"),
    (["-e", "@/nonexistent/vars.yml"], "--extra-vars '@/nonexistent/vars.yml': /nonexistent/vars.yml is not a file"),
    (["--private-key", "/nonexistent/key"], "--private-key /nonexistent/key: no such file"),
])
def test_bad_input_exits_2_and_writes_nothing(site: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", str(site), "--playbook-dir", str(FIXTURES), "--playbook", "write.yml", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert not (site.parent / ".anyrack").exists()


def test_missing_site_or_inventory_exits_2_with_hint(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", str(site.parent / "nosuch.yaml")]) == 2
    assert capsys.readouterr().err == f"{site.parent / 'nosuch.yaml'}: no such file\n"
    shutil.rmtree(site.parent / "generated")
    assert main(["provision", str(site)]) == 2
    assert capsys.readouterr().err == (f"{site.parent / 'generated'}: no inventory here; run `anyrack inventory "
                                       f"generate {site}` first (or give --inventory DIR)\n")
    assert sorted(p.name for p in site.parent.iterdir()) == ["out", "site.yaml"]


def test_scrub_event_hides_no_log_errors_and_known_secrets(tmp_path: Path) -> None:
    varsfile = tmp_path / "v.yml"
    varsfile.write_text("bmc:\n  password: hunter22\n  user: admin\nntp: pool.example\nshort_token: abc\n")
    secrets = secret_values({"X_TOKEN": "tok-123456", "HOME": "/root"}, [varsfile, tmp_path / "missing.yml"])
    assert secrets == {"hunter22", "tok-123456"}
    event = {"stdout": "[ERROR]: Task failed: bad hunter22\r\nOrigin: x.yml:3\r\nfatal: [n2]: FAILED! => censored",
             "event_data": {"res": {"censored": "hidden"}, "host": "n2"}}
    scrub_event(event, secrets)
    assert event["stdout"] == f"{HIDDEN_ERROR}\nfatal: [n2]: FAILED! => censored"
    event = {"stdout": "ok: [n1] => tok-123456", "event_data": {"res": {"msg": ["hunter22 and tok-123456"]}}}
    scrub_event(event, secrets)
    assert event == {"stdout": f"ok: [n1] => {REDACTED}",
                     "event_data": {"res": {"msg": [f"{REDACTED} and {REDACTED}"]}}}


def test_a_host_without_an_address_stops_the_run_before_it_starts(site: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    generated = site.parent / "generated"
    (generated / "hosts.yml").write_text("all:\n  hosts:\n    n1: {ansible_connection: local, "
                                         "ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
                                         "    gpu2:\n")
    (generated / "host_vars").mkdir()
    (generated / "host_vars/gpu2.yml").write_text("anyrack_rack: r1\n")  # its ansible_host lost by a hand edit
    assert main(provision(site, "write.yml", "-e", f"out_dir={site.parent / 'out'}")) == 2
    assert capsys.readouterr().err == (f"{generated / 'host_vars/gpu2.yml'}: gpu2: no address (ansible_host); "
                                       "rerun `anyrack inventory generate` or give it one\n")
    assert not (site.parent / ".anyrack").exists() and not list((site.parent / "out").iterdir())
    # --limit to the hosts that have one: the run goes ahead
    assert main(provision(site, "write.yml", "--limit", "n1", "-e", f"out_dir={site.parent / 'out'}")) == 0
