"""bundler: turn a private package index into a verified build product."""

__version__ = "0.1.0"
