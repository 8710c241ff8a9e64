"""ojin-local: a self-hosted, offline stand-in for the Ojin REST API."""

__version__ = "0.1.0"
