#!/bin/sh
# Run a command in the trixie root made by tests/images/make_trixie_root.sh (buildah 1.39, Python 3.13), as root.
# Without a command: the real-buildah tests (`pytest -m buildah`, or the files/ids in $SHLAX_TRIXIE_TESTS) but the
# rootless ones, which CI runs as a part of their own (`make test-rootless-1.39`: they make an ordinary user in the
# root, with subordinate ids and the root's uidmap).
#
# The root lives in a private mount namespace, bind-mounted on itself: containers/storage remounts `/` and fails
# ("remount /, flags: 0x44000: invalid argument") when the root is not a mount point. /proc, /sys, /dev and a
# tmpfs /run come from the host; the checkout is at /src/shlax-front and ../shared beside it at /src/shared, and
# the command starts in the checkout with a clean environment (the venv first on PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
shared=$(cd "$checkout/.." && pwd)/shared
WORK=${SHLAX_TRIXIE_WORK:-/var/tmp/shlax-front-trixie}
ROOT=$WORK/root

if [ ! -e "$ROOT/.debootstrapped" ]; then
    echo "run_in_trixie.sh: no trixie root at $ROOT (make it with tests/images/make_trixie_root.sh)" >&2
    exit 1
fi
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086 # a list of test files and ids
    set -- python -m pytest -q -p no:cacheprovider -m buildah --ignore=tests/buildah/test_build_rootless.py ${SHLAX_TRIXIE_TESTS:-}
fi
mkdir -p "$ROOT/src/shlax-front" "$ROOT/src/shared"

# Variables the command may need from outside: proxies (the tests pass them to RUN as buildah bud does).
passed=
for name in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY DEBIAN_MIRROR; do
    eval "value=\${$name:-}"
    # shellcheck disable=SC2154 # set by eval
    [ -n "$value" ] && passed="$passed $name=$value"
done

exec unshare --mount --propagation private sh -eu -c '
    root=$1 checkout=$2 shared=$3 passed=$4
    shift 4
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=755 tmpfs "$root/run"
    mount --bind "$checkout" "$root/src/shlax-front"
    [ -d "$shared" ] && mount --bind "$shared" "$root/src/shared"
    # pivot_root, not a bare chroot: the kernel refuses a new user namespace to a chrooted process, and the
    # rootless tests need one (newuidmap); the old root is detached inside
    cd "$root"
    mkdir -p .oldroot
    pivot_root . .oldroot
    # shellcheck disable=SC2086 # NAME=VALUE words
    exec chroot . /usr/bin/env -i \
        PATH=/opt/shlax-venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 BUILDAH_ISOLATION=chroot PYTHONDONTWRITEBYTECODE=1 \
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 $passed \
        sh -c "umount -l /.oldroot && cd /src/shlax-front && exec \"\$@\"" sh "$@"
' sh "$ROOT" "$checkout" "$shared" "$passed" "$@"
