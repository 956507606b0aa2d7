"""FabricPlan → SONiC ``config_db.json`` of a leaf or spine (pure; nothing is written).

One file per switch, loaded with ``config load`` / ``config reload`` (it is ConfigDB's own JSON:
table → key → field → string). What it holds, all from the plan:

- ``DEVICE_METADATA``: hostname, role (``LeafRouter``/``SpineRouter``), ``bgp_asn`` and
  ``docker_routing_config_mode: split-unified``. Routing stays in the plan's ``frr.conf``: SONiC's
  template-driven modes (``separated``/``unified``) build FRR's config from ``BGP_NEIGHBOR`` rows,
  which take a neighbour IP address, whereas the fabric runs eBGP *unnumbered* (RFC 5549, one
  session per interface, no addresses to keep). In ``split-unified`` mode bgpcfgd leaves FRR alone
  and FRR boots the single file ``/etc/sonic/frr/frr.conf`` — the same file the FRR tier proves in
  namespaces. ``split`` would need the file cut per daemon for nothing.
- ``PORT`` (speed, lanes, FEC, MTU, admin up) for every cabled port; ``INTERFACE`` with the host /31s
  (leaf) and IPv6 link-local only on uplinks (for unnumbered BGP); ``LOOPBACK_INTERFACE``.
- The lossless class, from :class:`~anyrack.fabric.model.Lossless` (the same record the hosts'
  ``dcb``/PFC, ``NCCL_IB_TC`` and RDMA-CM ToS come from): DSCP → TC, TC → queue/PG identity maps,
  PFC on the one lossless priority with its watchdog, a lossless ingress headroom profile sized from
  port speed, cable length and MTU, WRED with ECN marking between the plan's thresholds on the
  lossless queue, CNPs in a strict-priority queue.

Validated against SONiC's YANG models in the unit tier (tests/unit/fabric/test_sonic.py).
"""

from __future__ import annotations

import json

from anyrack.fabric.addressing import P2P_PREFIX
from anyrack.fabric.model import FabricPlan, Lossless, Switch

MAP = "ANYRACK"
"""Name of every QoS map and of the lossless profiles' family."""
SHARED_BUFFER_BYTES = 64 * 2**20
"""Shared packet buffer given to the pools: below what current 51.2T ASICs carry (>= 100 MB), so it fits them."""
HOST_CABLE_M, UPLINK_CABLE_M = 5, 100
"""Cable length assumed for headroom: copper to hosts in the rack, optics to spines."""
PFC_RESPONSE_NS = 1500
"""Time from a PFC frame leaving to the peer's queue stopping (MAC + PHY + peer reaction), per IEEE 802.1Qbb budgets."""
PFCWD_MS = 200


def lanes_of(plan: FabricPlan, port: int) -> str:
    """SerDes lanes of front-panel ``port`` (1-based), consecutive from 0."""
    first = (port - 1) * plan.port_lanes
    return ",".join(str(lane) for lane in range(first, first + plan.port_lanes))


def headroom_bytes(speed_gbps: int, cable_m: int, mtu: int) -> int:
    """Lossless headroom (xoff) of one port: what is in flight while PFC takes effect, plus two frames.

    Round trip on the cable (5 ns/m each way) + response time, at line rate, + 2 MTU (a frame being
    sent on each side when the pause is issued and when it lands).
    """
    in_flight_ns = 2 * cable_m * 5 + PFC_RESPONSE_NS
    return speed_gbps * in_flight_ns // 8 + 2 * mtu


def render_config_db(plan: FabricPlan, switch: Switch) -> str:
    """``config_db.json`` of one leaf or spine."""
    assert plan.lossless is not None and switch.asn is not None and switch.loopback is not None
    ports = _ports(plan, switch)
    db: dict[str, dict] = {
        "DEVICE_METADATA": {"localhost": {
            "hostname": switch.name, "hwsku": plan.switch_hwsku, "type": "LeafRouter" if switch.role == "leaf"
            else "SpineRouter", "bgp_asn": str(switch.asn), "bgp_router_id": switch.loopback,
            "docker_routing_config_mode": "split-unified", "buffer_model": "traditional",
            "default_pfcwd_status": "enable"}},
        "LOOPBACK_INTERFACE": {"Loopback0": {}, f"Loopback0|{switch.loopback}/32": {}},
        "PORT": {}, "INTERFACE": {},
    }
    for port, (name, peer, address) in sorted(ports.items()):
        db["PORT"][name] = {"alias": f"etp{port}", "index": str(port), "lanes": lanes_of(plan, port),
                            "speed": str(plan.port_speed_gbps * 1000), "fec": "rs", "mtu": str(plan.mtu),
                            "admin_status": "up", "description": peer}
        if address is None:
            db["INTERFACE"][name] = {"ipv6_use_link_local_only": "enable"}
        else:
            db["INTERFACE"][name] = {}
            db["INTERFACE"][f"{name}|{address}/{P2P_PREFIX}"] = {}
    db.update(_qos(plan, plan.lossless, {name: peer for name, peer, _ in ports.values()}))
    return dump_config_db(db)


def dump_config_db(db: dict[str, dict]) -> str:
    """ConfigDB JSON with one table per line: json's C encoder (an ``indent`` turns it off and made the
    1,250-node plan's 568 files take 30 s), still one line to read or diff per table."""
    tables = (f"{json.dumps(name)}: {json.dumps(rows, sort_keys=True)}" for name, rows in sorted(db.items()))
    return "{\n" + ",\n".join(tables) + "\n}\n"


def _ports(plan: FabricPlan, switch: Switch) -> dict[int, tuple[str, str, str | None]]:
    """Cabled port → (interface, what is at the other end, the switch's /31 address or None)."""
    out: dict[int, tuple[str, str, str | None]] = {}
    for nic in plan.nics_of.get(switch.name, []):
        out[nic.leaf_port] = (nic.leaf_interface, f"{nic.node}:{nic.interface}", nic.gateway)
    for link in plan.uplinks_of[switch.name]:
        if link.leaf == switch.name:
            out[link.leaf_port] = (link.leaf_interface, f"{link.spine}:{link.spine_interface}", None)
        else:
            out[link.spine_port] = (link.spine_interface, f"{link.leaf}:{link.leaf_interface}", None)
    return out


def _runs(values: list[int]) -> list[str]:
    """Sorted ints as SONiC index ranges: [0, 1, 2, 4] → ['0-2', '4']."""
    out: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return out


def _qos(plan: FabricPlan, lossless: Lossless, peers: dict[str, str]) -> dict[str, dict]:
    lp, cnp = lossless.pfc_priority, lossless.cnp_priority
    identity = {str(i): str(i) for i in range(8)}
    dscp_map = {str(d): "0" for d in range(64)} | {str(lossless.dscp): str(lp), str(lossless.cnp_dscp): str(cnp)}
    lossy_runs = _runs([q for q in range(8) if q not in (lp, cnp)])
    lossless_profile = f"pg_lossless_{plan.port_speed_gbps}g_profile"
    xoff = headroom_bytes(plan.port_speed_gbps, max(HOST_CABLE_M, UPLINK_CABLE_M), lossless.mtu)
    tables: dict[str, dict] = {
        "BUFFER_POOL": {
            "ingress_lossless_pool": {"type": "ingress", "mode": "dynamic", "size": str(SHARED_BUFFER_BYTES // 2),
                                      "xoff": str(xoff * len(peers))},
            "egress_lossless_pool": {"type": "egress", "mode": "dynamic", "size": str(SHARED_BUFFER_BYTES // 2)},
            "egress_lossy_pool": {"type": "egress", "mode": "dynamic", "size": str(SHARED_BUFFER_BYTES // 4)},
        },
        "BUFFER_PROFILE": {
            "ingress_lossy_profile": {"pool": "ingress_lossless_pool", "size": "0", "dynamic_th": "3"},
            lossless_profile: {"pool": "ingress_lossless_pool", "size": str(plan.mtu), "xon": str(2 * plan.mtu),
                               "xoff": str(xoff), "dynamic_th": "0"},
            "egress_lossless_profile": {"pool": "egress_lossless_pool", "size": "0", "dynamic_th": "7"},
            "egress_lossy_profile": {"pool": "egress_lossy_pool", "size": str(plan.mtu), "dynamic_th": "3"},
        },
        "DSCP_TO_TC_MAP": {MAP: dscp_map},
        "TC_TO_QUEUE_MAP": {MAP: identity},
        "TC_TO_PRIORITY_GROUP_MAP": {MAP: identity},
        "MAP_PFC_PRIORITY_TO_QUEUE": {MAP: identity},
        "PFC_PRIORITY_TO_PRIORITY_GROUP_MAP": {MAP: identity},
        "WRED_PROFILE": {f"{MAP}_LOSSLESS": {
            "ecn": "ecn_all", "wred_green_enable": "true", "wred_yellow_enable": "true", "wred_red_enable": "true",
            **{f"{c}_{k}": v for c in ("green", "yellow", "red") for k, v in (
                ("min_threshold", str(lossless.ecn_min_kbytes * 1024)),
                ("max_threshold", str(lossless.ecn_max_kbytes * 1024)), ("drop_probability", "5"))}}},
        "SCHEDULER": {"scheduler.lossless": {"type": "DWRR", "weight": "80"},
                      "scheduler.lossy": {"type": "DWRR", "weight": "20"},
                      "scheduler.strict": {"type": "STRICT", "priority": "7"}},
        "PFC_WD": {"GLOBAL": {"POLL_INTERVAL": "100"}},
        "BUFFER_PG": {}, "BUFFER_QUEUE": {}, "QUEUE": {}, "PORT_QOS_MAP": {},
    }
    for name in sorted(peers):
        tables["PORT_QOS_MAP"][name] = {
            "dscp_to_tc_map": MAP, "tc_to_queue_map": MAP, "tc_to_pg_map": MAP, "pfc_to_queue_map": MAP,
            "pfc_to_pg_map": MAP, "pfc_enable": str(lp), "pfcwd_sw_enable": str(lp)}
        tables["PFC_WD"][name] = {"action": "drop", "detection_time": str(PFCWD_MS), "restoration_time": str(PFCWD_MS)}
        tables["BUFFER_PG"][f"{name}|{lp}"] = {"profile": lossless_profile}
        for run in _runs([q for q in range(8) if q != lp]):
            tables["BUFFER_PG"][f"{name}|{run}"] = {"profile": "ingress_lossy_profile"}
            tables["BUFFER_QUEUE"][f"{name}|{run}"] = {"profile": "egress_lossy_profile"}
        tables["BUFFER_QUEUE"][f"{name}|{lp}"] = {"profile": "egress_lossless_profile"}
        tables["QUEUE"][f"{name}|{lp}"] = {"scheduler": "scheduler.lossless", "wred_profile": f"{MAP}_LOSSLESS"}
        tables["QUEUE"][f"{name}|{cnp}"] = {"scheduler": "scheduler.strict"}
        for run in lossy_runs:
            tables["QUEUE"][f"{name}|{run}"] = {"scheduler": "scheduler.lossy"}
    return tables
