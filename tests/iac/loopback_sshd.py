"""A loopback SSH server (paramiko's server side) that answers ``hostname`` with a name it is given.

What stands in for a deployed node's sshd in the iac tier, where no machine boots: the deploy's SSH stage
runs the real OpenSSH client (``ssh -p PORT -i KEY user@127.0.0.1 hostname``) against it; it accepts only
the given public key, answers the ``hostname`` command with ``name`` once ``up`` is set (the simulated OS
has booted), and records when each command came.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable

import paramiko


class _Server(paramiko.ServerInterface):
    def __init__(self, allowed: paramiko.PKey) -> None:
        self.allowed, self.command = allowed, threading.Event()
        self.text = b""

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL if key == self.allowed else paramiko.AUTH_FAILED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.text = command
        self.command.set()
        return True


class LoopbackSshd:
    """``with LoopbackSshd(name, client_public_key, up) as sshd:`` serves on ``sshd.port``."""

    def __init__(self, name: str, public_key: str, up: Callable[[], bool]) -> None:
        self.name, self.up = name, up
        kind, data = public_key.split()[:2]
        self.allowed = paramiko.PKey.from_type_string(kind, base64.b64decode(data))
        self.host_key = paramiko.ECDSAKey.generate()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.commands: list[tuple[float, str, str]] = []
        """(time, command, answer) of every command run."""
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> LoopbackSshd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        server = _Server(self.allowed)
        try:
            transport.start_server(server=server)
            channel = transport.accept(10)
            if channel is None or not server.command.wait(10):
                return
            command = server.text.decode()
            answer = self.name if command.strip() == "hostname" and self.up() else ""
            self.commands.append((time.monotonic(), command, answer))
            if answer:
                channel.sendall((answer + "\n").encode())
            channel.send_exit_status(0 if answer else 255)
            channel.close()
        except (paramiko.SSHException, OSError, EOFError):
            pass
        finally:
            transport.close()
