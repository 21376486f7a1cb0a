"""``bundle publish``: carry a verified bundle into the index people install
from (a directory, an upload API, devpi, S3) without ever replacing bytes.

Interface: ``publish(bundle_dir, manifest, destination)`` sends what the
plan (``plan.py``) says to a ``Destination`` that ``open_destination``
chose for DEST, after ``check_publishable`` found the verify stamp current.
"""
