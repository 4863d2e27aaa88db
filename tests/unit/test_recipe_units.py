"""A recipe's actions planned directly: config values read like Containerfile words."""

from __future__ import annotations

from shlax_front import actions as A
from shlax_front.backend.plan import Planner
from shlax_front.backend.steps import ConfigStep, RunStep


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
