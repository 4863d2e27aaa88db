"""Platforms (``os/arch[/variant]``) and the predefined platform ARGs every build has, as BuildKit names them."""

from __future__ import annotations

import functools
import platform as host
from dataclasses import dataclass

_MACHINE_ARCH = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}  # fmt: skip


@dataclass(frozen=True)
class Platform:
    """``os/arch[/variant]``, normalised the way BuildKit (containerd's ``platforms``) does: ``aarch64`` is
    ``arm64`` and its ``v8`` variant is implied, ``x86_64`` is ``amd64``, a bare ``arm`` is ``arm/v7``."""

    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.lower().split("/")
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
        if len(parts) == 1:
            if parts[0] in _KNOWN_OS:
                return cls(parts[0], host_platform().arch, host_platform().variant).normalized()
            return cls("linux", parts[0]).normalized()
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalized()

    def normalized(self) -> Platform:
        os_name = "darwin" if self.os == "macos" else self.os
        arch, variant = _ARCH_ALIASES.get(self.arch, (self.arch, None))
        variant = self.variant if variant is None or self.variant else variant
        if arch == "arm64" and variant in ("8", "v8", "v8.0"):
            variant = ""
        elif arch == "arm64" and variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        elif arch == "arm" and variant in ("", "7"):
            variant = "v7"
        elif arch == "arm" and variant in ("5", "6", "8"):
            variant = "v" + variant
        elif arch == "amd64" and variant == "v1":
            variant = ""
        return Platform(os_name, arch, variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


_KNOWN_OS = (
    "linux",
    "windows",
    "darwin",
    "macos",
    "freebsd",
    "netbsd",
    "openbsd",
    "solaris",
    "illumos",
    "aix",
)
_ARCH_ALIASES = {
    "i386": ("386", None), "x86_64": ("amd64", None), "x86-64": ("amd64", None), "aarch64": ("arm64", None),
    "armhf": ("arm", "v7"), "armel": ("arm", "v6"),
}  # fmt: skip


@functools.cache
def host_platform() -> Platform:
    """The platform of this machine (what BuildKit and buildah build for by default; it does not change while
    we run, so it is worked out once)."""
    arch, variant = _MACHINE_ARCH.get(host.machine().lower(), (host.machine().lower(), ""))
    return Platform("linux", arch, variant)


def platform_args(build: Platform, target: Platform, target_stage: str) -> dict[str, str]:
    """The ARGs every build predefines (usable in FROM; inside a stage after a bare ``ARG NAME``)."""
    values = dict(_platform_values(build, target))
    values["TARGETSTAGE"] = target_stage or "default"
    return values


@functools.lru_cache(maxsize=32)
def _platform_values(build: Platform, target: Platform) -> tuple[tuple[str, str], ...]:
    """The platform part of ``platform_args``, worked out once per pair of platforms (every plan needs it)."""
    return tuple(
        {
            "BUILDPLATFORM": str(build),
            "BUILDOS": build.os,
            "BUILDOSVERSION": "",
            "BUILDARCH": build.arch,
            "BUILDVARIANT": build.variant,
            "TARGETPLATFORM": str(target),
            "TARGETOS": target.os,
            "TARGETOSVERSION": "",
            "TARGETARCH": target.arch,
            "TARGETVARIANT": target.variant,
        }.items()
    )
