"""Parse a RUN body into the simple commands it runs, with their source positions.

Recognising a package install means knowing, for each command the shell will run, its argv and whether it
runs unconditionally. bashlex gives us a real POSIX/bash parse; this module flattens it into ``Command``s
and marks the ones whose execution we cannot predict (inside ``if``/loops/functions/subshells, after ``||``,
inside ``$(...)``). Anything bashlex rejects makes the whole script ``opaque`` with the reason, so callers
never guess. Positions are kept so that a rewrite can change one command's text and leave the rest as written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import bashlex
import bashlex.ast
import bashlex.errors

#: Programs that run the command given in their arguments with the same effect on the image.
WRAPPERS = frozenset(
    {"exec", "sudo", "nohup", "eatmydata", "command", "builtin", "nice", "stdbuf", "chronic"}
)
#: Shells whose ``-c STRING`` argument is itself a script we can look into.
SHELLS = frozenset(
    {
        "sh",
        "bash",
        "dash",
        "ash",
        "/bin/sh",
        "/bin/bash",
        "/bin/dash",
        "/bin/ash",
        "/usr/bin/bash",
        "/usr/bin/env bash",
        "busybox sh",
    }
)
#: xargs options that take a separate value
_XARGS_VALUE_OPTIONS = frozenset(
    {
        "-a",
        "-d",
        "-E",
        "-I",
        "-L",
        "-n",
        "-P",
        "-s",
        "--arg-file",
        "--delimiter",
        "--max-args",
        "--max-procs",
        "--max-chars",
        "--max-lines",
        "--process-slot-var",
    }
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE_PARAM = re.compile(r"^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$")


@dataclass(frozen=True)
class Word:
    """One shell word: ``value`` after quote removal, ``text`` as written, ``start``/``end`` in the script."""

    value: str
    text: str
    start: int
    end: int
    #: True when the word's value depends on the run time (``$VAR``, ``$(...)``, backquotes).
    dynamic: bool = False

    def variable(self) -> str | None:
        """The variable name when the whole word is ``$NAME`` or ``${NAME}`` (unquoted), else None."""
        m = _SIMPLE_PARAM.match(self.text)
        return (m.group(1) or m.group(2)) if m else None


@dataclass(frozen=True)
class Command:
    """A simple command the script runs.

    ``words`` is the full argv as written (wrappers such as ``sudo``/``env`` included); ``argv_index`` is where
    the real program starts after them. ``env`` holds ``NAME=value`` prefixes (and ``env NAME=value``).
    ``conditional`` tells why we cannot be sure the command runs (None: it runs whenever the commands before
    it in the top-level ``&&``/``;`` chain succeeded). ``removable`` is True when it sits in a plain ``&&``/``;``
    chain and can be deleted together with one adjacent operator without changing the rest.
    """

    words: tuple[Word, ...]
    env: tuple[Word, ...]
    start: int
    end: int
    argv_index: int = 0
    conditional: str | None = None
    in_pipeline: bool = False
    redirects: bool = False
    removable: bool = False
    #: source span to delete to remove this command with one neighbouring operator (when ``removable``).
    removal: tuple[int, int] | None = None
    #: 0 for the RUN body itself, 1 inside ``sh -c '...'`` and so on.
    depth: int = 0
    #: more arguments come from stdin (``xargs apt-get install -y < list``)
    more_args: bool = False
    #: the regions (if branch, loop body, right of ``||``, subshell...) the command sits in, outermost
    #: first; a command whose ``block`` is a prefix of another's runs whenever that other one's region runs.
    block: tuple[int, ...] = ()
    #: the user the command runs as when ``su``/``gosu``/``runuser``/``sudo`` switched to another one
    #: (``user`` or ``user:group`` as written; ``?`` when it cannot be told), None when unchanged.
    run_as: str | None = None

    def encloses(self, other: Command) -> bool:
        """True when this command's region contains ``other``'s (it runs whenever ``other``'s region does)."""
        return other.block[: len(self.block)] == self.block

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words[self.argv_index :]]

    @property
    def args(self) -> tuple[Word, ...]:
        return self.words[self.argv_index :]

    @property
    def program(self) -> str:
        return self.words[self.argv_index].value if len(self.words) > self.argv_index else ""

    @property
    def name(self) -> str:
        """The program's base name (``/usr/bin/pip3`` -> ``pip3``)."""
        return self.program.rsplit("/", 1)[-1]

    def env_value(self, name: str) -> str | None:
        for w in self.env:
            key, _, value = w.value.partition("=")
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Script:
    """A parsed script: its commands in execution order, or ``opaque`` with the reason it could not be parsed."""

    text: str
    commands: tuple[Command, ...] = ()
    opaque: str | None = None
    #: Whole-script facts a rewrite must respect (``set -e`` seen, ``trap`` used...).
    notes: tuple[str, ...] = field(default=())


class _Unsupported(Exception):
    pass


def parse(text: str) -> Script:
    """Parse ``text`` (a RUN body or heredoc script) into a ``Script``; never raises for bad shell."""
    if not text.strip():
        return Script(text, ())
    hidden: list[tuple[int, int]] = []
    try:
        parts = bashlex.parse(text)
    except _BASHLEX_ERRORS as err:
        # bashlex rejects some valid command substitutions (``$(a && b)``): parse them on their own
        masked, hidden = _mask_substitutions(text)
        masked, cases = _mask_cases(masked)
        for start, end in cases:
            body = text[start:end]
            if _RISKY_WORDS.search(body):
                return Script(text, (), opaque="a `case` statement runs package-manager or rm commands")
        hidden = [h for h in hidden if not any(s <= h[0] < e for s, e in cases)]
        try:
            parts = bashlex.parse(masked) if hidden or cases else None
        except _BASHLEX_ERRORS:
            parts = None
        if parts is None:
            return Script(text, (), opaque=f"shell syntax the parser does not support ({_short(err)})")
    except RecursionError:
        return Script(text, (), opaque="script too deeply nested")
    walker = _Walker(text)
    try:
        for part in parts:
            walker.top(part)
        # drop the placeholders' own ``:`` commands, then add what the hidden substitutions really run
        walker.commands = [c for c in walker.commands if not any(s <= c.start < e for s, e in hidden)]
        for start, end in hidden:
            inner = _Walker(text[start:end], 0, 1, "inside $(...)")
            for part in bashlex.parse(text[start:end]):
                inner.item(part, "inside $(...)", None)
            walker.commands.extend(
                _replace(_shift(c, start), depth=c.depth, removable=False, removal=None)
                for c in inner.commands
            )
    except _Unsupported as err:
        return Script(text, tuple(walker.commands), opaque=str(err))
    except _BASHLEX_ERRORS as err:
        return Script(text, (), opaque=f"shell syntax the parser does not support ({_short(err)})")
    walker.commands.sort(key=lambda c: c.start)
    return Script(text, tuple(walker.commands), notes=tuple(walker.notes))


_BASHLEX_ERRORS = (
    bashlex.errors.ParsingError,
    NotImplementedError,
    IndexError,
    AttributeError,
    TypeError,
    ValueError,
    AssertionError,
    KeyError,
)


def _mask_substitutions(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with the inside of each top-level ``$(...)`` replaced by ``:`` and spaces (same length),
    and the spans that were hidden. Quotes are respected; ``$((`` arithmetic is left alone."""
    out = list(text)
    spans: list[tuple[int, int]] = []
    resume = 0
    for i, ch, _quoted in _shell_chars(text):
        if (
            i < resume
        ):  # inside a substitution already hidden (its quotes balance, so the state is the same after)
            continue
        if ch == "$" and text.startswith("$(", i) and not text.startswith("$((", i):
            end = _closing_paren(text, i + 2)
            if end is None:
                return text, []
            start = i + 2
            if end > start:
                out[start:end] = ":" + " " * (end - start - 1)
                spans.append((start, end))
            resume = end + 1
    return "".join(out), spans


def _shell_chars(text: str, i: int = 0):
    """(position, character, inside double quotes) for each character the shell reads as syntax: not a quote
    character, not inside single quotes, not escaped by a backslash. The one quote-aware scanner here."""
    quote = None
    n = len(text)
    while i < n:
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = None
        elif ch == "\\":
            i += 2
            continue
        elif ch == "'" and quote is None:
            quote = "'"
        elif ch == '"':
            quote = None if quote == '"' else '"'
        else:
            yield i, ch, quote == '"'
        i += 1


#: words that make a ``case`` statement we cannot parse matter (installs, clean-ups)
_RISKY_WORDS = re.compile(
    r"(?<![\w.-])(apt-get|apt|aptitude|apk|dnf|dnf5|yum|microdnf|tdnf|zypper|pacman|pip[\d.]*|python[\d.]*|uv|"
    r"npm|yarn|pnpm|rm)(?![\w.-])"
)
_CASE = re.compile(r"(?<![\w$.-])(case|esac)(?![\w.-])")


def _mask_cases(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``case ... esac`` blocks (bashlex cannot parse them) replaced by ``:`` and spaces, and their spans."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for m in _CASE.finditer(text):
        if m.group(1) == "case":
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                spans.append((start, m.end()))
    if depth or not spans:
        return text, spans if not depth else []
    out = list(text)
    for a, b in spans:
        out[a:b] = ":" + "".join("\n" if c == "\n" else " " for c in text[a + 1 : b])
    return "".join(out), spans


def _closing_paren(text: str, i: int) -> int | None:
    """Where the ``)`` closing the parenthesis opened just before ``i`` is (None: never closed)."""
    depth = 1
    for pos, ch, quoted in _shell_chars(text, i):
        if quoted:
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pos
    return None


def _short(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return msg[:80]


class _Walker:
    """Flattens bashlex's tree; one instance per script."""

    def __init__(
        self,
        text: str,
        offset: int = 0,
        depth: int = 0,
        base_conditional: str | None = None,
        base_block: tuple[int, ...] = (),
        counter: Iterator[int] | None = None,
        run_as: str | None = None,
    ):
        self.text = text
        self.offset = offset
        self.depth = depth
        self.base_conditional = base_conditional
        self.base_block = base_block
        #: one numbering of regions for the whole script, nested ``sh -c`` strings included
        self.counter = counter if counter is not None else itertools.count(1)
        self.run_as = run_as
        self.commands: list[Command] = []
        self.notes: list[str] = []

    def fresh(self, block: tuple[int, ...]) -> tuple[int, ...]:
        """``block`` with a new region inside it."""
        return (*block, next(self.counter))

    def inner(
        self,
        text: str,
        offset: int,
        conditional: str | None,
        block: tuple[int, ...],
        run_as: str | None = None,
    ) -> _Walker:
        """A walker for a script nested in this one (``$(...)``, ``sh -c '...'``) sharing its numbering."""
        return _Walker(
            text,
            offset,
            self.depth + 1,
            conditional,
            block,
            self.counter,
            run_as if run_as is not None else self.run_as,
        )

    # -- structure -------------------------------------------------------------------------------------------
    def top(self, node) -> None:
        """A top-level part: a list, pipeline, command or compound; newline-separated parts run in sequence."""
        if node.kind == "list":
            self.list(node, self.base_conditional, top=True, block=self.base_block)
        else:
            self.item(
                node,
                self.base_conditional,
                removal=(node.pos[0], node.pos[1]) if self.depth == 0 else None,
                block=self.base_block,
            )

    def list(self, node, conditional: str | None, top: bool, block: tuple[int, ...]) -> None:
        parts = node.parts
        items = [p for p in parts if p.kind != "operator"]
        before: list[str | None] = []
        after: list[str | None] = []
        pending: str | None = None
        for p in parts:
            if p.kind == "operator":
                if after:
                    after[-1] = p.op
                pending = p.op
                continue
            before.append(pending if after else None)
            after.append(None)
            pending = None
        # segments separated by ; newline &: a segment is "plain" when it only uses &&
        segment_of: list[int] = []
        seg = 0
        for i in range(len(items)):
            if i and before[i] in (";", "\n", "&"):
                seg += 1
            segment_of.append(seg)
        seg_has_or = {segment_of[i] for i in range(len(items)) if before[i] == "||" or after[i] == "||"}
        seen_or = False
        for i, item in enumerate(items):
            if before[i] in (";", "\n", "&", None):
                seen_or = False
            if before[i] == "||":
                seen_or = True
            cond = conditional
            where = block
            if seen_or:
                cond = cond or "after ||"
                where = self.fresh(block)
            if after[i] == "&":
                cond = cond or "run in the background"
                where = self.fresh(block)
            removal = None
            if top and self.depth == 0 and cond is None and segment_of[i] not in seg_has_or:
                removal = self._removal_span(parts, item)
            self.item(item, cond, removal, where)

    def _removal_span(self, parts, item) -> tuple[int, int] | None:
        """Span covering ``item`` and one adjacent operator, chosen so the remaining chain keeps its meaning."""
        idx = parts.index(item)
        has_prev = idx >= 2 and parts[idx - 1].kind == "operator"
        has_next = idx + 2 < len(parts) and parts[idx + 1].kind == "operator"
        op_before = parts[idx - 1].op if has_prev else None
        op_after = parts[idx + 1].op if idx + 1 < len(parts) and parts[idx + 1].kind == "operator" else None
        # prefer deleting "<op> item" so that neighbouring removals never overlap, except where it would
        # attach the next command to the previous one with && (``a; rm x && b`` -> ``a; b``)
        if has_prev and not (has_next and op_before != "&&" and op_after == "&&"):
            return (parts[idx - 2].pos[1], item.pos[1])
        if has_next:
            return (item.pos[0], parts[idx + 2].pos[0])
        if op_after is not None:  # trailing ``;`` or ``&``
            return (
                (item.pos[0], parts[idx + 1].pos[1])
                if not has_prev
                else (parts[idx - 2].pos[1], parts[idx + 1].pos[1])
            )
        return None

    def item(
        self, node, conditional: str | None, removal: tuple[int, int] | None, block: tuple[int, ...] = ()
    ) -> None:
        kind = node.kind
        if kind == "command":
            self.command(node, conditional, in_pipeline=False, removal=removal, block=block)
        elif kind == "pipeline":
            cmds = [p for p in node.parts if p.kind != "pipe"]
            for p in cmds:
                if p.kind == "command":
                    self.command(p, conditional, in_pipeline=True, removal=None, block=block)
                else:
                    self.item(p, conditional or "inside a pipeline", None, self.fresh(block))
        elif kind == "list":
            self.list(node, conditional, top=False, block=block)
        elif kind == "compound":
            inner = [p for p in node.list if p.kind not in ("reservedword",)]
            first = node.list[0] if node.list else None
            what = (
                "inside a subshell"
                if first is not None and getattr(first, "word", "") == "("
                else "inside a { } group"
            )
            region = self.fresh(block)
            for p in inner:
                if p.kind in ("if", "for", "while", "until", "case", "function"):
                    self.item(p, conditional, None, region)
                else:
                    self.item(p, conditional or what, None, region)
        elif kind in ("if", "for", "while", "until", "case"):
            # each part (condition, then-branch, else-branch, loop body) is a region of its own
            for p in node.parts:
                if p.kind in ("reservedword", "word", "operator", "pipe"):
                    continue
                self.item(p, conditional or f"inside {kind}", None, self.fresh(block))
        elif kind == "function":
            for p in node.parts:
                if p.kind == "compound":
                    self.item(p, conditional or "inside a function", None, self.fresh(block))
        elif kind in ("reservedword", "operator", "pipe", "redirect"):
            return
        else:
            raise _Unsupported(f"shell construct '{kind}' not understood")

    # -- simple commands -------------------------------------------------------------------------------------
    def command(
        self, node, conditional: str | None, in_pipeline: bool, removal, block: tuple[int, ...] = ()
    ) -> None:
        env: list[Word] = []
        words: list[Word] = []
        redirects = False
        for p in node.parts:
            if p.kind == "assignment":
                w = self.word(p)
                (env if not words else words).append(w)
            elif p.kind == "word":
                words.append(self.word(p))
            elif p.kind == "redirect":
                redirects = True
                self.substitutions_in(p, block)
            else:
                raise _Unsupported(f"shell construct '{p.kind}' in a command not understood")
        for w_node in node.parts:
            if w_node.kind in ("word", "assignment"):
                self.substitutions_in(w_node, block)
        index, run_as = _skip_wrappers(words, env)
        more_args = any(w.value.rsplit("/", 1)[-1] == "xargs" for w in words[:index])
        cmd = Command(
            more_args=more_args,
            words=tuple(words),
            env=tuple(env),
            start=self.offset + node.pos[0],
            end=self.offset + node.pos[1],
            argv_index=index,
            conditional=conditional,
            in_pipeline=in_pipeline,
            redirects=redirects,
            removable=removal is not None and not in_pipeline and not redirects,
            removal=(self.offset + removal[0], self.offset + removal[1]) if removal else None,
            depth=self.depth,
            block=block,
            run_as=run_as if run_as is not None else self.run_as,
        )
        self.commands.append(cmd)
        argv = cmd.argv
        if argv and argv[0] in ("set",) and self.depth == 0:
            self.notes.append("set " + " ".join(argv[1:]))
        if argv and argv[0] == "trap":
            self.notes.append("trap")
        self.nested_shell(cmd)

    def substitutions_in(self, node, block: tuple[int, ...]) -> None:
        """Commands inside ``$(...)``/backquotes run, but as part of computing a word: never rewritten."""
        for sub in _walk(node):
            if sub.kind in ("commandsubstitution", "processsubstitution"):
                region = self.fresh(block)
                inner = self.inner(self.text, self.offset, "inside $(...)", region)
                inner.item(sub.command, "inside $(...)", None, region)
                self.commands.extend(inner.commands)

    def word(self, node) -> Word:
        text = self.text[node.pos[0] : node.pos[1]]
        dynamic = any(
            p.kind in ("parameter", "commandsubstitution", "processsubstitution", "tilde")
            for p in _walk(node)
            if p is not node
        )
        if "`" in text:
            dynamic = True
        return Word(
            value=node.word,
            text=text,
            start=self.offset + node.pos[0],
            end=self.offset + node.pos[1],
            dynamic=dynamic,
        )

    def nested_shell(self, cmd: Command) -> None:
        """``sh -c 'script'`` and ``su USER -c 'script'``: parse the string as a script when its quoting maps
        1:1 onto the source; the commands in it run as ``su``'s user."""
        argv = cmd.args
        if not argv:
            return
        run_as = None
        if argv[0].value.rsplit("/", 1)[-1] in SWITCH_USER_SHELLS:
            found = _su_script(argv)
            if found is None:
                return
            script_word, run_as = found
        else:
            script_word = _shell_script(argv)
        if script_word is None:
            return
        if script_word.dynamic:
            self.commands.append(_marker(cmd, COMPUTED_SCRIPT))
            return
        offset = _inner_offset(script_word)
        inner_text = script_word.value
        try:
            parts = bashlex.parse(inner_text) if inner_text.strip() else []
        except Exception as err:  # bashlex raises many types on odd input
            raise _Unsupported(f"sh -c script not understood ({_short(err)})") from None
        inner = self.inner(
            inner_text, 0, cmd.conditional, cmd.block, run_as if run_as is not None else cmd.run_as
        )
        for part in parts:
            inner.top(part)
        for c in inner.commands:
            if offset is None:
                c = _replace(
                    c,
                    removable=False,
                    removal=None,
                    start=-1,
                    end=-1,
                    words=tuple(Word(w.value, w.text, -1, -1, w.dynamic) for w in c.words),
                    env=tuple(Word(w.value, w.text, -1, -1, w.dynamic) for w in c.env),
                )
            else:
                c = _shift(c, offset)
            self.commands.append(c)


def _shell_script(argv: tuple[Word, ...]) -> Word | None:
    """The ``-c`` string of ``sh -c STRING`` (None when the shell runs a file or reads stdin)."""
    if argv[0].value not in SHELLS and argv[0].value.rsplit("/", 1)[-1] not in ("sh", "bash", "dash", "ash"):
        return None
    i = 1
    while i < len(argv):
        v = argv[i].value
        if v == "-c" or (v.startswith("-") and not v.startswith("--") and v.endswith("c") and len(v) > 2):
            return argv[i + 1] if i + 1 < len(argv) else None
        if v.startswith("-") or v.startswith("+"):
            i += 1
            continue
        return None  # sh script.sh: a file we cannot see
    return None


#: why a ``sh -c``/``su -c`` string is not looked into (``Command.conditional`` of its marker command)
COMPUTED_SCRIPT = "shell -c with a computed script"
#: ``su``-style programs: ``su [-] [USER] -c STRING`` runs STRING with USER's login shell as that user.
SWITCH_USER_SHELLS = frozenset({"su", "runuser"})
#: su options that take a value, short and long
_SU_VALUE_OPTIONS = {
    "-c": "command",
    "--command": "command",
    "-s": "shell",
    "--shell": "shell",
    "-g": "group",
    "--group": "group",
    "-G": "",
    "--supp-group": "",
    "-w": "",
    "--whitelist-environment": "",
    "-u": "user",
    "--user": "user",
}


def _su_script(argv: tuple[Word, ...]) -> tuple[Word, str] | None:
    """(script word, user spec) of ``su [-] [USER] -c STRING`` / ``runuser -l USER -c STRING``; None when
    there is no ``-c`` string or the shell is set to something other than a POSIX shell."""
    values: dict[str, Word] = {}
    user: Word | None = None
    i = 1
    while i < len(argv):
        w = argv[i]
        v = w.value
        if v in ("-", "--") or not v.startswith("-"):
            if v not in ("-", "--") and user is None:
                user = w
            i += 1
            continue
        name, eq, attached = v.partition("=")
        if v.startswith("--"):
            key = _SU_VALUE_OPTIONS.get(name)
            if key is None and name in _SU_VALUE_OPTIONS:
                key = ""
        else:  # a cluster of short options: the first one that takes a value takes the rest or the next word
            key = None
            for pos, ch in enumerate(v[1:], 1):
                if f"-{ch}" in _SU_VALUE_OPTIONS:
                    key = _SU_VALUE_OPTIONS[f"-{ch}"]
                    attached, eq = v[pos + 1 :], "=" if v[pos + 1 :] else ""
                    break
        if key is None:
            i += 1
            continue
        if eq:
            if key and w.text == w.value:
                values[key] = Word(attached, attached, w.end - len(attached), w.end, w.dynamic)
            elif key:  # quoted: no 1:1 mapping onto the source, so its commands are never edited
                values[key] = Word(attached, "", -1, -1, w.dynamic)
            i += 1
        else:
            if key and i + 1 < len(argv):
                values[key] = argv[i + 1]
            i += 2
    script = values.get("command")
    if script is None or "user" in values:  # runuser -u USER CMD is a plain wrapper
        return None
    shell_word = values.get("shell")
    if shell_word is not None and (
        shell_word.dynamic or shell_word.value.rsplit("/", 1)[-1] not in ("sh", "bash", "dash", "ash")
    ):
        return None
    spec = _user_text(user) if user is not None else "root"
    if "group" in values:
        spec += ":" + _user_text(values["group"])
    return script, spec


def _user_text(word: Word) -> str:
    """A user or group word as a spec: its value, or its text when it depends on a variable."""
    return word.text if word.dynamic else word.value


def _marker(cmd: Command, reason: str) -> Command:
    return _replace(cmd, conditional=reason)


def _replace(cmd: Command, **changes) -> Command:
    from dataclasses import replace

    return replace(cmd, **changes)


def _shift(cmd: Command, offset: int) -> Command:
    def sw(w: Word) -> Word:
        return Word(w.value, w.text, w.start + offset, w.end + offset, w.dynamic)

    return _replace(
        cmd,
        words=tuple(sw(w) for w in cmd.words),
        env=tuple(sw(w) for w in cmd.env),
        start=cmd.start + offset,
        end=cmd.end + offset,
        removal=(cmd.removal[0] + offset, cmd.removal[1] + offset) if cmd.removal else None,
        removable=False,  # deleting inside a quoted string is possible but not worth the risk
    )


def _inner_offset(word: Word) -> int | None:
    """Where the ``-c`` string's value starts in the source, when the value is the source text minus quotes."""
    t = word.text
    if len(t) >= 2 and t[0] == "'" and t[-1] == "'" and t[1:-1] == word.value:
        return word.start + 1
    if (
        len(t) >= 2
        and t[0] == '"'
        and t[-1] == '"'
        and t[1:-1] == word.value
        and not re.search(r'[\\$`"]', word.value)
    ):
        return word.start + 1
    if t == word.value:
        return word.start
    return None


def _walk(node):
    yield node
    for attr in ("parts", "list"):
        for child in getattr(node, attr, None) or ():
            yield from _walk(child)
    for attr in ("output", "command", "heredoc"):
        child = getattr(node, attr, None)
        if isinstance(child, bashlex.ast.node):
            yield from _walk(child)


def _skip_wrappers(words: list[Word], env: list[Word]) -> tuple[int, str | None]:
    """(index of the real program after ``sudo``, ``env A=b``, ``exec``..., the user ``sudo``/``gosu``/
    ``runuser -u`` switch to or None), moving ``env``'s assignments to ``env``."""
    i = 0
    run_as: str | None = None
    while i < len(words):
        v = words[i].value
        base = v.rsplit("/", 1)[-1]
        if base in ("gosu", "su-exec") and i + 2 < len(words):
            run_as = _user_text(words[i + 1])
            i += 2
            continue
        if base in ("sudo", "runuser"):
            switched = _switch_user_options(words, i + 1, base)
            if switched is None:
                break  # runuser without -u is su-like: ``nested_shell`` reads its -c string
            i, run_as = switched
            continue
        if base == "env":
            i += 1
            while i < len(words):
                w = words[i].value
                if "=" in w and _NAME.match(w.split("=", 1)[0]):
                    env.append(words[i])
                    i += 1
                elif w.startswith("-") and w not in ("-", "--"):
                    if w in ("-u", "--unset", "-C", "--chdir", "-S"):
                        i += 1
                    i += 1
                else:
                    break
            continue
        if base == "xargs":
            i += 1
            while i < len(words) and words[i].value.startswith("-"):
                if words[i].value in _XARGS_VALUE_OPTIONS:
                    i += 1
                i += 1
            continue
        if base in WRAPPERS:
            i += 1
            while i < len(words) and words[i].value.startswith("-"):
                if base == "nice" and words[i].value == "-n":
                    i += 1
                i += 1
            continue
        if "=" in v and _NAME.match(v.split("=", 1)[0]) and i == 0:
            env.append(words[i])
            i += 1
            continue
        break
    return i, run_as


#: sudo/runuser options that take a value (the user and group ones are read)
_SUDO_VALUE_OPTIONS = frozenset(
    {
        "-u",
        "--user",
        "-g",
        "--group",
        "-C",
        "--close-from",
        "-D",
        "--chdir",
        "-h",
        "--host",
        "-p",
        "--prompt",
        "-U",
        "--other-user",
        "-r",
        "--role",
        "-t",
        "--type",
        "-T",
        "--command-timeout",
        "-w",
        "--whitelist-environment",
        "-G",
        "--supp-group",
    }
)


def _switch_user_options(words: list[Word], i: int, base: str) -> tuple[int, str] | None:
    """(index after the options, user spec) of ``sudo [-u USER] [-g GROUP] CMD`` / ``runuser -u USER CMD``;
    None for ``runuser`` without ``-u`` (it then takes ``-c STRING`` like su)."""
    user: str | None = None
    group: str | None = None
    while i < len(words):
        v = words[i].value
        if v == "--":
            i += 1
            break
        if not v.startswith("-") or v == "-":
            break
        name, eq, attached = v.partition("=")
        if not v.startswith("--") and len(v) > 2 and v[:2] in _SUDO_VALUE_OPTIONS:
            name, eq, attached = v[:2], "=", v[2:]
        value = None
        if name in _SUDO_VALUE_OPTIONS:
            if eq:
                value = attached if not words[i].dynamic else "$?"
            elif i + 1 < len(words):
                i += 1
                value = _user_text(words[i])
        if name in ("-u", "--user"):
            user = value
        elif name in ("-g", "--group"):
            group = value
        i += 1
    if base == "runuser" and user is None:
        return None
    spec = user if user is not None else "root"
    if spec.startswith("#") and spec[1:].isdigit():  # sudo's #uid form
        spec = spec[1:]
    if group is not None:
        spec += ":" + (group[1:] if group.startswith("#") and group[1:].isdigit() else group)
    return i, spec


def expand_words(words: tuple[Word, ...] | list[Word], variables: Mapping[str, str]) -> list[str] | None:
    """Values of ``words`` with whole-word ``$VAR`` replaced by the known value split on whitespace.

    None when any word depends on something not known here (unknown variable, ``$(...)``, partial expansion).
    """
    out: list[str] = []
    for w in words:
        if not w.dynamic:
            out.append(w.value)
            continue
        name = w.variable()
        if name is None or name not in variables:
            return None
        out.extend(variables[name].split())
    return out


_STDIN_SHELL = re.compile(
    r"\s*(?:<<(?P<d1>['\"]?)(?P<n1>[A-Za-z0-9_.-]+)(?P=d1)\s+(?:/usr)?(?:/bin/)?(?:sh|bash)(?:\s+-[a-z]+)*"
    r"|(?:/usr)?(?:/bin/)?(?:sh|bash)(?:\s+-[a-z]+)*\s+<<(?P<d2>['\"]?)(?P<n2>[A-Za-z0-9_.-]+)(?P=d2))\s*"
)


def stdin_heredoc_script(value: str, heredocs) -> str | None:
    """``RUN <<EOF bash`` / ``RUN sh <<EOF``: the body is a script the shell reads on stdin (no ``<<-``)."""
    if len(heredocs) != 1 or heredocs[0].chomp:
        return None
    m = _STDIN_SHELL.fullmatch(value)
    if not m or (m.group("n1") or m.group("n2")) != heredocs[0].name:
        return None
    return heredocs[0].content


def full_heredoc_command(value: str, heredocs, body: str) -> str:
    """The text BuildKit gives SHELL for a RUN whose heredoc feeds a command: line, body, terminator."""
    return f"{value}\n{body}{heredocs[0].name}"


def heredoc_script(value: str, heredocs) -> str | None:
    """The script a ``RUN <<EOF`` runs: the heredoc body, when the command is only the heredoc marker."""
    if len(heredocs) != 1:
        return None
    if not re.fullmatch(r"\s*<<-?\s*(['\"]?)[A-Za-z0-9_.-]+\1\s*", value):
        return None
    body = heredocs[0].content
    if body.startswith("#!"):
        first = body.split("\n", 1)[0]
        interp = first[2:].strip().split()
        name = interp[-1].rsplit("/", 1)[-1] if interp else ""
        if name != "sh":  # run by its own interpreter, not by SHELL -c: a rewrite could not keep that
            return None
    return body
