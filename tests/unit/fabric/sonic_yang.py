"""Validate a SONiC config_db.json against SONiC's own YANG models with libyang's ``yanglint``.

ConfigDB JSON (table → "k1|k2" → fields) is not YANG instance data: like sonic-yang-mgmt, this wraps
each table in its module's top-level container and turns each row into a list entry whose key
leaves are the parts of the row key. The models are in tests/fixtures/sonic-yang (see SOURCE.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "sonic-yang"

_MAPS = {  # table → (module, key leaf of an entry, value leaf)
    "DSCP_TO_TC_MAP": ("sonic-dscp-tc-map", "dscp", "tc"),
    "TC_TO_QUEUE_MAP": ("sonic-tc-queue-map", "tc", "qindex"),
    "TC_TO_PRIORITY_GROUP_MAP": ("sonic-tc-priority-group-map", "tc", "pg"),
    "MAP_PFC_PRIORITY_TO_QUEUE": ("sonic-pfc-priority-queue-map", "pfc_priority", "qindex"),
    "PFC_PRIORITY_TO_PRIORITY_GROUP_MAP": ("sonic-pfc-priority-priority-group-map", "pfc_priority", "pg"),
}
_TABLES = {  # table → (module, key leaves)
    "PORT": ("sonic-port", ("name",)),
    "BUFFER_POOL": ("sonic-buffer-pool", ("name",)),
    "BUFFER_PROFILE": ("sonic-buffer-profile", ("name",)),
    "BUFFER_PG": ("sonic-buffer-pg", ("port", "pg_num")),
    "BUFFER_QUEUE": ("sonic-buffer-queue", ("port", "qindex")),
    "PORT_QOS_MAP": ("sonic-port-qos-map", ("ifname",)),
    "WRED_PROFILE": ("sonic-wred-profile", ("name",)),
    "SCHEDULER": ("sonic-scheduler", ("name",)),
    "QUEUE": ("sonic-queue", ("ifname", "qindex")),
    "PFC_WD": ("sonic-pfcwd", ("ifname",)),
}
_INTERFACES = {"INTERFACE": "sonic-interface", "LOOPBACK_INTERFACE": "sonic-loopback-interface"}


def yang_instance(db: dict) -> tuple[dict, set[str]]:
    """The YANG JSON of ``db`` and the modules it uses; an unknown table raises KeyError."""
    out: dict = {}
    modules: set[str] = set()

    def container(module: str, table: str) -> dict:
        modules.add(module)
        return out.setdefault(f"{module}:{module}", {}).setdefault(table, {})

    for table, rows in db.items():
        if table == "DEVICE_METADATA":
            container("sonic-device_metadata", table).update(rows)
        elif table in _MAPS:
            module, key, value = _MAPS[table]
            container(module, table)[f"{table}_LIST"] = [
                {"name": name, table: [{key: k, value: v} for k, v in entries.items()]}
                for name, entries in rows.items()]
        elif table in _INTERFACES:
            box = container(_INTERFACES[table], table)
            for key, fields in rows.items():
                name, _, prefix = key.partition("|")
                if prefix:
                    box.setdefault(f"{table}_IPPREFIX_LIST", []).append({"name": name, "ip-prefix": prefix, **fields})
                else:
                    box.setdefault(f"{table}_LIST", []).append({"name": name, **fields})
        else:
            module, keys = _TABLES[table]
            container(module, table)[f"{table}_LIST"] = [
                {**dict(zip(keys, key.split("|"), strict=True)), **fields} for key, fields in rows.items()]
    return out, modules


def to_xml(data: dict) -> str:
    """YANG XML of the instance: every value is text, so no JSON number-encoding rules per leaf type."""
    def node(name: str, value: object) -> str:
        if isinstance(value, list):
            return "".join(node(name, item) for item in value)
        if isinstance(value, dict):
            return f"<{name}>{''.join(node(k, v) for k, v in value.items())}</{name}>"
        return f"<{name}>{escape(str(value))}</{name}>"

    out = []
    for top, body in data.items():
        module = top.partition(":")[0]
        ns = re.search(r'namespace\s+"([^"]+)"', (MODELS / f"{module}.yang").read_text())
        assert ns, module
        inner = "".join(node(k, v) for k, v in body.items())
        out.append(f'<{module} xmlns="{ns.group(1)}">{inner}</{module}>')
    return "".join(out)  # libyang reads several top-level elements in one file


def yanglint() -> str | None:
    return shutil.which("yanglint")


def validate(path: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """Run yanglint on the config_db.json at ``path`` (strict: unknown nodes are errors); rc 0 when valid."""
    data, modules = yang_instance(json.loads(path.read_text()))
    instance = work / f"{path.parent.name}.{path.stem}.xml"
    instance.write_text(to_xml(data))
    models = [str(MODELS / f"{m}.yang") for m in sorted(modules, key=lambda m: (m != "sonic-device_metadata", m))]
    return subprocess.run(["yanglint", "-p", str(MODELS), "-t", "config", "-f", "xml", "-o", "/dev/null", *models,
                           str(instance)], capture_output=True, text=True, timeout=120, check=False)
