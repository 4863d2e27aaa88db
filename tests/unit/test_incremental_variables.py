"""Incremental apt layers whose package list names ARG or ENV variables (``$PKGS``, ``jq $EXTRA``): the list is
expanded as ``sh`` would when the build knows the values, the earlier layer is found when only those values
gained names, and anything the build cannot be sure of builds the step in full, saying why."""

from __future__ import annotations

import pytest
from fake_runner import FakeRunner, build_with

from shlax_front.backend.deltarule import DeltaInstall
from shlax_front.backend.incremental import IncrementalLayers, template_key
from shlax_front.backend.keys import value_digest
from shlax_front.backend.plan import Planner
from shlax_front.backend.steps import RunStep
from shlax_front.parser import parse

INSTALL = "RUN apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*"


def _config(ref: str) -> dict:
    return {"env": {"PATH": "/usr/bin:/bin"}, "shell": None, "workdir": "/", "user": ""}


def run_step(lines: str, build_args: dict[str, str] | None = None) -> RunStep:
    doc = parse(f"FROM debian:bookworm\n{lines}\n", path="Containerfile")
    planner = Planner(doc, build_args=build_args, image_config=_config, incremental=True)
    (step,) = [s for s in planner.plan().stages[0].steps if isinstance(s, RunStep)]
    return step


def _described(lines: str, build_args: dict[str, str] | None = None) -> DeltaInstall:
    delta = run_step(lines, build_args).incremental
    assert isinstance(delta, DeltaInstall), delta
    return delta


@pytest.mark.parametrize(
    ("lines", "build_args", "packages", "variables"),
    [
        ('ARG PKGS="curl tini"\n' + INSTALL.format("$PKGS"), None, ("curl", "tini"), ("PKGS",)),
        # split on the default IFS: blanks, tabs and newlines, leading and trailing ones dropped
        ("ARG PKGS\n" + INSTALL.format("${PKGS}"), {"PKGS": " curl\ttini \n less "}, ("curl", "tini", "less"), ("PKGS",)),
        ('ARG PKGS=curl\n' + INSTALL.format('"$PKGS"'), None, ("curl",), ("PKGS",)),
        ("ENV EXTRA=less\n" + INSTALL.format("jq $EXTRA tree"), None, ("jq", "less", "tree"), ("EXTRA",)),
        ('ARG EXTRA=""\n' + INSTALL.format("jq $EXTRA"), None, ("jq",), ("EXTRA",)),
        ("ARG A=jq\nARG B=file\n" + INSTALL.format("$B tree $A libc6:amd64"), None, ("file", "tree", "jq", "libc6:amd64"), ("A", "B")),
    ],
)  # fmt: skip
def test_variables_the_build_knows_are_expanded_into_the_package_list(lines, build_args, packages, variables):
    delta = _described(lines, build_args)
    assert delta.packages == packages
    assert delta.variables == variables
    assert delta.from_env == (("EXTRA",) if lines.startswith("ENV") else ())


def test_the_delta_script_names_the_added_packages_where_the_variable_stood():
    step = run_step('ARG PKGS="jq tree"\n' + INSTALL.format("$PKGS"))
    delta = step.incremental
    assert isinstance(delta, DeltaInstall)
    assert "--no-install-recommends $PKGS" in step.argv[-1]  # a full build runs the script as written
    assert delta.script_with(("tree",)) == step.argv[-1].replace("$PKGS", "tree")
    assert delta.plan_script() == step.argv[-1].replace("$PKGS", "-o Debug::pkgDPkgPM=1 jq tree")
    # the variable keeps its full value in the RUN's environment
    assert step.env == (("PKGS", "jq tree"),)


def test_the_template_is_the_same_whatever_the_variables_hold():
    one = _described("ARG PKGS=jq\n" + INSTALL.format("$PKGS"))
    two = _described("ARG PKGS\n" + INSTALL.format("$PKGS"), {"PKGS": "jq tree"})
    assert one.template == two.template and one.variables == two.variables == ("PKGS",)
    written = _described(INSTALL.format("jq tree"))
    assert written.template == one.template and written.variables == ()


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        (INSTALL.format("$PKGS"), "computed at run time ($PKGS has no value the build knows)"),
        ("ARG PKGS\n" + INSTALL.format("$PKGS"), "computed at run time ($PKGS has no value the build knows)"),
        ('ARG PKGS="jq tree"\n' + INSTALL.format('"$PKGS"'), '`"$PKGS"` is one word, `jq tree`, which is not a package name'),
        ('ARG PKGS="jq"\n' + INSTALL.format("${PKGS:-tree}"), "only plain $NAME and ${NAME} are expanded"),
        ('ARG PKGS="jq"\n' + INSTALL.format("${PKGS#j}"), "only plain $NAME and ${NAME} are expanded"),
        ('ARG PKGS="jq"\n' + INSTALL.format("lib$PKGS"), "`lib$PKGS` is not one variable alone"),
        ('ARG PKGS="jq"\n' + INSTALL.format("$PKGS$PKGS"), "`$PKGS$PKGS` is not one variable alone"),
        ('ARG PKGS="jq"\n' + INSTALL.format("'$PKGS'"), "not a plain name"),
        ('ARG PKGS="jq t*"\n' + INSTALL.format("$PKGS"), "$PKGS holds `t*`, not a plain package name"),
        ('ARG PKGS="jq [a]"\n' + INSTALL.format("$PKGS"), "$PKGS holds `[a]`, not a plain package name"),
        ("ARG PKGS=\"jq 'tree'\"\n" + INSTALL.format("$PKGS"), "$PKGS holds `'tree'`, not a plain package name"),
        ('ARG PKGS="jq\\\\ tree"\n' + INSTALL.format("$PKGS"), "not a plain package name"),
        ('ARG PKGS="-y jq"\n' + INSTALL.format("$PKGS"), "$PKGS holds `-y`, not a plain package name"),
        ('ARG PKGS="jq=1.6-2.1"\n' + INSTALL.format("$PKGS"), "$PKGS holds `jq=1.6-2.1`, not a plain package name"),
        ('ARG PKGS="jq foo-"\n' + INSTALL.format("$PKGS"), "$PKGS holds `foo-`, not a plain package name"),
        ('ARG PKGS="jq"\n' + INSTALL.format("jq $PKGS"), "a package named twice"),
        ('ARG PKGS=""\n' + INSTALL.format("$PKGS"), "no package named"),
        ('ARG PKGS="jq"\nARG IFS=,\n' + INSTALL.format("$PKGS"), "IFS is set"),
        ('ARG PKGS="jq"\n' + "RUN IFS=, ; " + INSTALL.format("$PKGS")[4:], "also runs"),
        ('ARG PKGS="jq"\n' + "RUN set -e; export IFS; " + INSTALL.format("$PKGS")[4:], "the script names IFS"),
        ('ARG PKGS="jq"\n' + "RUN export PKGS=tree && " + INSTALL.format("$PKGS")[4:], "the script names PKGS besides the package list"),
        ('ARG PKGS="jq"\n' + "RUN PKGS=tree apt-get install -y $PKGS", "the script names PKGS besides the package list"),
        ('ARG PKGS="jq"\n' + "RUN true ${PKGS:=tree}; apt-get install -y $PKGS", "the script names PKGS besides the package list"),
        ('ARG PKGS="jq"\n' + INSTALL.format("$PKGS") + " && export LIST=$PKGS", "the script names PKGS besides the package list"),
        ('ARG PKGS="jq"\n' + "RUN unset PKGS; apt-get install -y $PKGS", "also runs `unset PKGS`"),
        ('ARG DEBIAN_FRONTEND="jq"\n' + INSTALL.format("$DEBIAN_FRONTEND"), "is read by the tools the RUN runs"),
        ('ARG PKGS="jq"\n' + "RUN --mount=type=secret,id=p,env=PKGS " + INSTALL.format("$PKGS")[4:], "a secret mount sets a variable of the RUN"),
        ('ARG PKGS="flask"\nRUN pip install $PKGS', "computed at run time"),
    ],
)  # fmt: skip
def test_a_list_the_build_cannot_be_sure_of_is_built_in_full_and_says_why(lines, why):
    said = run_step(lines).incremental
    assert isinstance(said, str) and why in said, said


def _inputs(step: RunStep) -> dict:
    """The inputs the executor keys a RUN by (``Executor._inputs``): its ARGs by value digest."""
    return {
        "instruction": step.text,
        "argv": list(step.argv),
        "env": sorted([name, value_digest(value)] for name, value in step.env),
    }


def _key(step: RunStep, parent: str = "parent") -> str:
    assert isinstance(step.incremental, DeltaInstall)
    return template_key(step, parent, _inputs(step), step.incremental)


def test_the_earlier_layer_is_looked_up_without_the_values_of_the_variables_of_the_list():
    lines = "ARG PKGS\nARG OTHER=1\n" + INSTALL.format("$PKGS")
    one, two = run_step(lines, {"PKGS": "jq"}), run_step(lines, {"PKGS": "jq tree"})
    assert _key(one) == _key(two)
    # any other ARG's value still is part of the key, and so is the parent layer (an ENV's value)
    assert _key(run_step(lines, {"PKGS": "jq tree", "OTHER": "2"})) != _key(one)
    assert _key(two, "other-parent") != _key(one)
    # the same script naming the packages as written is another install, so is another variable
    assert _key(run_step("ARG PKGS=jq\nARG OTHER=1\n" + INSTALL.format("jq"))) != _key(one)
    renamed = run_step("ARG PKGZ\nARG OTHER=1\n" + INSTALL.format("$PKGZ"), {"PKGZ": "jq"})
    assert _key(renamed) != _key(one)


def test_an_install_without_variables_keeps_its_template_key():
    """Records made before the list could name variables are still found: their key did not change."""
    from shlax_front.backend.keys import step_key

    step = run_step("ARG OTHER=1\n" + INSTALL.format("jq"))
    assert isinstance(step.incremental, DeltaInstall)
    inputs = _inputs(step)
    kept = {k: v for k, v in inputs.items() if k not in ("instruction", "argv")}
    shell_argv = list((step.original_argv or step.argv)[:-1])
    before = step_key(
        "parent", {**kept, "incremental": [shell_argv, step.incremental.template, step.network]}
    )
    assert _key(step) == before


def test_added_names_in_a_build_arg_start_from_the_earlier_layer(tmp_path):
    lines = "ARG PKGS\n" + INSTALL.format("$PKGS")
    old = run_step(lines, {"PKGS": "jq"})
    IncrementalLayers(tmp_path).remember(old, "parent", _inputs(old), "old-key")
    step = run_step(lines, {"PKGS": "jq tree"})
    start = IncrementalLayers(tmp_path).start(step, "parent", _inputs(step), {"old-key": "img1"}.get)
    assert start.image == "img1" and start.step is not None
    assert start.why == "added tree to the layer with jq"
    assert start.step.argv[-1].endswith("--no-install-recommends tree")
    assert start.step.env == (("PKGS", "jq tree"),)
    gone = run_step(lines, {"PKGS": "tree"})
    start = IncrementalLayers(tmp_path).start(gone, "parent", _inputs(gone), {"old-key": "img1"}.get)
    assert start.image is None and start.why == "jq removed or re-versioned"


def test_an_env_of_the_list_that_changed_is_another_parent_and_says_so(tmp_path):
    lines = "ENV EXTRA={}\n" + INSTALL.format("jq $EXTRA")
    old = run_step(lines.format("tree"))
    IncrementalLayers(tmp_path).remember(old, "parent-with-tree", _inputs(old), "old-key")
    step = run_step(lines.format("'tree file'"))
    start = IncrementalLayers(tmp_path).start(
        step, "parent-with-tree-file", _inputs(step), {"old-key": "i"}.get
    )
    assert start.image is None
    assert start.why == (
        "no earlier layer of this install on the same parent layer, with the same options and script"
        " (and ENV EXTRA: its value is part of the layers before it)"
    )
    # an unchanged ENV with a name added as written is a delta
    more = run_step(lines.format("tree").replace("jq $EXTRA", "jq $EXTRA less"))
    start = IncrementalLayers(tmp_path).start(more, "parent-with-tree", _inputs(more), {"old-key": "i"}.get)
    assert start.image == "i" and start.why == "added less to the layer with jq tree"


def _build(tmp_path, runner: FakeRunner, build_args: dict[str, str]):
    text = "FROM busybox\nARG PKGS\nARG OTHER=1\n" + INSTALL.format("$PKGS") + "\n"
    result = build_with(runner, tmp_path, text, build_args)
    runs = [call for call in runner.calls if call[1] == "run"]
    froms = [call[-1] for call in runner.calls if call[1] == "from"]
    return result, runs, froms


def test_the_executor_runs_a_build_arg_s_added_names_on_the_earlier_layer(tmp_path):
    runner = FakeRunner()
    first, _, _ = _build(tmp_path, runner, {"PKGS": "jq"})
    runner.calls.clear()
    second, runs, froms = _build(tmp_path, runner, {"PKGS": "jq tree"})
    (record,) = [s for s in second.steps if s.status == "built"]
    assert record.reason.endswith("built incrementally: added tree to the layer with jq")
    # the RUN's own layer (the fake's first commit), not the build's image: that is the layer stored again with
    # the ARGs' empty history entries (``emptylayers``)
    assert froms == ["image1"] != [first.image] and len(runs) == 1
    (run,) = runs
    assert run[-1].endswith("--no-install-recommends tree") and "jq" not in run[-1]
    assert "PKGS=jq tree" in run  # the RUN's environment has the variable's full value
    runner.calls.clear()
    third, runs, froms = _build(tmp_path, runner, {"PKGS": "jq tree less", "OTHER": "2"})
    (record,) = [s for s in third.steps if s.status == "built"]
    assert "not incremental: no earlier layer of this install" in record.reason
    assert froms == ["busybox-id"] and "$PKGS" in runs[0][-1]
