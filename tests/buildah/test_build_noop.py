"""A no-op rebuild reads no unchanged context file again (the stat cache) nor imports how a RUN runs, and an
edit made right after it is still built: by a real buildah build."""

from __future__ import annotations

import json
import os

from buildah_tools import forget_layers, read_file, shlax, statuses


def test_an_edit_right_after_a_no_op_is_built(tmp_path, base_images, buildah_cleanup):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY app.txt /app.txt\nRUN cat /app.txt > /copy.txt\n")
    app = ctx / "app.txt"
    app.write_text("one\n")
    tag = buildah_cleanup.tag()
    try:
        shlax("build", "-t", tag, str(ctx), cache_dir=cache)
        imports = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}  # each module imported, on stderr
        noop = shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=imports)
        assert statuses(noop.stderr) == ["from", "cached", "cached"], noop.stderr
        assert " shlax_front.backend.api\n" in noop.stderr
        assert "shlax_front.backend.run_step" not in noop.stderr  # every step reused: no RUN to prepare
        remembered = json.loads(next((cache / "context").iterdir()).read_text())["files"]
        assert str(app) in remembered

        # the same size, the mtime put back: the stat cache must not take the old digest
        st = os.stat(app)
        app.write_text("two\n")
        os.utime(app, ns=(st.st_atime_ns, st.st_mtime_ns))
        edited = shlax("build", "-t", tag, str(ctx), cache_dir=cache, env=imports)
        assert statuses(edited.stderr) == ["from", "built", "built"], edited.stderr
        assert " shlax_front.backend.run_step\n" in edited.stderr
        assert read_file(tag, "/app.txt") == read_file(tag, "/copy.txt") == "two\n"

        again = shlax("build", "-t", tag, str(ctx), cache_dir=cache)
        assert again.stdout == edited.stdout and "built" not in statuses(again.stderr)
    finally:
        forget_layers(cache)
