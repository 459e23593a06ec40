"""Property tests: for every valid design, the compiled module's real output shape and parameter count
equal what `check` predicted; for any design at all, `check` answers without raising."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from rnn_studio.engine import build_model, check
from tests.designs import garbage_designs, valid_designs

pytestmark = pytest.mark.slow  # measured: see the Makefile's test-quick


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(valid_designs())
def test_real_shapes_and_param_counts_match_check(project):
    res = check(project)
    assert res.ok, [str(p) for p in res.errors]
    torch.manual_seed(0)
    model = build_model(project, res).eval()
    t, f = res.input_shape()[1], res.input_shape()[2]
    assert sum(p.numel() for p in model.parameters()) == res.total_params
    for batch, steps in ((2, t or 3), (1, t or 5)):
        y = model(torch.randn(batch, steps, f))
        predicted = res.output_shape()
        assert y.dim() == len(predicted)
        for real, want in zip(y.shape[1:], predicted[1:], strict=True):
            assert want is None or real == want, (tuple(y.shape), predicted)
        if predicted[1:] and len(predicted) == 3 and predicted[1] is None:
            assert y.shape[1] == steps  # variable length flows through
    # each block's own param count matches its module
    for bid, module in model.blocks.items():
        assert sum(p.numel() for p in module.parameters()) == res.param_counts.get(bid, 0), bid


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(garbage_designs())
def test_check_never_raises_and_always_explains(project):
    res = check(project)
    for p in res.problems:
        assert p.level in ("error", "warning") and p.message and "\n" not in p.message
    if res.ok:
        build_model(project, res)  # anything check accepts must compile
