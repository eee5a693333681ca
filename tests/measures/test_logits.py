"""klvae.measures._logits: log softmax and log p − log q from logits against mpmath."""

import math

import mpmath
import numpy as np
import pytest
import torch

from klvae.measures._logits import log_prob_difference, log_softmax

D = torch.float64


def t(*xs):
    return torch.tensor(xs, dtype=D)


def test_log_softmax_keeps_the_normalisers_small_part():
    got = log_softmax(t(-700.0, 0.0), 0)
    assert float(got[1]) == pytest.approx(-math.exp(-700.0), rel=1e-15)  # torch's gives 0
    assert float(got[0]) == pytest.approx(-700.0, rel=1e-15)
    x = torch.randn(5, 7, dtype=D)
    torch.testing.assert_close(log_softmax(x, 1), torch.log_softmax(x, 1), rtol=1e-15, atol=1e-15)


def test_log_prob_difference_from_logits_is_exact_where_rows_nearly_agree():
    a = t(0.0, 0.0, 0.0)
    b = t(0.0, 5.4e-10, -4.2e-10)
    lp, lq = torch.log_softmax(a, 0), torch.log_softmax(b, 0)
    got = log_prob_difference(a, b, lp, lq, 0)
    with mpmath.workdps(60):
        eb = [mpmath.exp(mpmath.mpf(v)) for v in b.tolist()]
        want = [mpmath.log(mpmath.mpf(1) / 3) - mpmath.log(e / sum(eb)) for e in eb]
    np.testing.assert_allclose(got.numpy(), [float(w) for w in want], rtol=1e-12)
