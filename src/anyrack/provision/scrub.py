"""Keep secrets out of what a run prints and keeps: the ``command`` record, the events, the stdout log.

Two nets, both applied to every event before it is printed or written:

* **no_log results.** ansible-core 2.19 censors a ``no_log`` task's result but still displays the
  message of the exception a failing one raised (``[ERROR]: Task failed: Action failed: <msg>``),
  secret included. For an event whose result is censored, everything the display printed before
  the ``fatal: [host]`` line is replaced by one line saying it was hidden.
* **Known secrets.** The values of environment variables named like ``*PASSWORD*``, ``*SECRET*``,
  ``*TOKEN*`` (:data:`SECRET_NAME`), the value of every secret the site file declares
  (:func:`declared_values`: ``{env: BMC_PASS}`` counts whatever the variable is called) and, in
  ``-e @FILE`` vars files, the values under keys named so, are replaced by :data:`REDACTED` wherever
  they appear in an event.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from anyrack.errors import InputError
from anyrack.secrets import resolve
from anyrack.site.model import SecretRef

SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY", re.I)
REDACTED = "<redacted by anyrack>"
HIDDEN_ERROR = "[ERROR]: Task failed: (message hidden: no_log is set for this task)"
_MIN_SECRET = 4
"""Shorter values are not redacted: replacing 'abc' everywhere would garble the log and hide nothing."""
_RESULT_LINE = re.compile(r"^(fatal|failed|ok|changed|skipping|FAILED - RETRYING): \[")


def scrub_env(env: Mapping[str, str], secrets: frozenset[str] = frozenset()) -> dict[str, str]:
    """``env`` with the values of secret-looking variables, and of variables holding a known secret, replaced
    by :data:`REDACTED`."""
    return {k: (REDACTED if SECRET_NAME.search(k) or v in secrets else v) for k, v in env.items()}


def declared_values(refs: Iterable[SecretRef]) -> frozenset[str]:
    """The values of the secrets a site file declares (``{env: NAME}`` whatever NAME is, ``{file: PATH}``)
    that can be resolved here; a vault id or an unset variable adds nothing."""
    values = set()
    for ref in refs:
        with contextlib.suppress(InputError):
            values.add(resolve(ref, "scrubber"))
    return frozenset(v for v in values if len(v) >= _MIN_SECRET)


def _values_under_secret_keys(data: Any, inside: bool = False) -> Iterable[str]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _values_under_secret_keys(value, inside or bool(SECRET_NAME.search(str(key))))
    elif isinstance(data, list):
        for item in data:
            yield from _values_under_secret_keys(item, inside)
    elif inside and isinstance(data, str | int) and not isinstance(data, bool):
        yield str(data)


def secret_values(env: Mapping[str, str], vars_files: Iterable[Path] = ()) -> frozenset[str]:
    """Values to redact: secret-named environment variables, and secret-named keys of readable vars files
    (a vault-encrypted or unparsable file adds nothing; Ansible reads it, anyrack does not)."""
    import yaml

    values = {v for k, v in env.items() if SECRET_NAME.search(k)}
    for path in vars_files:
        try:
            values.update(_values_under_secret_keys(yaml.safe_load(path.read_text())))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
    return frozenset(v for v in values if len(v) >= _MIN_SECRET)


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _hide_no_log_error(stdout: str) -> str:
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if _RESULT_LINE.match(line.strip()):
            return "\n".join([HIDDEN_ERROR, *lines[i:]]) if i else stdout
    return HIDDEN_ERROR


def scrub_event(event: dict[str, Any], secrets: frozenset[str]) -> None:
    """Scrub one ansible-runner event in place, before anyone prints or writes it."""
    res = (event.get("event_data") or {}).get("res")
    if isinstance(res, dict) and "censored" in res and event.get("stdout"):
        event["stdout"] = _hide_no_log_error(event["stdout"])
    if secrets:
        for key in list(event):
            event[key] = _redact(event[key], secrets)
