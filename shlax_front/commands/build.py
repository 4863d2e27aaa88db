"""``shlax-front build``: buildah's flags, our caches. Prints the image id on stdout at the end."""

from __future__ import annotations

import click

from shlax_front.errors import ShlaxError
from shlax_front.progress.options import progress_options


def build_arg_values(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--build-arg`` values in order, as bud reads them: ``KEY=VALUE`` sets KEY; ``KEY`` alone takes the
    environment's value, and when the environment has none, drops KEY (the ARG keeps its default), as scripts
    passing ``--build-arg HTTP_PROXY`` everywhere expect, proxy or not."""
    import os

    args: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if sep:
            args[key] = val
        elif key in os.environ:
            args[key] = os.environ[key]
        else:
            args.pop(key, None)
    return args


EXAMPLES = """\b
Examples:
  shlax-front build -t app .                      # CONTEXT/Containerfile, else CONTEXT/Dockerfile
  shlax-front build -f docker/Dockerfile -t app:1 --build-arg VERSION=2 .
  shlax-front build --target test --progress=plain . 2>build.log
  shlax-front build --offline --iidfile id.txt .  # everything from the host caches
  shlax-front build -f shlaxfile.py -t app .      # a Python recipe: code run on this host, as you

\b
A recipe (*.py) is built only when named with -f: it is Python that runs here, with your rights.
"""


#: flags of ``buildah bud`` and ``docker build`` that scripts pass and that cannot change what shlax-front makes:
#: layers are always reused (``--layers``), and the working containers always removed, after a failure too
#: (``--rm``, ``--force-rm``). Taken, with or without ``=BOOL``, so that a script keeps its command line.
ALWAYS_SO = ("--layers", "--rm", "--force-rm")
#: bud's flags about what only a push to a registry does (``--disable-compression``, ``-D``: bud stores layers
#: uncompressed in its own store either way) or that bud takes and ignores (``--disable-content-trust``, Docker's)
NO_EFFECT = ("--disable-compression", "--disable-content-trust", "--compress")
#: bud's hidden spellings of a pull policy (``--pull-always``, ``--pull-never``; ``=false`` is no policy at all)
PULL_SPELLINGS = {"--pull-always": "--pull=always", "--pull-never": "--pull=never"}


class _BudFlags(click.Command):
    """``--pull``, ``--tls-verify`` and the flags of ``ALWAYS_SO`` and ``NO_EFFECT`` alone mean ``=true`` as in
    bud, and never take the next word as their value: ``build --pull .`` builds ``.``; a policy is
    ``--pull=always``, as bud reads it."""

    BARE = {
        "--pull": "--pull=true",
        "--tls-verify": "--tls-verify=true",
        "--http-proxy": "--http-proxy=true",
    } | {f: f"{f}=true" for f in ALWAYS_SO + NO_EFFECT + ("--skip-unused-stages",)}
    SHORT_BARE = {"-D": "--disable-compression=true"}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        bare = self.BARE | self.SHORT_BARE
        words = [bare.get(a, a) if n < end else a for n, a in enumerate(args)]
        return super().parse_args(ctx, _pull_spellings(words[:end]) + words[end:])


def _pull_spellings(args: list[str]) -> list[str]:
    """bud's hidden ``--pull-always`` and ``--pull-never`` (scripts written for older buildah pass them) as the
    ``--pull`` policy they stand for; with ``=false`` they ask for nothing and are dropped."""
    out = []
    for arg in args:
        name, equals, value = arg.partition("=")
        if name not in PULL_SPELLINGS:
            out.append(arg)
        elif not equals or click.BOOL.convert(value, None, None):
            out.append(PULL_SPELLINGS[name])
    return out


def _one_containerfile(values: tuple[str, ...]) -> str | None:
    """``-f`` once. bud takes it several times and builds the files as one (the later files' instructions
    appended to the first's); taking the last one alone built another image, so more than one is refused."""
    if len(values) > 1:
        raise ShlaxError(
            f"-f {' -f '.join(values)}: one Containerfile only (bud appends the others' instructions to the "
            "first's: not supported)"
        )
    return values[0] if values else None


def _only_skipped_stages(ctx: click.Context, param: click.Parameter, values: tuple[bool, ...]) -> None:
    """``--skip-unused-stages`` (bud's default, true): stages the target does not need are never built here;
    ``=false`` (build them all, and fail with them) is not supported: refused, naming the flag."""
    if values and not values[-1]:
        raise click.BadParameter("=false is not supported: stages the target does not need are not built")


def _run_settings(command):
    """The options of ``run_settings.SETTINGS`` (capabilities, devices, DNS, limits of RUN), as bud spells them."""
    from shlax_front.backend.run_settings import SETTINGS

    for setting in reversed(SETTINGS):
        names = [setting.flag, setting.short] if setting.short else [setting.flag]
        if setting.flag == "--http-proxy":
            option = click.option(
                *names,
                setting.dest,
                type=click.BOOL,
                default=None,
                metavar=setting.metavar,
                help=setting.help,
            )
        else:
            option = click.option(
                *names, setting.dest, multiple=setting.multiple, metavar=setting.metavar, help=setting.help
            )
        command = option(command)
    return command


@click.command("build", cls=_BudFlags, epilog=EXAMPLES)
@click.option(
    "-f",
    "--file",
    "containerfile",
    multiple=True,
    callback=lambda ctx, param, values: _one_containerfile(values),
    help="Containerfile/Dockerfile (default: CONTEXT/Containerfile or Dockerfile), or a Python recipe "
    "(*.py: code run on this host).",
)
@click.option("-t", "--tag", "tags", multiple=True, help="Name the image (repeatable).")
@click.option("--build-arg", "build_args", multiple=True, help="KEY=VALUE for an ARG (repeatable).")
@click.option("--target", help="Build up to this stage.")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="id=ID,src=PATH (or id=ID,env=VAR): a secret for RUN --mount=type=secret (repeatable).",
)
@click.option("--no-cache", is_flag=True, help="Do not reuse cached layers (package caches still used).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "docker"]),
    default=None,
    help="Image format (default $BUILDAH_FORMAT, else oci, docker when HEALTHCHECK/SHELL/ONBUILD/STOPSIGNAL "
    "need it).",
)
@click.option(
    "--isolation",
    type=click.Choice(["chroot", "oci", "rootless"]),
    default=None,
    help="buildah run isolation (default: $BUILDAH_ISOLATION).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Host cache root (default $XDG_CACHE_HOME/shlax-front).",
)
@click.option(
    "--offline", is_flag=True, help="No network in RUN steps: everything must come from the host caches."
)
@click.option(
    "--lists-ttl",
    default="1h",
    show_default=True,
    help="Skip `apt-get update` while the host's package lists are younger than this (0: always update).",
)
@click.option(
    "--ca-bundle", default="default", help="CA bundle mounted into every RUN (default: the host's)."
)
@click.option(
    "--pull",
    default=None,
    metavar="[=POLICY]",
    help="When to pull FROM images: missing (default), always, never, newer; --pull alone: newer (as bud).",
)
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Image label (repeatable).")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="Image annotation.")
@click.option("--iidfile", metavar="FILE", help="Write the image id (sha256:...) to FILE.")
@click.option("--network", metavar="MODE", help="RUN network: private, none, host or ns:PATH.")
@click.option("--add-host", "add_hosts", multiple=True, metavar="HOST:IP", help="/etc/hosts entry in RUN.")
@click.option("--ulimit", "ulimits", multiple=True, metavar="NAME=SOFT[:HARD]", help="Resource limit in RUN.")
@click.option("--shm-size", metavar="SIZE", help="Size of /dev/shm in RUN (e.g. 64m).")
@click.option(
    "-v", "--volume", "volumes", multiple=True, metavar="SRC:DST[:OPTS]", help="Bind mount into every RUN."
)
@_run_settings
@click.option("--timestamp", type=int, help="Created time (epoch seconds); default $SOURCE_DATE_EPOCH.")
@click.option("--platform", help="Only this machine's platform can be built (others are refused).")
@click.option("--os", "os_name", metavar="OS", help="Part of --platform (this machine's only).")
@click.option("--arch", metavar="ARCH", help="Part of --platform (this machine's only).")
@click.option("--variant", metavar="VARIANT", help="Part of --platform (this machine's only).")
@click.option(
    "--tls-verify",
    type=click.BOOL,
    default=None,
    metavar="[=BOOL]",
    help="Verify TLS when pulling FROM images (default true).",
)
@click.option("--retry", type=int, help="How many times a failed FROM pull is tried again (default 3).")
@click.option("--retry-delay", metavar="DURATION", help="Delay between pull attempts (default 2s).")
@click.option(
    "--build-context", "build_contexts", multiple=True, metavar="NAME=DIR", help="Context for --from=NAME."
)
@click.option(
    "--ssh", multiple=True, metavar="default|ID=PATH", help="SSH agent or keys for RUN --mount=type=ssh."
)
@click.option(
    "-o",
    "--output",
    metavar="type=local|tar,dest=PATH|type=registry,name=REF",
    help="Export the image's files, or push the image to REF (as --push).",
)
@click.option(
    "--layers",
    "--rm",
    "--force-rm",
    "always_so",
    type=click.BOOL,
    multiple=True,
    expose_value=False,
    metavar="[=BOOL]",
    help="Taken as bud and docker take them; layers are always reused, containers always removed.",
)
@click.option(
    "--ignorefile",
    metavar="FILE",
    help="Ignore file to read instead of CONTEXT/.containerignore, .dockerignore (as bud).",
)
@click.option(
    "--skip-unused-stages",
    "skip_unused_stages",
    type=click.BOOL,
    multiple=True,
    expose_value=False,
    callback=_only_skipped_stages,
    metavar="[=true]",
    help="Taken as bud takes it (its default): stages the target does not need are not built.",
)
@click.option(
    "--logfile",
    metavar="FILE",
    help="Write the build's output (stdout and stderr, the image id too) to FILE instead, as bud.",
)
@click.option(
    "-D",
    "--disable-compression",
    "--disable-content-trust",
    "--compress",
    "no_effect",
    type=click.BOOL,
    multiple=True,
    expose_value=False,
    metavar="[=BOOL]",
    help="Taken as bud takes them: they change nothing in the image (compression is a push's concern).",
)
@click.option(
    "--incremental/--no-incremental",
    default=None,
    help="A RUN whose install only gained packages installs just those on its previous layer: apt by default, "
    "apt, pip and npm ci with --incremental, none with --no-incremental.",
)
@click.option("--explain", is_flag=True, help="Say which input changed for every step that was not reused.")
@click.option(
    "--jobs",
    metavar="N",
    help="Build up to N independent stages at once (default: the CPU count; 1: in order).",
)
@progress_options
@click.option(
    "--cache-from",
    multiple=True,
    help="type=local,src=DIR or type=registry,ref=HOST/REPO: layers and package files to start from (repeatable).",
)
@click.option(
    "--cache-to",
    multiple=True,
    help="type=local,dest=DIR or type=registry,ref=HOST/REPO: export layers and package files there (repeatable).",
)
@click.option("--push", is_flag=True, help="Push the image to the registry of each -t name after the build.")
@click.option("--authfile", help="Registry auth file (default: buildah's, $REGISTRY_AUTH_FILE).")
@click.option(
    "--creds", help="USER[:PASSWORD] for the registries (the password also from $REGISTRY_PASSWORD)."
)
@click.argument("context", default=".", type=click.Path(exists=True, allow_dash=True))
def build_command(
    containerfile,
    tags,
    build_args,
    target,
    secrets,
    no_cache,
    fmt,
    isolation,
    cache_dir,
    offline,
    lists_ttl,
    ca_bundle,
    incremental,
    pull,
    labels,
    annotations,
    iidfile,
    network,
    add_hosts,
    ulimits,
    shm_size,
    volumes,
    timestamp,
    platform,
    os_name,
    arch,
    variant,
    tls_verify,
    retry,
    retry_delay,
    build_contexts,
    ssh,
    output,
    explain,
    jobs,
    ignorefile,
    quiet,
    as_json,
    verbose,
    progress,
    no_color,
    context,
    **transfer,
):
    """Build CONTEXT with buildah, reusing unchanged layers and host package caches."""
    from shlax_front import logfile
    from shlax_front.backend.userns import enter_user_namespace
    from shlax_front.errors import ShlaxError
    from shlax_front.progress.options import build_with_progress, report_early_failure

    logfile.redirect(transfer.pop("logfile", None))  # done already when started as a program (__main__)
    try:
        argv = (click.get_current_context().obj or {}).get("argv")
        if argv is not None:  # an ordinary user: run again inside buildah's user namespace
            enter_user_namespace(argv)
        recorder = None
        # a no-op ends here, from its record (none is written with --ignorefile: a late edit reads the usual one)
        if argv is not None and "-" not in (context, containerfile) and ignorefile is None:
            from shlax_front.backend import replay

            shown = {"progress": progress, "quiet": quiet, "as_json": as_json, "verbose": verbose}
            if replay.finish(argv, cache_dir, iidfile, no_color=no_color, **shown):
                return
            recorder = replay.Recorder(argv, cache_dir)

        from shlax_front.backend import run_settings
        from shlax_front.backend.api import BuildRequest, run_request
        from shlax_front.backend.flags import platform_parts
        from shlax_front.commands.cache import parse_age

        platform_parts(os_name, arch, variant)
        request = BuildRequest(
            containerfile=containerfile,
            context=context,
            tags=tags,
            build_args=build_arg_values(build_args),
            target=target,
            secrets=secrets,
            no_cache=no_cache,
            format=fmt,
            isolation=isolation,
            cache_dir=cache_dir,
            offline=offline,
            lists_ttl=parse_age(lists_ttl, "--lists-ttl"),
            ca_bundle=None if ca_bundle in ("", "none") else ca_bundle,
            explain=explain,
            **_cache_fields(transfer),
            incremental=incremental,
            jobs=_jobs(jobs),
            ignorefile=_readable_file(ignorefile, "--ignorefile"),
            pull=pull,
            labels=labels,
            annotations=annotations,
            iidfile=iidfile,
            network=network,
            add_hosts=add_hosts,
            ulimits=ulimits,
            shm_size=shm_size,
            volumes=volumes,
            run_settings=run_settings.given(transfer),
            timestamp=timestamp,
            platform=platform,
            tls_verify=tls_verify,
            retry=retry,
            retry_delay=retry_delay,
            build_contexts=build_contexts,
            ssh=ssh,
            output=output,
            recorder=recorder,
        )
    except ShlaxError as err:  # refused before anything runs: --json and rawjson still get their error object
        report_early_failure(err, progress=progress, quiet=quiet, as_json=as_json)
        raise
    flags = {"quiet": quiet, "as_json": as_json, "verbose": verbose, "no_color": no_color, "explain": explain}
    if recorder is None:
        build_with_progress(request, run_request, progress=progress, **flags)
        return
    with recorder.watching():
        build_with_progress(request, run_request, progress=progress, **flags)
    recorder.write()


def _jobs(value: str | None) -> int | None:
    """``--jobs N``: a whole number of stages, 1 or more (None: the CPU count)."""
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ShlaxError(f"--jobs {value}: expected a number of stages, 1 or more")
    return int(value)


def _readable_file(path: str | None, flag: str) -> str | None:
    """A file a flag names, checked before the build (bud fails on it later, after the steps before)."""
    import os

    if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
        said = (
            "not a file"
            if os.path.isdir(path)
            else "no such file"
            if not os.path.exists(path)
            else "unreadable"
        )
        raise ShlaxError(f"{flag} {path}: {said}")
    return path


def _cache_fields(options: dict) -> dict:
    """``--cache-from/--cache-to/--push/--authfile/--creds`` as ``BuildRequest`` fields (a bad value: one line)."""
    from shlax_front.backend.cachetransfer.refs import parse_cache_ref

    return {
        "cache_from": tuple(parse_cache_ref(v, "--cache-from") for v in options["cache_from"]),
        "cache_to": tuple(parse_cache_ref(v, "--cache-to") for v in options["cache_to"]),
        "push": options["push"],
        "authfile": options["authfile"],
        "creds": options["creds"],
    }
