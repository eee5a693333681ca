"""klvae.measures.mixture: mixtures, their moments and extent, and the text and arguments they refuse."""

import numpy as np
import pytest
import torch
from scipy import stats

from klvae.measures.mixture import event_dim, extent, gaussian_mixture, gaussian_moments, log_prob_points, parse_mixture


def test_moments_and_extent_of_a_mixture():
    p = gaussian_mixture([0.25, 0.75], [-1.0, 2.0], [0.5, 1.5])
    mean, cov = gaussian_moments(p)
    want_mean = 0.25 * -1 + 0.75 * 2
    want_var = 0.25 * (0.25 + 1) + 0.75 * (2.25 + 4) - want_mean**2
    assert float(mean[0]) == pytest.approx(want_mean, rel=1e-15)
    assert float(cov[0, 0]) == pytest.approx(want_var, rel=1e-14)
    lo, hi = extent(p, 1)
    assert lo[0] == pytest.approx(2 - 18.0) and hi[0] == pytest.approx(2 + 18.0)  # ±12 sds of each
    assert gaussian_moments(torch.distributions.Laplace(0.0, 1.0)) is None
    np.testing.assert_array_equal(p.component_distribution.loc.numpy(), [-1.0, 2.0])


def test_parsed_mixture_and_log_prob_points_against_scipy():
    p = parse_mixture("0.3:-1:0.5, 0.7:2:1.5")
    x = torch.linspace(-4.0, 5.0, 7, dtype=torch.float64)[:, None]
    want = np.log(0.3 * stats.norm.pdf(x[:, 0], -1, 0.5) + 0.7 * stats.norm.pdf(x[:, 0], 2, 1.5))
    np.testing.assert_allclose(log_prob_points(p, x).numpy(), want, rtol=1e-12)
    p2 = gaussian_mixture([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [1.0, 2.0])
    assert event_dim(p) == 1 and event_dim(p2) == 2
    y = torch.tensor([[0.5, -0.5]], dtype=torch.float64)
    want2 = np.log(
        0.5 * stats.multivariate_normal.pdf(y[0], [0, 0], np.eye(2))
        + 0.5 * stats.multivariate_normal.pdf(y[0], [1, 1], 4 * np.eye(2))
    )
    assert float(log_prob_points(p2, y)[0]) == pytest.approx(want2, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.5, 0.6], [0.0, 1.0], [1.0, 1.0]), "must sum to 1"),
        (([1.5, -0.5], [0.0, 1.0], [1.0, 1.0]), "must be positive and finite"),
        (([0.5, 0.5], [0.0], [1.0, 1.0]), "same number of components"),
        (([0.5, 0.5], [0.0, 1.0], [1.0, 0.0]), "positive standard deviations"),
        (([1.0], [[0.0, 0.0]], [-1.0]), "isotropic mixture scales must be positive"),
    ],
)
def test_bad_mixtures_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        gaussian_mixture(*args)


def test_bad_text_is_refused():
    with pytest.raises(ValueError, match="got an empty string"):
        parse_mixture(" , ")
    with pytest.raises(ValueError, match="'0.5:1' is not 'w:mu:sigma'"):
        parse_mixture("0.5:1,0.5:2:1")
