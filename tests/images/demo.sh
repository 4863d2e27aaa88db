#!/usr/bin/env bash
# `make demo`: build the bundled example app (Debian + apt + venv/pip + npm) with shlax-front, rebuild it
# unchanged (every step reused), then add one apt, one pip and one npm package (fixtures/app/variants/added)
# and rebuild: only the new packages cross the network, the rest comes from the host caches.
# Uses the normal cache root ($XDG_CACHE_HOME/shlax-front) unless SHLAX_DEMO_CACHE is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python3}
TAG=${SHLAX_DEMO_TAG:-localhost/shlax-front-demo:latest}
cache_args=()
[ -n "${SHLAX_DEMO_CACHE:-}" ] && cache_args=(--cache-dir "$SHLAX_DEMO_CACHE")

sh tests/images/make_base_images.sh

work=$(mktemp -d /tmp/shlax-front-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/app"
tar -C fixtures/app --exclude=./variants -cf - . | tar -C "$work/app" -xf -

build() { "$PYTHON" -m shlax_front build "${cache_args[@]}" --explain -t "$TAG" "$@" "$work/app"; }

echo "== 1. build the example app (cold host caches download everything once)"
build
echo
echo "== 2. rebuild, nothing changed: every step reused"
build
echo
echo "== 3. one more apt, pip and npm package (postgresql-client, pygments, dayjs)"
cp fixtures/app/variants/added/{Containerfile,requirements.txt,package.json,package-lock.json} "$work/app/"
build
echo
echo "== host caches"
"$PYTHON" -m shlax_front cache du "${cache_args[@]}"
