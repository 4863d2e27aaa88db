"""``shlax-front build shlaxfile.py``: a Python recipe rendered as the Containerfile it stands for.

A recipe evaluates to the same action IR a Containerfile lowers to, so the simplest faithful way to build
one is to write that Containerfile and build it like any other (same planner, same caching passes, same
keys). Config values follow the IR's convention (``lower.config_value``): literal ``$`` and ``\\`` escaped,
``${NAME}`` a reference to a variable of the base image, resolved by the build.
Install actions written by hand (no ``run=``) get the plain command a person would write for them.
"""

from __future__ import annotations

import json

from shlax_front import actions as A

#: the command an install action stands for when the recipe gives no ``run=``
INSTALL_COMMANDS = {
    "apt": "apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*",
    "apk": "apk add --no-cache {packages}",
    "dnf": "dnf install -y {packages} && dnf clean all",
    "yum": "yum install -y {packages} && yum clean all",
    "microdnf": "microdnf install -y {packages} && microdnf clean all",
    "zypper": "zypper --non-interactive install {packages} && zypper clean",
    "pacman": "pacman -Sy --noconfirm {packages}",
}


def _lit(value: str) -> str:
    """A config value as a double-quoted Containerfile word. Values follow the IR's convention
    (``lower.config_value``): ``\\$`` and ``\\\\`` are already escaped literals and ``${NAME}`` is a reference
    the build resolves, so only double quotes need escaping here."""
    return '"' + value.replace('"', '\\"') + '"'


def _json(values) -> str:
    return json.dumps(list(values))


def render(stages: tuple[A.Stage, ...]) -> str:
    lines: list[str] = []
    for stage in stages:
        base = stage.base
        lines.append(f"FROM {base}" + (f" AS {stage.name}" if stage.name else ""))
        for action in stage.actions:
            lines.append(render_action(action))
    return "\n".join(lines) + "\n"


def render_action(action: A.Action) -> str:
    if isinstance(action, A.RunLike):
        flags = "".join(f"--mount={m} " for m in action.mounts)
        if action.network:
            flags += f"--network={action.network} "
        if action.heredocs:
            body = action.run if isinstance(action.run, str) else _json(action.run)
            return f"RUN {flags}{body}\n" + "".join(
                h.content + h.name + "\n" for h in action.heredocs
            ).rstrip("\n")
        if isinstance(action.run, tuple):
            return f"RUN {flags}{_json(action.run)}"
        return f"RUN {flags}{_script(action)}"
    if isinstance(action, A.Copy):
        keyword = "ADD" if action.add else "COPY"
        flags = "".join(
            f"--{name}={value} "
            for name, value in (("from", action.from_), ("chown", action.chown), ("chmod", action.chmod))
            if value
        )
        return f"{keyword} {flags}{_json([*action.sources, action.dest])}"
    if isinstance(action, A.Env):
        return "ENV " + " ".join(f"{k}={_lit(v)}" for k, v in action.pairs)
    if isinstance(action, A.Arg):
        return "ARG " + " ".join(k if v is None else f"{k}={_lit(v)}" for k, v in action.pairs)
    if isinstance(action, A.Label):
        return "LABEL " + " ".join(f"{_lit(k)}={_lit(v)}" for k, v in action.pairs)
    if isinstance(action, A.Workdir):
        return f"WORKDIR {_lit(action.path)}"
    if isinstance(action, A.User):
        return f"USER {_lit(action.user)}"
    if isinstance(action, A.Expose):
        return "EXPOSE " + " ".join(action.ports)
    if isinstance(action, A.Volume):
        return f"VOLUME {_json(action.paths)}"
    if isinstance(action, (A.Cmd, A.Entrypoint)):
        keyword = "CMD" if isinstance(action, A.Cmd) else "ENTRYPOINT"
        command = action.command
        return f"{keyword} {_json(command) if isinstance(command, tuple) else command}"
    if isinstance(action, A.Shell):
        return f"SHELL {_json(action.argv)}"
    if isinstance(action, A.Stopsignal):
        return f"STOPSIGNAL {action.signal}"
    if isinstance(action, A.Healthcheck):
        test = list(action.test)
        if not test or test[0] == "NONE":
            return "HEALTHCHECK NONE"
        flags = "".join(
            f"--{name}={value} "
            for name, value in (
                ("interval", action.interval),
                ("timeout", action.timeout),
                ("start-period", action.start_period),
                ("retries", action.retries),
            )
            if value
        )
        command = test[1] if test[0] == "CMD-SHELL" else _json(test[1:])
        return f"HEALTHCHECK {flags}CMD {command}"
    if isinstance(action, A.Onbuild):
        return f"ONBUILD {action.trigger}"
    if isinstance(action, A.Maintainer):
        return f"MAINTAINER {action.name}"
    raise TypeError(f"cannot build {type(action).__name__} actions")


def _script(action: A.RunLike) -> str:
    if action.run:
        if "\n" in action.run:  # newlines separate commands: keep them, as a heredoc script
            return "<<'SHLAX_FRONT_EOF'\n" + action.run.rstrip("\n") + "\nSHLAX_FRONT_EOF"
        return action.run
    packages = " ".join(getattr(action, "packages", ()))
    if isinstance(action, A.Packages):
        return INSTALL_COMMANDS[action.manager].format(packages=packages)
    if isinstance(action, A.Pip):
        parts = [action.executable, "install", *action.options]
        parts += [x for r in action.requirements for x in ("-r", r)]
        return " ".join([*parts, *action.packages])
    if isinstance(action, A.Npm):
        return " ".join([action.tool, action.verb, *action.options, *action.packages])
    raise TypeError(f"{type(action).__name__} has no command")
