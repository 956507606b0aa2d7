"""Stacks driven as the Pulumi engine drives them: the program's registrations sent to the dynamic
provider server (``python -m pulumi.dynamic``) over gRPC by tests/iac/engine.py, against emulated BMCs
over HTTPS whose every request is recorded."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pulumi
import pytest
from tests.iac.bmclab import RecordingLab, behind_pulumis_back, recording_lab, write_site
from tests.iac.engine import UNKNOWN, ProtectedError, Registration, changes, engine, run_program

from anyrack.iac import AnsibleRun, Play
from anyrack.iac.resources import BmcTarget, VirtualMedia
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec

pytestmark = pytest.mark.iac
ROOT = Path(__file__).resolve().parents[2]
SITE_STACK = ROOT / "stacks/site"
TREE = ROOT / "tests/fixtures/redfish/dell/idrac9-r750"
BMC_PASSWORD = "planted-bmc-pw-7Hq2"
OPS_PASSWORD = "planted-ops-pw-Zk41"
ISO = "http://127.0.0.1:8080/images/deploy.iso"
Program = Callable[..., list[Registration]]


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[RecordingLab, list[BmcEntry]]]:
    with recording_lab([TreeSpec(TREE, count=4)], LabOptions(power_delay_s=0.05, password=BMC_PASSWORD)) as got:
        yield got


@pytest.fixture
def site(tmp_path: Path, lab: tuple[RecordingLab, list[BmcEntry]], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANYRACK_LAB_BMC_PASSWORD", BMC_PASSWORD)
    monkeypatch.setenv("ANYRACK_OPS_PASSWORD", OPS_PASSWORD)
    return write_site(tmp_path / "inv/site.yaml", [e.url for e in lab[1]], racks=2)


def site_stack(site: Path, ca: str, **config: str) -> Program:
    """The site stack's own program (stacks/site/__main__.py) with ``config`` (keys of its Pulumi.yaml)."""
    settings = {"siteFile": os.path.relpath(site, SITE_STACK), "caFile": os.path.relpath(ca, SITE_STACK),
                "biosAttributes": '["AcPwrRcvry=Off"]', **config}

    def program() -> None:
        for key, value in settings.items():
            pulumi.runtime.set_config(f"anyrack-site:{key}", value)
        runpy.run_path(str(SITE_STACK / "__main__.py"), run_name="__main__")

    def registrations(preview: bool = False, exports: dict | None = None) -> list[Registration]:
        try:
            return run_program(program, "anyrack-site", "harness", preview, exports)
        finally:
            pulumi.runtime.set_all_config({})

    return registrations


def short(steps: list) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted((s.urn.rsplit("::", 1)[1], s.op) for s in steps)


def strings(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def test_a_second_up_with_unchanged_config_changes_nothing_and_touches_no_bmc(site: Path, lab) -> None:  # noqa: ANN001
    recorder, entries = lab
    program = site_stack(site, entries[0].ca)
    with engine(SITE_STACK, "anyrack-site") as e:
        first = e.up(program())
        assert {s.op for s in first} == {"create"}
        assert len(first) == 1 + 4 + 4 * 5 + 1  # the cluster, its nodes, their five steps, the inventory
        assert recorder.writes()
        calls, recorder.requests[:] = dict(e.calls), []
        assert changes(e.preview(program(preview=True))) == []
        again = e.up(program())
        assert changes(again) == [], short(changes(again))
        made = {k: e.calls.get(k, 0) - calls.get(k, 0) for k in ("Create", "Update", "Delete", "Check", "Diff")}
        assert made == {"Create": 0, "Update": 0, "Delete": 0, "Check": 2 * 21, "Diff": 2 * 21}
        assert recorder.requests == []  # Check and Diff never reach a BMC


def test_a_password_changed_behind_pulumis_back_is_drift_until_the_next_up(site: Path, lab, monkeypatch) -> None:  # noqa: ANN001
    recorder, entries = lab
    program = site_stack(site, entries[0].ca)
    with engine(SITE_STACK, "anyrack-site") as e:
        e.up(program())
        behind_pulumis_back(entries[2], lambda bmc: bmc.set_user("ops", "someone-elses-pw"))
        e.refresh(("-user",))  # pulumi refresh --target …-user: the other steps log in as ops and would fail
        drift = changes(e.preview(program(preview=True)))
        assert short(drift) == [("harness-gpu2-user", "update")]  # gpu2's BMC is entries[2]
        recorder.requests[:] = []
        e.up(program())
        assert {(m, p.rsplit("/", 1)[0]) for _a, m, p in recorder.writes()} == {
            ("PATCH", "/redfish/v1/AccountService/Accounts")}
        assert {a for a, _m, _p in recorder.writes()} == {entries[2].url.split("//")[1]}
        e.refresh()  # every resource reads back again
        assert changes(e.preview(program(preview=True))) == []


def test_state_holds_relative_paths_and_a_hash_never_file_text(site: Path, lab) -> None:  # noqa: ANN001
    program = site_stack(site, lab[1][0].ca)
    with engine(SITE_STACK, "anyrack-site") as e:
        e.up(program())
        checkpoint = json.loads(e.checkpoint())
        resources = checkpoint["checkpoint"]["latest"]["resources"]
        inventory = next(r for r in resources if r["urn"].endswith("-inventory"))
        assert set(inventory["inputs"]) - {"__provider"} == {"kind", "site", "out", "hash", "count"}  # facts: None
        assert inventory["outputs"]["out"] == os.path.relpath(site.parent / "generated", SITE_STACK)
        hosts = (site.parent / "generated/hosts.yml").read_text()  # written by the provider
        assert "gpu3" in hosts and hosts[:200] not in e.checkpoint()
        absolute = [(r["urn"], s) for r in resources for s in strings([r["inputs"], r["outputs"]])
                    if s.startswith("/")]
        assert absolute == []
        assert len(e.checkpoint()) < 120_000, len(e.checkpoint())
        # a hand edit is drift: refresh re-hashes the files, the next up writes them again
        (site.parent / "generated/hosts.yml").write_text("edited\n")
        e.refresh()
        assert short(changes(e.preview(program(preview=True)))) == [("harness-inventory", "update")]
        e.up(program())
        assert (site.parent / "generated/hosts.yml").read_text() == hosts


def test_no_planted_secret_in_state_outputs_or_provider_logs(site: Path, lab) -> None:  # noqa: ANN001
    program = site_stack(site, lab[1][0].ca, rotateBmcUser="one")
    with engine(SITE_STACK, "anyrack-site") as e:
        regs = program()
        secret = {k for r in regs for k, v in r.props.items() if isinstance(v, dict) and "value" in v}
        assert {"password", "user_password"} <= secret
        e.up(regs)
        e.refresh()
        exports: dict = {}
        e.up(program(exports=exports))
        assert any("power" in v for v in exports.values())  # the stack's exports were recorded
        text = e.checkpoint() + json.dumps(exports)
        assert BMC_PASSWORD not in text and OPS_PASSWORD not in text
        resources = json.loads(e.checkpoint())["checkpoint"]["latest"]["resources"]
        user = next(r for r in resources if r["urn"].endswith("gpu1-user"))
        assert "ciphertext" in user["inputs"]["password"] and "password" not in user["outputs"]
        e.stop()
        log = e.server_log()
    assert BMC_PASSWORD not in log and OPS_PASSWORD not in log


def test_rotation_and_redeploy_happen_only_when_asked(site: Path, lab) -> None:  # noqa: ANN001
    recorder, entries = lab
    ca = entries[0].ca
    with engine(SITE_STACK, "anyrack-site") as e:
        e.up(site_stack(site, ca)())
        assert all(r.protect for r in site_stack(site, ca)() if r.name.endswith("-deploy"))
        # a new image is recorded, nothing is reinstalled
        recorder.requests[:] = []
        steps = changes(e.up(site_stack(site, ca, osMethod="iso", osImage=ISO)()))
        assert {op for _n, op in short(steps)} == {"update"}
        assert not [p for _a, _m, p in recorder.writes() if "Reset" in p or "VirtualMedia" in p]  # no reinstall
        assert {n for n, _op in short(steps) if n.endswith("-deploy")} == {f"harness-{n}-deploy" for n in
                                                                             ("ctl1", "gpu1", "gpu2", "gpu3")}
        iso = {"osMethod": "iso", "osImage": ISO}
        # rotation: every user's password set again, one PATCH per BMC
        steps = changes(e.up(site_stack(site, ca, rotateBmcUser="2026-12", **iso)()))
        assert short(steps) == [(f"harness-{n}-user", "update") for n in ("ctl1", "gpu1", "gpu2", "gpu3")]
        assert changes(e.up(site_stack(site, ca, rotateBmcUser="2026-12", **iso)())) == []
        # a redeploy of one node replaces that node's OsDeploy only (unprotected for it)
        recorder.requests[:] = []
        regs = site_stack(site, ca, redeploy='["gpu3=r1"]', rotateBmcUser="2026-12", **iso)()
        assert short(changes(e.up(regs))) == [("harness-gpu3-deploy", "replace")]
        assert {a for a, _m, _p in recorder.writes()} == {entries[3].url.split("//")[1]}
        assert any(p.endswith("Actions/ComputerSystem.Reset") for _a, _m, p in recorder.writes())
        assert changes(e.up(site_stack(site, ca, rotateBmcUser="2026-12", **iso)())) == []  # token dropped: no-op
        # the engine refuses to delete protected deploys
        with pytest.raises(ProtectedError, match="gpu1-deploy"):
            e.up([r for r in regs if "gpu1" not in r.name])


def test_deploys_are_batched(site: Path, lab) -> None:  # noqa: ANN001
    regs = {r.name: r for r in site_stack(site, lab[1][0].ca, deployBatch="2")()}
    assert regs["harness-gpu3-deploy"].dependencies.count(regs["harness-gpu1-deploy"].urn) == 1
    assert regs["harness-gpu2-deploy"].dependencies.count(regs["harness-ctl1-deploy"].urn) == 1
    assert regs["harness-gpu1-deploy"].urn not in regs["harness-gpu2-deploy"].dependencies


def test_preview_sends_unknowns_and_diff_reports_them(site: Path, lab) -> None:  # noqa: ANN001
    program = site_stack(site, lab[1][0].ca)
    with engine(SITE_STACK, "anyrack-site") as e:
        e.up(program())
        regs = program(preview=True)
        boot = next(r for r in regs if r.name == "harness-gpu1-boot")
        boot.props["url"] = UNKNOWN  # as an input computed from an output not known yet
        steps = changes(e.preview(regs))
        assert [(s.op, s.replaces) for s in steps] == [("replace", ["url"])]


def test_virtual_media_through_the_server(lab, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    """VirtualMedia (not in the site stack): create, no-op, drift found by refresh, delete. PlaybookRun goes
    through the server in test_cluster_secrets_reach_ansible_and_never_the_state."""
    entries = lab[1]
    bmc = BmcTarget("gpu1", f"redfish+{entries[1].url}", "admin", BMC_PASSWORD, {"env": "ANYRACK_LAB_BMC_PASSWORD"},
                    entries[1].ca)
    monkeypatch.setenv("ANYRACK_LAB_BMC_PASSWORD", BMC_PASSWORD)

    def program() -> None:
        VirtualMedia("media", bmc, ISO)

    with engine(tmp_path) as e:
        assert short(e.up(run_program(program, "anyrack", "t"))) == [("media", "create")]
        assert behind_pulumis_back(entries[1], lambda b: b.media_status()).image == ISO
        assert changes(e.up(run_program(program, "anyrack", "t"))) == []
        behind_pulumis_back(entries[1], lambda b: b.eject_media())
        e.refresh()
        assert short(changes(e.preview(run_program(program, "anyrack", "t")))) == [("media", "update")]
        e.destroy()
        assert not behind_pulumis_back(entries[1], lambda b: b.media_status()).inserted
        assert {k: e.calls[k] for k in ("Check", "Diff", "Create", "Read", "Delete")} == {
            "Check": 3, "Diff": 2, "Create": 1, "Read": 1, "Delete": 1}


def test_cluster_secrets_reach_ansible_and_never_the_state(tmp_path: Path) -> None:
    """slurmdbd's password and the MUNGE key as Pulumi secrets: the play gets them, no output holds them."""
    db_password, key = "planted-db-pw-Qx83", os.urandom(1024)
    munge = base64.b64encode(key).decode()
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.copy:\n"
        f"        dest: {tmp_path}/seen\n"
        "        content: \"{{ slurm_dbd_db_password | hash('sha256') }} "
        "{{ lookup('ansible.builtin.file', munge_key_dir + '/' + munge_key_name) | b64encode | length }}\"\n")
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory/hosts.ini").write_text(f"localhost ansible_connection=local "
                                                  f"ansible_python_interpreter={sys.executable}\n")

    def program() -> None:
        secrets = {"slurm_dbd_db_password": pulumi.Output.secret(db_password),
                   "munge_key": pulumi.Output.secret(munge)}
        AnsibleRun("play", Play("site.yml", secret_vars=secrets), "inventory", base=tmp_path)

    with engine(tmp_path) as e:
        regs = run_program(program, "anyrack", "t")
        run = next(r for r in regs if r.name == "play-run")
        assert run.props["secret_names"] == ["munge_key", "slurm_dbd_db_password"]
        assert e.up(regs) and changes(e.up(run_program(program, "anyrack", "t"))) == []
        text = e.checkpoint() + e.server_log()
    seen = (tmp_path / "seen").read_text().split()
    assert seen[0] == hashlib.sha256(db_password.encode()).hexdigest()
    assert int(seen[1]) > 1000  # the key file's bytes reached the play (lookup reads it as text)
    runs = "".join(p.read_text(errors="replace") for p in (tmp_path / ".anyrack/runs").rglob("*") if p.is_file())
    for planted in (db_password, munge[:40]):
        assert planted not in text and planted not in runs
