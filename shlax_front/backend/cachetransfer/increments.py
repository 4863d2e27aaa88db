"""The memory of incremental package layers (``layers/incremental.json``) carried with the layer cache.

A record says: for this install (its template key), the last layer has key K and holds packages P. A fresh
runner that has the record starts a RUN that only gained packages from layer K (pulled from the cache like any
other step image) and installs just the added ones. Only records whose layer goes with them are exported (a
layer the target holds or receives now), and on import only records whose layer the source holds are adopted:
a record naming a layer nobody has would only cost a failed lookup. The local runner's own record for a
template key wins over an imported one (its layer is in the local store already).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from shlax_front.backend.store import file_lock, write_atomic

log = logging.getLogger(__name__)


def _paths(cache_root: Path) -> tuple[Path, Path]:
    layers = Path(cache_root) / "layers"
    return layers / "incremental.json", layers / "incremental.lock"


def _well_formed(record: object) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("key"), str)
        and isinstance(record.get("packages"), list)
        and all(isinstance(p, str) for p in record["packages"])
        and isinstance(record.get("lists", ""), str)
    )


def _read_raw(cache_root: Path) -> dict:
    try:
        data = json.loads(_paths(cache_root)[0].read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_records(cache_root: Path) -> dict[str, dict]:
    return {k: v for k, v in _read_raw(cache_root).items() if isinstance(k, str) and _well_formed(v)}


def carried_records(cache_root: Path, layer_keys: Iterable[str]) -> dict[str, dict]:
    """This runner's records whose layer is one of ``layer_keys`` (the layers the cache holds after export)."""
    keys = set(layer_keys)
    return {tkey: record for tkey, record in read_records(cache_root).items() if record["key"] in keys}


def adopt_records(cache_root: Path, records: object, has_layer: Callable[[str], bool]) -> int:
    """Merge the well-formed ``records`` whose layer the source has (``has_layer``) and that this runner has
    no record of into its ``incremental.json``; how many were adopted."""
    if not isinstance(records, dict):
        return 0
    offered = {
        tkey: record
        for tkey, record in records.items()
        if isinstance(tkey, str) and _well_formed(record) and has_layer(record["key"])
    }
    if not offered:
        return 0
    path, lock = _paths(cache_root)
    with file_lock(lock):
        data = _read_raw(cache_root)  # records of a shape not known here are kept as they are
        new = {tkey: record for tkey, record in offered.items() if tkey not in data}
        if new:
            data.update(new)
            write_atomic(path, json.dumps(data, indent=0, sort_keys=True))
    return len(new)
