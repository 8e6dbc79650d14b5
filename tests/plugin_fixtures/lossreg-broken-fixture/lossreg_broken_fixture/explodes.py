"""A plugin module that fails on import, as one with a missing dependency would."""

raise RuntimeError("lossreg-broken-fixture exploded on import")


def factory():  # never reached
    """Unreachable."""
