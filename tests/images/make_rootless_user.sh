#!/bin/sh
# Make the ordinary user the rootless tests build as (run as root; idempotent and fast once done):
#   a user with a home and subordinate uid/gid ranges (Debian's useradd adds them; usermod when it did not),
#   a venv it can run (/var/tmp/shlax-front-rootless/venv: the project's dependencies; the tests put a copy of
#   the package on PYTHONPATH, since the checkout and root's Python may not be readable by others),
#   and the local base images in the user's own image store (pushed to a docker-archive as root, pulled as
#   the user: rootless buildah cannot read root's store).
# Usage: make_rootless_user.sh [USER]   (default: shlax-rootless). Prints nothing on success.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)
user=${1:-shlax-rootless}
WORK=/var/tmp/shlax-front-rootless
IMAGES="docker.io/library/debian:bookworm docker.io/library/busybox:latest"
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

mkdir -p "$WORK"
chmod 755 "$WORK"
exec 9>"$WORK/lock"
flock 9

id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)

# next_free FILE: the first id after every range FILE gives out (100000 when none)
next_free() { awk -F: 'BEGIN { n = 100000 } $3 > 0 && $2 + $3 > n { n = $2 + $3 } END { print n }' "$1" 2>/dev/null || echo 100000; }
if ! grep -q "^$user:" /etc/subuid 2>/dev/null; then
    start=$(next_free /etc/subuid)
    usermod --add-subuids "$start-$((start + 65535))" "$user"
fi
if ! grep -q "^$user:" /etc/subgid 2>/dev/null; then
    start=$(next_free /etc/subgid)
    usermod --add-subgids "$start-$((start + 65535))" "$user"
fi

deps=$(cd "$checkout" && /usr/bin/python3 -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
if [ "$(cat "$WORK/venv/.deps" 2>/dev/null)" != "$deps" ]; then
    rm -rf "$WORK/venv"
    /usr/bin/python3 -m venv "$WORK/venv"
    # shellcheck disable=SC2086 # one word per requirement
    "$WORK/venv/bin/pip" install -q $deps
    echo "$deps" >"$WORK/venv/.deps"
    chmod -R a+rX "$WORK/venv"
fi

as_user() { (cd "$home" && runuser -u "$user" -- env -i HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin BUILDAH_ISOLATION=chroot "$@"); }

# The overlay driver, as rootless users of a recent kernel have it (native overlay since Linux 5.13; Fedora's
# default): buildah 1.28 with no storage.conf picks vfs, which copies whole roots for every step. Kept at vfs
# where overlay does not work for the user.
conf=$home/.config/containers/storage.conf
if [ ! -f "$conf" ]; then
    as_user buildah unshare rm -rf "$home/.local/share/containers/storage"  # a store of another driver
    as_user mkdir -p "$home/.config/containers"
    as_user sh -c 'printf "[storage]\ndriver = \"overlay\"\n" >"$1"' sh "$conf"
    as_user buildah info >/dev/null 2>&1 || as_user sh -c 'printf "[storage]\ndriver = \"vfs\"\n" >"$1"' sh "$conf"
fi
mkdir -p "$WORK/images"
chmod 755 "$WORK/images"
for image in $IMAGES; do
    as_user buildah inspect --type image "$image" >/dev/null 2>&1 && continue
    sh "$here/make_base_images.sh"
    file=$WORK/images/$(echo "$image" | tr '/:' '__').tar
    rm -f "$file"
    buildah push --quiet "$image" "docker-archive:$file:$image" >/dev/null
    chmod 644 "$file"
    as_user buildah pull --quiet "docker-archive:$file" >/dev/null
    rm -f "$file"
done
