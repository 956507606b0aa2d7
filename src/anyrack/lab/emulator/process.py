"""Run the emulator as a subprocess (``anyrack lab bmc serve --config``) and wait for its listing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import yaml

from anyrack.errors import AnyrackError
from anyrack.lab.emulator.listing import BmcEntry, read_listing
from anyrack.lab.emulator.spec import LabOptions, TreeSpec

COMMAND = (sys.executable, "-m", "anyrack.cli.lab", "bmc", "serve")


class LabProcessError(AnyrackError):
    """The emulator subprocess did not come up."""

    template = "BMC emulator subprocess {what}: {detail}"


def config_text(trees: Sequence[TreeSpec], options: LabOptions) -> str:
    """The YAML config file that describes ``trees`` and ``options``."""
    data = {
        "trees": [{"path": str(Path(t.path).resolve()), "count": t.count, "quirks": list(t.quirks),
                   "faults": dict(t.faults), "bmc_quirks": {i: list(q) for i, q in t.bmc_quirks.items()}}
                  for t in trees],
        "port": options.port, "port_base": options.port_base, "first_address": options.first_address,
        "state_dir": str(options.state_dir.resolve()) if options.state_dir else None,
        "username": options.username, "password": options.password, "session_limit": options.session_limit,
        "power_delay_s": options.power_delay_s, "latency_ms": options.latency_ms, "seed": options.seed,
        "faults": dict(options.faults),
    }
    return yaml.safe_dump(data, sort_keys=False)


@contextlib.contextmanager
def spawn_lab(trees: Sequence[TreeSpec], options: LabOptions | None = None, *, listing: Path | None = None,
              timeout_s: float = 120.0) -> Iterator[list[BmcEntry]]:
    """Start the emulator in a subprocess for the ``with`` block; yields its listing; SIGTERM at the end."""
    options = options or LabOptions()
    with tempfile.TemporaryDirectory(prefix="anyrack-lab-") as work:
        if options.state_dir is None:
            options = replace(options, state_dir=Path(work) / "state")
        config = Path(work) / "lab.yaml"
        config.write_text(config_text(trees, options))
        listing = listing or Path(work) / "listing.json"
        listing.unlink(missing_ok=True)
        log = (Path(work) / "lab.log").open("w+")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([*COMMAND, "--config", str(config), "--listing", str(listing)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + timeout_s
            while not listing.exists():
                if proc.poll() is not None:
                    log.seek(0)
                    raise LabProcessError(what=f"exited with {proc.returncode}", detail=log.read().strip()[-2000:])
                if time.monotonic() > deadline:
                    raise LabProcessError(what="timed out", detail=f"no listing after {timeout_s:.0f} s")
                time.sleep(0.05)
            yield read_listing(listing)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
