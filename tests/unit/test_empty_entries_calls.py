"""Where bud's empty history entries cost buildah calls (fake buildah, ``emptylayers``): one rewrite per stage
image a user sees - the build's and a stage a later ``FROM`` builds on -, none more when the stage ends with config
steps after a RUN (that rewrite was made anyway), none on a no-op."""

from __future__ import annotations

from fake_runner import FakeRunner, build_with

STAGES = """\
FROM busybox AS base
ENV B=2
RUN echo b > /b
FROM base
USER nobody
RUN echo c > /tmp/c
"""


def _pulls(runner: FakeRunner) -> int:
    return sum(1 for call in runner.calls if call[1] == "pull")


def test_the_build_s_image_and_a_stage_built_from_are_rewritten_once_and_a_no_op_finds_them(tmp_path):
    runner = FakeRunner()
    first = build_with(runner, tmp_path, STAGES)
    assert _pulls(runner) == 2  # base (built FROM: its history starts the child's) and the final stage
    runner.calls.clear()
    again = build_with(runner, tmp_path, STAGES)
    assert again.image == first.image and _pulls(runner) == 0 and "commit" not in runner.verbs()


def test_config_steps_after_a_run_pay_for_the_entries_before_it(tmp_path):
    """ENV before the RUN, CMD after it: the one rewrite the CMD's commit needs writes both entries."""
    runner = FakeRunner()
    build_with(runner, tmp_path, 'FROM busybox\nENV A=1\nRUN echo a > /a\nCMD ["sh"]\n')
    assert _pulls(runner) == 1
