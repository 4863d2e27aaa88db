"""``--pull``: when a FROM image is fetched from its registry, with bud's four policies.

``missing`` (the default) pulls only an image not in local storage - the executor's ordinary path. The others
act before the image is read: ``always`` pulls (a failure stops the build), ``newer`` pulls and falls back
to the local image when the registry cannot be reached (as bud's "if newer" does), ``never`` refuses an
image that is not already here. The registry options (``--authfile``/``--creds``/``--tls-verify``) are the
``Buildah``'s; what an error says names the image and the policy, never the credentials.
"""

from __future__ import annotations

import logging

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.run_output import tail
from shlax_front.backend.runner import CommandFailed
from shlax_front.backend.steps import FromStep
from shlax_front.errors import BuildError

log = logging.getLogger(__name__)


def pull_by_policy(buildah: Buildah, step: FromStep, policy: str, present: bool) -> bool:
    """Apply ``policy`` to ``step``'s image (``present``: it is in local storage now). True when the image
    may have changed (it was pulled), so that what was read of it must be read again."""
    where = (step.location.path, step.location.line)
    if policy == "never":
        if not present:
            raise BuildError(f"FROM {step.image}: image not in local storage and --pull=never given", *where)
        return False
    if policy not in ("always", "newer"):
        return False
    try:
        buildah.pull(step.image, "always")
    except CommandFailed as err:
        if policy == "newer" and present:
            log.info(
                "FROM %s: the registry could not be asked for a newer image: the local one is used",
                step.image,
            )
            return False
        raise BuildError(
            f"FROM {step.image}: cannot pull the image (--pull={policy})",
            *where,
            _redacted(tail(err.result.output)),
        ) from None
    return True


def _redacted(output: str) -> str:
    """buildah's output, without a line that could echo a ``--creds`` password back."""
    return "\n".join(line for line in output.splitlines() if "creds" not in line.lower())
