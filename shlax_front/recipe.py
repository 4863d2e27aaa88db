"""The Python recipe API, in the style of the original Shlax::

    from shlax_front import Container, Buildah, Packages, Copy, Pip

    app = Container(
        build=Buildah(
            Packages('python3', 'python3-venv', manager='apt', update=True),
            Copy('requirements.txt', '/app/'),
            Pip(requirements=('/app/requirements.txt',)),
            base='debian:bookworm',
            commit='app',
        ),
    )

A recipe evaluates to the same action IR a Containerfile lowers to (``shlax_front.actions``), so the build
backend runs both the same way and ``migrate`` can prove its output right by comparing IRs.

Config values (``Env``, ``Label``, ``Workdir``, ``User``, ``Arg`` defaults) read like Containerfile words:
``Env(pairs=(('PATH', '/venv/bin:${PATH}'),))`` extends the base image's PATH at build time, and a literal dollar
or backslash is escaped (``'costs \\$5'``), see ``lower.config_value``.
"""

from __future__ import annotations

import ast
import os
import runpy
from collections.abc import Sequence

from shlax_front.actions import (  # noqa: F401  (re-exported for recipes)
    Action,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Maintainer,
    Npm,
    Onbuild,
    Packages,
    Pip,
    Run,
    RunLike,
    Shell,
    Stage,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from shlax_front.errors import ParseError
from shlax_front.syntax import Heredoc  # noqa: F401


def Buildah(
    *actions: Action,
    base: str = "scratch",
    name: str | None = None,
    platform: str | None = None,  # noqa: N802
    commit: str | None = None,
) -> Stage:
    """One build stage: its actions in order, on ``base`` (an image, or an earlier stage's ``name``)."""
    for action in actions:
        if not isinstance(action, Action) or isinstance(action, Stage):
            raise TypeError(f"Buildah() takes actions (Packages, Copy, Run, ...), not {action!r}")
    return Stage(actions=tuple(actions), base=base, name=name, platform=platform, commit=commit)


class Container:
    """A container image to build: ``build`` is one ``Buildah(...)`` stage or a sequence of them (the last
    one is the image; earlier ones are build stages, referenced by name)."""

    def __init__(self, build: Stage | Sequence[Stage], commit: str | None = None):
        stages = (build,) if isinstance(build, Stage) else tuple(build)
        if not stages:
            raise TypeError("Container(build=...) needs at least one Buildah() stage")
        self.stages: tuple[Stage, ...] = stages
        self.commit = commit or stages[-1].commit

    def __repr__(self) -> str:
        return f"Container({len(self.stages)} stage(s), commit={self.commit!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Container) and self.stages == other.stages


def load(path: str) -> Container:
    """Run a recipe file and return the ``Container`` it defines (the one named ``app``, else the only one).

    A recipe is Python code: loading it runs it, on this host, with the caller's rights - which is why a build
    runs one only when it is named (``-f shlaxfile.py``). Whatever goes wrong in it is reported at its own
    line (``shlaxfile.py:7: NameError: ...``), never as a traceback; each action is given the line it was
    written on, so later errors (an install with no known command) point there too."""
    try:
        namespace = runpy.run_path(path)
    except FileNotFoundError:
        raise ParseError("cannot read file: No such file or directory", path, 0) from None
    except SyntaxError as err:
        raise ParseError(f"invalid Python: {err.msg}", path, err.lineno or 1, err.text) from None
    except Exception as err:  # the recipe's own code failed: say where in it
        raise ParseError(f"{type(err).__name__}: {err}", path, _recipe_line(err, path)) from None
    found = [v for v in namespace.values() if isinstance(v, Container)]
    if isinstance(namespace.get("app"), Container):
        container = namespace["app"]
    elif len(found) == 1:
        container = found[0]
    else:
        raise ParseError("a recipe must define one Container (named `app` when there are several)", path, 1)
    _locate(container, path)
    _check_commands(container, path)
    return container


def _recipe_line(err: BaseException, path: str) -> int | None:
    """The line of the recipe file where ``err`` was raised (the innermost frame in that file), or None."""
    wanted = os.path.realpath(path)
    line = None
    tb = err.__traceback__
    while tb is not None:
        if os.path.realpath(tb.tb_frame.f_code.co_filename) == wanted:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _locate(container: Container, path: str) -> None:
    """Give each stage and action the line of the recipe it was written on: the ``Buildah(...)`` calls of the
    file, in order, with one positional argument per action (a recipe built in a loop keeps line 0)."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return
    calls = sorted(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == "Buildah" or getattr(node.func, "attr", None) == "Buildah")
        ),
        key=lambda node: (node.lineno, node.col_offset),
    )
    if len(calls) != len(container.stages):
        return
    for stage, call in zip(container.stages, calls, strict=True):
        args = call.args
        if any(isinstance(a, ast.Starred) for a in args) or len(args) != len(stage.actions):
            continue
        if not stage.line:
            object.__setattr__(stage, "line", call.lineno)  # frozen, and never part of equality
        for action, arg in zip(stage.actions, args, strict=True):
            if not action.line:
                object.__setattr__(action, "line", arg.lineno)


def _check_commands(container: Container, path: str) -> None:
    """An install the build could not turn into a command, refused at its recipe line before anything runs."""
    from shlax_front.lift import RecipeError, command_of

    for stage in container.stages:
        for action in stage.actions:
            if isinstance(action, RunLike) and not action.run:
                try:
                    command_of(action)
                except RecipeError as err:
                    raise ParseError(str(err), path, action.line or stage.line or None) from None
