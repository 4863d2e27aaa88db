"""shlax-front: build Containerfiles with buildah without re-downloading the world.

The library API, each name imported on first use so that CLI start-up does not pay for it:

- ``parse(text, path)`` -> the parsed document;
- ``optimize(text, path)`` -> the Containerfile with cache mounts on its package installs (a result object);
- ``explain(text, path)`` -> per instruction, what was recognised and rewritten, and why;
- ``migrate(text, path)`` -> the Python recipe (``shlaxfile.py``) equivalent to the Containerfile;
- ``build(context, ...)`` -> a ``BuildResult`` (image id, one ``StepRecord`` per step); prints nothing;
- the recipe classes (``from shlax_front import Container, Buildah, Packages, Pip, Npm, Copy, Run``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: the API functions -> module that defines them (named apart from the functions, so importing a module never
#: hides the function of the same name)
_FUNCTIONS = {
    "parse": "shlax_front.parser",
    "optimize": "shlax_front.optimizer",
    "explain": "shlax_front.explainer",
    "migrate": "shlax_front.migration",
    "build": "shlax_front.backend.api",
    "BuildResult": "shlax_front.backend.result",
    "StepRecord": "shlax_front.backend.result",
}

#: public names -> module that defines them (loaded on first attribute access)
_LAZY = {
    **_FUNCTIONS,
    **{
        name: "shlax_front.recipe"
        for name in (
            "Container", "Buildah", "Packages", "Pip", "Npm", "Copy", "Run", "Env", "Arg", "Label", "Workdir",
            "User", "Expose", "Volume", "Cmd", "Entrypoint", "Shell", "Healthcheck", "Stopsignal", "Onbuild",
            "Maintainer", "Heredoc",
        )
    },
}  # fmt: skip

__all__ = sorted(_LAZY)

# A library says what it has to say through logging and prints nothing itself: silent unless the caller (the
# command line does) attaches a handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from shlax_front.backend.api import build as build
    from shlax_front.backend.result import BuildResult as BuildResult
    from shlax_front.backend.result import StepRecord as StepRecord
    from shlax_front.explainer import explain as explain
    from shlax_front.migration import migrate as migrate
    from shlax_front.optimizer import optimize as optimize
    from shlax_front.parser import parse as parse


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'shlax_front' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
