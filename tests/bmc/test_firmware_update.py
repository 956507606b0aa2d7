"""Firmware updates through Redfish UpdateService, against the emulator serving every recorded tree.

Each tree is updated by every method its UpdateService advertises (the HGX tree's methods are the
emulator's labelled addition), and the version is read back. The failure modes are emulator faults on
HGX BMCs: each must be reported with its cause, the silent one (success, version unchanged) included.
Pull updates (SimpleUpdate) fetch the image from an HTTP server this test starts on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.bmc.firmware.bundle import make_bundle, read_manifest
from anyrack.bmc.firmware.update import Bundle, UpdateFailed, load_bundle, update_node
from anyrack.cli.main import main
from anyrack.errors import InputError
from anyrack.lab.emulator import BmcEntry, LabOptions, TreeSpec, serve_lab
from anyrack.lab.sitefile import lab_site, node_name

pytestmark = pytest.mark.bmc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/redfish"
HGX = "openbmc/hgx-h100-baseboard"
# tree → (system, an updateable FirmwareInventory member, its recorded version, methods the tree advertises)
TREES = {
    "ami/megarac-h262-z63": (None, "BIOS", "C27", ["simple"]),
    "dell/idrac9-r750": (None, "Installed-159-1.8.2__BIOS.Setup.1-1", "1.8.2", ["multipart", "simple", "push"]),
    "hpe/cray-ex235a-mi250x": (None, "Node0.BIOS", "ex235a.bios-1.3.6", ["simple"]),
    "hpe/cray-ex4252-4node": ("Node0", "Node0.BIOS", "ex4252.bios-1.3.0", ["simple"]),
    "hpe/ilo5-xl675d": (None, "2", "A47 v2.58 (05/19/2022)", ["simple", "push"]),
    "lenovo/xcc-sr670v2": (None, "UEFI", "12A-1.02", ["multipart", "push"]),
    HGX: (None, "HGX_FW_GPU_SXM_1", "96.00.74.00.1C", ["multipart", "push"]),
}
FAULTS = ["update-hang", "update-reset", "update-silent", "update-on-reset"]
PASSWORD = "lab-Pa55word-fw"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTP server on loopback, as the site's web server that BMCs pull images from."""
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, BmcEntry]]:
    specs = [TreeSpec(FIXTURES / t) for t in TREES] + [TreeSpec(FIXTURES / HGX, faults={f: 1.0}) for f in FAULTS]
    with serve_lab(specs, LabOptions(power_delay_s=0.2, password=PASSWORD)) as entries:
        yield dict(zip([*TREES, *FAULTS], entries, strict=True))


def _bundle(web: tuple[str, Path], name: str, version: str, targets: list[str], corrupt: bool = False) -> Bundle:
    data = make_bundle(version, targets)
    if corrupt:
        data = data[:-1] + b"X"  # the payload no longer matches the manifest's sha256
    (web[1] / name).write_bytes(data)
    return Bundle(read_manifest(data), data, f"{web[0]}/{name}")


async def _update(entry: BmcEntry, bundle: Bundle, system: str | None = None, **kwargs: object):  # noqa: ANN202
    async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca, node="n1",
                       system=system) as bmc:
        bmc.poll_interval = 0.2
        return await update_node(bmc, bundle, timeout=kwargs.pop("timeout", 10), reset_wait=10,  # type: ignore[arg-type]
                                 **kwargs)  # type: ignore[arg-type]


def test_every_tree_by_every_method_it_advertises(lab: dict[str, BmcEntry], web: tuple[str, Path]) -> None:
    async def tree(name: str) -> list:
        system, target, recorded, methods = TREES[name]
        results = []
        for n, method in enumerate(methods):
            bundle = _bundle(web, f"{name.replace('/', '-')}-{method}.bin", f"9.{n}.{len(methods)}", [target])
            results.append(await _update(lab[name], bundle, system, method=method))
        return results

    async def every() -> list:
        return list(await asyncio.gather(*(tree(t) for t in TREES)))

    done = dict(zip(TREES, asyncio.run(every()), strict=True))
    for name, (_system, target, recorded, methods) in TREES.items():
        assert [r.method for r in done[name]] == methods
        versions = [r.versions[target] for r in done[name]]
        # each read back at the new version, the first from the recorded one
        assert versions[0] == (recorded, f"9.0.{len(methods)}")
        assert [after for _, after in versions] == [f"9.{n}.{len(methods)}" for n in range(len(methods))]
        assert all(r.task and "/TaskService/Tasks/" in r.task for r in done[name])


def test_failure_modes_are_reported_with_their_cause(lab: dict[str, BmcEntry], web: tuple[str, Path]) -> None:
    target = TREES[HGX][1]

    async def one(fault: str):  # noqa: ANN202
        try:
            return await _update(lab[fault], _bundle(web, f"{fault}.bin", "96.00.89.00.01", [target]), timeout=3)
        except UpdateFailed as err:
            return str(err)

    async def every() -> list:
        return list(await asyncio.gather(*(one(f) for f in FAULTS)))

    hang, reset, silent, on_reset = asyncio.run(every())
    assert "did not finish in 3 s (last: Running at 50 %)" in hang
    assert "ended Exception: The BMC restarted during the update; the image was not applied." in reset
    assert silent == ("n1: the BMC reported the update done but HGX_FW_GPU_SXM_1 reads 96.00.74.00.1C, not "
                      "96.00.89.00.01 (unchanged: the image was not applied)")
    # apply-on-reset: the task waits for activation; anyrack resets the host, then reads the new version
    assert on_reset.versions[target] == ("96.00.74.00.1C", "96.00.89.00.01")
    assert on_reset.notes == ["activated by a host reset (the BMC applies this image only at a reset)"]


def test_corrupt_image_and_unreachable_pull(lab: dict[str, BmcEntry], web: tuple[str, Path]) -> None:
    corrupt = _bundle(web, "corrupt.bin", "9.9", ["HGX_FW_GPU_SXM_2"], corrupt=True)
    with pytest.raises(UpdateFailed, match=r"ended Exception: Verification of the image failed: its checksum does "
                                           r"not match\. \[VerificationFailed\]"):
        asyncio.run(_update(lab[HGX], corrupt))
    gone = f"{web[0]}/missing.bin"
    with pytest.raises(InputError, match=r"--bundle http://127\.0\.0\.1:\d+/missing\.bin: HTTP 404; nothing was sent"):
        asyncio.run(load_bundle(gone))
    with pytest.raises(InputError, match="unreachable .*nothing was sent"):
        asyncio.run(load_bundle("http://127.0.0.1:9/fw.bin", timeout=2))


def test_bad_input_is_refused_before_any_write(lab: dict[str, BmcEntry], web: tuple[str, Path]) -> None:
    async def tasks(entry: BmcEntry) -> list[int]:
        async with connect(f"redfish+{entry.url}", entry.username, entry.password, ca_file=entry.ca) as bmc:
            return [(await bmc.c.request("GET", f"/redfish/v1/TaskService/Tasks/{n}", check=False))[0]
                    for n in range(1, 6)]

    entry, xcc_entry = lab["ami/megarac-h262-z63"], lab["lenovo/xcc-sr670v2"]
    before = asyncio.run(tasks(entry)), asyncio.run(tasks(xcc_entry))
    wrong = _bundle(web, "wrong.bin", "1.0", ["HGX_FW_GPU_SXM_1"])
    with pytest.raises(UpdateFailed, match=r"the bundle does not match this node: no component HGX_FW_GPU_SXM_1 "
                                           r"\(it lists: BIOS, BMC, MB_CPLD1\); nothing was sent"):
        asyncio.run(_update(entry, wrong))
    kind = _bundle(web, "kind.bin", "1.0", ["BIOS"])
    with pytest.raises(UpdateFailed, match=r"the bundle updates BIOS \(bios\), not gpu; nothing was sent"):
        asyncio.run(_update(entry, kind, component="gpu"))
    pushed = Bundle(kind.manifest, kind.data)  # a file: this BMC only pulls
    with pytest.raises(UpdateFailed, match=r"the BMC only pulls images \(SimpleUpdate\): give --bundle as a URL"):
        asyncio.run(_update(entry, pushed))
    xcc = _bundle(web, "xcc.bin", "1.0", ["UEFI"])
    with pytest.raises(UpdateFailed, match=r"SimpleUpdate over TFTP, SFTP"):  # XCC pulls only by TFTP/SFTP
        asyncio.run(_update(xcc_entry, Bundle(xcc.manifest, None, xcc.url), method="simple"))
    # no task was created by any of them: nothing was written
    assert (asyncio.run(tasks(entry)), asyncio.run(tasks(xcc_entry))) == before


def test_update_command(lab: dict[str, BmcEntry], web: tuple[str, Path], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANYRACK_TEST_BMC_PASSWORD", PASSWORD)
    entries = [lab[HGX], lab["update-silent"], lab["lenovo/xcc-sr670v2"]]
    site = tmp_path / "site.yaml"
    site.write_text(lab_site(entries, password_env="ANYRACK_TEST_BMC_PASSWORD"))
    bundle = _bundle(web, "cli.bin", "96.00.99.00.01", ["HGX_FW_GPU_SXM_4"])
    names = [node_name(i) for i in range(3)]
    args = ["firmware", "update", str(site), "--bundle", bundle.url or "", "--component", "gpu", "--ca",
            lab[HGX].ca, "--timeout", "5"]
    rc = main([*args, *(x for n in names for x in ("--limit", n))])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert out[0] == f"{names[0]}: updated by multipart (Immediate): HGX_FW_GPU_SXM_4 96.00.74.00.1C -> 96.00.99.00.01"
    assert out[1].startswith(f"{names[1]}: failed: {names[1]}: the BMC reported the update done but HGX_FW_GPU_SXM_4 "
                             "reads 96.00.74.00.1C")
    assert out[2] == f"{names[2]}: not started: stopped after {names[1]} failed"


def test_live_check(lab: dict[str, BmcEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANYRACK_TEST_BMC_PASSWORD", PASSWORD)
    site = tmp_path / "site.yaml"
    text = lab_site([lab["update-hang"], lab["lenovo/xcc-sr670v2"]], password_env="ANYRACK_TEST_BMC_PASSWORD")
    bom = '\n    firmware: {gpu: "96.00.74.00.1C", psu: ">=7.60"}'
    site.write_text(text.replace("memory_gib: 1", "memory_gib: 1" + bom))
    rc = main(["firmware", "check", str(site), "--live", "--ca", lab[HGX].ca, "--json"])
    report = json.loads(capsys.readouterr().out)
    hgx, xcc = (report["nodes"][node_name(i)] for i in range(2))
    assert rc == 1 and report["behind"] == [node_name(1)]
    assert [(c["component"], c["verdict"]) for c in hgx["components"]] == \
        [(f"HGX_FW_GPU_SXM_{i}", "ok") for i in range(1, 9)] + [("psu", "unknown")]
    assert [(c["component"], c.get("found"), c["verdict"]) for c in xcc["components"]] == \
        [("gpu", None, "unknown")] + [(f"PSU{i}", "7.52", "behind") for i in range(1, 5)]
