"""The values of ``shlax-front build``'s bud/docker flags, read and checked before anything runs.

Each reader takes the value as typed and returns what the backend needs, or raises ``ShlaxError`` with one
line naming the flag (``--add-host foo: expected HOST:IP``): a bad value must be refused before the first
step, never found by buildah halfway through a build. The meanings are ``buildah bud``'s (1.28); where it
cannot do what docker's flag means (another platform, an exporter it lacks), the flag is refused here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any

from shlax_front.backend import run_settings
from shlax_front.errors import ShlaxError

# -- image references (the distribution reference grammar docker and buildah use) -----------------------------
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")


def check_tag(tag: str) -> str:
    """``-t NAME[:TAG]``: refused as bud refuses it ("invalid reference format"), before the build runs."""
    if not tag:
        raise ShlaxError("-t: an empty name is not a valid image name")
    match = _REFERENCE.match(tag)
    first = tag.split("/", 1)[0]
    if match and "/" in tag and not ("." in first or ":" in first or first == "localhost"):
        match = match if re.fullmatch(_COMPONENT, first) else None  # not a registry: a path component
    if match is None:
        reason = ""
        if _REFERENCE.match(tag.lower()):
            reason = ": repository name must be lowercase"
        raise ShlaxError(f"-t {tag}: invalid reference format{reason}")
    if len(match.group(1)) > 255:
        raise ShlaxError(f"-t {tag}: invalid reference format: repository name is over 255 characters")
    return tag


# -- key=value lists ------------------------------------------------------------------------------------------
def key_values(values: tuple[str, ...] | list[str], flag: str) -> tuple[tuple[str, str], ...]:
    """``--label`` / ``--annotation`` ``KEY=VALUE`` (a bare ``KEY`` is an empty value, as in bud)."""
    out = []
    for value in values:
        key, _, val = value.partition("=")
        if not key.strip():
            raise ShlaxError(f"{flag} {value}: expected KEY=VALUE")
        out.append((key, val))
    return tuple(out)


def add_host(value: str) -> str:
    """``--add-host HOST:IP`` (the IP may be IPv6: split at the first colon, as docker does)."""
    host, sep, ip = value.partition(":")
    if not sep or not host or not ip:
        raise ShlaxError(f"--add-host {value}: expected HOST:IP")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            raise ShlaxError(f"--add-host {value}: {ip} is not an IP address") from None
    return value


ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
    "rtprio", "rttime", "sigpending", "stack", "as",
)  # fmt: skip


def ulimit(value: str) -> str:
    """``--ulimit NAME=SOFT[:HARD]`` (``-1`` or ``unlimited`` for no limit)."""
    name, sep, limits = value.partition("=")
    if not sep or name not in ULIMITS:
        raise ShlaxError(f"--ulimit {value}: expected NAME=SOFT[:HARD] with NAME one of {', '.join(ULIMITS)}")
    parts = limits.split(":")
    if len(parts) > 2 or not all(re.fullmatch(r"-1|unlimited|[0-9]+", p) for p in parts):
        raise ShlaxError(f"--ulimit {value}: expected NAME=SOFT[:HARD] (numbers, -1 or unlimited)")
    numbers = [-1 if p in ("-1", "unlimited") else int(p) for p in parts]
    if len(numbers) == 2 and numbers[1] != -1 and (numbers[0] == -1 or numbers[0] > numbers[1]):
        raise ShlaxError(f"--ulimit {value}: the soft limit is above the hard limit")
    return value


def shm_size(value: str) -> str:
    """``--shm-size <number>[b|k|m|g]`` as bud reads it."""
    if (
        not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?[bkmgBKMG]?[bB]?", value)
        or float(re.sub(r"[^0-9.]", "", value)) <= 0
    ):
        raise ShlaxError(f"--shm-size {value}: expected <number><unit> (for example 64m)")
    return value


NETWORKS = ("private", "none", "host")


def network(value: str) -> str:
    """``--network private|none|host|ns:PATH`` (``default`` and ``bridge`` are docker's words for private)."""
    if value in ("default", "bridge"):
        return "private"
    if value in NETWORKS:
        return value
    if value.startswith("ns:") and os.path.exists(value[3:]):
        return value
    raise ShlaxError(f"--network {value}: expected private, none, host or ns:PATH")


PULL_POLICIES = ("always", "missing", "never", "newer")


def pull_policy(value: str | None) -> str:
    """``--pull[=VALUE]``: bud's meanings - given alone (``true``) it pulls when the registry has a newer
    image, ``false`` only when the image is missing; ``always``, ``missing``, ``never``, ``newer`` as named.
    Not given: ``missing``."""
    if value is None:
        return "missing"
    word = value.strip().lower()
    policy = {"true": "newer", "false": "missing", "ifmissing": "missing", "ifnewer": "newer"}.get(word, word)
    if policy not in PULL_POLICIES:
        raise ShlaxError(f"--pull={value}: expected always, missing, never or newer")
    return policy


def platform(value: str, given: str | None = None) -> None:
    """``--platform``: only this machine's platform (buildah 1.28 runs a RUN of another one only through
    emulation this tool does not set up): any other is refused in one line naming the flag (``given``: the
    flags as typed, when ``value`` was made of others, ``platform_parts``)."""
    from shlax_front.platforms import Platform, host_platform

    given = given or f"--platform {value}"
    host = host_platform().normalized()
    for item in value.split(","):
        try:
            wanted = Platform.parse(item.strip()).normalized()
        except ValueError as err:
            raise ShlaxError(f"{given}: {err}") from None
        same = (wanted.os, wanted.arch) == (host.os, host.arch)
        if not same or (wanted.variant and host.variant and wanted.variant != host.variant):
            raise ShlaxError(f"{given}: only this machine's platform ({host}) can be built here")


def platform_parts(os_name: str | None, arch: str | None, variant: str | None) -> None:
    """bud's ``--os``, ``--arch`` and ``--variant``: parts of ``--platform`` (the others this machine's), with
    the same rule: only this machine's platform; the refusal names the flags given."""
    if not (os_name or arch or variant):
        return
    from shlax_front.platforms import host_platform

    host = host_platform()
    text = "/".join(p for p in (os_name or host.os, arch or host.arch, variant or "") if p)
    given = " ".join(
        f"--{flag} {value}"
        for flag, value in (("os", os_name), ("arch", arch), ("variant", variant))
        if value
    )
    platform(text, given)


VOLUME_OPTIONS = re.compile(r"^(rw|ro|z|Z|U|O|shared|rshared|slave|rslave|private|rprivate|bind|rbind|"
                            r"nosuid|suid|nodev|dev|noexec|exec|copy|nocopy|idmap)$")  # fmt: skip


def volume(value: str) -> str:
    """``-v/--volume SRC:DST[:OPTIONS]`` as bud: a host path that exists, an absolute target."""
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise ShlaxError(f"--volume {value}: expected SRC:DST[:OPTIONS]")
    source, target = parts[0], parts[1]
    if not os.path.isabs(target):
        raise ShlaxError(f"--volume {value}: {target}: the target must be an absolute path")
    if not os.path.exists(source):
        raise ShlaxError(f"--volume {value}: {source}: no such file or directory")
    options = parts[2].split(",") if len(parts) == 3 else []
    bad = [o for o in options if not VOLUME_OPTIONS.match(o)]
    if bad:
        raise ShlaxError(f"--volume {value}: unknown option {bad[0]!r}")
    return ":".join([os.path.abspath(source), target, *([parts[2]] if options else [])])


def timestamp(value: str | int | None, flag: str = "--timestamp") -> int | None:
    """``--timestamp SECONDS`` (or ``$SOURCE_DATE_EPOCH``): the created time of the image and its history."""
    if value is None or value == "":
        return None
    try:
        seconds = int(str(value).strip())
    except ValueError:
        raise ShlaxError(f"{flag} {value}: expected seconds since the epoch") from None
    if seconds < 0:
        raise ShlaxError(f"{flag} {value}: expected seconds since the epoch")
    return seconds


def build_contexts(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--build-context NAME=DIR``: a directory ``COPY --from=NAME`` and ``RUN --mount=from=NAME`` read.
    Images and URLs (BuildKit's other kinds) are refused in one line."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, where = value.partition("=")
        if not sep or not name or not where:
            raise ShlaxError(f"--build-context {value}: expected NAME=DIR")
        if re.match(r"^[a-z][a-z0-9+.-]*://", where):
            raise ShlaxError(
                f"--build-context {value}: only a local directory is supported as a named context"
            )
        if not os.path.isdir(where):
            raise ShlaxError(f"--build-context {value}: {where}: no such directory")
        out[name] = os.path.abspath(where)
    return out


@dataclass(frozen=True)
class SshSource:
    """One ``--ssh``: an agent socket to forward, or key files an agent started for the build holds."""

    id: str
    socket: str | None = None
    keys: tuple[str, ...] = ()


def ssh(values: tuple[str, ...] | list[str], environ: dict[str, str] | None = None) -> dict[str, SshSource]:
    """``--ssh default|ID[=SOCKET|KEY[,KEY]]`` as bud: no path means ``$SSH_AUTH_SOCK``."""
    env = os.environ if environ is None else environ
    out: dict[str, SshSource] = {}
    for value in values:
        ident, sep, paths = value.partition("=")
        if not ident:
            raise ShlaxError(f"--ssh {value}: expected default|ID[=SOCKET|KEY[,KEY]]")
        if not sep:
            sock = env.get("SSH_AUTH_SOCK")
            if not sock:
                raise ShlaxError(
                    f"--ssh {value}: SSH_AUTH_SOCK is not set (give a socket or key: {ident}=PATH)"
                )
            paths = sock
        found = [os.path.abspath(p) for p in paths.split(",") if p]
        for path in found:
            if not os.path.exists(path):
                raise ShlaxError(f"--ssh {value}: {path}: no such file")
        sockets = [p for p in found if _is_socket(p)]
        if sockets and len(found) > 1:
            raise ShlaxError(f"--ssh {value}: one agent socket, or key files, not both")
        out[ident] = SshSource(ident, socket=sockets[0]) if sockets else SshSource(ident, keys=tuple(found))
    return out


def _is_socket(path: str) -> bool:
    import stat

    return stat.S_ISSOCK(os.stat(path).st_mode)


@dataclass(frozen=True)
class Output:
    """``-o/--output``: the final image's root file system written to a directory or a tar file, or the image
    pushed to a registry (``type`` registry, ``dest`` the reference)."""

    type: str
    dest: str


def output(value: str | None) -> Output | None:
    """``type=local,dest=DIR`` / ``type=tar,dest=FILE`` (bud 1.28's two exporters), a bare path is local;
    ``type=registry,name=REF`` (buildx's) pushes the image (``dest`` then holds the reference)."""
    if not value:
        return None
    if "=" not in value and value != "-":
        return Output("local", os.path.abspath(value))
    fields: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if not sep:
            raise ShlaxError(f"--output {value}: expected type=local,dest=DIR or type=tar,dest=FILE")
        fields[key] = val
    kind = fields.get("type", "local")
    if kind == "registry":  # docker buildx's exporter: the image pushed to name=REF, as --push does
        name = fields.get("name")
        if not name:
            raise ShlaxError(f"--output {value}: type=registry needs name=HOST/REPOSITORY[:TAG]")
        try:
            return Output("registry", check_tag(name))
        except ShlaxError:
            raise ShlaxError(f"--output {value}: {name}: invalid reference format") from None
    if kind not in ("local", "tar"):
        raise ShlaxError(f"--output {value}: type {kind!r} is not supported (local, tar or registry)")
    dest = fields.get("dest")
    if not dest or dest == "-":
        raise ShlaxError(f"--output {value}: expected dest=PATH (the image id is what goes to stdout)")
    parent = os.path.dirname(os.path.abspath(dest)) or "/"
    if not os.path.isdir(parent):
        raise ShlaxError(f"--output {value}: {parent}: no such directory")
    return Output(kind, os.path.abspath(dest))


def creds(value: str | None) -> str | None:
    """``--creds USER[:PASSWORD]`` (never echoed back: errors name the user only)."""
    if value is None:
        return None
    user, _, _ = value.partition(":")
    if not user:
        raise ShlaxError("--creds: expected USER[:PASSWORD]")
    return value


def file_for_writing(path: str | None, flag: str) -> str | None:
    """``--iidfile FILE``: its directory must exist (checked now, not after the build)."""
    if not path:
        return None
    if os.path.isdir(path):
        raise ShlaxError(f"{flag} {path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ShlaxError(f"{flag} {path}: {parent}: no such directory")
    return os.path.abspath(path)


def image_format(value: str | None, environ: dict[str, str]) -> str | None:
    """``--format``, else ``$BUILDAH_FORMAT`` as bud reads it (CI templates set it to ``docker``), spelled as bud
    spells it; None: the executor's default (oci, docker when an instruction needs it)."""
    chosen, source = (value, "--format") if value else (environ.get("BUILDAH_FORMAT"), "BUILDAH_FORMAT")
    if not chosen:
        return None
    if chosen not in ("oci", "docker"):
        raise ShlaxError(f"{source}={chosen}: expected oci or docker")
    return chosen


@dataclass(frozen=True)
class BudFlags:
    """Every bud/docker flag of one build, read and checked (``read``); what the backend hands on."""

    pull: str = "missing"
    #: ``--format`` or ``$BUILDAH_FORMAT``; None: the executor chooses (``image_format``)
    format: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    iidfile: str | None = None
    network: str | None = None
    timestamp: int | None = None
    build_contexts: tuple[tuple[str, str], ...] = ()
    ssh: tuple[SshSource, ...] = ()
    output: Output | None = None
    #: ``buildah from`` options of every working container (add-host, ulimit, shm-size, volume, ``run_settings``)
    container_options: tuple[str, ...] = ()
    #: ``buildah pull`` options (tls-verify); the login, put in a private auth file per pull (``pullauth``)
    registry_options: tuple[str, ...] = ()
    authfile: str | None = None
    creds: str | None = field(default=None, repr=False)


def read(request: Any, environ: dict[str, str] | None = None) -> BudFlags:
    """The flags of a ``BuildRequest``, each checked; the first bad one raises its one-line error."""
    env = dict(os.environ) if environ is None else environ
    for tag in request.tags:
        check_tag(tag)
    if request.platform:
        platform(request.platform)
    container: list[str] = []
    for value in request.add_hosts:
        container += ["--add-host", add_host(value)]
    for value in request.ulimits:
        container += ["--ulimit", ulimit(value)]
    if request.shm_size:
        container += ["--shm-size", shm_size(request.shm_size)]
    for value in request.volumes:
        container += ["--volume", volume(value)]
    container += run_settings.from_options(getattr(request, "run_settings", ()))
    registry: list[str] = []
    authfile = getattr(request, "authfile", None)
    if authfile and not os.path.isfile(authfile):
        raise ShlaxError(f"--authfile {authfile}: no such file")
    if request.tls_verify is not None:
        registry += [f"--tls-verify={'true' if request.tls_verify else 'false'}"]
    retry, delay = getattr(request, "retry", None), getattr(request, "retry_delay", None)
    if retry is not None:
        if retry < 0:
            raise ShlaxError(f"--retry {retry}: expected a number of times, 0 or more")
        registry += ["--retry", str(retry)]
    if delay:
        if not re.fullmatch(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))+", delay):
            raise ShlaxError(f"--retry-delay {delay}: expected a duration (for example 2s, 500ms)")
        registry += ["--retry-delay", delay]
    stamp = timestamp(request.timestamp)
    if stamp is None and "SOURCE_DATE_EPOCH" in request.build_args:  # docker's spelling: a build arg
        stamp = timestamp(request.build_args["SOURCE_DATE_EPOCH"], "--build-arg SOURCE_DATE_EPOCH")
    if stamp is None:
        stamp = timestamp(env.get("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH")
    return BudFlags(
        pull=pull_policy(request.pull),
        format=image_format(getattr(request, "format", None), env),
        labels=key_values(request.labels, "--label"),
        annotations=key_values(request.annotations, "--annotation"),
        iidfile=file_for_writing(request.iidfile, "--iidfile"),
        network=network(request.network) if request.network else None,
        timestamp=stamp,
        build_contexts=tuple(build_contexts(request.build_contexts).items()),
        ssh=tuple(ssh(request.ssh, env).values()),
        output=output(request.output),
        container_options=tuple(container),
        registry_options=tuple(registry),
        authfile=os.path.abspath(authfile) if authfile else None,
        creds=creds(getattr(request, "creds", None)),
    )
