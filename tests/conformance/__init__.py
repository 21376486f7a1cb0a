"""Resolver conformance: the packse scenarios run through bundler's real path.

``python -m tests.conformance`` prints the outcome table; ``tests/resolve/test_conformance.py``
runs every scenario as a pytest case.  See ``docs/conformance.md``.
"""
