"""lossreg's version: the installed distribution's metadata, so it is pyproject.toml's and written once.

The library's distribution is ``lossreg-core`` (``lossreg`` is the meta-distribution that adds TensorFlow, of the
same version), so that is the one whose version this reads: it is there whichever backend was installed.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]


def _installed_version(distribution: str = "lossreg-core") -> str:
    """The version pip recorded when it installed ``distribution`` (a wheel or an editable install).

    The one fallback: lossreg imported from a source tree that was never installed (``PYTHONPATH=.``, a vendored
    copy) has no metadata to read; its version is then ``"0+unknown"``, a valid version lower than any release.
    """
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _installed_version()
