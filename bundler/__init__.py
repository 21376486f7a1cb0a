"""bundler: turn a private package index into a verified build product."""

__version__ = "0.1.0"

# Where ``bundle serve`` listens unless told otherwise: loopback only.
SERVE_HOST = "127.0.0.1"
SERVE_PORT = 8000
