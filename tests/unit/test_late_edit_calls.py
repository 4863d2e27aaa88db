"""What a late edit costs in buildah calls (fake buildah): the config steps after a last COPY go into its commit,
the commit names the image, a killed build's sweep and ``--version`` are asked only when needed."""

from __future__ import annotations

from fake_runner import FakeRunner

from shlax_front.backend import executor as executor_module
from shlax_front.backend.api import BuildRequest, run_request
from shlax_front.backend.copy_step import plain_copies_allowed

#: how the COPY of one plain file is made: written into the mounted container (``directcopy``, buildah 1.28), or
#: ``buildah copy``
COPY_VERB = "mount" if plain_copies_allowed() else "copy"
TEXT = 'FROM busybox\nRUN echo a > /a\nCOPY app.py /app/\nEXPOSE 8000\nCMD ["python3", "app.py"]\n'


def _build(tmp_path, runner, **request):
    ctx = tmp_path / "ctx"
    if not ctx.exists():
        ctx.mkdir()
        (ctx / "Containerfile").write_text(TEXT)
        (ctx / "app.py").write_text("print(1)\n")
    runner.calls.clear()
    return run_request(
        BuildRequest(context=str(ctx), cache_dir=str(tmp_path / "cache"), ca_bundle=None, **request),
        runner=runner,
    )


def _edit(tmp_path, text: str = "# more\n") -> None:
    with open(tmp_path / "ctx" / "app.py", "a") as f:
        f.write(text)


def test_a_late_edit_is_one_container_one_config_one_commit_and_one_rewrite(tmp_path):
    """The rewrite: the commit stored again with bud's empty entries for EXPOSE and CMD (``emptylayers``), an
    image ``buildah pull dir:`` leaves unnamed, then tagged."""
    runner = FakeRunner()
    _build(tmp_path, runner, tags=("app",))
    _edit(tmp_path)
    done = _build(tmp_path, runner, tags=("app",))
    calls = [call for call in runner.calls if call[1] != "inspect"]  # the fake's listing names no base image
    assert [call[1] for call in calls] == ["images", "from", COPY_VERB, "config", "commit", "pull", "tag"]
    config = calls[3]
    assert config[2:6] == ["--port", "8000/tcp", "--cmd", '["python3", "app.py"]']
    assert config[6] == "--created-by" and "COPY" in config[7]
    assert calls[4][-1] != "localhost/app:latest" and calls[-1] == ["buildah", "tag", done.image, "app"]
    assert [s.status for s in done.steps] == ["from", "cached", "built", "config", "config"]

    again = _build(tmp_path, runner, tags=("app",))  # nothing changed: the folded image is found
    assert again.image == done.image and "commit" not in runner.verbs()
    assert [s.status for s in again.steps] == ["from", "cached", "cached", "config", "cached"]


def test_the_image_has_the_same_layers_cold_and_after_an_edit_or_a_config_change(tmp_path):
    """Never a commit of its own for the config steps: whether the COPY was cached or not (a COPY whose config
    steps changed is copied again)."""
    runner = FakeRunner()
    _build(tmp_path, runner)
    assert runner.verbs().count("commit") == 2  # the RUN, the COPY with EXPOSE and CMD
    (tmp_path / "ctx" / "Containerfile").write_text(TEXT.replace("8000", "9000"))
    done = _build(tmp_path, runner)
    assert runner.verbs().count("commit") == 1 and COPY_VERB in runner.verbs()
    assert done.steps[2].reason == "a config step after it changed (committed with it)"


def test_a_cache_made_before_the_config_steps_were_folded_is_still_found(tmp_path, monkeypatch):
    runner = FakeRunner()
    monkeypatch.setattr(executor_module, "_folded", lambda steps, i: [])  # each step's commit, as before
    first = _build(tmp_path, runner)
    assert runner.verbs().count("commit") == 3
    monkeypatch.undo()
    again = _build(tmp_path, runner)
    assert again.image == first.image and "commit" not in runner.verbs()


def test_the_first_name_is_given_at_commit_the_others_and_a_cached_image_are_tagged(tmp_path):
    """A file ending with a layer and no config step before it: the last commit is the image (no rewrite)."""
    runner = FakeRunner()
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "app.py").write_text("print(1)\n")
    (tmp_path / "ctx" / "Containerfile").write_text("FROM busybox\nRUN echo a > /a\nCOPY app.py /app/\n")
    done = _build(tmp_path, runner, tags=("app", "quay.io/a/b:1"))
    commit = [call for call in runner.calls if call[1] == "commit"][-1]
    assert commit[-1] == "localhost/app:latest"
    assert runner.calls[-1] == ["buildah", "tag", done.image, "quay.io/a/b:1"]
    _build(tmp_path, runner, tags=("other",))  # every step cached: the name is a tag
    assert runner.verbs()[-1] == "tag" and runner.calls[-1][-1] == "other"


def test_a_run_keeps_its_own_layer_and_the_config_after_it_its_commit(tmp_path):
    """After a RUN the config steps stay a commit of their own (folded, a config change would run it again),
    stored again without the empty layer that commit adds (``emptylayers``), then named."""
    runner = FakeRunner()
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Containerfile").write_text('FROM busybox\nRUN echo a > /a\nCMD ["sh"]\n')
    done = _build(tmp_path, runner, tags=("app",))
    commits = [call for call in runner.calls if call[1] == "commit"]
    assert len(commits) == 2 and all(commit[-1] != "localhost/app:latest" for commit in commits)
    assert runner.verbs()[-5:] == ["inspect", "pull", "rmi", "rm", "tag"]
    assert runner.calls[-1] == ["buildah", "tag", done.image, "app"]
