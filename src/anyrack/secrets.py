"""Resolve a secret reference (``{env: VAR}``, ``{file: PATH}``) at the moment a transport needs it.

Secrets are never stored on objects that get printed, logged or written: callers pass the value
straight to the transport. Ansible Vault ids are resolved by Ansible itself; outside Ansible they
are refused with a hint.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from anyrack.errors import InputError
from anyrack.site.model import SecretRef

log = logging.getLogger(__name__)


class SecretUnavailable(InputError):
    template = "{where}: {detail}"


def resolve(ref: SecretRef, where: str) -> str:
    """The secret ``ref`` points at; ``where`` (e.g. the credential's name) is used in errors."""
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise SecretUnavailable(where=where, detail=f"environment variable {ref.env} is not set; export it")
        return value
    if ref.file:
        path = Path(ref.file).expanduser()
        try:
            mode = path.stat().st_mode
            text = path.read_text()
            value = text.splitlines()[0].strip() if text.strip() else ""
        except FileNotFoundError:
            raise SecretUnavailable(where=where, detail=f"secret file {path} does not exist") from None
        except OSError as err:
            raise SecretUnavailable(where=where, detail=f"secret file {path}: {err.strerror}") from None
        if not value:
            raise SecretUnavailable(where=where, detail=f"secret file {path} is empty")
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            # readable by others: usable, but say so (without the value)
            log.warning("%s: secret file %s is readable by group/others; chmod 600 it",
                                                where, path)
        return value
    raise SecretUnavailable(where=where, detail=f"vault id {ref.vault!r} is resolved by Ansible; outside Ansible "
                                                "give the secret through {env: VAR} or {file: PATH}")
