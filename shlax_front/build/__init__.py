"""The build backend: buildah executor, layer cache keys and index, host package caches, subprocess runner.

Entry point: ``shlax_front.build.api.build`` (used by ``shlax-front build``).
"""
