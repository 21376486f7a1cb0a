"""The gate: proof that a bundle alone installs what it locks.

Its checks read the bundle tree (files, pages, lock files, wheels), resolve
against it (closure, buildability), install from it with real pips, or do
all of that against a published index instead (``remote``).

Interface: ``verify(bundle_dir, targets, client, options)`` (or
``verify_index`` for a published index) returns a ``VerifyReport`` holding
every problem found, and never raises for a failed check.
"""
