"""The stat cache of context file digests: an unchanged file is not read again, a changed one always is."""

from __future__ import annotations

import json
import os

from shlax_front.backend.context import BuildContext
from shlax_front.backend.statcache import RACY_SECONDS, FileDigests


def digests(tmp_path, now=None):
    path = tmp_path / "cache" / "context" / "digests.json"
    return FileDigests(path, now=now) if now else FileDigests(path)


def context(tmp_path, file_digests):
    return BuildContext(str(tmp_path / "ctx"), file_digests=file_digests)


def make_context(tmp_path, files):
    root = tmp_path / "ctx"
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def later(seconds):
    """A clock ``seconds`` ahead: the build that hashes starts that long after the files changed."""
    import time

    return lambda: time.time() + seconds


def test_an_unchanged_file_is_read_once_across_builds(tmp_path):
    make_context(tmp_path, {"a": "one", "b": "two"})
    first = digests(tmp_path, later(10))
    key = context(tmp_path, first).digest(("a", "b"))
    first.save()
    assert first.read_count == 2
    second = digests(tmp_path, later(20))
    assert context(tmp_path, second).digest(("a", "b")) == key
    assert second.read_count == 0
    # and the key is the content's: the same as without any cache
    assert BuildContext(str(tmp_path / "ctx")).digest(("a", "b")) == key


def test_an_edit_with_same_size_and_mtime_forced_back_is_seen(tmp_path):
    root = make_context(tmp_path, {"a": "one"})
    first = digests(tmp_path, later(10))
    before = context(tmp_path, first).digest(("a",))
    first.save()
    st = os.stat(root / "a")
    (root / "a").write_text("two")  # same size
    os.utime(root / "a", ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime as it was; ctime moves
    second = digests(tmp_path, later(20))
    assert context(tmp_path, second).digest(("a",)) != before
    assert second.read_count == 1


def test_a_racy_entry_is_read_again_even_when_its_stat_matches(tmp_path):
    """A file changed within the timestamp granularity of the moment it was hashed keeps its whole stat;
    the entry of a file changed shortly before its build started is therefore never trusted."""
    root = make_context(tmp_path, {"a": "one"})
    first = digests(tmp_path)  # the build starts right after the file was written: racy
    before = context(tmp_path, first).digest(("a",))
    first.save()
    (root / "a").write_text("two")
    # what a coarse-timestamp filesystem would show: the new content under the stat the entry holds
    path = tmp_path / "cache" / "context" / "digests.json"
    data = json.loads(path.read_text())
    st = os.stat(root / "a")
    entry = data["files"][str(root / "a")]
    entry[0] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode]
    path.write_text(json.dumps(data))
    second = digests(tmp_path, later(1))
    assert context(tmp_path, second).digest(("a",)) != before
    assert second.read_count == 1


def test_an_old_entry_with_a_matching_stat_is_trusted(tmp_path):
    """The other side of the racy rule: a stamp well after the file's last change makes the entry count (shown
    with a planted digest, which only the cache can answer)."""
    root = make_context(tmp_path, {"a": "one"})
    first = digests(tmp_path, later(RACY_SECONDS + 5))
    real = context(tmp_path, first).digest(("a",))
    first.save()
    path = tmp_path / "cache" / "context" / "digests.json"
    data = json.loads(path.read_text())
    data["files"][str(root / "a")][2] = "0" * 64
    path.write_text(json.dumps(data))
    assert context(tmp_path, digests(tmp_path, later(30))).digest(("a",)) != real


def test_a_replaced_file_is_read_again(tmp_path):
    root = make_context(tmp_path, {"a": "one", "new": "two"})
    first = digests(tmp_path, later(10))
    before = context(tmp_path, first).digest(("a",))
    first.save()
    st = os.stat(root / "a")
    os.utime(root / "new", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(root / "new", root / "a")  # same size and mtime, another inode
    second = digests(tmp_path, later(20))
    assert context(tmp_path, second).digest(("a",)) != before
    assert second.read_count == 1


def test_mode_change_and_deleted_files(tmp_path):
    root = make_context(tmp_path, {"a": "one", "gone": "x"})
    first = digests(tmp_path, later(10))
    context(tmp_path, first).digest(("a", "gone"))
    first.save()
    os.unlink(root / "gone")
    os.chmod(root / "a", 0o600)
    second = digests(tmp_path, later(20))
    context(tmp_path, second).digest(("a",))
    assert second.read_count == 1  # the mode is part of the stat: read again
    second.save()
    files = json.loads((tmp_path / "cache" / "context" / "digests.json").read_text())["files"]
    assert list(files) == [str(root / "a")]  # the deleted file's entry is dropped


def test_a_damaged_cache_file_counts_as_empty(tmp_path):
    make_context(tmp_path, {"a": "one"})
    path = tmp_path / "cache" / "context" / "digests.json"
    path.parent.mkdir(parents=True)
    for junk in (b"\xff\xfe", b"[]", b'{"format": 1, "files": {"x": [1, 2]}}', b'{"format": 99}'):
        path.write_bytes(junk)
        fd = digests(tmp_path, later(10))
        assert context(tmp_path, fd).digest(("a",)) == BuildContext(str(tmp_path / "ctx")).digest(("a",))
        assert fd.read_count == 1


def test_nothing_is_written_when_nothing_was_read(tmp_path):
    make_context(tmp_path, {"a": "one"})
    first = digests(tmp_path, later(10))
    context(tmp_path, first).digest(("a",))
    first.save()
    path = tmp_path / "cache" / "context" / "digests.json"
    written = path.stat().st_mtime_ns
    os.utime(path, ns=(0, 0))
    second = digests(tmp_path, later(20))
    context(tmp_path, second).digest(("a",))
    second.save()
    assert path.stat().st_mtime_ns == 0 != written


def test_one_file_per_context_directory(tmp_path):
    a = FileDigests.for_context(tmp_path / "cache", str(tmp_path / "one"))
    b = FileDigests.for_context(tmp_path / "cache", str(tmp_path / "two"))
    assert a.path != b.path and a.path.parent == tmp_path / "cache" / "context"


# -- what a no-op costs in buildah calls -----------------------------------------------------------------------


def test_buildah_tag_names_as_buildah_spells_them():
    from shlax_front.backend.buildah import normalized_name

    assert normalized_name("app") == "localhost/app:latest"
    assert normalized_name("team/app:v1") == "localhost/team/app:v1"
    assert normalized_name("localhost/app") == "localhost/app:latest"
    assert normalized_name("docker.io/app") == "docker.io/library/app:latest"
    assert normalized_name("quay.io/org/app:2") == "quay.io/org/app:2"
    assert normalized_name("registry:5000/app") == "registry:5000/app:latest"
    assert normalized_name("app@sha256:" + "0" * 64) is None
    assert normalized_name("App") is None


def test_a_no_op_build_asks_buildah_once_and_tags_only_new_names(tmp_path):
    from fake_runner import FakeRunner

    from shlax_front.backend.api import BuildRequest, run_request

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY a /a\nRUN echo hi\n")
    (ctx / "a").write_text("a")
    runner = FakeRunner()
    real_run = runner.run
    names = {"busybox-id": "docker.io/library/busybox:latest"}

    def listing_names(argv, **kw):  # the fake lists ids only: give the images their names, as buildah would
        result = real_run(argv, **kw)
        if argv[1] == "images":
            result.stdout = "\n".join(
                f"sha256:{i} {names.get(i, '<none>:<none>')}" for i in result.stdout.split()
            )
        return result

    runner.run = listing_names
    request = BuildRequest(context=str(ctx), cache_dir=str(tmp_path / "cache"), ca_bundle=None, tags=("app",))
    first = run_request(request, runner=runner)
    names[first.image] = "localhost/app:latest"
    runner.calls.clear()
    assert run_request(request, runner=runner).image == first.image
    # one listing; the base image's inspect remembered by its id; the name already there: no tag
    assert [argv[1] for argv in runner.calls if argv[1] != "--version"] == ["images"]
    runner.calls.clear()
    request.tags = ("app", "other")
    run_request(request, runner=runner)
    assert ["buildah", "tag", first.image, "other"] in runner.calls
    # the base image's name moved to another image: asked again
    names["busybox-id"] = "<none>:<none>"
    runner.calls.clear()
    run_request(request, runner=runner)
    assert ["buildah", "inspect", "--type", "image", "busybox"] in runner.calls


def test_a_remembered_inspect_counts_only_for_the_one_image_a_name_stands_for(tmp_path):
    from shlax_front.backend.imagecache import InspectCache, listed_image

    names = {"aaa": {"docker.io/library/debian:bookworm"}, "bbb": {"localhost/app:latest", "quay.io/x/y:1"}}
    assert listed_image("debian:bookworm", names) == "aaa"
    assert listed_image("docker.io/library/debian:bookworm", names) == "aaa"
    assert listed_image("app", names) == "bbb" and listed_image("quay.io/x/y:1", names) == "bbb"
    assert listed_image("y:1", names) == "bbb"
    assert listed_image("debian", names) is None  # :latest is not listed
    assert listed_image("debian@sha256:" + "0" * 64, names) is None
    assert listed_image("bookworm", {**names, "ccc": {"localhost/debian:bookworm"}}) is None
    assert listed_image("debian:bookworm", {**names, "ccc": {"localhost/debian:bookworm"}}) is None  # two
    cache = InspectCache(tmp_path / "images", names)
    cache.put("debian:bookworm", {"FromImageID": "aaa", "Docker": {}})
    assert cache.get("debian:bookworm") == {"FromImageID": "aaa", "Docker": {}}
    cache.put("other", {"FromImageID": "zzz"})  # not listed under that name: not remembered
    assert not InspectCache(tmp_path / "images", {"zzz": {"localhost/other:latest"}}).get("other")
    moved = InspectCache(tmp_path / "images", {"ddd": {"docker.io/library/debian:bookworm"}})
    assert moved.get("debian:bookworm") is None
    for path in (tmp_path / "images").iterdir():
        path.write_text("{")
    assert cache.get("debian:bookworm") is None


def test_the_buildah_version_is_asked_again_only_when_the_binary_changed(tmp_path, monkeypatch):
    from shlax_front.backend import budversion

    binary = tmp_path / "buildah"
    binary.write_text("#!/bin/sh\necho 'buildah version 1.39.3 (image-spec 1.1.0)'\necho >> \"$0.calls\"\n")
    binary.chmod(0o755)
    calls = tmp_path / "buildah.calls"
    monkeypatch.setattr(budversion, "_version_record", None)
    budversion.keep_version_in(tmp_path / "cache" / "buildah-version.json")
    for expected_calls in (1, 1):  # the second build reads the record
        budversion.installed_version.cache_clear()
        assert budversion.installed_version(str(binary)) == (1, 39)
        assert len(calls.read_text().splitlines()) == expected_calls
    binary.write_text(binary.read_text().replace("1.39.3", "1.28.2"))  # an upgrade (here: a downgrade)
    budversion.installed_version.cache_clear()
    assert budversion.installed_version(str(binary)) == (1, 28)
    assert len(calls.read_text().splitlines()) == 2
    budversion.installed_version.cache_clear()
