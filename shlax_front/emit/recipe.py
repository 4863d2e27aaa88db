"""Action IR -> a Python recipe (``templates/recipe.py.j2``), the ``migrate`` output.

Every action is written as a constructor call with only the arguments that differ from their defaults, so
the recipe reads like the original Shlax ones yet evaluates to exactly the same IR (``tests/unit/test_migrate.py``
checks that on every fixture).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jinja2

from shlax_front import actions as A

#: fields never written: positions and what the passes derive
SKIPPED = {"line", "node", "caching", "notes", "commit"}


def template_dirs() -> list[str]:
    """The installed wheel ships ``shlax_front/templates``; a checkout has the top-level ``templates/``."""
    package = Path(__file__).resolve().parent.parent
    return [str(p) for p in (package / "templates", package.parent / "templates") if p.is_dir()]


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dirs()),
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )


def py(value) -> str:
    """Python source for a value of the IR (strings, numbers, None, tuples, Heredoc)."""
    if isinstance(value, tuple):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        args = ", ".join(
            f"{f.name}={py(getattr(value, f.name))}"
            for f in dataclasses.fields(value)
            if getattr(value, f.name) != _default(f)
        )
        return f"{type(value).__name__}({args})"
    return repr(value)


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def render_action(action: A.Action) -> str:
    name = type(action).__name__
    positional: list[str] = []
    skip = set(SKIPPED)
    if isinstance(action, A.Install):
        positional = [py(p) for p in action.packages]
        skip.add("packages")
    elif isinstance(action, A.Copy) and action.sources and action.dest:
        positional = [py(p) for p in action.sources] + [py(action.dest)]
        skip |= {"sources", "dest"}
    keywords = []
    for f in dataclasses.fields(action):
        if f.name in skip or not f.compare:
            continue
        value = getattr(action, f.name)
        if value == _default(f) and not (f.name == "run" and isinstance(action, A.Install)):
            continue
        if f.name == "installs":
            continue  # derived from run when lowering; a recipe Run re-derives nothing
        keywords.append(f"{f.name}={py(value)}")
    return f"{name}({', '.join(positional + keywords)})"


def _var(stage: A.Stage, index: int, used: set[str]) -> str:
    base = re.sub(r"\W+", "_", stage.name or "").strip("_").lower() if stage.name else ""
    var = base if base and base.isidentifier() and not base[0].isdigit() else f"stage{index}"
    while var in used or var in ("app", "Container", "Buildah"):
        var += "_"
    used.add(var)
    return var


def render(
    stages: tuple[A.Stage, ...],
    source: str = "Containerfile",
    output: str = "shlaxfile.py",
    commit: str | None = None,
) -> str:
    used: set[str] = set()
    names = {"Container", "Buildah"}
    rendered = []
    for i, stage in enumerate(stages):
        actions = []
        for action in stage.actions:
            names.add(type(action).__name__)
            if isinstance(action, A.RunLike | A.Copy) and action.heredocs:
                names.add("Heredoc")
            actions.append(render_action(action))
        rendered.append(
            {
                "var": _var(stage, i, used),
                "actions": actions,
                "base": py(stage.base),
                "name": py(stage.name) if stage.name else None,
                "platform": py(stage.platform) if stage.platform else None,
            }
        )
    build = rendered[-1]["var"] if len(rendered) == 1 else "(" + ", ".join(r["var"] for r in rendered) + ")"
    template = environment().get_template("recipe.py.j2")
    return template.render(
        source=source,
        output=output,
        imports=sorted(names),
        stages=rendered,
        build=build,
        commit=py(commit) if commit else None,
    )
