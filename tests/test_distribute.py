"""Under tf.distribute.MirroredStrategy (two logical CPUs) an attached multi-term model trains as on one device."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("scripts") / "distributed_attach.py"


@pytest.mark.parametrize("variant", [[], ["--loss-layer"]], ids=["attach", "attach+LossLayer"])
def test_two_replicas_match_one_device(variant):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), *variant], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    single, mirrored = result["single"], result["mirrored"]
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert single["history"].keys() == mirrored["history"].keys()
    for key in single["history"]:
        np.testing.assert_allclose(mirrored["history"][key], single["history"][key], rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(mirrored["evaluate"], single["evaluate"], rtol=1e-5)
    for a, b in zip(single["weights"], mirrored["weights"], strict=True):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=1e-5)
    # the logged total is the weighted sum of the logged terms
    h = single["history"]
    weighted = sum(v[0] for k, v in h.items() if k.endswith("_weighted_loss"))
    plain = sum(
        v[0]
        for k, v in h.items()
        if k.endswith("_loss")
        and not k.endswith("_weighted_loss")
        and k.replace("_loss", "_weighted_loss") not in h
        and k != "loss"
    )
    np.testing.assert_allclose(h["loss"][0], weighted + plain, rtol=1e-5)
