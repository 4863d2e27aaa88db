"""The WORKDIR a RUN needs is made before it as bud makes it (``EnsureContainerPathAs``): missing directories
0755, owned as ``COPY --chown=USER`` would be (bud's ``userForCopy``)."""

from __future__ import annotations

import os

import pytest

from shlax_front.backend.run_step import make_workdir
from shlax_front.backend.users import copy_owner


@pytest.fixture
def rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n"
    )
    (tmp_path / "etc" / "group").write_text("root:x:0:\napp:x:1002:\nstaff:x:50:\n")
    return tmp_path


@pytest.mark.parametrize(
    ("user", "owner"),
    [("", (0, 0)), ("1000", (1000, 1000)), ("1001", (1001, 1001)), ("app", (1001, 1002)),
     ("1001:50", (1001, 50)), ("app:staff", (1001, 50)), ("1000:staff", (1000, 50)), ("nobody-here", (0, 0))],
)  # fmt: skip
def test_the_owner_is_buds_copy_owner(rootfs, user, owner):
    assert copy_owner(str(rootfs), user) == owner


def test_only_the_missing_directories_are_made_and_given_to_the_user(rootfs):
    (rootfs / "w").mkdir(mode=0o700)
    make_workdir(str(rootfs), "/w/x/y", "1000")
    assert os.stat(rootfs / "w").st_mode & 0o777 == 0o700 and os.stat(rootfs / "w").st_uid == os.getuid()
    for made in (rootfs / "w" / "x", rootfs / "w" / "x" / "y"):
        st = os.stat(made)
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o755, 1000, 1000)
    make_workdir(str(rootfs), "/", "1000")  # nothing to make
    make_workdir(str(rootfs), "", "app")
