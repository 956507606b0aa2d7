"""The site model: what the operator owns, as frozen typed objects.

One YAML file per site (``inventory/<site>/site.yaml``) is read into :class:`Site`. Field checks live
here; checks across objects (unique names, rack space, addresses in their networks, ...) live in
:mod:`anyrack.site.checks`. Nothing here names a server vendor: SKUs describe hardware by what it
is, and a BMC's profile is only a name resolved later by :mod:`anyrack.bmc`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from anyrack.site.deployment import DeploySettings, RootDevice
from anyrack.site.fields import (  # noqa: F401 - BMC_SCHEMES, ROLES, DEFAULT_PORTS are re-exported
    _ENV,
    _PROFILE,
    BMC_SCHEMES,
    DEFAULT_PORTS,
    ROLES,
    Count,
    HostName,
    IPAddress,
    Mac,
    Model,
    Name,
    _profile,
    _time_limit,
)
from anyrack.site.firmware import FirmwareBom
from anyrack.site.networks import Fabric, Network, Networks  # noqa: F401 - re-exported


class SecretRef(Model):
    """Where a secret lives: exactly one of an environment variable, a file or an Ansible Vault id."""

    env: str | None = None
    file: str | None = None
    vault: str | None = None

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.fullmatch(value):
            raise ValueError(f"{value!r} is not an environment variable name (letters, digits, '_')")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        given = [k for k in ("env", "file", "vault") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of env, file or vault")
        return self

    def describe(self) -> str:
        """``env:NAME``, ``file:PATH`` or ``vault:ID`` (never the secret itself)."""
        kind = next(k for k in ("env", "file", "vault") if getattr(self, k))
        return f"{kind}:{getattr(self, kind)}"


class Credential(Model):
    """A user name and a reference to its password; a literal password is refused."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: SecretRef

    @field_validator("password", mode="before")
    @classmethod
    def _no_literal(cls, value: object) -> object:
        if isinstance(value, str | int | float):
            raise ValueError("a literal password is not allowed here; reference it: {env: VAR}, {file: PATH} "
                             "or {vault: ID}")
        return value


class Bmc(Model):
    """A node's management controller: URL (scheme picks the transport), optional profile, credential."""

    url: str
    profile: Annotated[str, AfterValidator(_profile)] | None = None
    credential: Name | None = None
    insecure: bool = False
    system: Annotated[str, Field(pattern=r"^[^/?#\s]{1,128}$")] | None = None
    """The Redfish ComputerSystem id of this node on a BMC that several nodes share (``Node1``)."""
    allow_http: bool = False
    """``redfish+http`` sends the password in clear: it must be allowed here, per BMC, and is warned."""

    @field_validator("url")
    @classmethod
    def _parse_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if "://" not in value or parts.scheme not in BMC_SCHEMES:
            scheme = value.split("://", 1)[0] if "://" in value else value
            raise ValueError(f"{scheme!r} is not a known scheme ({', '.join(BMC_SCHEMES)})")
        if "@" in parts.netloc:
            raise ValueError("credentials in the URL are not allowed (the URL is not shown here, as it holds "
                             "them); name a credential instead")
        if not parts.hostname:
            raise ValueError(f"{value!r} has no host")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError(f"{value!r} has a bad port") from None
        if parts.path not in ("", "/"):
            raise ValueError(f"{value!r}: a BMC URL has no path (the service root is found by the transport)")
        unknown = set(parse_qs(parts.query)) - {"profile"}
        if unknown:
            raise ValueError(f"unknown URL parameter {sorted(unknown)[0]!r} (only 'profile' is known)")
        return value

    @model_validator(mode="after")
    def _profile_once(self) -> Bmc:
        url_profile = parse_qs(urlsplit(self.url).query).get("profile", [None])[0]
        if url_profile and self.profile and url_profile != self.profile:
            raise ValueError(f"profile given twice: {url_profile!r} in the URL and {self.profile!r}")
        if url_profile and not _PROFILE.fullmatch(url_profile):
            raise ValueError(f"{url_profile!r} is not a profile name (lowercase letters, digits, '_')")
        if self.scheme == "redfish+http" and not self.allow_http:
            raise ValueError("redfish+http sends the BMC password in clear text: use redfish+https, or set "
                             "allow_http: true for this BMC")
        if self.scheme != "redfish+http" and self.allow_http:
            raise ValueError("allow_http is only for redfish+http URLs")
        if self.scheme == "ipmi" and self.system is not None:
            raise ValueError("system is a Redfish ComputerSystem id; an ipmi BMC has none")
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int | None:
        return urlsplit(self.url).port

    @property
    def endpoint(self) -> tuple[str, str, int]:
        """(scheme, host, port) with the scheme's default port filled in: the same BMC however written."""
        return self.scheme, self.host.lower(), self.port or DEFAULT_PORTS[self.scheme]

    @property
    def profile_name(self) -> str | None:
        """The explicit profile, from the ``profile`` key or the URL's ``?profile=``."""
        return self.profile or parse_qs(urlsplit(self.url).query).get("profile", [None])[0]


class Rack(Model):
    name: Name
    height: Annotated[int, Field(ge=1, le=60)] = 42
    row: str | None = None


class GpuSpec(Model):
    model: Annotated[str, Field(min_length=1)]
    count: Count
    nvswitch: bool = False
    memory_gib: Annotated[int, Field(ge=1)] | None = None
    slurm_type: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.]{0,31}$")] | None = None
    """The GRES type in Slurm (``gpu:<type>:<n>``); derived from ``model`` when absent (anyrack.site.slurm)."""
    cores: list[Annotated[str, Field(pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")]] | None = None
    """Per GPU, the Slurm core ids nearest to it (``0-55``); absent: the GPUs split evenly over the sockets."""


class CpuTopology(Model):
    """The CPU layout Slurm schedules on (Sockets, CoresPerSocket, ThreadsPerCore)."""

    sockets: Annotated[int, Field(ge=1, le=16)]
    cores_per_socket: Annotated[int, Field(ge=1, le=1024)]
    threads_per_core: Annotated[int, Field(ge=1, le=8)] = 1


class RdmaSpec(Model):
    rails: Annotated[int, Field(ge=0, le=16)]
    nics_per_rail: Annotated[int, Field(ge=1, le=4)] = 1
    speed_gbps: Annotated[int, Field(ge=1)] | None = None


_SIZE = re.compile(r"^(\d+)([KMG]?)$")
_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def _bytes(value: object) -> object:
    """A size in bytes: a whole number, or text with K, M or G (powers of 1024, as nccl-tests reads them)."""
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().upper())
        if not match:
            raise ValueError(f"{value!r} is not a size in bytes (a whole number, or one with K, M or G: 8, 512M, 8G)")
        return int(match[1]) * _SIZE_UNITS[match[2]]
    return value


Bytes = Annotated[int, BeforeValidator(_bytes), Field(ge=1, le=2**40)]
GBytesPerS = Annotated[float, Field(gt=0, le=100_000)]
"""A bandwidth in GB/s (10**9 bytes per second), as nvbandwidth and nccl-tests print it."""


class CopyBandwidth(Model):
    """Least nvbandwidth copy bandwidth (GB/s) per GPU: host to device, device to host, and per GPU pair
    (d2d). A direction not given is measured and reported, not judged."""

    h2d: GBytesPerS | None = None
    d2h: GBytesPerS | None = None
    d2d: GBytesPerS | None = None


class Burnin(Model):
    """Burn-in tiers and limits for one SKU (roles/burnin, docs/gpu.md): level 1 (seconds) the node against
    the SKU, level 2 (minutes) DCGM diagnostic and nvbandwidth, level 3 (long) NCCL all-reduce."""

    gate_level: Annotated[int, Field(ge=1, le=3)] = 1
    """Every level up to this one must pass before burn-in resumes a node it drained."""
    # --- level 1
    ecc_uncorrected_max: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    allow_pending_remap: bool = False
    pcie_full_width: bool = True
    # --- level 2
    dcgm_diag_level: Annotated[int, Field(ge=1, le=4)] = 2
    """``dcgmi diag -r LEVEL``: 1 quick, 2 medium (minutes), 3 long, 4 extended."""
    nvbandwidth_min_gbytes_s: CopyBandwidth = Field(default_factory=CopyBandwidth)
    # --- level 3
    nccl_busbw_min_gbytes_s: GBytesPerS | None = None
    """Least all_reduce_perf bus bandwidth at the largest size (the lower of out-of-place and in-place)."""
    nccl_min_bytes: Bytes = 8
    nccl_max_bytes: Bytes = 8 * 2**30
    hpl: bool = False
    """Recorded only: anyrack does not run HPL yet, and level 3 says so ("not run")."""

    @model_validator(mode="after")
    def _sizes(self) -> Burnin:
        if self.nccl_min_bytes > self.nccl_max_bytes:
            raise ValueError(f"nccl_min_bytes ({self.nccl_min_bytes}) is above nccl_max_bytes ({self.nccl_max_bytes})")
        return self


class Sku(Model):
    """A vendor-neutral hardware type: what a node is, and the golden BOM it must match."""

    height_u: Annotated[int, Field(ge=1, le=10)] = 1
    cpu: Annotated[str, Field(min_length=1)]
    cpu_topology: CpuTopology | None = None
    """Sockets, cores and threads; absent: read from ``cpu`` (``2x 56-core``, ``32-core``, ``2 vCPU``)."""
    memory_gib: Annotated[int, Field(ge=1)]
    gpu: GpuSpec | None = None
    rdma: RdmaSpec | None = None
    macs: Count | None = None
    """Host NIC MAC addresses the BMC should report (checked against discovery when given)."""
    bom: dict[Name, str] = Field(default_factory=dict)
    """Golden firmware/driver versions, keyed like discovered firmware (bios, bmc, gpu_driver...)."""
    firmware: FirmwareBom = Field(default_factory=dict)
    """Golden firmware per component kind, exact or minimum (anyrack.site.firmware; ``anyrack firmware check``)."""
    burnin: Burnin | None = None
    """Burn-in tiers and limits; the inventory passes them on as ``anyrack_sku.burnin``."""
    root_device: RootDevice | None = None
    """The disk the deploy writes the image to (anyrack.site.deployment); a node's own hint replaces it."""

    @property
    def gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0

    @property
    def rails(self) -> int:
        return self.rdma.rails if self.rdma else 0


class Addresses(Model):
    management: IPAddress
    provisioning: IPAddress | None = None


class Node(Model):
    name: HostName
    rack: Name
    u: Annotated[int, Field(ge=1, le=60)]
    sku: Name
    role: Literal["controller", "login", "compute"]
    bmc: Bmc
    addresses: Addresses
    boot_mac: Mac | None = None
    serial: Annotated[str, Field(min_length=1)] | None = None
    root_device: RootDevice | None = None

    @field_validator("bmc", mode="before")
    @classmethod
    def _short_bmc(cls, value: object) -> object:
        return {"url": value} if isinstance(value, str) else value


class Partition(Model):
    name: Name
    nodes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    """Node names or Slurm host lists such as ``gpu[001-032]``."""
    default: bool = False
    max_time: Annotated[str, AfterValidator(_time_limit)] = "UNLIMITED"

    @field_validator("nodes", mode="before")
    @classmethod
    def _one_string(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Slurm(Model):
    cluster_name: HostName | None = None
    partitions: list[Partition] = Field(default_factory=list)


class Defaults(Model):
    bmc_credential: Name | None = None


class Site(Model):
    """One site: its racks, SKUs, nodes, networks and Slurm layout."""

    version: Literal[1] = 1
    site: HostName
    description: str | None = None
    domain: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    credentials: dict[Name, Credential] = Field(default_factory=dict)
    networks: Networks
    racks: list[Rack] = Field(min_length=1)
    skus: dict[Name, Sku] = Field(min_length=1)
    nodes: list[Node] = Field(min_length=1)
    slurm: Slurm = Field(default_factory=Slurm)
    deploy: DeploySettings = Field(default_factory=DeploySettings)

    def root_device_of(self, node: Node) -> RootDevice | None:
        """The node's root-device hint: its own, else its SKU's, else none (the ramdisk's default choice)."""
        return node.root_device or self.skus[node.sku].root_device

    def sku_of(self, node: Node) -> Sku:
        return self.skus[node.sku]

    def credential_of(self, node: Node) -> tuple[str, Credential]:
        """The name and credential a node's BMC uses (its own, else the site default)."""
        name = node.bmc.credential or self.defaults.bmc_credential
        if name is None:  # checks.py guarantees one exists on a loaded site
            raise KeyError(node.name)
        return name, self.credentials[name]
