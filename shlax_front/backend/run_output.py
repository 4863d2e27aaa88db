"""What a step's output and its host caches say about traffic: bytes downloaded, bytes served from the host
caches, what ``--offline`` lacked, and the tail shown when a step fails.

Package managers print their own totals (apt's ``Fetched``/``Need to get``, pip's ``Processing`` of a
wheelhouse file); where they print nothing, the growth of the host cache directories stands in for them.
"""

from __future__ import annotations

import re

FETCHED = re.compile(r"^Fetched ([\d.,]+) ([kMG]?B)\b", re.M)
UNITS = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
NEED_TO_GET = re.compile(r"^Need to get ([\d.,]+) ([kMG]?B)/([\d.,]+) ([kMG]?B) of archives", re.M)
FROM_WHEELHOUSE = re.compile(r"^Processing /run/shlax-front/wheelhouse/(\S+)", re.M)


def served_bytes(output: str, wheelhouse_before: dict[str, int]) -> int | None:
    """Bytes the package managers took from the host caches: apt's "Need to get A/B" (B - A), and the
    wheelhouse files pip installed that were there before this step."""
    total = None
    for need, need_unit, whole, whole_unit in NEED_TO_GET.findall(output):
        total = (total or 0) + max(0, size_in_bytes(whole, whole_unit) - size_in_bytes(need, need_unit))
    for name in FROM_WHEELHOUSE.findall(output):
        if name in wheelhouse_before:
            total = (total or 0) + wheelhouse_before[name]
    return total


def size_in_bytes(amount: str, unit: str) -> int:
    """``"1,234.5", "kB"`` as apt prints it -> bytes."""
    return int(float(amount.replace(",", "")) * UNITS.get(unit, 1))


def fetched_bytes(output: str) -> int | None:
    """The sum of apt's ``Fetched N kB`` lines; None when there is none."""
    total = None
    for amount, unit in FETCHED.findall(output):
        total = (total or 0) + int(float(amount.replace(",", "")) * UNITS.get(unit, 1))
    return total


def offline_missing(output: str) -> list[str]:
    """What an ``--offline`` RUN's output says the host caches lacked (packages, apt lists or archives)."""
    found = re.findall(r"No matching distribution found for (\S+)", output)
    found += re.findall(r"Unable to locate package (\S+)", output)
    found += re.findall(r"Failed to fetch \S+/([^/\s]+_[^/\s]+\.deb)", output)
    if re.search(
        r"Failed to fetch \S+(InRelease|Release|Packages)|Some index files failed to download", output
    ):
        if not re.search(r"Unable to locate package|Reading package lists", output.split("index files")[-1]):
            found.append("apt package lists")
    found += re.findall(r"E: Unable to fetch some archives", output) and ["apt archives"] or []
    found += re.findall(r"ENOTCACHED.*?request to \S+/([^/\s]+) failed", output)
    return sorted(set(found))


def tail(output: str, lines: int = 25) -> str:
    """The last lines of a failed command's output, shown under the error."""
    return "\n".join(output.rstrip().splitlines()[-lines:])
