"""anyrack.lockfile: an exclusive advisory lock between processes (a real second process holds it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from anyrack.lockfile import Busy, exclusive

HOLDER = """
import sys, time
from pathlib import Path
from anyrack.lockfile import exclusive
with exclusive(Path(sys.argv[1]), what="holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_after_its_wait_naming_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "out" / ".lock"
    proc = _holder(lock, 30)
    try:
        with pytest.raises(Busy) as err, exclusive(lock, what="inventory output", wait=0.3):
            pytest.fail("the lock was taken twice")
        assert str(err.value) == (f"inventory output is busy: another anyrack process holds {lock}; "
                                  "try again when it has finished")
        assert err.value.exit_code == 2
    finally:
        proc.kill()
        proc.wait()


def test_a_waiter_says_so_once_and_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    lock = tmp_path / "prepare.lock"
    proc = _holder(lock, 1.0)
    said: list[str] = []
    start = time.monotonic()
    with exclusive(lock, what="metal lab prepare", progress=said.append):
        waited = time.monotonic() - start
    proc.wait()
    assert waited > 0.5  # we only got in once the holder had let go (it holds it for 1 s)
    assert said == [f"metal lab prepare: waiting for another anyrack process ({lock})"]


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    lock = tmp_path / "prepare.lock"
    proc = _holder(lock, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with exclusive(lock, what="after a crash", wait=2):
        assert lock.exists()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    """Each ``with`` opens its own descriptor, so two threads exclude each other too (flock is per open file)."""
    lock, inside, overlaps = tmp_path / "l", [], []

    def work() -> None:
        with exclusive(lock, what="t"):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.2)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1]


def test_a_symlink_at_the_lock_path_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "lock").symlink_to(target)
    with pytest.raises(OSError), exclusive(tmp_path / "lock", what="x"):
        pass
    assert not target.exists()
