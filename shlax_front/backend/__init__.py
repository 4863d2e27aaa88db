"""The build backend: ``shlax-front build`` on buildah (1.28 is the floor).

One idea a module:

- ``api``        ``build(BuildRequest) -> image id``: parse, plan, execute; SIGTERM/SIGHUP become Ctrl-C.
- ``plan``       Containerfile -> executor steps: stages, ARG/ENV scope and expansion, ``--target`` pruning,
                 heredoc lowering, config instructions as ``buildah config`` flags (as bud stores them).
- ``caching``    the action passes' ``Caching`` per RUN (issue 3): the only bridge from rewrites to the build.
- ``steps``      backend-neutral steps (From/Run/Copy/Config) the executor runs.
- ``executor``   buildah verbs, one committed layer per file-changing step, cache keys, host cache mounts,
                 pip wheelhouse, CA bundle and proxies for RUN only, cleanup on failure and interrupt.
- ``keys``       sha256 chain over parent + instruction + visible env + context content; ``--explain``.
- ``context``    .containerignore/.dockerignore, source globs, content digests (never mtimes).
- ``store``      cache root, layer index (atomic JSON), fcntl locks, the invoking user (SUDO_UID).
- ``hostcache``  package cache directories (partitions, host-shared pip/npm, ownership hand-back).
- ``buildah``/``runner``  the buildah CLI and the subprocess runner (a fake one drives the unit tests).
- ``report``     one line per step, summary, ``--json``.
- ``recipe_file`` ``shlaxfile.py`` recipes rendered as the Containerfile they stand for.
"""
