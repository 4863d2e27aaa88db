"""The delta rule of incremental package layers (``--incremental``; the planner's half, ``incremental`` has the
executor's): which RUN scripts a delta understands.

``describe``: whether a RUN's script is one the delta rule understands - exactly one unconditional
``apt-get``/``apt install`` of plain package names, and besides it only commands that do the same thing
whatever was installed before (``apt-get update``, ``apt-get clean``, ``rm``, ``set``, ``export``,
``true``). It records the script with the package list cut out (``template``: what must not change) and
the script the run would execute (the rewritten one, with the cache settings) with a marker where the
package list goes. A pip install is refused when it reads requirement files, installs elsewhere than its
environment or names anything but requirements. Anything else is a reason (a string) the step is built in full; ``--explain`` shows it.

An apt package list may name ARG and ENV variables (``$PKGS``, ``${PKGS}``, ``jq $EXTRA``): their values are
known when the step is planned (the step's key holds them), so the list is expanded as ``sh`` would - split on
the default IFS, a quoted ``"$PKGS"`` one word - and only when that is certain: every field a plain package
name, no IFS of the build's or the script's, no operator (``${PKGS:-x}``), no word glued to a variable, the
names not set or read anywhere else in the script, and a shell that splits words as ``sh`` does. ``variables``
records which names fed the list: the earlier layer is looked up without their values (``template_key``), so
changing ``--build-arg PKGS`` by added names only is a delta.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shlax_front.backend.aptplan import PLAN_OPTION

if TYPE_CHECKING:  # the front end is only needed when the planner describes a RUN
    from shlax_front import actions as A
    from shlax_front.backend.npmdelta import NpmInstall
    from shlax_front.shell import Word

#: where apt's package lists live in the image (a host cache when the RUN deletes them afterwards)
LISTS_TARGET = "/var/lib/apt/lists"
#: where the package list stood in ``DeltaInstall.template`` / ``rewritten``
MARK = "\x00packages\x00"
#: commands a delta run may repeat: they leave the same files whatever the layer already had
REPEATABLE = frozenset({"rm", "set", "export", "true", ":"})
#: what the text between two package names may be (the RUN's continuation lines are already joined)
_BETWEEN = re.compile(r"(?:\s|\\\n)*")
#: a package operand that is not a plain name: a removal (``foo-``), a glob or regex, a local .deb file
_NOT_A_NAME = re.compile(r"[-+]$|[*?\[\]^$]|^[./~]")
#: a package name a variable may hold (Debian policy's characters, an architecture qualifier): anything else
#: - an option, a version or release, a glob, a quote, a backslash - builds the step in full
_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*[a-z0-9.](?::[a-z0-9][a-z0-9-]*)?")
#: a whole word that is one unquoted or double-quoted variable without operator: (quote, name)
_VARIABLE_WORD = re.compile(r'^(")?\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})(?(1)")$')
#: what the shell splits an unquoted expansion on when IFS is not set (its default value)
_DEFAULT_IFS = re.compile(r"[ \t\n]+")
#: shells whose unquoted ``$VAR`` splits into fields on IFS (zsh does not split, others are not sh)
_SPLITTING_SHELLS = frozenset({"sh", "bash", "dash", "ash"})
#: variables the shell, apt, dpkg, debconf or their maintainer scripts read from the environment: one of them
#: feeding the list would make the earlier install's run differ from a full one beyond the names it installs
_READ_BY_THE_RUN = re.compile(
    r"(?:APT|DPKG|DEBIAN|DEBCONF|DEB|LC|LD|XDG|UCF)_\w*|IFS|PATH|HOME|ENV|BASH_ENV|SHELLOPTS|BASHOPTS|CDPATH|"
    r"PS4|LANG|LANGUAGE|TMPDIR|TERM|SHELL|USER|POSIXLY_CORRECT|(?i:(?:http|https|ftp|no|all)_proxy)"
)


@dataclass(frozen=True)
class PipInstall:
    """The pip of a delta-able install: its program words (``/venv/bin/pip``, ``python3 -m pip``) and its
    options as the shell passes them (``--no-cache-dir``, ``--user``, ``--index-url URL``)."""

    program: tuple[str, ...]
    options: tuple[str, ...]


@dataclass(frozen=True)
class DeltaInstall:
    """A RUN the delta rule understands. ``packages``: the install's names as the shell sees them, in order;
    ``words``: the same as written (quotes kept); ``template``: the RUN's script with the package list
    replaced by ``MARK``; ``rewritten``: the script the executor runs (the passes' rewrite applied), ``MARK``
    where the package list goes."""

    packages: tuple[str, ...]
    words: tuple[str, ...]
    template: str
    rewritten: str
    #: the script runs ``apt-get update``: the package lists it installs from are the host's, or new ones
    updates: bool = False
    #: a pip install: how to ask the same pip what a full install would do (``PipCheck``)
    pip: PipInstall | None = None
    #: the script deletes apt's package lists: the earlier layer has none to install from, unless they are
    #: the host's (mounted for a RUN that updates them)
    deletes_lists: bool = False
    #: the ARG/ENV names whose values are part of the package list (sorted): the earlier layer is looked up
    #: without their values (``template_key``), the list itself says what changed
    variables: tuple[str, ...] = ()
    #: those of them that are ENV: their values are in the image config, part of the layers before the step
    from_env: tuple[str, ...] = ()

    def script_with(self, packages: tuple[str, ...]) -> str:
        """The script to run that installs only ``packages`` (names of ``self.packages``), as written."""
        written = dict(zip(self.packages, self.words, strict=True))
        return self.rewritten.replace(MARK, " ".join(written[p] for p in packages))

    def plan_script(self) -> str:
        """The script that asks apt for its plan of a full install of every package (``aptplan``): the step's
        own, its install printing dpkg's calls instead of making them."""
        return self.rewritten.replace(MARK, f"{PLAN_OPTION} {' '.join(self.words)}")


#: what each node tool writes into node_modules about the install, named by ``--explain`` (yarn and pnpm
#: write no ``.package-lock.json``)
NODE_MODULES_RECORD = {
    "npm": ".package-lock.json",
    "yarn": ".yarn-integrity",
    "pnpm": ".modules.yaml and .pnpm",
}


def describe(action: A.Action, runs: str, pip: bool = True) -> DeltaInstall | NpmInstall | str | None:
    """What the delta rule makes of a RUN's action whose step runs the script ``runs``: a ``DeltaInstall``,
    the reason it cannot (a string), or None when the RUN installs nothing (nothing to say about it).
    ``pip``: pip installs and ``npm ci`` too (``--incremental``, ``npmdelta``); by default only apt's, because
    a pip delta and its proof took longer than a full install from the warm wheelhouse (README)."""
    from shlax_front import actions as A

    if not isinstance(action, A.RunLike):
        return None
    installs = (action.installs if isinstance(action, A.Run) else ()) or (
        (action,) if isinstance(action, A.Install) else ()
    )
    if not installs:
        return None
    if isinstance(action, A.Npm) and action.tool == "npm":
        if not pip:
            return "npm deltas are built only with --incremental"
        from shlax_front.backend.npmdelta import describe_npm

        assert isinstance(action.run, (str, tuple))
        edits = action.caching.edits if action.caching is not None and runs != action.run else ()
        return describe_npm(action, runs, edits)
    if isinstance(action, A.Npm):
        return (
            f"{action.tool} installs are built in full: a delta is not proven to leave the node_modules"
            f" (and its {NODE_MODULES_RECORD.get(str(action.tool), 'records')}) a full install writes"
        )
    if not (isinstance(action, A.Packages) and action.manager == "apt" or isinstance(action, A.Pip)):
        kinds = sorted({str(getattr(i, "manager", None) or getattr(i, "tool", "?")) for i in installs})
        if isinstance(action, A.Run):
            return _not_one_install(action)
        return f"only apt and pip installs are built incrementally (this RUN runs {', '.join(kinds)})"
    if isinstance(action, A.Pip) and action.tool != "pip":
        # said before the --incremental reason: that flag would not make one a delta, and the script's reading
        # below sees `uv pip install` as a command other than the install
        return f"{action.tool} installs are built in full: only apt and pip installs are built incrementally"
    if isinstance(action, A.Pip) and not pip:
        return "pip deltas are built only with --incremental (with their proof they cost more than they save)"
    if action.exec_form:
        return "exec form"
    if action.heredocs:
        return "a heredoc RUN"
    assert isinstance(action.run, str)
    edits = action.caching.edits if action.caching is not None and runs != action.run else ()
    return describe_script(action.run, edits, runs, *_known_variables(action))


def _known_variables(action: A.RunLike) -> tuple[dict[str, str], tuple[str, ...], str | None]:
    """(the ARG and ENV values the RUN's shell starts with, the names of those that are ENV, why none may be
    expanded into a package list). The values are the planner's, those the step's key and ``--env`` carry."""
    walked = action.step
    if walked is None:
        return {}, (), "the build does not know the RUN's variables"
    program = posixpath.basename(walked.scope.shell[0]) if walked.scope.shell else ""
    if program not in _SPLITTING_SHELLS:
        return {}, (), f"SHELL {program or '?'} is not known to split words as sh does"
    if any(re.search(r"(?:^|,)env=", m) for m in action.mounts):
        return {}, (), "a secret mount sets a variable of the RUN"
    variables = walked.scope.variables()
    return variables, tuple(name for name, _ in walked.scope.env), None


def _not_one_install(action: A.Run) -> str:
    """Why a RUN whose installs the front end recognised is not the one unconditional install a delta reads:
    the installs it runs (``apt-get upgrade`` counts as one), or the condition its install runs under."""
    from shlax_front import managers, shell
    from shlax_front.managers.base import INSTALL

    found = []
    for cmd in shell.parse(action.run).commands if isinstance(action.run, str) else ():
        manager = managers.find(cmd)
        if manager is not None and manager.invocation(cmd, {}).role == INSTALL:
            found.append(cmd)
    if len(found) > 1:
        named = ", ".join(f"`{' '.join(c.argv[:3])}`" for c in found)
        return f"more than one install in the RUN ({named})"
    if len(found) == 1 and found[0].conditional:
        return f"the install runs conditionally ({found[0].conditional})"
    return "more than one install, or one that runs conditionally"


def describe_script(
    text: str,
    edits: tuple[tuple[int, int, str], ...],
    runs: str,
    variables: Mapping[str, str] | None = None,
    env_names: tuple[str, ...] = (),
    unexpandable: str | None = None,
) -> DeltaInstall | str:
    """``describe`` for a shell-form script ``text`` that runs as ``runs`` (``edits`` applied to it).
    ``variables``: the values an apt package list's ``$NAME`` expands to (``env_names``: those that are ENV);
    ``unexpandable``: why none may be."""
    from shlax_front import managers, shell
    from shlax_front.managers.base import CLEAN, INSTALL, UPDATE
    from shlax_front.passes import apply_edits

    script = shell.parse(text)
    if script.opaque:
        return f"script not understood ({script.opaque})"
    install = None
    updates = False
    for cmd in script.commands:
        manager = managers.find(cmd)
        inv = manager.invocation(cmd, {}) if manager is not None else None
        if inv is not None and inv.role == INSTALL and install is None and inv.name in ("apt", "pip"):
            install = inv
            continue
        if cmd.depth and install is not None and install.command.start <= cmd.start < install.command.end:
            return f"the package list is computed at run time (`{' '.join(cmd.argv[:3])}` in the install's arguments)"
        if cmd.depth or cmd.start < 0:
            return "a nested shell script"
        if inv is not None and inv.name == "apt" and inv.role in (UPDATE, CLEAN):
            updates |= inv.role == UPDATE
            continue
        if inv is not None and inv.name == "pip" and inv.role == CLEAN:
            continue
        if inv is None and cmd.name in REPEATABLE:
            continue
        return f"the RUN also runs `{' '.join(cmd.argv[:3])}`"
    if install is None:
        return "no apt or pip install found in the script"
    if install.verb != "install":
        return f"{install.name} {install.verb} is not a plain install"
    if install.command.depth or install.command.start < 0:
        return "the install runs in a nested shell script"
    if install.command.conditional or install.command.more_args or install.dynamic and install.name != "apt":
        return "the package list is computed at run time"
    operands = _operands(install)
    if not operands:
        return "no package named"
    fed: tuple[str, ...] = ()
    names = [(w.value, w.text) for w in operands]
    if install.name == "pip":
        refused = _pip_refusal(install, operands)
        if refused:
            return refused
    elif any(not w.dynamic and _NOT_A_NAME.search(w.value) for w in operands):
        return "a package operand is not a plain name (glob, removal or file)"
    elif any(w.dynamic for w in operands):
        expanded = _expanded(operands, variables or {}, unexpandable)
        if isinstance(expanded, str):
            return expanded
        names, fed = expanded
        if not names:
            return "no package named (the variables of the package list are empty)"
    start, end = operands[0].start, operands[-1].end
    for before, after in zip(operands, operands[1:], strict=False):
        if not _BETWEEN.fullmatch(text[before.end : after.start]):
            return "options among the package names"
    if len({value for value, _ in names}) != len(names):
        return "a package named twice"
    refused = _variables_elsewhere(text, start, end, fed)
    if refused:
        return refused
    refused = _removal_refusal(script, install.name)
    if refused:
        return refused
    if any(e[0] < end and e[1] > start or start < e[0] < end for e in edits):
        return "the cache rewrite changes the package list"
    cut = (start, end, MARK)
    template = apply_edits(text, [cut])
    rewritten = apply_edits(text, [*(edits or ()), cut])
    if rewritten.replace(MARK, text[start:end]) != runs:
        return "the cache rewrite could not be reproduced"
    pip = None
    if install.name == "pip":
        options, _, _ = install.manager.split(
            install.command.args[install.manager.program_words(install.command) :]
        )
        program = install.command.argv[: install.manager.program_words(install.command)]
        pip = PipInstall(tuple(program), tuple(w.value for w in options))
    return DeltaInstall(
        packages=tuple(value for value, _ in names),
        words=tuple(written for _, written in names),
        template=template,
        rewritten=rewritten,
        updates=updates,
        pip=pip,
        deletes_lists=_deletes_lists(script),
        variables=fed,
        from_env=tuple(name for name in fed if name in env_names),
    )


def _expanded(
    operands: list[Word], variables: Mapping[str, str], unexpandable: str | None
) -> tuple[list[tuple[str, str]], tuple[str, ...]] | str:
    """The package names an apt install's operands give as ``sh`` expands them, each with the text that names it
    in a delta's script (a literal word as written, an expanded name as itself), and the variables that fed
    them (sorted); or why the list cannot be known before the RUN runs."""
    computed = "the package list is computed at run time"
    names: list[tuple[str, str]] = []
    fed: set[str] = set()
    for w in operands:
        if not w.dynamic:
            names.append((w.value, w.text))
            continue
        if unexpandable:
            return f"{computed} ({unexpandable})"
        m = _VARIABLE_WORD.match(w.text)
        if m is None:
            operator = re.search(r"\$\{[#!]?[A-Za-z_][A-Za-z0-9_]*[^A-Za-z0-9_}]", w.text)
            if operator:
                return f"{computed} (`{w.text}`: only plain $NAME and ${{NAME}} are expanded)"
            return f"{computed} (`{w.text}` is not one variable alone)"
        quoted, name = bool(m.group(1)), m.group(2) or m.group(3)
        if name not in variables:
            return f"{computed} (${name} has no value the build knows)"
        if name == "IFS" or "IFS" in variables:
            return f"IFS is set, so the shell's word splitting of ${name} is not known"
        if _READ_BY_THE_RUN.fullmatch(name):
            return f"${name} names packages and is read by the tools the RUN runs"
        value = variables[name]
        fields = [value] if quoted else [f for f in _DEFAULT_IFS.split(value) if f]
        for field in fields:
            if not _PLAIN_NAME.fullmatch(field):
                if quoted and _DEFAULT_IFS.search(field):
                    return f"`{w.text}` is one word, `{field}`, which is not a package name"
                return f"${name} holds `{field}`, not a plain package name"
        names.extend((field, field) for field in fields)
        fed.add(name)
    return names, tuple(sorted(fed))


def _variables_elsewhere(text: str, start: int, end: int, fed: tuple[str, ...]) -> str | None:
    """Why the variables that fed the package list cannot be left out of the earlier layer's lookup: the script
    names them (or IFS) outside the list - it may set, unset or read them, and its run would then depend on
    values the lookup does not compare."""
    if not fed:
        return None
    outside = text[:start] + "\n" + text[end:]
    for name in (*fed, "IFS"):
        if re.search(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])", outside):
            return f"the script names {name} besides the package list"
    return None


#: what a delta-able RUN may delete: the content of directories no install reads and no check of the delta
#: does (downloads, temporary files, documentation, apt's own logs, debconf's backups, a user's caches).
#: Anything else may be what the install reads (apt's sources or lists, dpkg's database or its log that the
#: trigger check reads, the pip that runs): the delta starts from a layer where it is already gone.
_REMOVABLE = (
    "/var/cache/apt",
    "/tmp",
    "/var/tmp",
    "/usr/share/doc",
    "/usr/share/man",
    "/usr/share/info",
    "/var/log/apt",
    "/root/.cache",
)
_REMOVABLE_GLOBS = ("/var/cache/debconf/*-old", "/home/*/.cache/*")
#: files no package ships that the image may lose before or after the install alike: the official images'
#: hook that deletes downloaded .debs (Docker's documented apt cache-mount recipe removes it first; it
#: only empties the cache, which shlax-front parks it away from anyway)
_REMOVABLE_FILES = ("/etc/apt/apt.conf.d/docker-clean",)


def _removal_refusal(script, manager: str) -> str | None:
    """Why the ``rm`` commands of a delta-able script stop the delta (None: they may run again)."""
    from shlax_front.managers.paths import relation, rm_paths

    for _cmd, paths in rm_paths(script, {}, None):
        for word, path in paths:
            if path is None or not path.startswith("/"):
                return f"the RUN deletes `{word.text}`, a path not known before it runs"
            lists = relation(path, LISTS_TARGET)
            if manager == "apt" and (lists == "inside" or lists and posixpath.normpath(path) == LISTS_TARGET):
                continue  # ``start`` decides: only with the lists kept on the host
            if any(relation(path, root) == "inside" for root in _REMOVABLE) or path in _REMOVABLE_FILES:
                continue
            if any(fnmatch.fnmatchcase(path, glob) for glob in _REMOVABLE_GLOBS):
                continue
            return f"the RUN deletes {path}, which the install or the delta's checks may read"
    return None


def _deletes_lists(script) -> bool:
    """The script deletes apt's package lists (``rm -rf /var/lib/apt/lists/*``, ``apt-get dist-clean``)."""
    from shlax_front.managers.paths import relation, rm_paths

    return any(
        path is not None and relation(path, LISTS_TARGET) is not None
        for _cmd, paths in rm_paths(script, {}, None)
        for _word, path in paths
    ) or any(cmd.name in ("apt-get", "apt") and "dist-clean" in cmd.argv for cmd in script.commands)


def _operands(inv) -> list[Word]:
    """The install's package words, in order (the manager's own split of its arguments)."""
    _, operands, _ = inv.manager.split(inv.command.args[inv.manager.program_words(inv.command) :])
    return operands


#: pip options that read requirements from files (only names on the command line are compared)
_PIP_FILES = ("-r", "--requirement", "-c", "--constraint")
#: pip options that install somewhere a delta merges into differently from a first install (``--target``
#: skips what exists there, ``bin/`` included) or from a source tree
_PIP_ELSEWHERE = ("-t", "--target", "--prefix", "--root", "-e", "--editable")
#: pip options that install again what is installed: a delta's pip writes the earlier layer's dependencies over
#: themselves (``-I "urllib3<2"`` then ``requests`` added: urllib3's RECORD was not a full install's)
_PIP_REINSTALLS = ("-I", "--ignore-installed")
#: a pip operand that is not a requirement on an index name: a path, an URL, an archive
_NOT_A_REQUIREMENT = re.compile(r"^[./~]|/|://|@|\.(whl|zip|tar\.gz|tgz|tar\.bz2)$", re.I)


def _option_named(value: str, names: tuple[str, ...]) -> bool:
    """``value`` (an option word) is one of ``names``, as ``--name``, ``--name=x`` or a joined ``-rFILE``."""
    return any(
        value == n or value.startswith(n + "=") or (not n.startswith("--") and value.startswith(n))
        for n in names
    )


def _pip_refusal(install, operands: list[Word]) -> str | None:
    """Why a pip install cannot be built incrementally, or None."""
    words = install.command.args[install.manager.program_words(install.command) :]
    options, _, _ = install.manager.split(words)
    for w in options:
        if w.dynamic:
            return "a pip option is computed at run time"
        if not w.value.startswith("-"):
            continue  # an option's value
        if _option_named(w.value, _PIP_FILES):
            return "pip reads requirement or constraint files (only names on its command line are built incrementally)"
        if _option_named(w.value, _PIP_ELSEWHERE):
            return f"pip {w.value.split('=', 1)[0]} merges into what exists differently from a first install"
        if _option_named(w.value, _PIP_REINSTALLS):
            return f"pip {w.value} installs the earlier layer's distributions again over themselves"
    if any(w.dynamic or _NOT_A_REQUIREMENT.search(w.value) for w in operands):
        return "a pip operand is not a plain requirement (variable, path, URL or archive)"
    return None
