"""The Ray backend of evaluate(), on a real local Ray instance.

Ray is an optional extra (``pip install -e ".[ray]"``), not part of ``dev``: its
wheel is large and a local Ray instance takes seconds to start, so CI runs this
only where Ray is installed.
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
