"""A recipe's actions planned directly: config values read like Containerfile words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shlax_front import actions as A
from shlax_front.backend.plan import Planner
from shlax_front.backend.steps import ConfigStep, RunStep
from shlax_front.recipe import load

ROOT = Path(__file__).resolve().parents[2]


def test_recipe_values_are_planned_like_containerfile_words():
    # config values are in the IR's convention: \\$ a literal dollar, ${y} a reference the build resolves; the
    # planner reads the recipe's own actions (no Containerfile text in between)
    env = A.Env(pairs=(("A", 'x \\$y "z"'), ("B", "${y}")))
    stage = A.Stage(actions=(A.Arg(pairs=(("y", "1"),)), env, A.Run(run="a\nb")), base="scratch")
    (planned,) = Planner(None, recipe=(stage,), path="shlaxfile.py").plan().stages
    config = [s for s in planned.steps if isinstance(s, ConfigStep) and s.text.startswith("ENV A")]
    assert config[0].options == ("--env", 'A=x $$y "z"', "--env", "B=1")  # buildah config reads $$ as $
    (run,) = [s for s in planned.steps if isinstance(s, RunStep)]
    assert run.argv == ("/bin/sh", "-c", "a\nb") and run.env == (("y", "1"),)


RECIPE = """\
from shlax_front import Buildah, Container, Packages, Run

app = Container(
    build=Buildah(
        Run('echo hi'),
        Packages('curl', manager={manager!r}),
        base='busybox',
    ),
)
"""


def _build(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "shlaxfile.py").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "shlax_front", "build", "--cache-dir", str(tmp_path / "cache"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_recipe_actions_carry_their_lines(tmp_path):
    (tmp_path / "shlaxfile.py").write_text(RECIPE.format(manager="apt"))
    (stage,) = load(str(tmp_path / "shlaxfile.py")).stages
    assert stage.line == 4 and [a.line for a in stage.actions] == [5, 6]


def test_recipe_errors_point_at_the_recipe_lines(tmp_path):
    """Errors found in a recipe (its own code failing, an install with no command) name its file and line: one
    line, exit status 2, before anything is built (no buildah is needed to see them)."""
    unknown = _build(tmp_path, RECIPE.format(manager="nope"), "-f", "shlaxfile.py", ".")
    assert unknown.returncode == 2
    assert unknown.stderr == "shlaxfile.py:6: Packages(manager='nope'): no install command known for it\n"
    failing = _build(
        tmp_path,
        RECIPE.format(manager="apt").replace("Run('echo hi')", "Run('hi', bogus=1)"),
        "-f",
        "shlaxfile.py",
        ".",
    )
    assert failing.returncode == 2 and failing.stderr.startswith(
        "shlaxfile.py:5: TypeError: Run() got unexpected"
    )
    assert failing.stderr.count("\n") == 1 and "Traceback" not in failing.stderr
    undefined = _build(
        tmp_path, RECIPE.format(manager="apt") + "\nnot_defined()\n", "-f", "shlaxfile.py", "."
    )
    assert undefined.stderr == "shlaxfile.py:11: NameError: name 'not_defined' is not defined\n"


def test_a_recipe_is_never_run_unless_named(tmp_path):
    """A context with a shlaxfile.py and no Containerfile: ``build .`` runs nothing (the recipe would write a
    file if it ran) and says how to build it, in one line."""
    ran = tmp_path / "ran"
    refused = _build(tmp_path, f"open({str(ran)!r}, 'w').close()\n" + RECIPE.format(manager="apt"), ".")
    assert refused.returncode == 2 and not ran.exists()
    assert refused.stderr == (
        ".: no Containerfile or Dockerfile; ./shlaxfile.py is a Python recipe, run on this host: "
        "build it with -f ./shlaxfile.py\n"
    )


def test_recipe_steps_are_located_at_their_recipe_lines(tmp_path):
    """A step that fails in the build is reported at the recipe line that wrote it (``shlaxfile.py:5: ...``)."""
    path = tmp_path / "shlaxfile.py"
    path.write_text(RECIPE.format(manager="apt"))
    (stage,) = load(str(path)).stages
    (planned,) = Planner(None, recipe=(stage,), path=str(path)).plan().stages
    runs = [s for s in planned.steps if isinstance(s, RunStep)]
    assert [str(s.location) for s in runs] == [f"{path}:5", f"{path}:6"]
