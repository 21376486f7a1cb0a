"""The index stage: everything bundler reads from package sources.

HTTP (``client.HttpClient`` over ``transport``'s pools, with ``trust``,
``credentials``, ``retries`` and a resumable ``download``), the disk
``cache``, and ``collector.PackageIndex``: project pages from the
configured ``sources`` and core metadata (``metadata``), fetched ahead of
need.  Interface: ``PackageIndex`` turns a project name into a
``ProjectPage`` and an ``IndexFile`` into ``CoreMetadata``; ``HttpClient``
fetches URLs into files and the cache.
"""
