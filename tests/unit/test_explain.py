"""``explain``: recognised installs, rewrites with reasons, and reasons for what was left alone."""

from __future__ import annotations

from shlax_front.explainer import explain, format_entries

TEXT = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y curl=7.88.1 git && rm -rf /var/lib/apt/lists/*
RUN echo apt-get install -y nope
RUN f() { apt-get install -y maybe; }; f
RUN yum install -y x && rm -rf /var/cache/yum
USER node
RUN npm ci
"""


def by_line(entries):
    return {e.line: e for e in entries}


def test_rewritten_install_lists_packages_and_changes():
    e = by_line(explain(TEXT))[2]
    assert e.status == "rewritten"
    assert e.installs == [
        {"kind": "Packages", "packages": ["curl=7.88.1", "git"], "manager": "apt", "update": True}
    ]
    assert any("/var/cache/apt" in c for c in e.changes)
    assert any("rm /var/lib/apt/lists/*" in c for c in e.changes)
    assert {m["target"] for m in e.mounts} == {"/var/cache/apt", "/var/lib/apt/lists"}


def test_lookalike_left_alone():
    e = by_line(explain(TEXT))[3]
    assert e.status == "left alone" and e.installs == []
    assert e.reasons == ["no package install recognised"]


def test_install_in_a_function_not_rewritten_with_reason():
    e = by_line(explain(TEXT))[4]
    assert e.status == "left alone"
    assert "inside a function" in e.reasons[0]


def test_install_inside_if_is_recognised_and_cached_with_a_note():
    e = by_line(explain("FROM debian\nRUN if true; then apt-get install -y maybe; fi\n"))[2]
    assert e.status == "rewritten"
    assert e.installs == [{"kind": "Packages", "packages": ["maybe"], "manager": "apt", "update": False}]
    assert any("runs inside if: cached all the same" in r for r in e.reasons)


def test_recognised_but_not_cached_says_why():
    e = by_line(explain(TEXT))[5]
    assert e.status == "recognised"
    assert "deletes the cache directory /var/cache/yum itself" in e.reasons[0]


def test_named_user_is_explained():
    e = by_line(explain(TEXT))[7]
    assert e.status == "recognised"
    assert any("node" in r for r in e.reasons)


def test_text_format_has_locations():
    out = format_entries(explain(TEXT, "Dockerfile"), "Dockerfile")
    assert "Dockerfile:2: RUN apt-get update" in out
    assert "Dockerfile:3:" in out


def test_summary_counts():
    from shlax_front.explainer import summary

    total = summary(explain(TEXT))
    assert total == {"runs": 5, "rewritten": 1, "installs": {"apt": 1, "yum": 1, "npm": 1}}
    assert format_entries(explain(TEXT), "F").splitlines()[-1] == (
        "F: 5 RUN instruction(s), 1 rewritten; installs: apt 1, npm 1, yum 1"
    )


def test_computed_su_or_sh_script_is_said_to_be_not_looked_into():
    e = by_line(explain('FROM debian\nRUN su node -c "$CMD"\nRUN sh -c "apt-get install -y $PKGS"\n'))
    for line in (2, 3):
        assert e[line].status == "left alone" and e[line].installs == []
        assert "computed at run time" in e[line].reasons[0]
