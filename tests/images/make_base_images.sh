#!/bin/sh
# Make the local base images tests, the demo and the benchmarks build FROM, because no registry is reachable here:
#   docker.io/library/debian:bookworm  - debootstrap --variant=minbase, shaped like the official image (apt's
#                                        minimizing config, no apt lists) so caches look no better than for users
#   docker.io/library/busybox:latest   - busybox-static and its applet links: a base for fast integration tests
# Idempotent and fast when the images exist (one `buildah inspect` each). Serialised with flock, because several
# test sessions may call it at once. Set SHLAX_REBUILD_IMAGES=1 to rebuild.
set -eu

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
DEBIAN_IMAGE=docker.io/library/debian:bookworm
BUSYBOX_IMAGE=docker.io/library/busybox:latest
WORK=${SHLAX_IMAGES_WORKDIR:-/var/tmp/shlax-front-images}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

if [ "${SHLAX_REBUILD_IMAGES:-}" != 1 ] && have_image "$DEBIAN_IMAGE" && have_image "$BUSYBOX_IMAGE"; then
    exit 0
fi

mkdir -p "$WORK"
exec 9>"$WORK/lock"
flock 9
# someone else may have made them while we waited for the lock
if [ "${SHLAX_REBUILD_IMAGES:-}" != 1 ] && have_image "$DEBIAN_IMAGE" && have_image "$BUSYBOX_IMAGE"; then
    exit 0
fi

# import ROOTFS_DIR IMAGE CMD: one layer from a directory, with the official images' PATH and CMD.
import_rootfs() {
    dir=$1 image=$2 cmd=$3
    tar --numeric-owner -C "$dir" -cf "$WORK/rootfs.tar" .
    ctr=$(buildah from scratch)
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    buildah add "$ctr" "$WORK/rootfs.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd "$cmd" --os linux --arch "$(buildah info --format '{{.host.arch}}' 2>/dev/null || echo amd64)" "$ctr"
    buildah commit --quiet --format docker --rm "$ctr" "$image" >/dev/null
    trap - EXIT
    rm -f "$WORK/rootfs.tar"
    echo "made $image" >&2
}

if [ "${SHLAX_REBUILD_IMAGES:-}" = 1 ] || ! have_image "$DEBIAN_IMAGE"; then
    root="$WORK/debian-$SUITE"
    if [ ! -e "$root/.complete" ]; then
        rm -rf "$root"
        debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
        touch "$root/.complete"
    fi
    # What the official image's build script (debuerreotype) does to a debootstrap tree.
    cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
    echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'Apt::AutoRemove::SuggestsImportant "false";\n' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    echo 'force-unsafe-io' > "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/var/log/apt/* "$root"/tmp/* "$root/.complete"
    mkdir -p "$root/var/lib/apt/lists/partial"
    : > "$root/etc/hostname"; : > "$root/etc/resolv.conf"
    import_rootfs "$root" "$DEBIAN_IMAGE" bash
    touch "$root/.complete"
fi

if [ "${SHLAX_REBUILD_IMAGES:-}" = 1 ] || ! have_image "$BUSYBOX_IMAGE"; then
    bb=$(command -v busybox)
    root="$WORK/busybox"
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/home" "$root/var" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
    chmod 1777 "$root/tmp"
    cp "$bb" "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    import_rootfs "$root" "$BUSYBOX_IMAGE" sh
    rm -rf "$root"
fi
