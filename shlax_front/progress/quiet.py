"""``--progress=quiet`` (``-q``): nothing on stderr while the build runs, only the image id on stdout. A
failure still shows the failing step's last lines and where its whole output went: a silent failure helps
nobody."""

from __future__ import annotations

from shlax_front.progress.base import Failure, Renderer
from shlax_front.progress.plain import show_failure


class QuietRenderer(Renderer):
    def failed(self, failure: Failure) -> None:
        def print_line(text: str) -> None:
            self.stream.write(text + "\n")

        show_failure(print_line, failure)
        self.stream.flush()
