"""The settings of RUN containers (``backend/run_settings.py``): what ``buildah from`` is given for each flag,
and the one-line refusal of a bad value."""

from __future__ import annotations

import pytest

from shlax_front.backend import run_settings
from shlax_front.errors import ShlaxError


def test_each_setting_becomes_buildah_from_words_in_the_order_given(tmp_path):
    profile = tmp_path / "seccomp.json"
    profile.write_text("{}")
    pairs = run_settings.given(
        {
            "cap_add": ("NET_ADMIN, cap_sys_time",),
            "cap_drop": ("ALL",),
            "security_opt": (f"seccomp={profile}", "label=disable"),
            "dns": ("192.0.2.1,2001:db8::1",),
            "memory": "1g",
            "memory_swap": "-1",
            "cpu_quota": "-1",
            "cpuset_cpus": "0-1,3",
            "http_proxy": False,
            "device": (),
            "dns_search": None,
        }
    )
    assert run_settings.from_options(pairs) == [
        "--cap-add", "NET_ADMIN,cap_sys_time", "--cap-drop", "ALL",
        "--security-opt", f"seccomp={profile}", "--security-opt", "label=disable",
        "--dns", "192.0.2.1,2001:db8::1", "--memory", "1g", "--memory-swap", "-1", "--cpu-quota", "-1",
        "--cpuset-cpus", "0-1,3", "--http-proxy=false",
    ]  # fmt: skip
    assert not run_settings.passes_proxy(pairs)
    assert run_settings.passes_proxy(())
    assert run_settings.passes_proxy((("--http-proxy", "false"), ("--http-proxy", "true")))


@pytest.mark.parametrize(
    "flag, value, says",
    [
        ("--cap-add", "NET_ADMN", "NET_ADMN is not a Linux capability"),
        ("--cap-drop", ",", "expected a capability name"),
        ("--security-opt", "no-new-privileges", "buildah does not support no-new-privileges"),
        ("--security-opt", "selinux=off", "expected KEY=VALUE with KEY one of label"),
        ("--security-opt", "seccomp=/nonexistent.json", "/nonexistent.json: no such seccomp profile"),
        ("--device", "/dev/nonexistent", "/dev/nonexistent: no such device"),
        ("--device", "/dev/null:/dev/x:rwz", "permissions are a combination of r, w and m"),
        ("--dns", "bogus", "bogus is not an IP address"),
        ("--dns", "none,192.0.2.1", "none is not an IP address"),
        ("--dns-search", "a b", "expected a domain"),
        ("--memory", "0", "expected <number><unit>"),
        ("--memory", "-1", "expected <number><unit>"),
        ("--cpu-shares", "-2", "expected a whole number, 0 or more"),
        ("--cpu-quota", "-2", "expected a whole number, -1 or more"),
        ("--cpuset-cpus", "0-", "expected a list such as 0-3 or 0,2"),
        ("--http-proxy", "maybe", "expected true or false"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_the_flag(flag, value, says):
    with pytest.raises(ShlaxError) as refused:
        run_settings.from_options([(flag, value)])
    message = str(refused.value)
    assert message.startswith(flag) and says in message and "\n" not in message


def test_every_setting_has_its_own_destination():
    dests = [s.dest for s in run_settings.SETTINGS]
    assert len(set(dests)) == len(dests)
    assert "cap_add" in dests and "http_proxy" in dests


def test_os_arch_and_variant_are_parts_of_this_machine_s_platform():
    from shlax_front.backend.flags import platform_parts
    from shlax_front.platforms import host_platform

    host = host_platform()
    platform_parts(None, None, None)
    platform_parts("linux", host.arch, None)
    other = "s390x" if host.arch != "s390x" else "amd64"
    with pytest.raises(ShlaxError) as refused:
        platform_parts(None, other, None)
    assert str(refused.value).startswith(f"--arch {other}: only this machine's platform")
    with pytest.raises(ShlaxError) as refused:
        platform_parts("windows", None, "v7")
    assert str(refused.value).startswith("--os windows --variant v7: only this machine's platform")


def test_namespace_flags_go_to_buildah_from_and_push_only_flags_are_taken():
    """bud's ``--userns``, ``--cgroupns``, ``--ipc``, ``--pid``, ``--uts`` reach each RUN container's ``buildah
    from``; ``-D``/``--disable-compression`` and ``--disable-content-trust`` are taken and change nothing. A
    script passing any of them stopped at 'No such option'."""
    from click.testing import CliRunner

    from shlax_front.cli import cli

    pairs = run_settings.given(
        {"userns": "host", "cgroupns": "private", "ipc": "host", "pid": "/proc/1/ns/pid"}
    )
    assert run_settings.from_options(pairs) == [
        "--userns", "host", "--cgroupns", "private", "--ipc", "host", "--pid", "/proc/1/ns/pid",
    ]  # fmt: skip
    with pytest.raises(ShlaxError, match="--uts '': expected private, host or a namespace path"):
        run_settings.from_options([("--uts", "")])
    given = ["-D", "--disable-compression=false", "--disable-content-trust", "--uts", "host", "--help"]
    result = CliRunner().invoke(cli, ["build", *given])
    assert result.exit_code == 0, result.output
