"""shlax-front: build Containerfiles with buildah without re-downloading the world.

The recipe API (``from shlax_front import Container, Buildah, Packages, Pip, Npm, Copy, Run``) is imported
lazily on first use so that CLI start-up does not pay for it.
"""

__version__ = "0.1.0"

#: public names -> module that defines them (loaded on first attribute access)
_LAZY = {
    name: "shlax_front.recipe"
    for name in (
        "Container", "Buildah", "Packages", "Pip", "Npm", "Copy", "Run", "Env", "Arg", "Label", "Workdir",
        "User", "Expose", "Volume", "Cmd", "Entrypoint", "Shell", "Healthcheck", "Stopsignal", "Onbuild",
        "Maintainer", "Heredoc",
    )
}  # fmt: skip


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'shlax_front' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
