"""Instruction flags (``--mount=...``, ``--from=...``, ``--link``): cutting them off the line, then reading them.

Why both halves live here: they are the two ends of one thing. The parser cuts the leading ``--flag`` words off an
instruction line (BuildKit's ``extractBuilderFlags``: quotes removed, the escape character applied, bytes walked
like Go does); the strict check and the typed instructions then read those words against one table of the flags
each instruction takes (``ALLOWED_FLAGS``, BuildKit's ``BFlags``), so the two levels can never disagree.
"""

from __future__ import annotations

import re
from enum import Enum

from shlax_front import messages
from shlax_front.expand import GO_SPACE
from shlax_front.golang import as_go_bytes, from_go_bytes

_GO_SPACE_SET = frozenset(GO_SPACE)
_ASCII_BLANK_SET = frozenset("\t\n\v\f\r ")
_ASCII_BLANKS = re.compile(r"[\t\n\v\f\r ]*")
_PLAIN_FLAG = re.compile(r"[^\t\n\v\f\r '\"\\`]*")


# --------------------------------------------------------------------------------------------------------------
# cutting the flag words off the line (parser level)


def extract_flags(line: str, escape: str = "\\") -> tuple[str, list[str]]:
    """Leading ``--flag[=value]`` words of ``line`` -> (rest of the line, flags); ``--`` ends the flags.

    Quotes around flag values are removed and the escape character escapes the next character,
    as in BuildKit. Like BuildKit we walk bytes, so non-ASCII text in a flag comes out the way it does.
    """
    ascii_only = line.isascii()
    if ascii_only:
        # Usual case: ASCII flags without quotes or escapes (``--mount=type=cache,target=/x``), one regex
        # match each. Anything else is read character by character below, from the start.
        words: list[str] = []
        pos, n = 0, len(line)
        while True:
            pos = _ASCII_BLANKS.match(line, pos).end()  # type: ignore[union-attr]
            if pos == n:
                return "", words
            if not line.startswith("--", pos):
                return line[pos:], words
            end = _PLAIN_FLAG.match(line, pos).end()  # type: ignore[union-attr]
            if end < n and line[end] not in _ASCII_BLANK_SET:
                break
            if end - pos == 2:  # "--" ends the flags
                return line[end:], words
            words.append(line[pos:end])
            pos = end
    if not ascii_only:
        line = as_go_bytes(line)
    words = []
    n = len(line)
    pos = 0
    phase = 0  # 0 spaces, 1 word, 2 quote
    buf: list[str] = []
    quote = ""
    blank_ok = False
    while True:
        if phase == 0:
            if pos == n:
                break
            ch = line[pos]
            if ch in _GO_SPACE_SET:
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                rest = line[pos:]
                return (rest if ascii_only else from_go_bytes(rest)), words
            phase = 1
        if pos == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        ch = line[pos]
        if phase == 1:
            if ch in _GO_SPACE_SET:
                word = "".join(buf)
                phase = 0
                if word == "--":
                    rest = line[pos:]
                    return (rest if ascii_only else from_go_bytes(rest)), words
                if blank_ok or word:
                    words.append(word)
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch == "'" or ch == '"':
                quote = ch
                blank_ok = True
                phase = 2
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
            continue
        # inside quotes
        if ch == quote:
            phase = 1
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        buf.append(ch)
        pos += 1
    return "", words


# --------------------------------------------------------------------------------------------------------------
# reading the flag words against the flags an instruction takes (BuildKit's BFlags)


class FlagKind(Enum):
    """How a flag takes its value (BuildKit's ``BFlags`` types)."""

    BOOL = "bool"  # --link, --link=true, --link=false
    STRING = "string"  # --from=x, given at most once
    STRINGS = "strings"  # --mount=..., repeatable


_STRING, _BOOL, _STRINGS = FlagKind.STRING, FlagKind.BOOL, FlagKind.STRINGS

#: Flags each instruction accepts (BuildKit's BFlags definitions), the one table both the strict check and the
#: typed instructions read. None: flags are not looked at (BuildKit never parses them for ARG and STOPSIGNAL);
#: an empty dict: any flag is an error.
ALLOWED_FLAGS: dict[str, dict[str, FlagKind] | None] = {
    "add": {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "keep-git-dir": _BOOL, "checksum": _STRING,
            "unpack": _BOOL, "exclude": _STRINGS},
    "copy": {"chown": _STRING, "from": _STRING, "chmod": _STRING, "link": _BOOL, "exclude": _STRINGS,
             "parents": _BOOL},
    "from": {"platform": _STRING},
    "run": {"mount": _STRINGS, "network": _STRING, "security": _STRING, "device": _STRINGS},
    "healthcheck": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING, "start-interval": _STRING,
                    "retries": _STRING},
    "arg": None,
    "stopsignal": None,
    **{name: {} for name in ("env", "label", "maintainer", "onbuild", "workdir", "cmd", "entrypoint", "expose",
                             "user", "volume", "shell")},
}  # fmt: skip


class FlagError(ValueError):
    """A flag word BuildKit's ``BFlags.Parse`` rejects (its wording); ``unknown`` names a flag the instruction
    does not take (without ``--``), so callers can add a suggestion."""

    def __init__(self, message: str, unknown: str | None = None):
        super().__init__(message)
        self.unknown = unknown


def read_flags(words: list[str], allowed: dict[str, FlagKind]) -> dict[str, str | bool | list[str]]:
    """Read ``--name[=value]`` words like BuildKit's ``BFlags.Parse``: name -> value; raises ``FlagError``.

    ``--`` ends the flags. A bool flag takes no value or ``true``/``false`` (any case); a string flag needs
    ``=value`` and may appear once; a strings flag needs ``=value`` and may repeat (values in order).
    """
    found: dict[str, str | bool | list[str]] = {}
    for word in words:
        if word == "--":
            break
        if not word.startswith("--"):
            raise FlagError(messages.not_a_flag(word))
        flag, has_value, value = word.partition("=")
        name = flag[2:]
        kind = allowed.get(name)
        if kind is None:
            raise FlagError(messages.unknown_flag(flag), unknown=name)
        if name in found and kind is not FlagKind.STRINGS:
            raise FlagError(messages.duplicate_flag(flag))
        if kind is FlagKind.BOOL:
            if has_value and value == "":
                raise FlagError(messages.missing_flag_value(flag))
            lowered = value.lower()
            if lowered not in ("", "true", "false"):
                raise FlagError(messages.bad_boolean(flag, value))
            found[name] = lowered != "false"
        elif not has_value:
            raise FlagError(messages.missing_flag_value(flag))
        elif kind is FlagKind.STRING:
            found[name] = value
        else:
            found.setdefault(name, [])
            found[name].append(value)  # type: ignore[union-attr]
    return found
