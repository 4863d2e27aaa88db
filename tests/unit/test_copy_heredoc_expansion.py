"""An expanding ``COPY <<EOF`` body, as bud 1.39 writes the file (bud 1.28 cannot COPY a heredoc): variables
expanded, quotes and backslashes kept as written (imagebuilder: BuildKit's lexer with raw quotes and raw
escapes). The quotes were taken away as a shell takes them ("$@" became nothing, \\$HOME became $HOME)."""

from __future__ import annotations

import pytest

from shlax_front.backend.plan import Planner
from shlax_front.backend.steps import CopyStep
from shlax_front.errors import ShlaxError
from shlax_front.parser import parse

BODY = """FROM busybox
ARG A=argval
ENV E=envval
COPY <<EOF /e.sh
#!/bin/sh
exec "$@" $A ${E} \\$HOME 'single $A'
EOF
COPY <<'EOF' /q.sh
quoted "$A"
EOF
"""


def _heredocs(text: str) -> list[tuple[tuple[str, str], ...]]:
    steps = Planner(parse(text), build_args={}).plan().stages[0].steps
    return [step.heredocs for step in steps if isinstance(step, CopyStep)]


def test_the_body_keeps_quotes_and_escapes_and_expands_variables_as_bud():
    assert _heredocs(BODY) == [
        (("EOF", "#!/bin/sh\nexec \"\" argval envval \\$HOME 'single $A'\n"),),
        (("EOF", 'quoted "$A"\n'),),
    ]


def test_an_unmatched_quote_fails_as_in_bud():
    """bud 1.39: 'unexpected end of statement while looking for matching single-quote'."""
    with pytest.raises(ShlaxError, match="matching single-quote"):
        _heredocs("FROM busybox\nCOPY <<EOF /t.txt\nit's $HOME here\nEOF\n")
