"""``--cache-to`` / ``--cache-from`` values, spelled as BuildKit spells them.

``type=local,dest=DIR`` (to) and ``type=local,src=DIR`` (from) name a plain directory that a CI cache (GitHub's
actions/cache, GitLab's ``cache:``) saves and restores; ``type=registry,ref=HOST/REPO`` names a repository in an
OCI registry. A bare value without ``=`` is a registry reference, as in BuildKit. Other keys BuildKit knows
(``mode``, ``compression``, ...) are accepted and ignored: the cache always carries every layer and package file.
"""

from __future__ import annotations

from dataclasses import dataclass

from shlax_front.errors import ShlaxError

TYPES = ("local", "registry")


@dataclass(frozen=True)
class CacheRef:
    """Where a cache goes or comes from: a local directory (``path``) or a registry repository (``ref``)."""

    type: str
    location: str

    def __str__(self) -> str:
        key = "ref" if self.type == "registry" else "dir"
        return f"type={self.type},{key}={self.location}"


def parse_cache_ref(value: str, option: str) -> CacheRef:
    """Read one option value; a user error (one line) names the option and what is wrong."""
    if "=" not in value:
        return _registry(value, option, value)
    fields: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if not sep or not key:
            raise ShlaxError(f"{option} {value}: expected KEY=VALUE pairs separated by commas")
        fields[key.strip()] = val.strip()
    kind = fields.get("type", "")
    if kind not in TYPES:
        raise ShlaxError(f"{option} {value}: type must be local or registry (got {kind or 'none'!r})")
    if kind == "registry":
        return _registry(fields.get("ref", ""), option, value)
    wanted = "dest" if option == "--cache-to" else "src"
    directory = fields.get(wanted) or fields.get("dest" if wanted == "src" else "src")
    if not directory:
        raise ShlaxError(f"{option} {value}: type=local needs {wanted}=DIR")
    return CacheRef("local", directory)


def _registry(ref: str, option: str, value: str) -> CacheRef:
    if not ref or "://" in ref or any(c.isspace() for c in ref):
        raise ShlaxError(f"{option} {value}: type=registry needs ref=HOST/REPOSITORY")
    name = ref.rsplit("/", 1)[-1]
    if ":" in name or "@" in name:
        raise ShlaxError(f"{option} {value}: give the repository without a tag (HOST/REPOSITORY)")
    return CacheRef("registry", ref)
