"""BuildKit's own parser test data: every ``testfiles/<case>`` must dump exactly like ``result``, every
``testfiles-negative/<case>`` must be rejected.

The data lives outside the project (``../shared/conformance/buildkit/parser`` relative to the project root)
and is never copied in. A missing folder is a failure, not a skip: CI puts it beside the clone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shlax_front.dump import dump
from shlax_front.errors import ParseError
from shlax_front.parser import decode, parse

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "buildkit" / "parser"
POSITIVE = CONFORMANCE / "testfiles"
NEGATIVE = CONFORMANCE / "testfiles-negative"
README = ROOT.parent / "shared" / "conformance" / "README.md"


MISSING = "conformance-data-missing"


def _cases(folder: Path) -> list[str]:
    """Case folders by listing; a missing folder yields one case that fails (never an empty, skipped set)."""
    return sorted(os.listdir(folder)) if folder.is_dir() else [MISSING]


def _require(folder: Path, case: str) -> Path:
    if case == MISSING:
        pytest.fail(
            f"BuildKit conformance data not found at {folder} (expected beside the project, see {README})"
        )
    return folder / case


def test_conformance_data_is_present():
    assert POSITIVE.is_dir() and NEGATIVE.is_dir(), (
        f"BuildKit conformance data not found at {CONFORMANCE}: it must sit beside the project "
        "(../shared/conformance/buildkit/parser); see /work/shared/conformance/README.md"
    )
    assert len(_cases(POSITIVE)) == 33
    assert len(_cases(NEGATIVE)) == 4


@pytest.mark.parametrize("case", _cases(POSITIVE))
def test_dump_matches_buildkit(case):
    folder = _require(POSITIVE, case)
    text = decode((folder / "Dockerfile").read_bytes())
    expected = (folder / "result").read_text(encoding="utf-8")
    assert dump(parse(text, f"{case}/Dockerfile", strict=False)) == expected


@pytest.mark.parametrize("case", _cases(NEGATIVE))
def test_negative_is_rejected(case):
    path = f"{case}/Dockerfile"
    text = decode((_require(NEGATIVE, case) / "Dockerfile").read_bytes())
    with pytest.raises(ParseError) as info:
        parse(text, path, strict=False)
    assert str(info.value).startswith(f"{path}:")
    assert info.value.line >= 1


@pytest.mark.parametrize("case", _cases(POSITIVE))
def test_identity_on_conformance_files(case):
    from shlax_front.emit import emit

    text = decode((_require(POSITIVE, case) / "Dockerfile").read_bytes())
    assert emit(parse(text, strict=False)) == text
