"""A COPY's history names its content as bud's does: ``multi:`` for several items copied, ``dir:`` for one
directory, ``file:`` otherwise, counting what each source matched less what the ignore file leaves out (bud
1.28: ``COPY bin/* /all/`` of two files is ``multi``, ``COPY d* /x/`` matching one directory ``dir``)."""

from __future__ import annotations

import pytest

from shlax_front.backend.context import BuildContext
from shlax_front.backend.history import CONTENT, with_content

LINE = f"/bin/sh -c #(nop) COPY {CONTENT} in /x/ "
DIGEST = "ab" * 32


@pytest.fixture
def context(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "d1").mkdir()
    for name in ("bin/a.sh", "bin/b.sh", "bin/c.txt", "d1/x"):
        (tmp_path / name).write_text(name)
    (tmp_path / ".dockerignore").write_text("bin/b.sh\n")
    return BuildContext(str(tmp_path))


@pytest.mark.parametrize(
    ("sources", "kind"),
    [
        (("bin/a.sh",), "file"),
        (("bin/a*.sh",), "file"),
        (("bin/*.sh",), "file"),  # b.sh is ignored: one item left
        (("bin/*",), "multi"),
        (("bin/c.txt", "bin/a.sh"), "multi"),
        (("d*",), "dir"),
        (("d1",), "dir"),
    ],
)
def test_the_kind_counts_what_the_sources_matched(context, sources, kind):
    assert with_content(LINE, DIGEST, sources, context) == LINE.replace(CONTENT, f"{kind}:{DIGEST}")


def test_an_exclude_is_counted_out_too(context):
    assert with_content(LINE, DIGEST, ("bin/*",), context, ("*.txt",)).split()[-3].startswith("file:")


def test_without_a_context_the_sources_as_written_are_counted():
    assert with_content(LINE, DIGEST, ("a", "b")).split()[-3] == f"multi:{DIGEST}"
    assert with_content(LINE, DIGEST, ("app",)).split()[-3] == f"file:{DIGEST}"


def test_the_kind_reuses_the_walk_the_key_made(context, monkeypatch):
    """The step's key digests the sources first; the history's count must not walk the context again."""
    from shlax_front.backend import gomatch

    walks = []
    real = gomatch.glob
    monkeypatch.setattr(gomatch, "glob", lambda *args: walks.append(args[1]) or real(*args))
    context.digest(("bin/*",))
    assert with_content(LINE, DIGEST, ("bin/*",), context).split()[-3] == f"multi:{DIGEST}"
    assert walks == ["bin/*"]


def test_a_url_is_the_digest_alone_as_bud_words_it():
    """bud 1.28's digester starts no content type for a URL ``ADD``: ``ADD <digest> in /x``, not ``file:``."""
    url = "https://deb.debian.org/debian/README"
    assert with_content(LINE, DIGEST, (url,)).split()[-3] == DIGEST
    assert with_content(LINE, DIGEST, (url, "a")).split()[-3] == f"multi:{DIGEST}"
