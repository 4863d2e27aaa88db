"""Run ``optimize`` and ``explain`` over a folder of real-world Dockerfiles and report what the reviewer
checks: no crash, every output re-parses with the same instruction sequence and is idempotent, and the
share of apt/apk/dnf-family/pip/npm installs recognised (an install is "seen" when its text matches a
loose regex, "recognised" when lowering produced the matching install action).

    PYTHONPATH=. python tests/corpus_rewrite.py DIR [--show-missed N]

Not a pytest module: the corpus is not part of the repository (any clone of Dockerfile-heavy repositories
will do). Files our parser rejects are counted and skipped: they are not Dockerfiles BuildKit accepts
(that includes instruction flags BuildKit refuses, such as ``--mount=typ=tmpfs``: optimize reports those as
``FILE:LINE: ...`` with exit code 2, which is not a crash).

RUN instructions under a SHELL that is not a POSIX shell (PowerShell or cmd in Windows images) are not
shell-form Linux installs: the regexes would match ``pip install`` in them, but they are counted apart
("seen under a non-POSIX SHELL") instead of as misses, so the percentages are about what the tool is for.
A wrapper such as ``xx-apk`` (cross-compilation sysroots) is not the package manager either: the regexes
only match the manager's own name.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections import Counter, defaultdict

from shlax_front import actions as A
from shlax_front.errors import ShlaxError
from shlax_front.explainer import explain_document
from shlax_front.lower import lower
from shlax_front.optimizer import optimize_document
from shlax_front.parser import decode, parse

_NAME_START = r"(?<![\w-])"  # ``xx-apk``/``my-pip`` are other programs
SEEN = {
    "apt": re.compile(_NAME_START + r"apt(-get)?\s+(-\S+\s+)*(install|dist-upgrade|upgrade)\b"),
    "apk": re.compile(_NAME_START + r"apk\s+(-\S+\s+)*add\b"),
    "dnf": re.compile(_NAME_START + r"(dnf|yum|microdnf|tdnf)\s+(-\S+\s+)*install\b"),
    "pip": re.compile(_NAME_START + r"pip[0-9.]*\s+(-\S+\s+)*install\b|\b-m\s+pip\s+install\b"),
    "npm": re.compile(_NAME_START + r"npm\s+(-\S+\s+)*(install|i|ci)\b"),
}
NON_POSIX_SHELL = "is not a POSIX shell"
FAMILY = {"yum": "dnf", "microdnf": "dnf", "tdnf": "dnf", "uv": "pip", "yarn": "npm", "pnpm": "npm"}


def check_file(path: str, stats: Counter, problems: list, missed: dict) -> None:
    with open(path, "rb") as handle:
        text = decode(handle.read())
    try:
        doc = parse(text, path)
    except ShlaxError:
        stats["rejected by the parser"] += 1
        return
    try:
        result = optimize_document(doc)
    except ShlaxError:
        stats["rejected by the parser"] += 1
        return
    stats["files"] += 1
    explain_document(doc)
    after = parse(result.text, path)
    if [n.keyword for n in after.nodes] != [n.keyword for n in doc.nodes]:
        problems.append((path, "instruction sequence changed"))
    if result.changes:
        stats["files rewritten"] += 1
        stats["RUNs rewritten"] += len(result.changed)
        if optimize_document(after).text != result.text:
            problems.append((path, "not idempotent"))
    for stage in lower(doc):
        for action in stage.actions:
            if not isinstance(action, A.RunLike):
                continue
            body = action.run if isinstance(action.run, str) else " ".join(action.run)
            body += "".join(h.content for h in action.heredocs)
            installs = list(action.installs) if isinstance(action, A.Run) else [action]
            got = {
                FAMILY.get(n, n)
                for n in (getattr(i, "manager", None) or getattr(i, "tool", None) for i in installs)
            }
            non_posix = any(NON_POSIX_SHELL in note for note in action.notes)
            for family, pattern in SEEN.items():
                if pattern.search(body) and non_posix:
                    stats[f"{family} seen under a non-POSIX SHELL"] += 1
                    missed[f"{family} non-POSIX"].append((path, action.line, action.notes[0]))
                elif pattern.search(body):
                    stats[f"{family} seen"] += 1
                    if family in got:
                        stats[f"{family} recognised"] += 1
                    else:
                        missed[family].append((path, action.line, (action.notes or ("",))[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--show-missed", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    stats: Counter = Counter()
    problems: list = []
    missed: dict = defaultdict(list)
    for root, _, names in os.walk(args.folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                check_file(path, stats, problems, missed)
            except Exception:  # the point of the tool is to find these
                problems.append((path, traceback.format_exc(limit=3)))
    for key in sorted(k for k in stats if not k.endswith(("seen", "recognised", "SHELL"))):
        print(f"{key}: {stats[key]}")
    for family in SEEN:
        seen, ok = stats[f"{family} seen"], stats[f"{family} recognised"]
        print(
            f"{family}: {ok}/{seen} RUN instructions with installs recognised ({100 * ok / max(seen, 1):.1f}%)"
        )
        for path, line, note in missed[family][: args.show_missed]:
            print(f"    {path}:{line}: {note or 'not recognised'}")
        apart = stats[f"{family} seen under a non-POSIX SHELL"]
        if apart:
            print(f"    (+ {apart} under a non-POSIX SHELL, PowerShell/cmd in Windows images: not counted)")
            for path, line, _note in missed[f"{family} non-POSIX"][: args.show_missed]:
                print(f"      {path}:{line}")
    print(f"problems: {len(problems)}")
    for path, what in problems[:20]:
        print(f"  {path}: {what}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
