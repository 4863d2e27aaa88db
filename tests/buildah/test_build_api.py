"""``shlax_front.build(...)`` called from Python on real buildah: the result object, and nothing printed."""

from __future__ import annotations

import subprocess

from buildah_tools import forget_layers, read_file

import shlax_front

CONTAINERFILE = """\
FROM busybox
ENV GREETING=hello
COPY app.txt /app/
RUN echo "$GREETING $(cat /app/app.txt)" > /app/out.txt && echo run-output-marker
"""


def test_build_from_python_returns_the_result_and_prints_nothing(
    tmp_path, base_images, buildah_cleanup, capfd
):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "app.txt").write_text("world\n")
    cache = tmp_path / "cache"
    tag = buildah_cleanup.tag()
    seen, shown = [], []
    try:
        result = shlax_front.build(
            str(ctx), tags=tag, cache_dir=str(cache), on_step=seen.append, on_output=shown.append
        )
        again = shlax_front.build(str(ctx), cache_dir=str(cache))
        # buildah's own output included: the children's file descriptors are captured too
        assert capfd.readouterr() == ("", "")

        listed = subprocess.run(
            ["buildah", "inspect", "--format", "{{.FromImageID}}", tag],
            capture_output=True,
            text=True,
            check=True,
        )
        assert listed.stdout.strip() == result.image
        assert read_file(tag, "/app/out.txt") == "hello world\n"
    finally:
        forget_layers(cache)
    file = str(ctx / "Containerfile")
    assert [(s.status, s.instruction, str(s.location)) for s in result.steps] == [
        ("from", "FROM busybox", f"{file}:1"),
        ("config", "ENV GREETING=hello", f"{file}:2"),
        ("built", "COPY app.txt /app/", f"{file}:3"),
        ("built", CONTAINERFILE.splitlines()[3], f"{file}:4"),
    ]
    assert all(s.seconds >= 0 for s in result.steps) and result.seconds > 0
    assert result.built == 2 and result.cached == 0
    assert tuple(seen) == result.steps
    assert any("run-output-marker" in text for text in shown)

    assert again.image == result.image
    assert [s.status for s in again.steps] == ["from", "config", "cached", "cached"]
