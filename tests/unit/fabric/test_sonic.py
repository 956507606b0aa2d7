"""SONiC config_db.json: every switch of the example rack and of a 4-SU site validates against SONiC's
YANG models (libyang's yanglint, from scripts/system-deps); broken ones are refused; the lossless class
is the same on the switches as in the hosts' files."""

from __future__ import annotations

import functools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from anyrack.fabric import FabricPlan, load_plan, plan, render
from anyrack.fabric.sonic import headroom_bytes

from . import sonic_yang
from .conftest import HGX, HGX_FACTS, build_site, env_lines, generated_site, host_files

pytestmark = pytest.mark.skipif(sonic_yang.yanglint() is None,
                                reason="yanglint not installed (Debian libyang2-tools; scripts/system-deps)")

FOUR_SU = generated_site(128, rails=8, port_prefix="Ethernet", port_start=0, port_step=4)


@functools.cache
def _four_su() -> tuple[FabricPlan, dict[str, str]]:
    planned = plan(build_site(FOUR_SU))
    return planned, render(planned)


def _write_config_dbs(files: dict[str, str], out: Path) -> list[Path]:
    paths = []
    for rel, text in files.items():
        if rel.endswith("config_db.json"):
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            paths.append(path)
    return paths


def _validate_all(paths: list[Path], work: Path) -> dict[str, str]:
    """Switch → yanglint's errors, for each file that does not validate."""
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: (p, sonic_yang.validate(p, work)), paths))
    return {p.parent.name: r.stderr for p, r in results if r.returncode != 0}


@pytest.mark.parametrize("name", ["hgx-rack", "4-su"])
def test_every_config_db_validates_against_sonic_yang(name: str, tmp_path: Path) -> None:
    planned, files = (load_plan(HGX, HGX_FACTS)[1], None) if name == "hgx-rack" else _four_su()
    paths = _write_config_dbs(files or render(planned), tmp_path)
    switches = [s for s in planned.switches if s.role != "access"]
    assert len(paths) == len(switches) == (12 if name == "hgx-rack" else 32 + 16)
    assert _validate_all(paths, tmp_path) == {}


@pytest.mark.parametrize(("table", "key", "field", "value", "error"), [
    ("PORT", "Ethernet0", "fec", "rs544", "does not conform"),
    ("PORT", "Ethernet0", "mtu", "9300", "range"),
    ("PORT_QOS_MAP", "Ethernet0", "pfc_enable", "8", "does not conform"),
    ("BUFFER_PROFILE", "egress_lossy_profile", "pool", "no_such_pool", "leafref"),
    ("QUEUE", "Ethernet0|3", "wred_profile", "NO_SUCH", "leafref"),
    ("BUFFER_PG", "Ethernet0|3", "profile", "no_such_profile", "no matching subtype"),
])
def test_a_broken_config_db_fails(table: str, key: str, field: str, value: str, error: str, tmp_path: Path) -> None:
    text = _four_su()[1]["switches/leaf-su01-r0/config_db.json"]
    db = json.loads(text)
    assert sonic_yang.validate(_save(tmp_path / "good", db), tmp_path).returncode == 0
    db[table][key][field] = value
    result = sonic_yang.validate(_save(tmp_path / "bad", db), tmp_path)
    assert result.returncode != 0 and error in result.stderr and field in result.stderr, result.stderr


def test_an_unknown_field_fails(tmp_path: Path) -> None:
    db = json.loads(_four_su()[1]["switches/spine01/config_db.json"])
    db["WRED_PROFILE"]["ANYRACK_LOSSLESS"]["ecn_threshold"] = "1"
    result = sonic_yang.validate(_save(tmp_path / "bad", db), tmp_path)
    assert result.returncode != 0 and "ecn_threshold" in result.stderr


def _save(directory: Path, db: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config_db.json"
    path.write_text(json.dumps(db))
    return path


def test_leaf_ports_interfaces_and_routing_mode() -> None:
    planned, files = _four_su()
    db = json.loads(files["switches/leaf-su02-r5/config_db.json"])
    meta = db["DEVICE_METADATA"]["localhost"]
    leaf = planned.by_name["leaf-su02-r5"]
    assert meta["docker_routing_config_mode"] == "split-unified" and meta["type"] == "LeafRouter"
    assert meta["bgp_asn"] == str(leaf.asn) and f"Loopback0|{leaf.loopback}/32" in db["LOOPBACK_INTERFACE"]
    assert len(db["PORT"]) == 32 + 32 and db["PORT"]["Ethernet4"]["lanes"] == "4,5,6,7"
    assert {p["speed"] for p in db["PORT"].values()} == {"400000"}
    nics = planned.nics_of["leaf-su02-r5"]
    assert f"{nics[0].leaf_interface}|{nics[0].gateway}/31" in db["INTERFACE"]
    uplink = planned.uplinks_of["leaf-su02-r5"][0].leaf_interface
    assert db["INTERFACE"][uplink] == {"ipv6_use_link_local_only": "enable"}


def test_lossless_class_agrees_between_switches_and_hosts() -> None:
    """One setting in the plan: DSCP → lossless priority, PFC on it, ECN thresholds, MTU — on the switch
    (config_db.json) and on the host (NCCL_IB_TC, the role's dcb/PFC and RDMA-CM ToS vars)."""
    data = generated_site(64, rails=2, port_prefix="Ethernet", port_start=0, port_step=4, mtu=9100,
                          roce_pfc_priority=5, roce_dscp=24, roce_cnp_dscp=46, roce_cnp_priority=7,
                          roce_ecn_min_kbytes=200, roce_ecn_max_kbytes=900)
    files = render(plan(build_site(data)))
    host = yaml.safe_load(files["hosts/n0000.yml"])["lossless"]
    nccl = env_lines(host_files(files, "n0000")["/etc/nccl.conf"])
    assert host["pfc_priority"] == 5 and host["dscp"] == 24 and host["mtu"] == 9100
    assert int(nccl["NCCL_IB_TC"]) == host["traffic_class"] == 24 << 2
    for switch in ("leaf-su01-r0", "spine01"):
        db = json.loads(files[f"switches/{switch}/config_db.json"])
        assert db["DSCP_TO_TC_MAP"]["ANYRACK"][str(host["dscp"])] == str(host["pfc_priority"])
        assert db["DSCP_TO_TC_MAP"]["ANYRACK"][str(host["cnp_dscp"])] == str(host["cnp_priority"])
        for port, qos in db["PORT_QOS_MAP"].items():
            assert qos["pfc_enable"] == qos["pfcwd_sw_enable"] == str(host["pfc_priority"]), port
            assert db["BUFFER_PG"][f"{port}|{host['pfc_priority']}"]["profile"].startswith("pg_lossless_")
            assert db["QUEUE"][f"{port}|{host['pfc_priority']}"]["wred_profile"] == "ANYRACK_LOSSLESS"
            assert db["QUEUE"][f"{port}|{host['cnp_priority']}"]["scheduler"] == "scheduler.strict"
            assert db["PORT"][port]["mtu"] == str(host["mtu"])
        wred = db["WRED_PROFILE"]["ANYRACK_LOSSLESS"]
        assert wred["green_min_threshold"] == str(host["ecn_min_kbytes"] * 1024)
        assert wred["green_max_threshold"] == str(host["ecn_max_kbytes"] * 1024)


def test_headroom_grows_with_speed_cable_and_mtu() -> None:
    base = headroom_bytes(400, 100, 4200)
    assert base == 400 * (2 * 100 * 5 + 1500) // 8 + 2 * 4200 == 133400
    assert headroom_bytes(800, 100, 4200) > base and headroom_bytes(400, 5, 4200) < base
    assert headroom_bytes(400, 100, 9100) - base == 2 * (9100 - 4200)
