"""Caches that travel: ``--cache-to`` / ``--cache-from`` carry the layer cache and the package caches.

``refs`` reads the option values, ``localcache`` is the content-addressed directory format, ``layers`` moves step
images, ``packages`` the package cache files, ``registrypackages`` and ``registryauth`` the registry side,
``transfer`` runs it all for one build.
"""
