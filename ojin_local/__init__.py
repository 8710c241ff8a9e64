"""ojin-local: a self-hosted, offline stand-in for the Ojin REST API."""

from importlib import resources

__version__ = "0.1.0"


def version_text() -> str:
    """The version; a frozen binary adds the commit it was built from, which
    packaging/ojin-local.spec writes into the package as BUILD_COMMIT."""
    marker = resources.files(__name__).joinpath("BUILD_COMMIT")
    if not marker.is_file():
        return __version__
    return f"{__version__} (commit {marker.read_text().strip()})"
