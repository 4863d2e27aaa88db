#!/bin/sh
# Make a Debian 13 (trixie) root where the real-buildah tests run against Debian's buildah 1.39 and Python 3.13,
# from Debian's own archive (no registry):
#   debootstrap --variant=minbase with python3 and python3-venv, then buildah, netavark and uidmap (for the
#   rootless tests) installed by apt inside
#   (debootstrap's --include=buildah leaves containers-common unconfigured: its dependencies are not all there);
#   containers.conf with default_ulimits: bud 1.39 raises RLIMIT_NOFILE/NPROC to 1048576 and fails
#   ("operation not permitted") where the host caps them lower;
#   the host's CA bundle and pip config, so pip reaches its index through a TLS-intercepting proxy;
#   a venv at /opt/shlax-venv with the checkout installed editable with its test extras;
#   the local base images (tests/images/make_base_images.sh, made outside if missing) moved into the root's
#   own image store through docker-archive files.
# Idempotent: each part is skipped when its mark exists (SHLAX_REBUILD_TRIXIE=1 starts over). Root only.
# Everything lives under $SHLAX_TRIXIE_WORK (default /var/tmp/shlax-front-trixie).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
checkout=$(cd "$here/../.." && pwd)

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=${SHLAX_TRIXIE_WORK:-/var/tmp/shlax-front-trixie}
ROOT=$WORK/root
IMAGES="docker.io/library/debian:bookworm docker.io/library/busybox:latest"
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

in_root() { sh "$here/run_in_trixie.sh" "$@"; }
step() { printf '== trixie root: %s\n' "$*" >&2; }

mkdir -p "$WORK"
exec 9>"$WORK/lock"
flock 9

if [ "${SHLAX_REBUILD_TRIXIE:-}" = 1 ]; then
    rm -rf "$ROOT"
fi

if [ ! -e "$ROOT/.debootstrapped" ]; then
    step "debootstrap trixie (python3)"
    rm -rf "$ROOT"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        trixie "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    touch "$ROOT/.debootstrapped"
fi

cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

if [ ! -e "$ROOT/.configured" ]; then
    step "buildah and netavark"
    in_root sh -c 'export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get --fix-broken install -y -qq && apt-get install -y -qq buildah netavark uidmap' \
        >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; exit 1; }
    mkdir -p "$ROOT/etc/containers"
    cat >"$ROOT/etc/containers/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=96362:96362"]
CONF
    touch "$ROOT/.configured"
fi

# uidmap (newuidmap/newgidmap) for the rootless tests, also in a root made before they ran there
if [ ! -x "$ROOT/usr/bin/newuidmap" ]; then
    step "uidmap"
    in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq uidmap' >>"$WORK/apt.log" 2>&1 ||
        { tail -20 "$WORK/apt.log" >&2; exit 1; }
fi

# docker-registry and htpasswd for the cache transfer tests (a registry on 127.0.0.1), also in an older root
if [ ! -x "$ROOT/usr/bin/docker-registry" ] || [ ! -x "$ROOT/usr/bin/htpasswd" ]; then
    step "docker-registry"
    in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils' \
        >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; exit 1; }
fi

# The host's trust and pip settings, refreshed on every call (a proxy's CA may change).
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -f "$ca" ]; then
        cp "$ca" "$ROOT/etc/ssl/certs/ca-certificates.crt"
        break
    fi
done
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"

if [ ! -e "$ROOT/.venv-ready" ] || [ "$checkout/pyproject.toml" -nt "$ROOT/.venv-ready" ]; then
    step "venv with the project and its test extras"
    in_root sh -c 'python3 -m venv /opt/shlax-venv && /opt/shlax-venv/bin/pip install -q -e ".[test]"' \
        >"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log" >&2; exit 1; }
    touch "$ROOT/.venv-ready"
fi

missing=
for image in $IMAGES; do
    in_root buildah inspect --type image "$image" >/dev/null 2>&1 || missing="$missing $image"
done
if [ -n "$missing" ]; then
    step "base images:$missing"
    sh "$here/make_base_images.sh"
    mkdir -p "$ROOT/var/tmp/shlax-front-import"
    for image in $missing; do
        file=$(echo "$image" | tr '/:' '__').tar
        rm -f "$ROOT/var/tmp/shlax-front-import/$file"
        buildah push --quiet "$image" "docker-archive:$ROOT/var/tmp/shlax-front-import/$file:$image" >/dev/null
        in_root buildah pull --quiet "docker-archive:/var/tmp/shlax-front-import/$file" >/dev/null
        rm -f "$ROOT/var/tmp/shlax-front-import/$file"
    done
fi
in_root sh -c 'buildah --version; python3 --version'
