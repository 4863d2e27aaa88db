"""How ``shlax-front build`` shows a build while it runs, one module per ``--progress`` mode.

The library prints nothing: it calls ``on_start`` when a step starts running, ``on_output`` with each line
the step prints as it prints it, and ``on_step`` when the step ends (cached steps only end). A renderer
turns those calls into what a person or a CI tool reads on stderr:

- ``plain``   every line as it arrives, prefixed with the step number and its elapsed seconds (CI logs);
- ``tty``     a live view (``rich``): the running step with its last lines, finished steps one line each;
- ``quiet``   nothing but the image id (and, on failure, the failing step's last lines);
- ``rawjson`` one JSON event per line, for tools that follow a build.

``auto`` is ``tty`` when stderr is a terminal, ``plain`` otherwise. ``session`` runs a build under a
renderer: the failing step's whole output goes to a log file, its last lines on screen, and ``--json``
gets an error object.
"""

from __future__ import annotations

MODES = ("auto", "plain", "tty", "quiet", "rawjson")
