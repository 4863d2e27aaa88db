"""A script's syntax tree (tree-sitter-bash) flattened into the simple commands it runs.

Each command gets its argv, its position, and the reason its execution cannot be predicted: inside
``if``/``case``/loops/functions/subshells, after ``||``, in the background, inside ``$(...)``. Anything the
tree holds that this walk does not represent exactly (a syntax error, ``[[ ]]``, arithmetic, arrays, a
here-document followed by more commands...) raises ``Unsupported``: the script is then opaque, never guessed.

tree-sitter-bash is a lenient grammar; where its tree differs from how bash reads the text in ways the walk can
undo, the walk follows bash: a redirection written after the last command of a ``&&`` chain or pipeline
belongs to that command, ``a | b && c`` is a pipeline then a chain, words after a redirection's target are
arguments. The misreadings it cannot undo are refused in ``grammar``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tree_sitter import Node

from shlax_front.shellparse.argv import (
    SWITCH_USER_SHELLS,
    inner_offset,
    shell_script,
    skip_wrappers,
    su_script,
)
from shlax_front.shellparse.grammar import syntax_tree
from shlax_front.shellparse.model import COMPUTED_SCRIPT, Command, Script, Unsupported, Word
from shlax_front.shellparse.words import WORD_TYPES, Source, descendants, make_word, word_runs

#: statements that are one simple command (with their redirections)
_SIMPLE = frozenset(
    {"command", "declaration_command", "unset_command", "variable_assignment", "variable_assignments"}
)
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})
#: what a here-document redirection may hold and still be one command's redirection
_HEREDOC_PARTS = frozenset({"<<", "<<-", "heredoc_start", "heredoc_body", "heredoc_end", "file_redirect"})
#: bash reserved words: as a command's name, they mean tree-sitter-bash read the text differently from bash
#: (``! { a | b; }``), or they are keywords it does not know (``time``, ``coproc``)
_RESERVED = frozenset(
    "! { } [[ ]] if then elif else fi case esac for select while until do done in function time coproc".split()
)
#: programs that make a ``case`` statement matter (installs, clean-ups); such a script stays opaque
_RISKY = re.compile(
    r"apt-get|apt|aptitude|apk|dnf|dnf5|yum|microdnf|tdnf|zypper|pacman|pip[\d.]*|python[\d.]*|uv|npm|yarn|pnpm|rm"
)


def parse(text: str) -> Script:
    """Parse ``text`` (a RUN body or heredoc script) into a ``Script``; never raises for bad shell."""
    if not text.strip():
        return Script(text, ())
    walker = _Walker(Source(text), _Shared())
    try:
        walker.program(syntax_tree(walker.src))
        commands = sorted(walker.commands, key=lambda c: c.start)
        _refuse_risky_cases(commands, walker.shared.case_regions)
    except Unsupported as err:
        return Script(text, (), opaque=str(err))
    except RecursionError:
        return Script(text, (), opaque="script too deeply nested")
    return Script(text, tuple(commands), notes=tuple(walker.notes))


def _refuse_risky_cases(commands: Sequence[Command], case_regions: set[int]) -> None:
    for c in commands:
        if _RISKY.fullmatch(c.name) and case_regions.intersection(c.block):
            raise Unsupported("a `case` statement runs package-manager or rm commands")


@dataclass
class _Op:
    """An operator between statements: ``&&`` ``||`` ``;`` ``&`` or a line break (``\\n``)."""

    op: str
    start: int
    end: int


@dataclass
class _Part:
    """A statement between operators, with the redirections bash gives it, or a pipeline of such parts
    (``pipe``); ``node`` None and no ``pipe``: redirections alone. ``start``/``end`` span its command line,
    here-document bodies left out."""

    node: Node | None
    redirects: tuple[Node, ...]
    start: int
    end: int
    pipe: tuple[_Part, ...] = ()


_Entry = _Part | _Op


@dataclass
class _Shared:
    """State shared by the walkers of one script, nested ``$(...)`` and ``sh -c`` scripts included."""

    #: one numbering of regions for the whole script
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    #: the regions that are ``case`` statements
    case_regions: set[int] = field(default_factory=set)


class _Walker:
    """Walks one script's tree (or one ``$(...)`` in it) and collects its commands."""

    def __init__(
        self,
        src: Source,
        shared: _Shared,
        depth: int = 0,
        conditional: str | None = None,
        block: tuple[int, ...] = (),
        run_as: str | None = None,
    ):
        self.src = src
        self.shared = shared
        self.depth = depth
        self.conditional = conditional
        self.block = block
        self.run_as = run_as
        self.commands: list[Command] = []
        self.notes: list[str] = []

    def fresh(self, block: tuple[int, ...]) -> tuple[int, ...]:
        """``block`` with a new region inside it."""
        return (*block, next(self.shared.counter))

    def nested(
        self, src: Source, conditional: str | None, block: tuple[int, ...], run_as: str | None = None
    ) -> _Walker:
        """A walker for a script nested in this one (``$(...)``, ``sh -c '...'``)."""
        return _Walker(src, self.shared, self.depth + 1, conditional, block, run_as or self.run_as)

    # -- statements and operators ------------------------------------------------------------------------
    def program(self, root: Node) -> None:
        """A whole script: each line is a chain of its own (a removal never crosses a line break)."""
        line: list[_Entry] = []
        for entry in [*self.statements(root.children), _Op("\n", 0, 0)]:
            if not (isinstance(entry, _Op) and entry.op == "\n"):
                line.append(entry)
                continue
            if len(line) == 1 and isinstance(line[0], _Part):
                part = line[0]
                removal = (part.start, part.end) if self.depth == 0 else None
                self.item(part, self.conditional, removal, self.block)
            elif line:
                self.chain(line, self.conditional, top=True, block=self.block)
            line = []

    def body(self, children: Sequence[Node]) -> list[_Entry]:
        """The statements of a compound's body, a line break counted as an operator."""
        out: list[_Entry] = []
        for entry in self.statements(children):
            if isinstance(entry, _Op) and entry.op == "\n" and out and isinstance(out[-1], _Op):
                continue
            out.append(entry)
        return out

    def statements(self, children: Sequence[Node]) -> list[_Entry]:
        """``children`` (statements, ``;``, ``&``, comments) as parts and operators, line breaks included."""
        out: list[_Entry] = []
        prev_end = 0
        broken = False
        for child in children:
            if child.type == "comment" or child.type == "\n":
                broken = True
                continue
            start, end = self.src.start(child), self.src.end(child)
            if child.type in (";", "&"):
                out.append(_Op(child.type, start, end))
            elif child.is_named:
                gap = self.src.text[prev_end:start]
                if out and (broken or "\n" in gap.replace("\\\n", "")):
                    out.append(_Op("\n", prev_end, start))
                out.extend(self.flatten(child))
            else:
                raise Unsupported(f"shell syntax not understood near `{self.src.slice(child)[:40]}`")
            prev_end, broken = end, False
        return out

    def flatten(self, node: Node, redirects: tuple[Node, ...] = ()) -> list[_Entry]:
        """A statement as parts and ``&&``/``||`` operators; ``redirects`` belong to its last command."""
        if node.type == "list":
            named = [c for c in node.children if c.is_named and c.type != "comment"]
            out: list[_Entry] = []
            for c in node.children:
                if c.type in ("&&", "||"):
                    out.append(_Op(c.type, self.src.start(c), self.src.end(c)))
                elif c.is_named and c.type != "comment":
                    out.extend(self.flatten(c, redirects if c == named[-1] else ()))
            return out
        if node.type == "redirected_statement":
            body = node.child_by_field_name("body")
            own = tuple(c for c in node.named_children if c != body and c.type != "comment")
            for r in own:
                if r.type == "heredoc_redirect" and any(c.type not in _HEREDOC_PARTS for c in r.children):
                    raise Unsupported(
                        "a here-document followed by more commands on its line is not understood"
                    )
            if body is None:
                return [self.part(None, own + redirects)]
            if body.type in ("list", "pipeline", "negated_command"):
                return self.flatten(body, own + redirects)
            return [self.part(body, own + redirects)]
        if node.type == "pipeline":
            return self.pipeline_entries(node, redirects)
        if node.type == "negated_command":
            # ``! a | b``: bash negates the pipeline's status, tree-sitter-bash binds ``!`` to ``a``; either
            # way the commands run, and ``! a`` alone is a pipeline of one command
            inner = [c for c in node.named_children if c.type != "comment"]
            if len(inner) != 1:
                raise Unsupported("`!` not understood")
            entries = self.flatten(inner[0], redirects)
            first = entries[0]
            if not isinstance(first, _Part):
                raise Unsupported("`!` not understood")
            entries[0] = _Part(None, (), self.src.start(node), first.end, first.pipe or (first,))
            return entries
        return [self.part(node, redirects)]

    def pipeline_entries(self, node: Node, redirects: tuple[Node, ...]) -> list[_Entry]:
        """A pipeline as one part. tree-sitter-bash nests ``&&``/``||`` chains in pipeline elements
        (``a | b | c && d`` as ``a | (b | c && d)``, ``c && p > f | x`` as ``(c && p > f) | x``); bash binds
        the pipe tighter: the chain is read back as the pipelines between its operators."""
        elements = [c for c in node.named_children if c.type != "comment"]
        out: list[_Entry] = []
        pipe: list[_Part] = []
        start = 0
        for i, element in enumerate(elements):
            for entry in self.flatten(element, redirects if i == len(elements) - 1 else ()):
                if isinstance(entry, _Op):
                    out += [_piped(pipe, start), entry]
                    pipe = []
                else:
                    start = start if pipe else entry.start  # a ``!`` starts it
                    pipe += entry.pipe or (entry,)
        return [*out, _piped(pipe, start)]

    def part(self, node: Node | None, redirects: tuple[Node, ...]) -> _Part:
        nodes = ([node] if node is not None else []) + list(redirects)
        start = min(self.src.start(n) for n in nodes)
        if node is not None and node.start_byte in self.src.negated_groups:  # the ``!`` is part of it
            start = self.src.pos(self.src.negated_groups[node.start_byte])
        end = max(self._line_end(n) for n in nodes)
        return _Part(node, redirects, start, end)

    def _line_end(self, node: Node) -> int:
        """Where ``node`` ends on its command line: a here-document's body and terminator come later."""
        if node.type == "heredoc_redirect":
            on_line = [c for c in node.children if c.type not in ("heredoc_body", "heredoc_end")]
            return self.src.end(on_line[-1])
        if node.type == "command" and node.children:
            return max(self._line_end(c) for c in node.children)
        return self.src.end(node)

    def chain(self, parts: list[_Entry], conditional: str | None, top: bool, block: tuple[int, ...]) -> None:
        """Statements joined by operators: after ``||`` and before ``&`` a command may not run."""
        items = [p for p in parts if isinstance(p, _Part)]
        before: list[str | None] = []
        after: list[str | None] = []
        pending: str | None = None
        for p in parts:
            if isinstance(p, _Op):
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
                removal = _removal_span(parts, item)
            self.item(item, cond, removal, where)

    # -- compound statements -----------------------------------------------------------------------------
    def item(
        self, part: _Part, conditional: str | None, removal: tuple[int, int] | None, block: tuple[int, ...]
    ) -> None:
        node = part.node
        if part.pipe:
            self.pipeline(part.pipe, conditional, block)
            return
        if node is None or _is_simple(node):
            self.command(part, conditional, False, removal, block)
            return
        kind = node.type
        for r in part.redirects:
            if _split_redirect(r)[1]:
                raise Unsupported("words after the redirection of a compound command")
            self.substitutions_in(r, block)  # ``done < <(cmd)``: the substitution runs
        if kind == "compound_statement" and node.start_byte in self.src.negated_groups:
            # ``! { ...; }``: a pipeline of one group, as ``! a`` is a pipeline of one command
            self.group(node, conditional or "inside a pipeline", self.fresh(block))
        elif kind in ("subshell", "compound_statement"):
            self.group(node, conditional, block)
        elif kind == "if_statement":
            region = self.fresh(block)
            for segment in _if_segments(node):
                self.chain(self.body(segment), conditional or "inside if", False, self.fresh(region))
        elif kind == "while_statement":
            keyword = node.children[0].type  # while / until
            region = self.fresh(block)
            test = [c for c in node.children[1:] if c.type != "do_group"]
            self.chain(self.body(test), conditional or f"inside {keyword}", False, self.fresh(region))
            self.loop_body(node, conditional or f"inside {keyword}", region)
        elif kind == "for_statement":
            if node.children[0].type != "for":
                raise Unsupported(f"`{node.children[0].type}` loop not understood")
            region = self.fresh(block)
            for value in node.children_by_field_name("value"):
                self.substitutions_in(value, region)
            self.loop_body(node, conditional or "inside for", region)
        elif kind == "case_statement":
            self.case(node, conditional, block)
        elif kind == "function_definition":
            body = node.child_by_field_name("body")
            if body is None:
                raise Unsupported("function without a body not understood")
            fn = self.part(body, ())
            self.item(fn, conditional or "inside a function", None, self.fresh(block))
        elif kind == "test_command":
            raise Unsupported("[[ ... ]] tests are not understood")
        else:
            raise Unsupported(f"shell construct '{kind}' not understood")

    def group(self, node: Node, conditional: str | None, block: tuple[int, ...]) -> None:
        """``( ... )`` or ``{ ...; }``: a region of its own."""
        if node.children[0].type == "((":
            raise Unsupported("arithmetic command ((...)) not understood")
        entries = self.body(node.children[1:-1])
        if not entries:  # ``{}`` is a word to bash
            raise Unsupported(f"empty {node.type.replace('_', ' ')} not understood")
        what = "inside a subshell" if node.type == "subshell" else "inside a { } group"
        self.chain(entries, conditional or what, False, self.fresh(block))

    def loop_body(self, node: Node, conditional: str, region: tuple[int, ...]) -> None:
        body = node.child_by_field_name("body")
        if body is None or body.type != "do_group":
            raise Unsupported(f"{node.type} without do ... done not understood")
        self.chain(self.body(body.children[1:-1]), conditional, False, self.fresh(region))

    def case(self, node: Node, conditional: str | None, block: tuple[int, ...]) -> None:
        """Each ``pattern) ... ;;`` is a region of its own; the words tested may run substitutions."""
        region = self.fresh(block)
        self.shared.case_regions.add(region[-1])
        for value in node.children_by_field_name("value"):
            self.substitutions_in(value, region)
        for item in node.named_children:
            if item.type != "case_item":
                continue
            statements: list[Node] = []
            for i, c in enumerate(item.children):
                if item.field_name_for_child(i) == "value":
                    self.substitutions_in(c, region)
                elif c.type not in ("(", ")", "|", ";;", ";&", ";;&"):
                    statements.append(c)
            entries = self.body(statements)
            if entries:
                self.chain(entries, conditional or "inside case", False, self.fresh(region))

    def single(self, node: Node, redirects: tuple[Node, ...]) -> tuple[_Part, ...]:
        """The parts of one pipeline element (several when it is itself a pipeline)."""
        entries = self.flatten(node, redirects)
        if len(entries) != 1 or not isinstance(entries[0], _Part):
            raise Unsupported("a pipeline element not understood")
        return entries[0].pipe or (entries[0],)

    def pipeline(self, parts: Sequence[_Part], conditional: str | None, block: tuple[int, ...]) -> None:
        for p in parts:
            if not p.pipe and (p.node is None or _is_simple(p.node)):
                self.command(p, conditional, True, None, block)
            else:
                self.item(p, conditional or "inside a pipeline", None, self.fresh(block))

    # -- simple commands ---------------------------------------------------------------------------------
    def command(
        self,
        part: _Part,
        conditional: str | None,
        in_pipeline: bool,
        removal: tuple[int, int] | None,
        block: tuple[int, ...],
    ) -> None:
        env_nodes, pieces, redirects = _command_pieces(part)
        own_redirects = [n for r in redirects for n in _split_redirect(r)[0]]
        for n in env_nodes:
            if any(d.type == "array" for d in descendants(n)):
                raise Unsupported("array assignment not understood")
        env = [make_word(self.src, [n]) for n in env_nodes]
        words = [make_word(self.src, run) for run in word_runs(self.src, pieces, own_redirects)]
        if words and words[0].text in _RESERVED:
            raise Unsupported(f"the `{words[0].text}` keyword is not understood here")
        for n in [*own_redirects, *env_nodes, *pieces]:
            self.substitutions_in(n, block)
        index, run_as = skip_wrappers(words, env)
        cmd = Command(
            more_args=any(w.value.rsplit("/", 1)[-1] == "xargs" for w in words[:index]),
            words=tuple(words),
            env=tuple(env),
            start=part.start,
            end=part.end,
            argv_index=index,
            conditional=conditional,
            in_pipeline=in_pipeline,
            redirects=bool(redirects),
            removable=removal is not None and not in_pipeline and not redirects,
            removal=removal,
            depth=self.depth,
            block=block,
            run_as=run_as if run_as is not None else self.run_as,
        )
        self.commands.append(cmd)
        argv = cmd.argv
        if argv and argv[0] == "set" and self.depth == 0:
            self.notes.append("set " + " ".join(argv[1:]))
        if argv and argv[0] == "trap":
            self.notes.append("trap")
        self.nested_shell(cmd)

    def substitutions_in(self, node: Node, block: tuple[int, ...]) -> None:
        """Commands inside ``$(...)``/backquotes/``<(...)`` run, but as part of computing a word: never
        rewritten. Each one is walked once; the ones nested in it by its own walker."""
        found = [node] if node.type in _SUBSTITUTIONS else []
        found += [d for d in descendants(node, _SUBSTITUTIONS) if d.type in _SUBSTITUTIONS]
        for sub in found:
            region = self.fresh(block)
            inner = self.nested(self.src, "inside $(...)", region)
            inner.chain(inner.body(sub.children[1:-1]), "inside $(...)", False, region)
            self.commands.extend(inner.commands)

    def nested_shell(self, cmd: Command) -> None:
        """``sh -c 'script'`` and ``su USER -c 'script'``: parse the string as a script; its commands keep
        positions when its quoting maps 1:1 onto the source, and run as ``su``'s user."""
        argv = cmd.args
        if not argv:
            return
        run_as = None
        script_word: Word | None
        if argv[0].value.rsplit("/", 1)[-1] in SWITCH_USER_SHELLS:
            found = su_script(argv)
            if found is None:
                return
            script_word, run_as = found
        else:
            script_word = shell_script(argv)
        if script_word is None:
            return
        if script_word.dynamic:
            self.commands.append(_marked(cmd, COMPUTED_SCRIPT))
            return
        if not script_word.value.strip():
            return
        src = Source(script_word.value)
        try:
            root = syntax_tree(src)
        except Unsupported as err:
            raise Unsupported(f"sh -c script not understood ({err})") from None
        inner = self.nested(src, cmd.conditional, cmd.block, run_as or cmd.run_as)
        inner.program(root)
        offset = inner_offset(script_word)
        for c in inner.commands:
            self.commands.append(c.unplaced() if offset is None else c.shifted(offset))


def _piped(parts: Sequence[_Part], start: int) -> _Part:
    """The pipeline of ``parts`` starting at ``start``; one part not negated is no pipeline."""
    if not parts:
        raise Unsupported("a pipeline not understood")
    if len(parts) == 1 and parts[0].start == start:
        return parts[0]
    return _Part(None, (), start, parts[-1].end, tuple(parts))


def _is_simple(node: Node) -> bool:
    return node.type in _SIMPLE or (node.type == "test_command" and node.children[0].type == "[")


def _command_pieces(part: _Part) -> tuple[list[Node], list[Node], list[Node]]:
    """(``NAME=value`` prefixes, the nodes that make up the words, redirections) of a simple command."""
    env: list[Node] = []
    pieces: list[Node] = []
    redirects = list(part.redirects)
    node = part.node
    if node is None:
        return env, pieces, redirects
    kind = node.type
    if kind == "variable_assignment":
        env.append(node)
    elif kind == "variable_assignments":
        env.extend(c for c in node.named_children if c.type != "comment")
    elif kind == "test_command":
        pieces.extend(_leaves(node))
    else:  # command, declaration_command, unset_command
        for c in node.children:
            if c.type in _REDIRECTS:
                redirects.append(c)
            elif c.type == "variable_assignment" and kind == "command" and not pieces:
                env.append(c)
            elif c.type == "command_name" or c.type in WORD_TYPES or c.type == "variable_assignment":
                pieces.append(c)
            elif kind != "command" and not c.is_named:  # export, local, unset...
                pieces.append(c)
            else:
                raise Unsupported(f"shell construct '{c.type}' in a command not understood")
    # ``a > f b``: bash reads ``b`` as an argument of ``a``, tree-sitter-bash as a second file of ``>``
    pieces.extend(w for r in redirects for w in _split_redirect(r)[1])
    pieces.sort(key=lambda n: n.start_byte)
    return env, pieces, redirects


def _split_redirect(node: Node) -> tuple[list[Node], list[Node]]:
    """(the nodes of a redirection proper, the words after its target that are the command's arguments)."""
    if node.type == "heredoc_redirect":
        own: list[Node] = []
        extra: list[Node] = []
        for c in node.children:
            o, e = _split_redirect(c) if c.type == "file_redirect" else ([c], [])
            own += o
            extra += e
        return own, extra
    if node.type == "file_redirect":
        extra = node.children_by_field_name("destination")[1:]
        return [c for c in node.children if c not in extra], extra
    return [node], []


def _leaves(node: Node) -> list[Node]:
    """The word pieces of a ``[ ... ]`` test, in order (its operators are words of the ``[`` command)."""
    out: list[Node] = []
    for c in node.children:
        if c.type in WORD_TYPES or not c.children:
            out.append(c)
        else:
            out.extend(_leaves(c))
    return out


def _if_segments(node: Node) -> list[list[Node]]:
    """The conditions and branches of an ``if`` statement, each a list of its statements."""
    segments: list[list[Node]] = []
    current: list[Node] | None = None
    for c in node.children:
        if c.type in ("if", "then", "elif", "else", "fi"):
            if current:
                segments.append(current)
            current = []
        elif c.type in ("elif_clause", "else_clause"):
            if current:
                segments.append(current)
            current = None
            segments.extend(_if_segments(c))
        elif current is not None:
            current.append(c)
    if current:
        segments.append(current)
    return segments


def _removal_span(parts: list[_Entry], item: _Part) -> tuple[int, int] | None:
    """Span covering ``item`` and one adjacent operator, chosen so the remaining chain keeps its meaning."""
    idx = next(i for i, p in enumerate(parts) if p is item)

    def op(i: int) -> str | None:
        p = parts[i] if 0 <= i < len(parts) else None
        return p.op if isinstance(p, _Op) else None

    has_prev = idx >= 2 and op(idx - 1) is not None
    has_next = idx + 2 < len(parts) and op(idx + 1) is not None
    op_before = op(idx - 1) if has_prev else None
    op_after = op(idx + 1)
    # prefer deleting "<op> item" so that neighbouring removals never overlap, except where it would
    # attach the next command to the previous one with && (``a; rm x && b`` -> ``a; b``)
    if has_prev and not (has_next and op_before != "&&" and op_after == "&&"):
        return (parts[idx - 2].end, item.end)
    if has_next:
        return (item.start, parts[idx + 2].start)
    if op_after is not None:  # trailing ``;`` or ``&``
        return (item.start, parts[idx + 1].end) if not has_prev else (parts[idx - 2].end, parts[idx + 1].end)
    return None


def _marked(cmd: Command, reason: str) -> Command:
    from dataclasses import replace

    return replace(cmd, conditional=reason)
