"""Burn-in levels 2 and 3: the parsers and comparisons on the tool outputs in tests/fixtures/burnin (written
from the documented formats: no GPU here, see its SOURCE.md), and the modules and role run by
ansible-playbook on this machine.

This machine has no dcgmi, nvbandwidth, all_reduce_perf or nvidia-smi. The end-to-end tests therefore
check the missing-tool failure as it is, and put STAND-IN tools on PATH (shell scripts written by the test
that print the fixture files) to check the command lines, parsing and comparisons through Ansible. A
stand-in proves the wiring, not that a real GPU passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import load_module

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests/fixtures/burnin"
BIN = Path(sys.executable).parent


l2 = load_module("burnin", "burnin_l2")
l3 = load_module("burnin", "burnin_l3")
HGX = {"gpu": {"count": 8, "model": "H100", "nvswitch": True}}
LIMITS = {"dcgm_diag_level": 2, "nvbandwidth_min_gbytes_s": {"h2d": 50, "d2h": 50, "d2d": 300},
          "nccl_busbw_min_gbytes_s": 400, "nccl_min_bytes": 8, "nccl_max_bytes": 8 * 2**30}


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def failed(results: list[dict]) -> dict[str, str]:
    return {r["name"]: r["detail"] for r in results if not r["ok"]}


# --- DCGM diagnostic ----------------------------------------------------------------------------------------


def test_dcgm_diag_passes_with_a_warning_noted() -> None:
    parsed = l2.parse_dcgm(text("dcgm-diag-r2-pass.json"))
    assert parsed["version"] == "4.2.3" and parsed["runtime_error"] is None
    assert {t["name"] for t in parsed["tests"]} == {"software", "pcie", "memory", "diagnostic"}
    assert len(parsed["tests"]) == 32  # 4 tests x 8 GPUs
    assert l2.dcgm_check(parsed, 2) == {"name": "dcgm_diag", "ok": True,
                                        "detail": "-r 2: 4 tests passed or skipped; warnings from pcie"}


def test_dcgm_diag_v3_layout() -> None:
    parsed = l2.parse_dcgm(text("dcgm-diag-v3-r2-pass.json"))
    assert parsed["version"] == "3.3.9"
    assert parsed["tests"][0] == {"category": "Deployment", "name": "Denylist", "status": "pass",
                                  "gpu": "0,1,2,3,4,5,6,7", "warnings": []}
    assert l2.dcgm_check(parsed, 2)["ok"] is True


def test_dcgm_diag_failed_test_names_gpu_and_warning() -> None:
    check = l2.dcgm_check(l2.parse_dcgm(text("dcgm-diag-r2-memory-fail.json")), 2)
    assert check == {"name": "dcgm_diag", "ok": False, "detail": "-r 2: memory failed on GPU 3: GPU 3: 2 DRAM "
                     "uncorrectable errors detected during the memory test"}
    assert l2.reason([check]).startswith("anyrack: burn-in L2 dcgm_diag: -r 2: memory failed on GPU 3")
    assert len(l2.reason([check])) == 120


def test_dcgm_diag_runtime_error_fails() -> None:
    check = l2.dcgm_check(l2.parse_dcgm(text("dcgm-diag-runtime-error.json")), 3)
    assert check["ok"] is False
    assert check["detail"] == "-r 3: Unable to create a diagnostic group: the GPUs are in use by another process"


@pytest.mark.parametrize(("output", "message"), [
    (text("dcgm-diag-no-hostengine.txt"), "no JSON object"),
    ('{"DCGM Diagnostic": {"test_categories": [}', "not valid JSON: Expecting value"),
    ('{"something": {}}', "no 'DCGM Diagnostic' object"),
    ('{"DCGM Diagnostic": {"test_categories": []}}', "reported no tests"),
    ('{"DCGM Diagnostic": {"test_categories": 7}}', "not a list"),
    ("[1, 2]", "no JSON object"),
])
def test_dcgm_diag_malformed_output_is_refused(output: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        l2.parse_dcgm(output)


# --- nvbandwidth --------------------------------------------------------------------------------------------


def test_nvbandwidth_matrices() -> None:
    h2d = l2.parse_nvbandwidth(text("nvbandwidth-h2d.txt"))["host_to_device_memcpy_ce"]
    assert h2d["status"] == "ok" and h2d["description"].startswith("memcpy CE CPU(row) -> GPU(column)")
    assert h2d["matrix"] == {(0, 0): 55.17, (0, 1): 55.23, (0, 2): 55.09, (0, 3): 55.31, (0, 4): 55.12,
                             (0, 5): 55.26, (0, 6): 55.2, (0, 7): 55.15}
    d2d = l2.parse_nvbandwidth(text("nvbandwidth-d2d.txt"))["device_to_device_memcpy_read_ce"]
    assert len(d2d["matrix"]) == 56 and (3, 3) not in d2d["matrix"]  # N/A diagonal left out


@pytest.mark.parametrize(("direction", "fixture", "minimum", "ok", "detail"), [
    ("h2d", "nvbandwidth-h2d.txt", 50, True, "lowest 55.09 GB/s (GPU 2; minimum 50)"),
    ("h2d", "nvbandwidth-h2d.txt", 55.1, False, "lowest 55.09 GB/s (GPU 2; minimum 55.1)"),
    ("h2d", "nvbandwidth-h2d.txt", None, True, "lowest 55.09 GB/s (GPU 2; no minimum set)"),
    ("d2h", "nvbandwidth-d2h-gpu4-slow.txt", 50, False, "lowest 41.36 GB/s (GPU 4; minimum 50)"),
    ("d2d", "nvbandwidth-d2d.txt", 300, True, "lowest 389.10 GB/s (GPU 0 <- GPU 7; minimum 300)"),
    ("d2d", "nvbandwidth-d2d-pair-2-5-slow.txt", 300, False, "lowest 121.48 GB/s (GPU 2 <- GPU 5; minimum 300)"),
])
def test_nvbandwidth_against_each_minimum(direction: str, fixture: str, minimum: float | None, ok: bool,
                                          detail: str) -> None:
    cases = l2.parse_nvbandwidth(text(fixture))
    check = l2.bandwidth_check(direction, cases[l2.TESTCASES[direction]], minimum)
    assert check == {"name": f"nvbandwidth_{direction}", "ok": ok, "detail": detail}


def test_nvbandwidth_waived_and_cuda_error_fail() -> None:
    waived = l2.parse_nvbandwidth(text("nvbandwidth-waived.txt"))
    assert list(waived) == [None]  # nvbandwidth names no testcase when it waives one
    assert l2.bandwidth_check("d2d", waived[None], 300) == {
        "name": "nvbandwidth_d2d", "ok": False,
        "detail": "device_to_device_memcpy_read_ce waived: the test does not apply to this node"}
    died = l2.parse_nvbandwidth(text("nvbandwidth-cuda-error.txt"))["host_to_device_memcpy_ce"]
    assert l2.bandwidth_check("h2d", died, 50) == {
        "name": "nvbandwidth_h2d", "ok": False, "detail": "host_to_device_memcpy_ce printed no bandwidth"}
    assert l2.bandwidth_check("h2d", None, 50)["detail"] == "host_to_device_memcpy_ce did not run"


@pytest.mark.parametrize("output", ["", "nvbandwidth Version: v0.7\n", "Segmentation fault\n"])
def test_nvbandwidth_malformed_output_is_refused(output: str) -> None:
    with pytest.raises(ValueError, match="no 'Running <testcase>' line"):
        l2.parse_nvbandwidth(output)


# --- NCCL all-reduce ----------------------------------------------------------------------------------------


def test_nccl_table() -> None:
    parsed = l3.parse_nccl(text("nccl-all-reduce-8gpu.txt"))
    assert len(parsed["rows"]) == 31 and parsed["rows"][0]["size"] == 8 and parsed["rows"][-1]["size"] == 8 * 2**30
    assert parsed["rows"][-1]["out"] == {"time_us": 31337.0, "algbw": 274.11, "busbw": 479.69, "wrong": 0.0}
    assert parsed["rows"][-1]["in"]["busbw"] == 478.73
    assert parsed["avg_busbw"] == 172.0783 and parsed["out_of_bounds"] == 0 and parsed["errors"] == []
    assert l3.nccl_checks(parsed, 400, 8 * 2**30) == [
        {"name": "nccl_all_reduce", "ok": True,
         "detail": "busbw 478.73 GB/s at 8589934592 B, average 172.078 (minimum 400)"},
        {"name": "nccl_correctness", "ok": True, "detail": "no wrong values"}]


def test_nccl_root_column_is_optional() -> None:
    """Older nccl-tests print no root column; the table is read from the right."""
    lines = text("nccl-all-reduce-8gpu.txt").splitlines()
    old = "\n".join(line.replace("     sum      -1 ", "     sum ") for line in lines)
    assert l3.parse_nccl(old)["rows"][-1]["out"]["busbw"] == 479.69


def test_nccl_slow_wrong_failure_and_short_run() -> None:
    slow = l3.nccl_checks(l3.parse_nccl(text("nccl-all-reduce-8gpu-slow.txt")), 400, 8 * 2**30)
    assert failed(slow) == {"nccl_all_reduce": "busbw 239.44 GB/s at 8589934592 B, average 93.7786 (minimum 400)"}
    assert l3.reason(slow).startswith("anyrack: burn-in L3 nccl_all_reduce: busbw 239.44 GB/s")
    wrong = l3.nccl_checks(l3.parse_nccl(text("nccl-all-reduce-8gpu-wrong.txt")), 400, 8 * 2**30)
    assert failed(wrong) == {"nccl_correctness": "wrong values at 1048576 B"}
    broken = l3.nccl_checks(l3.parse_nccl(text("nccl-all-reduce-nccl-failure.txt")), 400, 8 * 2**30)
    assert failed(broken) == {
        "nccl_all_reduce": "no result: gpu001: Test NCCL failure common.cu:1005 'unhandled cuda error (run with "
                           "NCCL_DEBUG=INFO for details)'",
        "nccl_correctness": "gpu001: Test NCCL failure common.cu:1005 'unhandled cuda error (run with NCCL_DEBUG=INFO "
                            "for details)'"}
    lines = text("nccl-all-reduce-8gpu.txt").splitlines()
    cut = "\n".join(line for line in lines if not line.strip()[:1].isdigit() or int(line.split()[0]) <= 2**26)
    short = l3.nccl_checks(l3.parse_nccl(cut), 1, 8 * 2**30)
    assert failed(short)["nccl_all_reduce"].startswith("busbw 442.84 GB/s at 67108864 B (asked up to 8589934592 B)")


@pytest.mark.parametrize("output", ["", "all_reduce_perf: error while loading shared libraries: libnccl.so.2\n",
                                    "# nThread 1 nGpus 8\n#  size count\n"])
def test_nccl_malformed_output_is_refused(output: str) -> None:
    with pytest.raises(ValueError, match="no result table"):
        l3.parse_nccl(output)


# --- the modules' decisions without running anything --------------------------------------------------------


class NoTools:
    """An AnsibleModule stand-in on a node with none of the tools."""

    params = {"dcgmi": "dcgmi", "nvbandwidth": "nvbandwidth", "all_reduce_perf": "all_reduce_perf"}

    def get_bin_path(self, name: str, opt_dirs: list[str] | None = None) -> None:
        return None

    def run_command(self, argv: list[str]) -> None:
        raise AssertionError(f"nothing may run: {argv}")


def test_missing_tools_fail_and_no_gpus_pass_as_na() -> None:
    checks, _ = l2.run(NoTools(), HGX, LIMITS)
    assert failed(checks) == {
        "dcgm_diag": "dcgmi is not installed (DCGM); level 2 cannot run",
        "nvbandwidth_h2d": "nvbandwidth is not installed; level 2 cannot run",
        "nvbandwidth_d2h": "nvbandwidth is not installed; level 2 cannot run",
        "nvbandwidth_d2d": "nvbandwidth is not installed; level 2 cannot run"}
    checks, _ = l3.run(NoTools(), HGX, {**LIMITS, "hpl": True})
    assert failed(checks) == {"nccl_all_reduce": "all_reduce_perf is not installed (nccl-tests); level 3 cannot run",
                              "nccl_correctness": "all_reduce_perf is not installed (nccl-tests); level 3 cannot run"}
    assert checks[-1] == {"name": "hpl", "ok": True,
                          "detail": "not run: anyrack does not run HPL (hpl: true is recorded only)"}
    none = {"gpu": {"count": 0, "model": "none"}}
    assert [(c["name"], c["ok"], c["detail"]) for c in l2.run(NoTools(), none, LIMITS)[0]] == [
        ("dcgm_diag", True, "n/a: the SKU has no GPUs"), ("nvbandwidth_h2d", True, "n/a: the SKU has no GPUs"),
        ("nvbandwidth_d2h", True, "n/a: the SKU has no GPUs")]
    assert all(c["ok"] for c in l3.run(NoTools(), {"gpu": {"count": 1, "model": "L4"}}, LIMITS)[0])


# --- through ansible-playbook on this machine ---------------------------------------------------------------


def stand_ins(where: Path, d2d: str = "nvbandwidth-d2d.txt", nccl: str = "nccl-all-reduce-8gpu.txt") -> Path:
    """STAND-IN tools (no GPU here): shell scripts that log their arguments and print fixture files."""
    where.mkdir(exist_ok=True)
    log = where / "argv.log"
    scripts = {
        "nvidia-smi": f"cat {ROOT}/tests/fixtures/nvidia-smi/hgx-h100-8gpu.xml",
        "dcgmi": f'echo "dcgmi $*" >> {log}\ncat {FIXTURES}/dcgm-diag-r2-pass.json',
        "nvbandwidth": f'echo "nvbandwidth $*" >> {log}\ncase "$2" in\n'
                       f"  host_to_device_memcpy_ce) cat {FIXTURES}/nvbandwidth-h2d.txt ;;\n"
                       f"  device_to_host_memcpy_ce) sed 's/host_to_device/device_to_host/; s/) ->/) <-/' "
                       f"{FIXTURES}/nvbandwidth-h2d.txt ;;\n"
                       f"  device_to_device_memcpy_read_ce) cat {FIXTURES}/{d2d} ;;\nesac",
        "all_reduce_perf": f'echo "all_reduce_perf $*" >> {log}\ncat {FIXTURES}/{nccl}',
        # Slurm's scontrol for one node, its state kept in a file
        "scontrol": f'echo "scontrol $*" >> {log}\ncase "$1" in\n'
                    f'  show) cat {where}/node 2>/dev/null || echo "NodeName=localhost State=IDLE" ;;\n'
                    f'  update) case "$3" in\n'
                    f"    State=DRAIN) printf 'NodeName=localhost State=IDLE+DRAIN %s\\n' \"$4\" > {where}/node ;;\n"
                    f"    State=RESUME) echo 'NodeName=localhost State=IDLE' > {where}/node ;;\n  esac ;;\nesac",
    }
    for name, body in scripts.items():
        path = where / name
        path.write_text(f"#!/bin/sh\n# STAND-IN for {name} (no GPU or Slurm on this machine)\n{body}\n")
        path.chmod(0o755)
    return where


def playbook(tmp: Path, plays: list[dict], path_dirs: list[Path] = ()) -> tuple[dict, dict]:
    """(stats, {task name: result}) of one ansible-playbook run on localhost."""
    book = tmp / "play.yml"
    book.write_text(json.dumps(plays))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "ANSIBLE_LIBRARY": str(ROOT / "roles/burnin/library"), "ANSIBLE_LOCALHOST_WARNING": "False",
           "PATH": os.pathsep.join([*map(str, path_dirs), str(BIN), os.environ.get("PATH", "")])}
    if not any(p.get("roles") for p in plays):  # the modules bare: the role would have added its module_utils
        env["ANSIBLE_MODULE_UTILS"] = str(ROOT / "roles/burnin/module_utils")
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter={{ ansible_playbook_python }}", str(book)],
                          capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = json.loads(done.stdout)
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for p in out["plays"] for t in p["tasks"]
             if "localhost" in t["hosts"]}
    return out["stats"]["localhost"], tasks


def module_play(sku: dict, tools: dict | None = None) -> list[dict]:
    tools = tools or {}
    return [{"name": "levels 2 and 3", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "l2", "burnin_l2": {"sku": sku, "thresholds": LIMITS, **{k: v for k, v in tools.items()
                                                                          if k in ("dcgmi", "nvbandwidth")}}},
        {"name": "l3", "burnin_l3": {"sku": sku, "thresholds": LIMITS,
                                     **{k: v for k, v in tools.items() if k == "all_reduce_perf"}}}]}]


def test_modules_without_the_tools_fail_under_ansible(tmp_path: Path) -> None:
    """This machine really has none of the tools: a level asked for but not runnable is not a pass."""
    stats, tasks = playbook(tmp_path, module_play(HGX))
    assert stats["failures"] == 0 and stats["changed"] == 0
    assert tasks["l2"]["passed"] is False
    assert tasks["l2"]["reason"] == "anyrack: burn-in L2 dcgm_diag: dcgmi is not installed (DCGM); level 2 cannot run"
    assert tasks["l3"]["passed"] is False
    assert tasks["l3"]["reason"] == ("anyrack: burn-in L3 nccl_all_reduce: all_reduce_perf is not installed "
                                     "(nccl-tests); level 3 cannot run")


def test_modules_with_stand_in_tools_parse_and_compare(tmp_path: Path) -> None:
    fake = stand_ins(tmp_path / "bin", d2d="nvbandwidth-d2d-pair-2-5-slow.txt", nccl="nccl-all-reduce-8gpu-slow.txt")
    _, tasks = playbook(tmp_path, module_play(HGX), [fake])
    assert failed(tasks["l2"]["checks"]) == {
        "nvbandwidth_d2d": "lowest 121.48 GB/s (GPU 2 <- GPU 5; minimum 300)"}
    assert tasks["l2"]["measurements"]["nvbandwidth_h2d"]["0->2"] == 55.09
    assert tasks["l2"]["measurements"]["dcgm_diag"]["version"] == "4.2.3"
    assert failed(tasks["l3"]["checks"]) == {
        "nccl_all_reduce": "busbw 239.44 GB/s at 8589934592 B, average 93.7786 (minimum 400)"}
    assert (fake / "argv.log").read_text().splitlines() == [
        "dcgmi diag -r 2 -j", "nvbandwidth -t host_to_device_memcpy_ce", "nvbandwidth -t device_to_host_memcpy_ce",
        "nvbandwidth -t device_to_device_memcpy_read_ce", "all_reduce_perf -b 8 -e 8589934592 -f 2 -g 8"]


def role_play(tmp: Path, level: int, fake: Path, gpus: int = 8) -> list[dict]:
    sku = {**HGX, "gpu": {**HGX["gpu"], "count": gpus},
           "burnin": {**LIMITS, "gate_level": 2, "nvbandwidth_min_gbytes_s": {"h2d": 50, "d2h": 50, "d2d": 300}}}
    return [{"name": "burn-in", "hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "burnin", "vars": {
                 "burnin_sku": sku, "burnin_level": level, "burnin_report_dir": str(tmp / "reports"),
                 "burnin_controller": "localhost", "gpu_facts_nvidia_smi": str(fake / "nvidia-smi"),
                 "burnin_tools": {"dcgmi": str(fake / "dcgmi"), "nvbandwidth": str(fake / "nvbandwidth"),
                                  "all_reduce_perf": str(fake / "all_reduce_perf")}}}],
             "tasks": [{"name": "result", "ansible.builtin.debug": {"var": "burnin_result"}}]}]


def test_role_runs_three_levels_one_report_each(tmp_path: Path) -> None:
    fake = stand_ins(tmp_path / "bin")
    stats, tasks = playbook(tmp_path, role_play(tmp_path, 3, fake), [fake])
    assert stats["failures"] == 0 and stats["changed"] == 1  # the report directory
    result = tasks["result"]["burnin_result"]
    assert result == {"passed": True, "reason": None, "failed": [], "levels": [1, 2, 3], "gate_level": 2,
                      "gate_passed": True}
    reports = sorted((tmp_path / "reports").glob("*.json"))
    assert [p.name.split("-")[-1] for p in reports] == ["L1.json", "L2.json", "L3.json"], reports
    assert len({p.name[:-8] for p in reports}) == 1  # one time stamp per run
    l3_report = json.loads(reports[2].read_text())
    assert l3_report["node"] == "localhost" and l3_report["level"] == 3 and l3_report["passed"] is True
    assert l3_report["measurements"]["nccl_all_reduce"]["avg_busbw"] == 172.0783
    assert "gpus" in json.loads(reports[0].read_text())
    assert "scontrol update" not in (fake / "argv.log").read_text()  # IDLE and passing: nothing to do
    again, _ = playbook(tmp_path, role_play(tmp_path, 3, fake), [fake])
    assert again["changed"] == 0


def test_gate_drains_on_level_2_and_resumes_only_at_the_gate_level(tmp_path: Path) -> None:
    fake = stand_ins(tmp_path / "bin", d2d="nvbandwidth-d2d-pair-2-5-slow.txt")
    reason = "anyrack: burn-in L2 nvbandwidth_d2d: lowest 121.48 GB/s (GPU 2 <- GPU 5; minimum 300)"
    stats, tasks = playbook(tmp_path, role_play(tmp_path, 3, fake), [fake])
    assert tasks["result"]["burnin_result"] == {
        "passed": False, "reason": reason, "failed": ["nvbandwidth_d2d"], "levels": [1, 2], "gate_level": 2,
        "gate_passed": False}  # level 3 does not run after level 2 failed
    assert (tmp_path / "bin/node").read_text() == f"NodeName=localhost State=IDLE+DRAIN Reason={reason}\n"
    assert "all_reduce_perf" not in (fake / "argv.log").read_text()
    assert [p.name.split("-")[-1] for p in sorted((tmp_path / "reports").glob("*.json"))] == ["L1.json", "L2.json"]
    failing = json.loads(sorted((tmp_path / "reports").glob("*-L2.json"))[-1].read_text())
    assert failing["passed"] is False and failing["reason"] == reason
    again, _ = playbook(tmp_path, role_play(tmp_path, 2, fake), [fake])
    assert again["changed"] == 0  # drained already, with the same reason

    stand_ins(tmp_path / "bin")  # the slow pair repaired
    stats, tasks = playbook(tmp_path, role_play(tmp_path, 1, fake), [fake])
    assert tasks["result"]["burnin_result"]["passed"] is True
    assert tasks["result"]["burnin_result"]["gate_passed"] is False  # level 1 only; the gate wants level 2
    assert "DRAIN" in (tmp_path / "bin/node").read_text() and stats["changed"] == 0
    assert "run with -e burnin_level=2" in tasks["burnin : Say why a passing node is not resumed"]["msg"]

    stats, tasks = playbook(tmp_path, role_play(tmp_path, 2, fake), [fake])
    assert tasks["result"]["burnin_result"]["gate_passed"] is True and stats["changed"] == 1
    assert (tmp_path / "bin/node").read_text() == "NodeName=localhost State=IDLE\n"
