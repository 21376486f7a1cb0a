"""``bundle serve``: a bundle directory as a read-only HTTP package index.

Interface: ``make_server(bundle_dir, host, port, log)`` gives a server that
answers PEP 503 / PEP 691 requests from the tree ``bundle.layout`` names.
"""
