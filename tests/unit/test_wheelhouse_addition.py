"""An unpinned requirement added within --lists-ttl of the index's last answer is resolved alone, with that
answer's choices as constraints; anything else (a conflict, a removed line) resolves everything again."""

from __future__ import annotations

from shlax_front.actions import Wheelhouse
from shlax_front.backend.runner import Result
from shlax_front.backend.wheelhouse import WHEELHOUSE_TARGET, record_resolution
from shlax_front.backend.wheelhouse import fill as fill_wheelhouse

ONLINE = ["pip", "download", "--dest", WHEELHOUSE_TARGET, "--find-links", WHEELHOUSE_TARGET]


class FakePip:
    """``pip download`` over a wheelhouse and an index ({name: version}); ``deps``: name -> names it needs.
    A constrained resolution reads the constraints file from the host wheelhouse, as pip in the container
    would; ``conflict`` makes it fail (the added package needs another version of a chosen one)."""

    def __init__(self, wheelhouse_dir, wheelhouse, index, deps=None, conflict=False, requirements=""):
        self.dir, self.wheelhouse, self.index = wheelhouse_dir, dict(wheelhouse), index
        self.requirements = requirements
        self.deps, self.conflict = deps or {}, conflict
        self.calls, self.constraints = [], []
        for name, version in wheelhouse.items():  # the host directory holds them too (a warm wheelhouse)
            (wheelhouse_dir / f"{name}-{version}-py3-none-any.whl").write_bytes(b"")

    def __call__(self, argv, network):
        self.calls.append((list(argv), network))
        if argv[0] == "cat":  # the requirements file, read in the container
            return Result(argv, 0, self.requirements, "")
        named = [a for a in argv[6:] if a.split("==")[0] in self.index]
        if "-r" in argv and "-c" not in argv:
            named += self.requirements.split()
        wanted = [a.split("==")[0] for a in named]
        if "-c" in argv:
            name = argv[argv.index("-c") + 1].removeprefix(WHEELHOUSE_TARGET + "/")
            self.constraints.append((self.dir / name).read_text())
            if self.conflict:
                return Result(argv, 1, "ERROR: ResolutionImpossible", "")
        lines = []
        while wanted:
            name = wanted.pop(0)
            if "--no-index" in argv:
                if name not in self.wheelhouse:
                    return Result(argv, 1, f"ERROR: No matching distribution found for {name}", "")
                lines.append(
                    f"File was already downloaded /wh/{name}-{self.wheelhouse[name]}-py3-none-any.whl"
                )
            else:
                self.wheelhouse[name] = self.index[name]
                lines.append(f"Saved /wh/{name}-{self.index[name]}-py3-none-any.whl")
            wanted += self.deps.get(name, [])
        return Result(argv, 0, "\n".join(lines), "")


REQUIREMENTS = [*ONLINE, "-r", "requirements.txt"]


def previous_answer(history):
    answer = "Saved /wh/flask-1-py3-none-any.whl\nSaved /wh/werkzeug-2-py3-none-any.whl"
    record_resolution(history, REQUIREMENTS, ["flask==1"], answer)


def install():
    return [("pip", Wheelhouse(requirements=("requirements.txt",)))]


def test_an_unpinned_addition_reads_only_its_own_page(tmp_path):
    history = tmp_path / "pip-wheelhouse.state"
    (tmp_path / "pip-wheelhouse").mkdir()
    previous_answer(history)
    pip = FakePip(
        tmp_path / "pip-wheelhouse",
        {"flask": "1", "werkzeug": "2"},
        {"flask": "1", "werkzeug": "2", "colorama": "4"},
        deps={"flask": ["werkzeug"]},
        requirements="flask==1\ncolorama\n",
    )
    env = fill_wheelhouse(pip, install(), history, False, 3600, print)
    online = [argv for argv, network in pip.calls if network]
    assert online == [[*ONLINE, "-c", online[0][online[0].index("-c") + 1], "colorama"]]
    assert pip.constraints == ["flask==1\nwerkzeug==2\n"]
    assert not list(
        (tmp_path / "pip-wheelhouse").glob(".shlax-front-constraints-*")
    )  # the constraints file is gone
    assert ("PIP_NO_INDEX", "1") in env
    # the combined answer is recorded: a next build of these lines needs no index at all
    pip.calls.clear()
    fill_wheelhouse(pip, install(), history, False, 3600, print)
    assert not [argv for argv, network in pip.calls if network]


def test_a_conflicting_addition_resolves_everything_again(tmp_path):
    history = tmp_path / "pip-wheelhouse.state"
    (tmp_path / "pip-wheelhouse").mkdir()
    previous_answer(history)
    pip = FakePip(
        tmp_path / "pip-wheelhouse",
        {"flask": "1", "werkzeug": "2"},
        {"flask": "1", "werkzeug": "2", "colorama": "4"},
        conflict=True,
        requirements="flask==1\ncolorama\n",
    )
    fill_wheelhouse(pip, install(), history, False, 3600, print)
    online = [argv for argv, network in pip.calls if network]
    assert len(online) == 2 and online[-1] == REQUIREMENTS


def test_a_removed_or_changed_line_or_a_stale_answer_resolves_everything(tmp_path):
    history = tmp_path / "pip-wheelhouse.state"
    (tmp_path / "pip-wheelhouse").mkdir()
    previous_answer(history)
    index = {"flask": "2", "werkzeug": "2", "colorama": "4"}
    for requirements, ttl in (("flask==2\ncolorama\n", 3600), ("flask==1\ncolorama\n", 0)):
        pip = FakePip(
            tmp_path / "pip-wheelhouse", {"flask": "1", "werkzeug": "2"}, index, requirements=requirements
        )
        fill_wheelhouse(pip, install(), history, False, ttl, print)
        online = [argv for argv, network in pip.calls if network]
        assert online == [REQUIREMENTS]


def test_an_added_pin_is_fetched_at_once_without_an_offline_attempt_that_must_fail(tmp_path):
    """An exact pin of which the wheelhouse holds no file: the offline resolution cannot succeed, so the pin is
    fetched first (its page and file only) and the one offline resolution that follows settles the rest."""
    history = tmp_path / "pip-wheelhouse.state"
    (tmp_path / "pip-wheelhouse").mkdir()
    previous_answer(history)
    pip = FakePip(
        tmp_path / "pip-wheelhouse",
        {"flask": "1", "werkzeug": "2"},
        {"flask": "1", "werkzeug": "2", "pygments": "3"},
        deps={"flask": ["werkzeug"]},
        requirements="flask==1\npygments==3\n",
    )
    env = fill_wheelhouse(pip, install(), history, False, 3600, print)
    offline = [*ONLINE, "--no-index", "-r", "requirements.txt"]
    assert pip.calls[1:] == [([*ONLINE, "--no-deps", "pygments==3"], True), (offline, False)]
    assert pip.calls[0][0][0] == "cat" and len(pip.calls) == 3
    assert ("PIP_NO_INDEX", "1") in env


def test_requirement_files_read_from_the_containers_root_need_no_cat_run(tmp_path):
    """The requirements are read from the mounted root when that tells what ``cat`` in the container would
    print; when it cannot (None), ``cat`` runs as before."""
    history = tmp_path / "pip-wheelhouse.state"
    (tmp_path / "pip-wheelhouse").mkdir()
    previous_answer(history)
    for read, cats in ((lambda paths: "flask==1\n", 0), (lambda paths: None, 1)):
        pip = FakePip(
            tmp_path / "pip-wheelhouse", {"flask": "1", "werkzeug": "2"}, {}, requirements="flask==1\n"
        )
        env = fill_wheelhouse(pip, install(), history, False, 3600, print, read)
        assert [argv[0] for argv, _ in pip.calls].count("cat") == cats
        assert not [argv for argv, network in pip.calls if network] and ("PIP_NO_INDEX", "1") in env


def test_read_in_rootfs_reads_only_what_cat_in_the_container_would_print(tmp_path):
    from shlax_front.backend.run_step import read_in_rootfs

    rootfs = tmp_path / "root"
    (rootfs / "app").mkdir(parents=True)
    (rootfs / "mnt").mkdir()
    (rootfs / "app" / "requirements.txt").write_text("flask==1\n")
    (rootfs / "app" / "more.txt").write_text("six\n")
    (rootfs / "app" / "elsewhere.txt").symlink_to("/mnt/r.txt")
    (rootfs / "app" / "dir").mkdir()
    root = {"WorkingDir": "/app"}
    assert read_in_rootfs(str(rootfs), root, ["requirements.txt", "/app/more.txt"], []) == "flask==1\nsix\n"
    assert (
        read_in_rootfs(str(rootfs), {**root, "User": "1000"}, ["requirements.txt"], []) is None
    )  # its rights
    assert read_in_rootfs(str(rootfs), root, ["requirements.txt"], ["/app"]) is None  # mounted for the RUN
    assert read_in_rootfs(str(rootfs), root, ["elsewhere.txt"], ["/mnt"]) is None  # a link into a mount
    assert read_in_rootfs(str(rootfs), root, ["dir"], []) is None
    assert read_in_rootfs(str(rootfs), root, ["missing.txt"], []) is None


def test_an_unpinned_addition_on_the_command_line_reads_only_its_own_page(tmp_path):
    """``pip install six idna`` then ``pip install six idna tomli``: the index's answer is recorded without the
    names the command line gives (its lines hold them), so the addition finds it, as a requirements file's
    does. Keyed with them, no answer matched and every page was read again (529.7 kB for tomli's 276 kB)."""
    history = tmp_path / "pip-wheelhouse.state"
    (tmp_path / "pip-wheelhouse").mkdir()
    pip = FakePip(tmp_path / "pip-wheelhouse", {}, {"six": "1", "idna": "3", "tomli": "2"})
    fill_wheelhouse(pip, [("pip", Wheelhouse(packages=("six", "idna")))], history, False, 3600, print)
    assert [argv for argv, network in pip.calls if network] == [[*ONLINE, "six", "idna"]]  # cold: all of it
    for name in ("six-1-py3-none-any.whl", "idna-3-py3-none-any.whl"):  # what that download saved
        (tmp_path / "pip-wheelhouse" / name).write_bytes(b"")
    pip.calls.clear()
    env = fill_wheelhouse(
        pip, [("pip", Wheelhouse(packages=("six", "idna", "tomli")))], history, False, 3600, print
    )
    online = [argv for argv, network in pip.calls if network]
    assert online == [[*ONLINE, "-c", online[0][online[0].index("-c") + 1], "tomli"]]
    assert pip.constraints == ["idna==3\nsix==1\n"]
    assert ("PIP_NO_INDEX", "1") in env
