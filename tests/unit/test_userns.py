"""Entering buildah's user namespace for a rootless build: when, and the one line when it cannot be made."""

from __future__ import annotations

import pytest

from shlax_front.backend import userns
from shlax_front.errors import ShlaxError


def test_ranges_are_read_by_name_or_uid(tmp_path):
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\n# comment\n1001:165536:65536\nbroken line\nzero:231072:0\n")
    ranges = userns.read_ranges(str(subuid))
    assert userns.has_range(ranges, "alice", 1000)
    assert userns.has_range(ranges, "bob", 1001)  # by uid
    assert not userns.has_range(ranges, "zero", 1002)  # an empty range gives nothing
    assert not userns.has_range(ranges, "carol", 1003)
    assert userns.next_free_id(ranges) == 231072
    assert userns.read_ranges(str(tmp_path / "missing")) == []
    assert userns.next_free_id([]) == 100000


def test_nss_subid_is_trusted(tmp_path):
    conf = tmp_path / "nsswitch.conf"
    conf.write_text("passwd: files\n# subid: sss\n")
    assert not userns.subid_from_nss(str(conf))
    conf.write_text("passwd: files\nsubid: sss\n")
    assert userns.subid_from_nss(str(conf))


def test_root_and_a_mapped_process_need_nothing(monkeypatch):
    monkeypatch.setattr(userns.os, "geteuid", lambda: 0)
    assert not userns.needs_user_namespace()
    monkeypatch.setattr(userns.os, "geteuid", lambda: 1000)
    monkeypatch.setenv(userns.CONFIGURED_VARIABLE, "done")
    assert not userns.needs_user_namespace()
    monkeypatch.delenv(userns.CONFIGURED_VARIABLE)
    assert userns.needs_user_namespace()


def test_missing_ranges_give_one_line_naming_both_files(monkeypatch, tmp_path):
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("someone:100000:65536\n")
    subgid.write_text("")
    monkeypatch.setattr(userns, "SUBUID_FILE", str(subuid))
    monkeypatch.setattr(userns, "SUBGID_FILE", str(subgid))
    monkeypatch.setattr(userns, "subid_from_nss", lambda: False)
    monkeypatch.setattr(userns.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(userns, "_user_name", lambda uid: "alice")
    with pytest.raises(ShlaxError) as err:
        userns.check_rootless_setup()
    message = str(err.value)
    assert "\n" not in message and err.value.exit_code == 2
    assert f"user alice has no subordinate ids in {subuid} and {subgid}" in message
    assert 'add the line "alice:165536:65536" to /etc/subuid and /etc/subgid' in message
    assert "usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice" in message

    subuid.write_text("alice:100000:65536\n")  # only the gid range missing: only that file named
    with pytest.raises(ShlaxError, match=f"no subordinate ids in {subgid}, needed"):
        userns.check_rootless_setup()
    subgid.write_text("alice:100000:65536\n")
    userns.check_rootless_setup()


def test_missing_newuidmap_is_one_line(monkeypatch):
    monkeypatch.setattr(userns.shutil, "which", lambda name: None if name == "newuidmap" else "/usr/bin/x")
    with pytest.raises(ShlaxError, match="apt-get install uidmap"):
        userns.check_rootless_setup()


def test_reexec_runs_the_same_arguments_under_buildah_unshare(monkeypatch):
    calls = []
    monkeypatch.setattr(userns, "needs_user_namespace", lambda: True)
    monkeypatch.setattr(userns, "check_rootless_setup", lambda binary: None)
    monkeypatch.setattr(userns.os, "execvp", lambda file, argv: calls.append((file, argv)))
    userns.enter_user_namespace(["build", "-t", "app", "."])
    assert calls == [
        (
            "buildah",
            [
                "buildah",
                "unshare",
                "--",
                userns.sys.executable,
                "-m",
                "shlax_front",
                "build",
                "-t",
                "app",
                ".",
            ],
        )
    ]
