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
    """Run a recipe file and return the ``Container`` it defines (the one named ``app``, else the only one)."""
    try:
        namespace = runpy.run_path(path)
    except FileNotFoundError:
        raise ParseError("cannot read file: No such file or directory", path, 0) from None
    except SyntaxError as err:
        raise ParseError(f"invalid Python: {err.msg}", path, err.lineno or 1, err.text) from None
    found = [v for v in namespace.values() if isinstance(v, Container)]
    if isinstance(namespace.get("app"), Container):
        return namespace["app"]
    if len(found) == 1:
        return found[0]
    raise ParseError("a recipe must define one Container (named `app` when there are several)", path, 1)
