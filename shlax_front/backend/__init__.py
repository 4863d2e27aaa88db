"""The build backend: ``shlax-front build`` on buildah (1.28 is the floor).

One idea a module, in the order a build goes through them:

- ``api``         ``build(...)`` / ``run_request(BuildRequest)`` -> ``BuildResult``: find the file, plan,
                  execute; prints nothing; SIGTERM/SIGHUP become Ctrl-C so that cleanup runs
                  (``interrupts``).
- ``replay``      a no-op finished from the record of the last build; ``late_edit`` redoes only the COPY
                  steps after the last RUN when only their files changed (``directcopy``: on buildah 1.28,
                  written into the mounted container as ``buildah copy`` writes them; every build's COPY of
                  one plain context source too).
- ``flags``       bud's and docker's flags, read and checked before the first step; ``run_settings`` the
                  settings of RUN containers (capabilities, devices, DNS, limits) each ``buildah from`` gets.
- ``plan``        the one entry from the front end: passed actions in, ``steps`` out.
- ``steps``       backend-neutral steps (From/Run/Copy/Config) the executor runs.
- ``executor``    the stage/step loop: cache keys and their lookup, one committed layer per file-changing
                  step, config folded into the next commit, FROM and ONBUILD, tags.
- ``containers``  the build's working containers and temporary directories; cleanup whatever happens.
- ``run_step``    one RUN: run-only files, CA bundle and proxies, apt config, masks, secrets, ``--mount``
                  flags, network (``--offline``), host caches owned by the RUN's user.
- ``mountpoints`` the mount points a RUN leaves in the layer, as bud 1.28 leaves them.
- ``copy_step``   one COPY/ADD: context batches and ignore files, ``--checksum``, setid bits, owner-keeping
                  ``COPY --from``; ``copyopts`` (``--exclude``, ``--checksum``), ``rootfs`` (copy between
                  mounted roots), ``setid`` help it.
- ``stagefiles``  the key of ``COPY --from=<stage>``: the files it copies, not the stage's key.
- ``run_output``  what a step's output says: bytes downloaded and served from the host caches, what
                  ``--offline`` lacked, the tail shown on failure.
- ``users``       ``/etc/passwd`` and ``/etc/group`` of the container (owners of caches and WORKDIRs).
- ``wheelhouse``  the host pip wheelhouse: filled offline first, the index read only for what is missing;
                  ``pipindex`` lets a single-command install's one pip, cold or warm, read it through an
                  index on loopback.
- ``aptlists``    ``apt-get update`` skipped while the host's lists are fresh; apt's layout replayed.
- ``incremental`` an apt or pip install that only gained packages run as a delta on its previous layer (the
                  record of layers, the executor's side).
- ``deltarule``   which RUN scripts a delta understands (``describe``, the planner's side).
- ``dpkgstate``   what a full apt install leaves in dpkg's files that a delta must match, and the checks.
- ``aptplan``     apt's plan of a full install: which packages it configures before its last dpkg run.
- ``hostcache``   package cache directories (partitions, host-shared pip/npm, ownership hand-back);
                  ``cachemounts`` the user's own ``RUN --mount=type=cache`` directories.
- ``secrets``     ``--secret`` values and ``RUN --mount=type=secret``; ``netns`` the ``--offline`` cut.
- ``keys``        sha256 chain over parent + instruction + visible env + context content; ``--explain``.
- ``context``     the build context as buildah copies it: ignore files, globs (``gomatch``, ``goregexp``),
                  content digests (never mtimes).
- ``store``       cache root, layer index (atomic JSON), fcntl locks, the invoking user (SUDO_UID).
- ``buildah``/``runner``  the buildah CLI and the subprocess runner (a fake one drives the unit tests).
- ``result``      ``BuildResult`` and ``StepRecord``: what a build returns and hands to ``on_step``
                  (``StepStart`` to ``on_start``); ``shlax_front.progress`` shows them.
"""
