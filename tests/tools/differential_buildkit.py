"""Compare our parser with BuildKit's own Go parser, instruction by instruction (a tool, not a test).

The PyPI package ``dockerfile`` ships BuildKit's Go parser compiled into a Python extension, so it is an
independent oracle for what BuildKit makes of a file: keyword, ONBUILD trigger, JSON form, line span, flags,
argument values, heredocs (name, fd, body). It is not a project dependency; install it where you run this::

    pip install dockerfile
    python tests/tools/differential_buildkit.py DIR_OR_FILE...        # real-world files
    python tests/tools/differential_buildkit.py --fuzz 20000 --seed 1  # random files

The BuildKit inside ``dockerfile`` 3.4 is older than the conformance data we follow (moby/buildkit 73ed682), and
differs from it, so these differences are expected and reported apart, not as disagreements:

- JSON followed by more text (``CMD ["a"] x``): old BuildKit kept the JSON; current BuildKit (and we) use shell form.
- ``RUN << EOF`` (blanks after ``<<``) and heredocs under ONBUILD: only current BuildKit starts heredocs there.
- Flags under ``# escape=`` + backtick: old BuildKit treated backslash as the escape inside flags.
- ``ONBUILD ONBUILD``: the binding reports an empty argument for the inner ONBUILD.
- The binding cuts strings at NUL and cannot return values that split a UTF-8 sequence.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shlax_front.errors import ParseError  # noqa: E402
from shlax_front.parser import INSTRUCTIONS, decode, parse  # noqa: E402


def ours(text: str) -> list[tuple]:
    rows = []
    for node in parse(text, strict=False).nodes:
        target = node.next if node.keyword == "onbuild" and node.next is not None else node
        args = list(target.args)
        if target.keyword in ("env", "label"):
            args = [a for i, a in enumerate(args) if i % 3 != 2]  # the binding drops the separators
        if target.keyword not in INSTRUCTIONS:
            args = [""]
        rows.append(
            (
                node.original.upper(),
                target.original.upper() if target is not node else None,
                target.json,
                node.start_line,
                node.end_line,
                tuple(node.flags),
                tuple(args),
                tuple((h.name, h.fd, h.raw) for h in node.heredocs),
            )
        )
    return rows


def theirs(text: str) -> list[tuple]:
    import dockerfile

    return [
        (
            (c.cmd or "").upper(),
            c.sub_cmd.upper() if c.sub_cmd else None,
            c.json,
            c.start_line,
            c.end_line,
            tuple(c.flags),
            tuple(c.value),
            tuple((h.name, h.file_descriptor, h.content) for h in c.heredocs),
        )
        for c in dockerfile.parse_string(text)
    ]


_TEXT_AFTER_BRACKET = re.compile(r"\][^\n]*?\S")


def expected_difference(text: str) -> bool:
    """True when ``text`` touches one of the documented old-BuildKit differences."""
    return (
        "\x00" in text
        or "\\u0000" in text
        or _TEXT_AFTER_BRACKET.search(text) is not None
        or "<< " in text
        or "<<\t" in text
        or (
            "ONBUILD" in text.upper()
            and ("<<" in text or "ONBUILD ONBUILD" in " ".join(text.upper().split()))
        )
        or ("escape" in text and "`" in text)
    )


def compare(text: str) -> str | None:
    """None when both parsers agree (or both reject), else a one-line description of the first difference."""
    import dockerfile

    try:
        mine, my_error = ours(text), None
    except ParseError as err:
        mine, my_error = None, str(err)
    try:
        reference, their_error = theirs(text), None
    except dockerfile.GoParseError as err:
        reference, their_error = None, str(err)
    except UnicodeDecodeError:
        return None
    if (mine is None) != (reference is None):
        return f"one side rejects: ours={my_error!r} buildkit={their_error!r}"
    if mine == reference:
        return None
    for a, b in zip(mine or [], reference or [], strict=False):
        if a != b:
            return f"ours {a} != buildkit {b}"
    return f"{len(mine or [])} instructions != {len(reference or [])}"


PIECES = ["\n", "\r\n", " ", "\t", "\\", "#", "<<", "<<-", "EOF", "'", '"', "[", "]", ",", "=", "--", "$", "{", "}",
          "\u00a0", "é", "RUN ", "FROM a\n", "COPY ", "ENV ", "LABEL ", "ARG ", "HEALTHCHECK ", "CMD ", "x", "1",
          "# syntax=x\n", '["a"]', '["a", "b"]', '"a"', "${", ":-", "/", "ADD ", "3<<", "<<'E'", '<<"E"', "\nEOF\n",
          "\nE\n", "E", "\\\n", "--mount=x ", '--from="a b" ', "-- ", "\t\n", "  # c\n", "\n\n"]  # fmt: skip


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("paths", nargs="*", type=Path)
    options.add_argument("--fuzz", type=int, default=0, help="also compare N random files")
    options.add_argument("--seed", type=int, default=0)
    args = options.parse_args()
    try:
        import dockerfile  # noqa: F401
    except ImportError:
        print(
            "needs the 'dockerfile' package (BuildKit's Go parser): pip install dockerfile", file=sys.stderr
        )
        return 2
    files = [f for p in args.paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    checked = disagreements = expected = 0
    for path in files:
        text = decode(path.read_bytes())
        if "\udc80" <= max(text, default="") and any("\udc80" <= c <= "\udcff" for c in text):
            continue  # not UTF-8: the binding only takes text
        checked += 1
        problem = compare(text)
        if problem and expected_difference(text):
            expected += 1
        elif problem:
            disagreements += 1
            print(f"{path}: {problem}")
    rng = random.Random(args.seed)
    for _ in range(args.fuzz):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
        checked += 1
        problem = compare(text)
        if problem and expected_difference(text):
            expected += 1
        elif problem:
            disagreements += 1
            print(f"{text!r}: {problem}")
    print(
        f"{checked} files compared, {disagreements} disagreements, {expected} expected old-BuildKit differences"
    )
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
