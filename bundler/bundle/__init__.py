"""The bundle: a lock made into a directory pip installs from offline.

Files are downloaded into ``files/``, the static index (``simple/``, PEP 658
sidecars), the lock files, the SBOM and ``bundle.json`` are written beside
them, all in a copy swapped in whole; ``add``, ``pack`` and ``prune`` change
or carry a bundle. Interface: a ``Lock`` in, a ``Manifest`` and the tree
named by ``layout.py`` out.
"""
