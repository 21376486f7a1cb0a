"""resolve: the pins each target takes, with pip's semantics.

A resolvelib provider over the indexes, the graph fetched ahead of it,
one target's resolution replayed for another that sees the index alike,
conflicts put in words, and the build requirements of the sdists a target
must build (PEP 517, dynamic metadata prepared offline).

Interface: ``resolver.resolve(roots, constraints, source, target, options)``
takes requirements and a ``PackageSource`` and returns a ``Resolution`` or
raises ``ResolutionFailed``.
"""
