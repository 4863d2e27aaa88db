"""Typed instructions: one frozen dataclass per Containerfile instruction, built from a syntax ``Node``.

The package follows BuildKit's ``instructions`` package:

- ``classes``: the dataclasses (``From``, ``Run``, ``Copy``, ...; ``Mount`` for ``RUN --mount``), data only.
- ``parsers``: node -> instruction (``from_node``, dispatched on ``PARSERS``), with BuildKit's rules for each
  instruction next to its parser; ``check`` applies those rules to raw nodes for the strict ``parse``.
- ``mounts``: ``RUN --mount=`` values (CSV fields, per-type rules).

Flags are read against the parser's one table (``FLAGS``, BuildKit's ``BFlags``): an unknown, duplicated or
value-less flag is a located ``ParseError`` just as ``docker build`` would reject it. Error wording lives in
``shlax_front.messages``. Callers import from here (``from shlax_front import instructions as ins``).
"""

from __future__ import annotations

from shlax_front.golang import go_duration_ns
from shlax_front.instructions.classes import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Mount,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from shlax_front.instructions.flags import FLAGS, Flags, parse_flags
from shlax_front.instructions.mounts import MOUNT_TYPES, SHARING_MODES, csv_fields, parse_mount
from shlax_front.instructions.parsers import (
    CHECKS,
    PARSERS,
    STAGE_NAME,
    check,
    check_node,
    from_node,
    heredoc_word_name,
    node_text,
)

__all__ = [
    "Add", "Arg", "Cmd", "Copy", "Entrypoint", "Env", "Expose", "From", "Healthcheck", "Instruction", "Label",
    "Maintainer", "Mount", "Onbuild", "Run", "Shell", "Stopsignal", "User", "Volume", "Workdir",
    "CHECKS", "FLAGS", "MOUNT_TYPES", "PARSERS", "SHARING_MODES", "STAGE_NAME", "Flags", "check", "check_node",
    "csv_fields", "from_node", "go_duration_ns", "heredoc_word_name", "node_text", "parse_flags", "parse_mount",
]  # fmt: skip
