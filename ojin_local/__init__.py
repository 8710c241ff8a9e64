"""ojin-local: a self-hosted, offline stand-in for the Ojin REST API."""

from importlib import resources

__version__ = "0.1.0"


def build_commit() -> str | None:
    """The commit a frozen binary was built from (packaging/ojin-local.spec writes it in);
    None for the installed package, whose version alone names it."""
    marker = resources.files(__name__).joinpath("BUILD_COMMIT")
    return marker.read_text().strip() if marker.is_file() else None


def version_text() -> str:
    commit = build_commit()
    return f"{__version__} (commit {commit})" if commit else __version__
