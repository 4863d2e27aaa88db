# shlax-front developer tasks. `make install` sets up a Debian 12 machine (as root), `make demo` runs the
# main job on the bundled example, `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
export BUILDAH_ISOLATION ?= chroot

APT_PACKAGES := buildah debootstrap busybox-static ca-certificates git

.PHONY: install install-apt install-python images test lint demo bench clean-images

install: install-apt install-python images

install-apt:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES)

install-python:
	$(PYTHON) -m pip install -q -e '.[test]'

# Local base images (debian:bookworm via debootstrap, busybox) so FROM resolves without a registry.
images:
	bash tests/images/make_base_images.sh

test:
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check shlax_front tests
	$(PYTHON) -m ruff format --check shlax_front tests

demo: images
	bash tests/images/demo.sh

bench: images
	$(PYTHON) -m pip install -q -e '.[bench]'
	$(PYTHON) tests/bench/parse_throughput.py
	$(PYTHON) tests/bench/scenarios.py
