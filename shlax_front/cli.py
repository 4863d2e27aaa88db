"""The ``shlax-front`` command line: a thin click group over the library.

Each verb lives in ``shlax_front/commands/<verb>.py`` as ``<verb>_command`` and is imported only when it is
invoked, so ``shlax-front parse`` does not pay for loading the build backend. User errors (``ShlaxError``)
are printed as one line on stderr with their exit code; they never show a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from shlax_front.errors import ShlaxError
from shlax_front.loglines import show_library_messages

#: verb -> module under shlax_front.commands defining ``<verb>_command``.
COMMANDS = {
    "parse": "parse",
    "emit": "emit",
    "optimize": "optimize",
    "explain": "explain",
    "migrate": "migrate",
    "build": "build",
    "cache": "cache",
}


class LazyGroup(click.Group):
    """A click group that imports a verb's module only when that verb runs (or help lists it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        module = importlib.import_module(f"shlax_front.commands.{module_name}")
        return getattr(module, f"{name}_command")


EXAMPLES = """\b
Examples:
  shlax-front build -t app .                     # as `buildah bud -t app .` / `docker build -t app .`
  shlax-front optimize -f Containerfile --diff   # cache mounts for docker/buildx/podman builds
  shlax-front cache du                           # what the host package caches hold

\b
Each command has its own examples: shlax-front COMMAND --help.
Shell completion (bash; zsh_source and fish_source for the others):
  eval "$(_SHLAX_FRONT_COMPLETE=bash_source shlax-front)"
"""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.version_option(package_name="shlax-front")
def cli() -> None:
    """Build Containerfiles without re-downloading the world."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run the group, turn user errors into one line and an exit code."""
    show_library_messages()
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        # obj: the arguments as given, for a verb that must re-execute itself (rootless build)
        cli.main(args=args, prog_name="shlax-front", standalone_mode=False, obj={"argv": args})
    except ShlaxError as err:
        click.echo(str(err), err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
