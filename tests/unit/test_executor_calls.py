"""What a built step costs in buildah calls (fake buildah): the config steps before a COPY go with its commit's
one ``buildah config`` call, with the history line; before a RUN, into the call made with its container, the
history line with them; the history line alone goes right before the commit, as before."""

from __future__ import annotations

from fake_runner import FakeRunner

from shlax_front.backend.api import BuildRequest, run_request
from shlax_front.backend.copy_step import plain_copies_allowed

#: how the COPY of one plain file is made: written into the mounted container (``directcopy``, buildah 1.28), or
#: ``buildah copy``
COPY_VERB = "mount" if plain_copies_allowed() else "copy"


def _build(tmp_path, text: str) -> FakeRunner:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(text)
    (ctx / "app.py").write_text("print(1)\n")
    runner = FakeRunner()
    run_request(
        BuildRequest(context=str(ctx), cache_dir=str(tmp_path / "cache"), ca_bundle=None), runner=runner
    )
    return runner


def _per_container(runner: FakeRunner) -> list[list[list[str]]]:
    """The calls naming each working container, from its ``from`` to its commit, in order."""
    made = [call[call.index("--name") + 1] for call in runner.calls if call[1] == "from"]
    return [[call for call in runner.calls if name in call] for name in made]


def test_the_config_steps_before_a_copy_go_with_its_history_line_in_one_call(tmp_path):
    runner = _build(tmp_path, "FROM busybox\nENV A=1\nWORKDIR /app\nCOPY app.py ./\nRUN true\n")
    copy, run = _per_container(runner)
    assert [call[1] for call in copy] == ["from", COPY_VERB, "config", "commit"]
    config = copy[2]
    assert config[2:6] == ["--env", "A=1", "--workingdir", "/app"]
    assert config[6] == "--created-by" and "COPY file:" in config[7] and config[8:] == [copy[0][4]]
    assert [call[1] for call in run][-2:] == ["config", "commit"]  # its history line alone, before its commit


def test_the_config_steps_before_a_run_are_set_with_its_history_line_before_it_runs(tmp_path):
    runner = _build(tmp_path, "FROM busybox\nENV A=1\nUSER nobody\nRUN true\n")
    (run,) = _per_container(runner)
    verbs = [call[1] for call in run]
    assert verbs[:2] == ["from", "config"] and verbs.count("config") == 1 and verbs[-1] == "commit"
    assert verbs.index("run") < verbs.index("commit")
    config = run[1]
    assert config[2:6] == ["--env", "A=1", "--user", "nobody"]
    assert config[6:8] == ["--created-by", "/bin/sh -c true"]


def test_a_copy_after_a_run_is_one_config_call_as_before(tmp_path):
    """No config step before the COPY: the history line and the config steps folded after it, one call."""
    runner = _build(tmp_path, 'FROM busybox\nRUN true\nCOPY app.py /app/\nCMD ["python3"]\n')
    _, copy = _per_container(runner)
    assert [call[1] for call in copy] == ["from", COPY_VERB, "config", "commit"]
    assert copy[2][2:4] == ["--cmd", '["python3"]'] and copy[2][4] == "--created-by"


APT = "RUN apt-get update && apt-get install -y curl\n"


def _container_inspects(runner: FakeRunner) -> int:
    return sum(1 for call in runner.calls if call[1:4] == ["inspect", "--type", "container"])


def test_a_run_on_its_from_images_container_reads_the_images_inspect(tmp_path):
    """The apt cache's partition (the architecture) and the apt stand-ins' PATH come from the container's config:
    right after FROM, with no config step between, that is the FROM image's, already inspected for the plan."""
    runner = _build(tmp_path, "FROM busybox\n" + APT)
    assert any(call[1] == "run" for call in runner.calls)
    assert _container_inspects(runner) == 0


def test_a_run_on_a_configured_or_committed_container_asks_buildah(tmp_path):
    runner = _build(tmp_path, "FROM busybox\nENV A=1\n" + APT)
    assert _container_inspects(runner) == 1
    (tmp_path / "again").mkdir()
    runner = _build(
        tmp_path / "again", "FROM busybox\nRUN true\n" + APT
    )  # the apt RUN's image: committed here
    assert _container_inspects(runner) == 1
