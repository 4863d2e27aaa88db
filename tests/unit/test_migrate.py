"""``migrate`` round trip: the recipe written for a Containerfile imports and evaluates to the same IR."""

from __future__ import annotations

from pathlib import Path

import pytest

from shlax_front import actions as A
from shlax_front.lower import lower
from shlax_front.migration import migrate
from shlax_front.parser import parse
from shlax_front.recipe import Buildah, Container, load

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "fixtures" / "optimize").glob("*/*.txt"))

MULTI = """\
ARG BASE=debian:bookworm
FROM ${BASE} AS builder
WORKDIR /src
COPY --chown=1000:1000 go.mod go.sum ./
RUN apt-get update && apt-get install -y golang && rm -rf /var/lib/apt/lists/*
FROM debian:bookworm
LABEL org.opencontainers.image.source="https://example.org" version=1
ENV PATH=/app/bin:$PATH LANG=C.UTF-8
COPY --from=builder /src/app /app/bin/
RUN <<EOF
pip install --no-cache-dir flask
EOF
EXPOSE 8080/tcp
USER 1000
HEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1
ENTRYPOINT ["/app/bin/app"]
CMD ["--serve"]
"""


def round_trip(tmp_path: Path, text: str) -> tuple[tuple[A.Stage, ...], Container]:
    source = migrate(text, "Containerfile")
    recipe = tmp_path / "shlaxfile.py"
    recipe.write_text(source)
    return lower(parse(text)), load(str(recipe))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture_round_trip(tmp_path: Path, path: Path):
    text = path.read_text().split("# output\n", 1)[0]
    stages, container = round_trip(tmp_path, text)
    assert container.stages == stages


def test_multi_stage_round_trip(tmp_path: Path):
    stages, container = round_trip(tmp_path, MULTI)
    assert container.stages == stages
    assert [s.name for s in container.stages] == ["builder", None]
    assert container.stages[0].base == "debian:bookworm"


def test_recipe_reads_like_shlax():
    text = "FROM debian:bookworm\nRUN apt-get update && apt-get install -y python3 python3-venv\nCOPY requirements.txt /app/\n"
    source = migrate(text)
    assert "Packages('python3', 'python3-venv'" in source
    assert "Copy('requirements.txt', '/app/')" in source
    assert "app = Container(" in source


def test_hand_written_recipe_api():
    from shlax_front import Copy, Packages, Pip

    app = Container(
        build=Buildah(Packages("curl"), Copy("a", "/b"), Pip("flask"), base="debian:bookworm", commit="x")
    )
    assert app.commit == "x"
    assert app.stages[0].actions[0] == Packages("curl", manager="apt")
    with pytest.raises(TypeError):
        Buildah("not an action")


def test_base_image_variables_stay_references():
    """Values the Containerfile cannot know (the base image's PATH, HOME) are kept as references, so a
    recipe does not bake in a wrong literal. Every value of one ENV sees the variables from before it (B's $A is
    not the A=1 beside it), and a literal dollar stays escaped so it cannot be taken for a reference."""
    stages = lower(parse('FROM x\nENV A=1 PATH=/app/bin:$PATH B="$A $HOME" C=\\$A\nWORKDIR $HOME/app/$A\n'))
    env, workdir = stages[0].actions
    assert env.pairs == (("A", "1"), ("PATH", "/app/bin:${PATH}"), ("B", "${A} ${HOME}"), ("C", "\\$A"))
    assert workdir.path == "${HOME}/app/1"
