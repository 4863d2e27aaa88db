# shlax-front developer tasks. `make install` sets up a Debian 12 machine (as root), `make demo` runs the
# main job on the bundled example, `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
export BUILDAH_ISOLATION ?= chroot

APT_PACKAGES := buildah debootstrap busybox-static ca-certificates git uidmap python3-venv docker-registry apache2-utils

.PHONY: install install-apt install-python images test test-unit test-buildah test-buildah-1.39 test-rootless-1.39 soak fmt lint typecheck demo bench clean-images

install: install-apt install-python images

install-apt:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES)

install-python:
	$(PYTHON) -m pip install -q -e '.[test]'

# Local base images (debian:bookworm via debootstrap, busybox) so FROM resolves without a registry.
images:
	bash tests/images/make_base_images.sh

# The whole suite, real buildah builds included (the README's and CI's test command).
test:
	$(PYTHON) -m pytest -q

# No buildah needed: runs anywhere in seconds.
test-unit:
	$(PYTHON) -m pytest -q tests/unit

# Only the real buildah builds (root, buildah and `make images`).
test-buildah:
	$(PYTHON) -m pytest -q tests/buildah

# The real buildah builds again on Debian 13's buildah 1.39 and Python 3.13, in a trixie root debootstrapped under
# /var/tmp/shlax-front-trixie (root, debootstrap). SHLAX_TRIXIE_TESTS="FILE..." runs only those.
test-buildah-1.39:
	bash tests/images/make_trixie_root.sh
	bash tests/images/run_in_trixie.sh

# The rootless tests (an ordinary user with subordinate ids, made in the root) on buildah 1.39.
test-rootless-1.39:
	bash tests/images/make_trixie_root.sh
	bash tests/images/run_in_trixie.sh python -m pytest -q -p no:cacheprovider tests/buildah/test_build_rootless.py

# The front-end fuzzer for longer than CI's budget: SOAK_RUNS mutated files, SOAK_SEED (default: a new one each
# time, printed first so a failure can be replayed); then SOAK_EXAMPLES generated contexts and edits of the
# cache-key property test.
soak:
	seed=$${SOAK_SEED:-$$RANDOM}; echo "soak seed $$seed"; \
	SHLAX_FUZZ_SEED=$$seed SHLAX_FUZZ_RUNS=$${SOAK_RUNS:-20000} $(PYTHON) -m pytest -q tests/unit/test_frontend_fuzz.py
	SHLAX_PROPERTY_EXAMPLES=$${SOAK_EXAMPLES:-3000} $(PYTHON) -m pytest -q --hypothesis-show-statistics \
		tests/unit/test_cache_key_property.py

fmt:
	$(PYTHON) -m ruff format shlax_front tests
	$(PYTHON) -m ruff check --fix shlax_front tests

lint:
	$(PYTHON) -m ruff check shlax_front tests
	$(PYTHON) -m ruff format --check shlax_front tests

# Settings in pyproject.toml [tool.mypy]: strict on the modules listed there, the rest checked leniently.
typecheck:
	$(PYTHON) -m mypy

demo: images
	bash tests/images/demo.sh

bench: images
	$(PYTHON) -m pip install -q -e '.[bench]'
	$(PYTHON) tests/bench/parse_throughput.py
	$(PYTHON) tests/bench/scenarios.py
	$(PYTHON) tests/bench/fresh_runners.py
	$(PYTHON) tests/bench/parallel_stages.py
