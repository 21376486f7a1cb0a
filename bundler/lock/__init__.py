"""The lock stage: from requirements to one Lock for every target.

It reads and merges the inputs, resolves each target (replaying an
earlier target's resolution where it applies), hashes files, merges the
per-target resolutions into pins with markers, and renders, reads,
hydrates, checks and compares lock files.  Interface: inputs and
targets in, a frozen ``Lock`` out (``locker.lock``); a lock file in, a
``Lock`` with its files found (``files.read_lock_file``, ``hydrate``).
"""
