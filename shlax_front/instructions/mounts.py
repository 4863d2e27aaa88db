"""``RUN --mount=...`` values: BuildKit's CSV reading and its per-type rules, into a ``Mount``.

Why a module of its own: a mount value is a small language of its own (CSV fields, Go booleans, octal modes,
rules per mount type), read twice: once at parse time, where a value holding ``$`` is left unresolved as BuildKit
defers it, and once by ``stages`` with the ARG/ENV values in scope.
"""

from __future__ import annotations

from collections.abc import Callable

from shlax_front import messages
from shlax_front.expand import process_word
from shlax_front.instructions.classes import Mount

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def csv_fields(text: str) -> list[str]:
    """One CSV record (``encoding/csv`` rules: ``"..."`` quoting with ``""`` for a quote, no bare quotes)."""
    if text == "":
        return []
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            i += 1
            value: list[str] = []
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise ValueError(messages.csv_bad_quote())
                value.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    value.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            if i < n and text[i] != ",":
                raise ValueError(messages.csv_bad_quote())
            fields.append("".join(value))
        else:
            j = text.find(",", i)
            j = n if j < 0 else j
            value_text = text[i:j]
            if '"' in value_text:
                raise ValueError(messages.csv_bare_quote())
            fields.append(value_text)
            i = j
        if i >= n:
            return fields
        i += 1  # the comma


def _go_bool(key: str, value: str) -> bool:
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ValueError(messages.mount_bad_boolean(key, value))


def _go_uint(key: str, value: str, base: int) -> int:
    digits = "01234567" if base == 8 else "0123456789"
    if not value or any(c not in digits for c in value) or int(value, base) >= 2**32:
        raise ValueError(messages.mount_bad_number(key, value))
    return int(value, base)


def parse_mount(text: str, expander: Callable[[str], str] | None = None) -> Mount:
    """Parse one ``--mount=`` value the way BuildKit does; raises ``ValueError(message)``.

    Without ``expander`` (parse time) a mount whose text holds ``$`` is left unresolved, as BuildKit defers it
    to dispatch; ``from=`` never allows variables. With ``expander`` every value is expanded first, in the
    typed fields and in ``options`` (what the build hands to ``buildah run``: ``target=${GOCACHE}`` reached it
    as written, "invalid container path").
    """
    fields = csv_fields(text)
    options = []
    for item in fields:
        key, has_value, value = item.partition("=")
        options.append((key.lower(), value if has_value else ""))
    expanded = expander is not None
    if expander is None:
        for key, value in options:
            if key == "from" and "$" in value[:-1]:
                raise ValueError(messages.mount_no_variables(key))
        if "$" in text:
            raw_type = next((v for k, v in options if k == "type"), "bind").lower()
            kind = raw_type if raw_type in MOUNT_TYPES and "$" not in raw_type else "bind"
            from_ = next((v for k, v in options if k == "from"), None) or None
            return Mount(type=kind, options=tuple(options), raw=text, resolved=False, from_=from_)
        expander = _expand_nothing

    typed: dict[str, object] = {"type": "bind"}
    readonly_auto = True
    for n, (item, (key, value)) in enumerate(zip(fields, list(options), strict=True)):
        if "=" not in item:
            if key in ("readonly", "ro"):
                typed["readonly"], readonly_auto = True, False
            elif key in ("readwrite", "rw"):
                typed["readonly"], readonly_auto = False, False
            elif key == "required" and typed["type"] in ("secret", "ssh"):
                typed["required"] = True
            elif key == "required":
                raise ValueError(messages.mount_key_for_type(key, str(typed["type"])))
            else:
                raise ValueError(messages.mount_not_key_value(item))
            continue
        value = expander(value)
        if expanded:
            options[n] = (key, value)
        if key == "type":
            if value.lower() not in MOUNT_TYPES:
                raise ValueError(messages.mount_unknown_type(value))
            typed["type"] = value.lower()
        elif key == "from":
            typed["from_"] = value
        elif key in ("source", "src"):
            typed["source"] = value
        elif key in ("target", "dst", "destination"):
            typed["target"] = value
        elif key in ("readonly", "ro"):
            typed["readonly"], readonly_auto = _go_bool(key, value), False
        elif key in ("readwrite", "rw"):
            typed["readonly"], readonly_auto = not _go_bool(key, value), False
        elif key == "required":
            if typed["type"] not in ("secret", "ssh"):
                raise ValueError(messages.mount_key_for_type(key, str(typed["type"])))
            typed["required"] = _go_bool(key, value)
        elif key == "size":
            if typed["type"] != "tmpfs":
                raise ValueError(messages.mount_key_for_type(key, str(typed["type"])))
            typed["size"] = value
        elif key == "id":
            typed["id"] = value
        elif key == "sharing":
            if value.lower() not in SHARING_MODES:
                raise ValueError(messages.mount_unknown_sharing(value))
            typed["sharing"] = value.lower()
        elif key == "mode":
            typed["mode"] = _go_uint(key, value, 8)
        elif key in ("uid", "gid"):
            typed[key] = _go_uint(key, value, 10)
        elif key == "env":
            typed["env"] = value
        else:
            raise ValueError(messages.mount_unknown_key(key, item))

    kind = str(typed["type"])
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if typed.get(key) is not None:
                raise ValueError(messages.mount_owner_not_allowed(key, kind))
    if readonly_auto:
        typed["readonly"] = kind not in ("cache", "tmpfs")
    if kind == "secret":
        if typed.get("from_"):
            raise ValueError(messages.secret_mount_from())
        if typed.get("sharing"):
            raise ValueError(messages.secret_mount_sharing())
        if not (typed.get("source") or typed.get("target") or typed.get("id")):
            raise ValueError(messages.secret_mount_no_target())
        if typed.get("source") and typed.get("id"):
            raise ValueError(messages.secret_mount_source_and_id())
    if typed.get("sharing") and kind != "cache":
        raise ValueError(messages.mount_sharing_not_cache(kind))
    return Mount(options=tuple(options), raw=text, **typed)  # type: ignore[arg-type]


def _expand_nothing(value: str) -> str:
    # A value without "$" expands the same in any environment: quotes and escapes are still processed.
    return process_word(value, {})
