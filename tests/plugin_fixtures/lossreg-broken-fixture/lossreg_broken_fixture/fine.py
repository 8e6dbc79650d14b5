"""A plugin module that imports fine; some of its entry points are still wrong."""

NOT_A_FACTORY = 42


def shadow_softmax_ce():
    """Absolute error times 10, registered under the built-in name softmax_ce (it must not win)."""

    def loss(y_true, y_pred):
        return 10.0 * abs(y_pred - y_true)

    return loss


def fixture_ok(scale: float = 1.0):
    """Scaled absolute error: the healthy loss beside the broken ones."""

    def loss(y_true, y_pred):
        return scale * abs(y_pred - y_true)

    return loss
