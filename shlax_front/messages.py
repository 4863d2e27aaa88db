"""Every error message worded the way BuildKit words it, as one constructor function each.

Why one module: the code that raises an error and the test that expects it build the message with the same
function (BuildKit's own habit), so a wording lives in one place and a test cannot drift from the code. The
functions return the bare message; the caller adds the place (``ParseError`` prefixes ``PATH:LINE:``).
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------------
# the stage graph: stage names and references, --target, FROM expansion


def unknown_target(name: str) -> str:
    return f'target stage "{name}" could not be found (--target)'


def duplicate_stage(name: str) -> str:
    return f'duplicate stage name "{name}", stage names should be unique'


def copy_forward_reference(reference: str, stage: str) -> str:
    return f'cannot copy from stage "{reference}", it needs to be defined before current stage "{stage}"'


def mount_forward_reference(reference: str, target: str | None) -> str:
    return f'cannot mount from stage "{reference}" to "{target or ""}", stage needs to be defined before current command'


def invalid_stage_index(index: int) -> str:
    return f"invalid stage index {index}"


def from_variables() -> str:
    return (
        "variable expansion is not supported for --from, "
        "define a new stage with FROM using ARG from global scope as a workaround"
    )


def blank_base(expression: str) -> str:
    return f"base name ({expression}) should not be blank"


def empty_platform(expression: str) -> str:
    return f"empty platform value from expression {expression}"


def no_stage() -> str:
    return "the file defines no build stage (no FROM instruction)"


def instruction_before_from(keyword: str) -> str:
    return f"no build stage in current context: {keyword} before the first FROM"
