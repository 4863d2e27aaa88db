"""The settings ``buildah bud`` and ``docker build`` give the containers RUN steps run in: capabilities,
security options, devices, DNS, memory and CPU limits, the proxy variables, the namespaces (``--userns``,
``--cgroupns``, ``--ipc``, ``--pid``, ``--uts``).

Each is handed to every working container's ``buildah from``, the way bud hands it to its RUN containers, and,
as in bud, none is part of a layer's cache key: a layer built with ``--memory 1g`` is reused by a build without
it. Values are checked here, before the first step, and a bad one is refused in one line naming the flag:
buildah would otherwise find it only when a container is made (``--device /dev/nonexistent``), or never (bud
1.28 writes ``--dns bogus`` as ``nameserver bogus`` and the RUN's lookups fail).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shlax_front.errors import ShlaxError

#: the Linux capabilities (``capabilities(7)``), without their ``CAP_`` prefix
CAPABILITIES = frozenset(
    """CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
    SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
    AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
    PERFMON BPF CHECKPOINT_RESTORE""".split()
)

#: what ``--security-opt`` takes in buildah 1.28 (it refuses ``no-new-privileges``, and so do we)
SECURITY_OPTIONS = ("label", "seccomp", "apparmor", "mask", "unmask")

_SIZE = re.compile(r"[0-9]+(?:\.[0-9]+)?[bkmgBKMG]?[bB]?")
_CPU_LIST = re.compile(r"[0-9]+(?:-[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?)*")


def _items(value: str) -> list[str]:
    """bud's list flags take several values in one word, separated by commas."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _capabilities(flag: str, value: str) -> list[str]:
    items = _items(value)
    if not items:
        raise ShlaxError(f"{flag} {value}: expected a capability name (for example NET_ADMIN) or ALL")
    for item in items:
        name = item.upper().removeprefix("CAP_")
        if name != "ALL" and name not in CAPABILITIES:
            raise ShlaxError(f"{flag} {value}: {item} is not a Linux capability")
    return [flag, ",".join(items)]


def _security_opt(flag: str, value: str) -> list[str]:
    key, sep, setting = value.partition("=")
    if key == "no-new-privileges":
        raise ShlaxError(f"{flag} {value}: buildah does not support no-new-privileges")
    if not sep or key not in SECURITY_OPTIONS or not setting:
        raise ShlaxError(f"{flag} {value}: expected KEY=VALUE with KEY one of {', '.join(SECURITY_OPTIONS)}")
    if key == "seccomp" and setting != "unconfined" and not os.path.isfile(setting):
        raise ShlaxError(f"{flag} {value}: {setting}: no such seccomp profile")
    return [flag, value]


def _device(flag: str, value: str) -> list[str]:
    parts = value.split(":")
    host = parts[0]
    if not host or len(parts) > 3:
        raise ShlaxError(f"{flag} {value}: expected HOST-DEVICE[:CONTAINER-PATH][:PERMISSIONS]")
    if len(parts) == 3 and not re.fullmatch(r"[rwm]{1,3}", parts[2]):
        raise ShlaxError(f"{flag} {value}: permissions are a combination of r, w and m")
    if not os.path.exists(host):
        raise ShlaxError(f"{flag} {value}: {host}: no such device")
    return [flag, value]


def _dns(flag: str, value: str) -> list[str]:
    items = _items(value)
    for item in items:
        if item == "none" and len(items) == 1:
            continue
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise ShlaxError(f"{flag} {value}: {item} is not an IP address") from None
    if not items:
        raise ShlaxError(f"{flag} {value}: expected a name server's IP address, or none")
    return [flag, ",".join(items)]


def _word(what: str) -> Callable[[str, str], list[str]]:
    def check(flag: str, value: str) -> list[str]:
        if not value.strip() or any(c.isspace() for c in value):
            raise ShlaxError(f"{flag} {value!r}: expected {what}")
        return [flag, value]

    return check


def _size(allow_unlimited: bool) -> Callable[[str, str], list[str]]:
    def check(flag: str, value: str) -> list[str]:
        if (allow_unlimited and value == "-1") or (
            _SIZE.fullmatch(value) and float(re.sub(r"[^0-9.]", "", value)) > 0
        ):
            return [flag, value]
        unlimited = " or -1 (no limit)" if allow_unlimited else ""
        raise ShlaxError(f"{flag} {value}: expected <number><unit> (for example 512m){unlimited}")

    return check


def _integer(minimum: int) -> Callable[[str, str], list[str]]:
    def check(flag: str, value: str) -> list[str]:
        if not re.fullmatch(r"-?[0-9]+", value.strip()) or int(value) < minimum:
            raise ShlaxError(f"{flag} {value}: expected a whole number, {minimum} or more")
        return [flag, value.strip()]

    return check


def _cpu_list(flag: str, value: str) -> list[str]:
    if not _CPU_LIST.fullmatch(value):
        raise ShlaxError(f"{flag} {value}: expected a list such as 0-3 or 0,2")
    return [flag, value]


def _boolean(flag: str, value: str) -> list[str]:
    word = value.strip().lower()
    if word not in ("true", "false", "1", "0"):
        raise ShlaxError(f"{flag}={value}: expected true or false")
    return [f"{flag}={'true' if word in ('true', '1') else 'false'}"]


@dataclass(frozen=True)
class Setting:
    """One flag: its spelling(s), how a value is checked and turned into ``buildah from`` words, its help."""

    flag: str
    check: Callable[[str, str], list[str]]
    metavar: str
    help: str
    short: str | None = None
    multiple: bool = False

    @property
    def dest(self) -> str:
        """The flag's name as a Python identifier (``--cap-add``: ``cap_add``)."""
        return self.flag[2:].replace("-", "_")


SETTINGS = (
    Setting("--cap-add", _capabilities, "CAP", "Add a capability to RUN (repeatable).", multiple=True),
    Setting("--cap-drop", _capabilities, "CAP", "Drop a capability from RUN (repeatable; ALL: all).", multiple=True),
    Setting("--security-opt", _security_opt, "KEY=VALUE", "label, seccomp, apparmor, mask or unmask option of RUN (repeatable).", multiple=True),
    Setting("--device", _device, "HOST[:PATH][:rwm]", "A host device in RUN (repeatable).", multiple=True),
    Setting("--dns", _dns, "IP", "Name server for RUN (repeatable; none: no resolv.conf).", multiple=True),
    Setting("--dns-search", _word("a domain"), "DOMAIN", "DNS search domain for RUN (repeatable).", multiple=True),
    Setting("--dns-option", _word("a resolv.conf option"), "OPTION", "resolv.conf option for RUN (repeatable).", multiple=True),
    Setting("--memory", _size(False), "SIZE", "Memory limit of RUN (e.g. 2g).", short="-m"),
    Setting("--memory-swap", _size(True), "SIZE", "Memory plus swap limit of RUN (-1: no limit)."),
    Setting("--cpu-shares", _integer(0), "N", "Relative CPU weight of RUN.", short="-c"),
    Setting("--cpu-period", _integer(0), "MICROSECONDS", "CFS period of RUN."),
    Setting("--cpu-quota", _integer(-1), "MICROSECONDS", "CFS quota of RUN in each period."),
    Setting("--cpuset-cpus", _cpu_list, "LIST", "CPUs RUN may use (e.g. 0-3)."),
    Setting("--cpuset-mems", _cpu_list, "LIST", "Memory nodes RUN may use."),
    Setting("--cgroup-parent", _word("a cgroup path"), "PATH", "Parent cgroup of RUN."),
    Setting("--http-proxy", _boolean, "[=BOOL]", "Pass the host's proxy variables to RUN (default true)."),
    Setting("--userns", _word("container, host or a namespace path"), "container|host|PATH", "User namespace of RUN."),
    Setting("--cgroupns", _word("private or host"), "private|host", "Cgroup namespace of RUN."),
    Setting("--ipc", _word("private, host or a namespace path"), "private|host|PATH", "IPC namespace of RUN."),
    Setting("--pid", _word("private, host or a namespace path"), "private|host|PATH", "PID namespace of RUN."),
    Setting("--uts", _word("private, host or a namespace path"), "private|host|PATH", "UTS namespace of RUN."),
)  # fmt: skip


def given(values: dict) -> tuple[tuple[str, str], ...]:
    """The settings a command line gave, as ``(flag, value)`` pairs from click's values by ``Setting.dest``
    (a flag not given is None or empty; ``--http-proxy``'s value is a bool)."""
    pairs: list[tuple[str, str]] = []
    for setting in SETTINGS:
        value = values.get(setting.dest)
        if value is None:
            continue
        if isinstance(value, bool):
            value = str(value).lower()
        pairs += [(setting.flag, v) for v in (value if isinstance(value, tuple) else (value,))]
    return tuple(pairs)


def passes_proxy(pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether RUN gets the host's proxy variables (``runenv.proxy_env``): unless the last ``--http-proxy``
    said false, as in bud."""
    said = [value for flag, value in pairs if flag == "--http-proxy"]
    return not said or said[-1].strip().lower() not in ("false", "0")


def from_options(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """``buildah from`` words for the settings given, each checked; the first bad one raises its one-line
    error."""
    checks = {setting.flag: setting.check for setting in SETTINGS}
    words: list[str] = []
    for flag, value in pairs:
        if flag not in checks:
            raise ShlaxError(f"{flag}: not a setting of RUN containers")
        words += checks[flag](flag, value)
    return words
