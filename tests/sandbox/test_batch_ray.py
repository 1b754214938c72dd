"""The Ray backend of evaluate(), on a real local Ray instance.

Ray is an optional extra for users (``pip install "wasm-workbench[ray]"``); the
``dev`` extra installs it too, so the Quick start's test command (and CI) runs this.
"""

from __future__ import annotations

import pytest
from test_batch import EXPECTED, POLICY, PROBLEMS, SAMPLES, key

from workbench.sandbox import evaluate

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

pytestmark = pytest.mark.slow


def test_ray_results_are_the_same_as_local() -> None:
    local = list(evaluate(PROBLEMS, SAMPLES, policy=POLICY, workers=1))
    run = evaluate(PROBLEMS, SAMPLES, policy=POLICY, workers=2, backend="ray")
    results = list(run)
    assert key(results) == key(local)
    assert {r.sample_index: r.cause for r in results} == EXPECTED
    assert not ray.is_initialized(), "the Ray instance evaluate() started was left running"
