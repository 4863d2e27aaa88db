"""shlax-front: build Containerfiles with buildah without re-downloading the world."""

__version__ = "0.1.0"
