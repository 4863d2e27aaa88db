"""``python -m shlax_front``: a ``build`` whose record says nothing changed is finished before click and the
command line are imported (``replay.finish_early``); everything else goes to the command line."""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    from shlax_front.errors import ShlaxError
    from shlax_front.loglines import show_library_messages

    show_library_messages()

    try:
        from shlax_front import logfile

        logfile.redirect(logfile.given(args))
        from shlax_front.backend.replay import finish_early

        if finish_early(args):
            return
    except ShlaxError as err:  # as the command line ends on them (``cli.main``)
        print(str(err), file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    from shlax_front.cli import main as command_line

    command_line(args)


if __name__ == "__main__":
    main()
