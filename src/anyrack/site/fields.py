"""Building blocks of the site model: the base model, field patterns and checked scalar types."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

BMC_SCHEMES = ("redfish+https", "redfish+http", "ipmi")
ROLES = ("controller", "login", "compute")

# Every name pattern is applied with fullmatch: with match, "^...$" also accepts a trailing newline.
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_IDENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62})$")
_PROFILE = re.compile(r"^[a-z0-9_]{1,40}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_PORTS = {"redfish+https": 443, "redfish+http": 80, "ipmi": 623}
_TIME_LIMIT = re.compile(r"^(UNLIMITED|\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2})$")


class Model(BaseModel):
    """Frozen, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid host name (lowercase letters, digits and '-', at most 63)")
    return value


def _ident(value: str) -> str:
    if not _IDENT.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits, '_', '-', '.'; starts with a letter "
                         "or digit)")
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as err:
        raise ValueError(f"{value!r} is not a network in CIDR form, such as 10.0.0.0/24 ({err})") from None


def _profile(value: str) -> str:
    if not _PROFILE.fullmatch(value):
        raise ValueError(f"{value!r} is not a profile name (lowercase letters, digits, '_')")
    return value


def _time_limit(value: str) -> str:
    if not _TIME_LIMIT.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slurm time limit (UNLIMITED, MINUTES, MINUTES:SECONDS, "
                         "HOURS:MINUTES:SECONDS, DAYS-HOURS, DAYS-HOURS:MINUTES, DAYS-HOURS:MINUTES:SECONDS)")
    return value


def _mac(value: str) -> str:
    normal = value.lower().replace("-", ":")
    if not _MAC.fullmatch(normal):
        raise ValueError(f"{value!r} is not a MAC address such as 52:54:00:12:34:56")
    return normal


HostName = Annotated[str, AfterValidator(_hostname)]
Name = Annotated[str, AfterValidator(_ident)]
IPAddress = Annotated[str, AfterValidator(_ip)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Mac = Annotated[str, AfterValidator(_mac)]
Count = Annotated[int, Field(ge=0, le=1024)]
