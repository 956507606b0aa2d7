"""Role munge on every lab host."""

from __future__ import annotations

import pytest

ADDRESSES = ("ctl1", "gpu1", "gpu2")
pytestmark = pytest.mark.roles


@pytest.mark.parametrize("name", ADDRESSES)
def test_munged_runs_with_a_private_key(hosts, name: str) -> None:
    host = hosts[name]
    assert host.service("munge").is_running and host.service("munge").is_enabled
    key = host.file("/etc/munge/munge.key")
    assert (key.user, key.group, key.mode) == ("munge", "munge", 0o400)
    assert host.run("munge -n | unmunge").rc == 0


def test_one_key_everywhere(hosts) -> None:
    sums = {hosts[n].file("/etc/munge/munge.key").sha256sum for n in ADDRESSES}
    assert len(sums) == 1
