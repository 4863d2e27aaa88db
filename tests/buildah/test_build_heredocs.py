"""Every heredoc form of the Dockerfile reference, built for real (buildah 1.28 cannot parse heredocs: the tool
runs them the way BuildKit does), checked through the files each RUN leaves in the image."""

from __future__ import annotations

from buildah_tools import forget_layers, read_file, shlax

from shlax_front import runbody
from shlax_front.parser import parse

TAB = "\t"
CONTAINERFILE = f"""\
FROM debian:bookworm
ENV GREETING=hello
RUN <<EOF
echo "script form: $GREETING" > /script-form
EOF
RUN <<EOF
#!/usr/bin/perl
open(my $f, ">", "/perl-shebang"); print $f "perl ran the script\\n";
EOF
RUN <<EOF bash
[[ "$GREETING" == hello ]] && echo "bash read its script on stdin" > /bash-stdin
EOF
RUN <<'EOF' bash
x=abc; echo "${{x^^}}" > /bash-quoted
EOF
RUN perl <<EOF
open(my \\$f, ">", "/perl-stdin"); print \\$f "perl read stdin\\n";
EOF
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
I am
first
FILE1
I am
second
FILE2
RUN <<-EOF
{TAB}echo "tabs stripped" > /tabs
{TAB}EOF
RUN <<'EOF' cat > /quoted
$GREETING stays literal
EOF
RUN <<EOF cat > /unquoted
$GREETING expanded by the shell
EOF
"""

EXPECTED = {
    "/script-form": "script form: hello\n",
    "/perl-shebang": "perl ran the script\n",
    "/bash-stdin": "bash read its script on stdin\n",
    "/bash-quoted": "ABC\n",
    "/perl-stdin": "perl read stdin\n",
    "/file1": "I am\nfirst\n",
    "/file2": "I am\nsecond\n",
    "/tabs": "tabs stripped\n",
    "/quoted": "$GREETING stays literal\n",
    "/unquoted": "hello expanded by the shell\n",
}


def test_forms_are_read_as_buildkit_reads_them():
    doc = parse(CONTAINERFILE)
    runs = [n for n in doc.nodes if n.keyword == "run"]
    forms = [runbody.read(n.value, n.heredocs) for n in runs]
    assert [f.script_form for f in forms] == [True, True, False, False, False, False, True, False, False]
    # a shell reads the body as its script: install recognition may look into it
    assert forms[0].script == 'echo "script form: $GREETING" > /script-form\n'
    assert forms[2].script is not None and forms[3].script is not None
    # another interpreter, or a body that is only some command's input: never read as shell
    assert forms[1].script is None and forms[4].script is None and forms[5].script is None


def test_every_reference_form_builds(tmp_path, base_images, buildah_cleanup):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    tag = buildah_cleanup.tag()
    try:
        shlax("build", "-t", tag, str(ctx), cache_dir=tmp_path / "cache")
        for path, content in EXPECTED.items():
            assert read_file(tag, path) == content, path
    finally:
        forget_layers(tmp_path / "cache")
