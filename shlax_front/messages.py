"""Every error message worded the way BuildKit words it, as one constructor function each.

Why one module: the code that raises an error and the test that expects it build the message with the same
function (BuildKit's own habit), so a wording lives in one place and a test cannot drift from the code. The
functions return the bare message; the caller adds the place (``ParseError`` prefixes ``PATH:LINE:``). Where
BuildKit has no message for a case (an unterminated heredoc, a file with no stage), ours follows its style.
"""

from __future__ import annotations

from shlax_front.golang import GoDurationError, GoIntError, go_quote

# ---------------------------------------------------------------------------------------------------------------
# the scanner and parser directives


def line_too_long(limit: int) -> str:
    return f"dockerfile line greater than max allowed size of {limit}"


def duplicate_directive(key: str) -> str:
    return f"only one {key} parser directive can be used"


def invalid_escape(value: str) -> str:
    return f"invalid escape token '{value}' does not match ` or \\"


def no_instructions() -> str:
    return "file with no instructions"


def empty_continuation(line: str) -> str:
    """A warning, not an error: BuildKit prints it and goes on."""
    return f"Empty continuation line found in: {line}"


# ---------------------------------------------------------------------------------------------------------------
# line parsers and heredocs


def json_not_strings() -> str:
    return "when using JSON array syntax, arrays must be comprised of strings only"


def two_arguments(command: str) -> str:
    return f"{command} must have two arguments"


def missing_equals(word: str) -> str:
    return f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"


def unterminated_heredoc(name: str) -> str:
    return f"unterminated heredoc: no line {name!r} closes the heredoc before the end of the file"


def invalid_heredoc(word: str, reason: str) -> str:
    return f"invalid heredoc {word!r}: {reason}"


def inconsistent_heredoc(rest: str) -> str:
    return f"internal lexing of heredoc produced inconsistent results: {rest}"


# ---------------------------------------------------------------------------------------------------------------
# flags (BuildKit's BFlags)


def unknown_flag(flag: str) -> str:
    return f"unknown flag: {flag}"


def unknown_flag_for(flag: str, command: str) -> str:
    return f"{unknown_flag(flag)} for {command}"


def duplicate_flag(flag: str) -> str:
    return f"duplicate flag specified: {flag}"


def missing_flag_value(flag: str) -> str:
    return f"missing a value on flag: {flag}"


def not_a_flag(word: str) -> str:
    return f"arg should start with -- : {word}"


def bad_boolean(flag: str, value: str) -> str:
    return f"expecting boolean value for flag {flag}, not: {value}"


def did_you_mean(message: str, suggestion: str | None) -> str:
    """``message`` with a close match appended, when there is one (``--platfrom`` -> ``--platform``)."""
    return f"{message} (did you mean {suggestion}?)" if suggestion else message


# ---------------------------------------------------------------------------------------------------------------
# instructions: argument counts and forms


def at_least_one_argument(command: str) -> str:
    return f"{command} requires at least one argument"


def exactly_one_argument(command: str) -> str:
    return f"{command} requires exactly one argument"


def no_destination(command: str) -> str:
    return f"{command} requires at least two arguments, but only one was provided. Destination could not be determined"


def bad_heredoc(command: str, option: str) -> str:
    return f"{command} cannot accept a heredoc as {option}"


def blank_names(command: str) -> str:
    return f"{command} names can not be blank"


def too_many_arguments(command: str) -> str:
    return f"Bad input to {command}, too many arguments"


def not_json(command: str) -> str:
    return f"{command} requires the arguments to be in JSON form"


def unknown_instruction(keyword: str) -> str:
    return f"unknown instruction: {keyword}"


def from_arguments() -> str:
    return "FROM requires either one or three arguments"


def invalid_stage_name(name: str) -> str:
    return (
        f"invalid name for build stage: {go_quote(name)}, name can't start with a number or contain symbols"
    )


def onbuild_chained() -> str:
    return "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"


def onbuild_forbidden(keyword: str) -> str:
    return f"{keyword} isn't allowed as an ONBUILD trigger"


def invalid_network(value: str) -> str:
    return f'invalid network mode "{value}"'


def invalid_security(value: str) -> str:
    return f'security "{value}" is not valid'


def empty_volume() -> str:
    return "VOLUME specified can not be an empty string"


# ---------------------------------------------------------------------------------------------------------------
# HEALTHCHECK


def healthcheck_none_arguments() -> str:
    return "HEALTHCHECK NONE takes no arguments"


def healthcheck_missing_command() -> str:
    return "Missing command after HEALTHCHECK CMD"


def healthcheck_unknown_type(kind: str) -> str:
    return f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)"


def interval_too_short(flag: str) -> str:
    return f'Interval "{flag}" cannot be less than 1ms'


def invalid_duration(value: str) -> str:
    return str(GoDurationError(value))


def invalid_flag_duration(value: str, flag: str) -> str:
    """The parser-level check names the flag (``--interval``); the typed instruction does not."""
    return f"{invalid_duration(value)} for {flag}"


def negative_retries(value: int) -> str:
    return f"--retries cannot be negative ({value})"


def invalid_retries(value: str) -> str:
    return str(GoIntError(value, "invalid syntax"))


def invalid_retries_value(value: str, out_of_range: bool) -> str:
    """The parser-level check's wording of a bad ``--retries`` (the typed instruction gives Go's own)."""
    return f"invalid value for --retries: {go_quote(value)}" + (
        ": value out of range" if out_of_range else ""
    )


# ---------------------------------------------------------------------------------------------------------------
# RUN --mount


def csv_bad_quote() -> str:
    return 'failed to parse csv mounts: extraneous or missing " in quoted-field'


def csv_bare_quote() -> str:
    return 'failed to parse csv mounts: bare " in non-quoted-field'


def mount_bad_boolean(key: str, value: str) -> str:
    return f"invalid value for {key}: {value}"


def mount_bad_number(key: str, value: str) -> str:
    return f"invalid value {value} for {key}"


def mount_no_variables(key: str) -> str:
    return f"'{key}' doesn't support variable expansion, define alias stage instead"


def mount_key_for_type(key: str, kind: str) -> str:
    return f"unexpected key '{key}' for mount type '{kind}'"


def mount_not_key_value(item: str) -> str:
    return f"invalid field '{item}' must be a key=value pair"


def mount_unknown_type(value: str) -> str:
    return f'unsupported mount type "{value}"'


def mount_unknown_sharing(value: str) -> str:
    return f'unsupported sharing value "{value}"'


def mount_unknown_key(key: str, item: str) -> str:
    return f"unexpected key '{key}' in '{item}'"


def mount_owner_not_allowed(key: str, kind: str) -> str:
    return f'{key} not allowed for "{kind}" type mounts'


def secret_mount_from() -> str:
    return "secret mount should not have a from"


def secret_mount_sharing() -> str:
    return "secret mount should not define sharing"


def secret_mount_no_target() -> str:
    return "invalid secret mount. one of source, target required"


def secret_mount_source_and_id() -> str:
    return "both source and id can't be set"


def mount_sharing_not_cache(kind: str) -> str:
    return f"invalid cache sharing set for {kind} mount"


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


# ---------------------------------------------------------------------------------------------------------------
# variable expansion (BuildKit's shell/lex.go)


def expansion_error_message(word: str, reason: str) -> str:
    """The message of an :class:`ExpansionError` (shared by the code and its tests)."""
    return f"failed to process {word!r}: {reason}"


def unterminated(what: str) -> str:
    return f"unexpected end of statement while looking for matching {what}"


MISSING_BRACE = "syntax error: missing '}'"
MISSING_SLASH = "syntax error: missing '/' in ${}"
BAD_SUBSTITUTION = "syntax error: bad substitution"


def unsupported_modifier(modifier: str) -> str:
    return f"unsupported modifier ({modifier}) in substitution"


def not_allowed(name: str, message: str) -> str:
    return f"{name}: {message}"


def invalid_pattern(pattern: str, reason: str) -> str:
    return f"invalid pattern ({pattern}) in substitution: {reason}"
