"""The shards of a global batch: they partition it and its noise, their weighted gradients sum to the
global mean's, each rank draws its own numbers from torch's generator, and the epoch order.

The processes themselves (DDP on gloo, restarts) are tested in test_distributed.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from klvae.training import data_parallel


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 40), world=st.integers(1, 5), seed=st.integers(0, 2**31), step=st.integers(0, 10**6))
def test_shards_partition_the_global_batch_and_its_noise(size, world, seed, step):
    batch = torch.randperm(size)
    shards = [data_parallel.Shard(r, world, size, seed, step) for r in range(world)]
    assert sorted(torch.cat([batch[r::world] for r in range(world)]).tolist()) == sorted(batch.tolist())
    assert [s.rows for s in shards] == [len(batch[r::world]) for r in range(world)]
    assert sum(s.weight for s in shards) == pytest.approx(1.0)
    one = data_parallel.Shard(0, 1, size, seed, step)  # one process
    full_u, full_e = one.rand(size, 3), one.randn(2, size, 4, batch_dim=1)  # (B, 3), (L, B, latent)
    for r, s in enumerate(shards):  # same stream order (rand, then randn) on every rank
        assert torch.equal(s.rand(s.rows, 3), full_u[r::world])
        assert torch.equal(s.randn(2, s.rows, 4, batch_dim=1), full_e[:, r::world])


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 30), world=st.integers(1, 4), seed=st.integers(0, 1000))
def test_weighted_shard_gradients_sum_to_the_global_mean_gradient(size, world, seed):
    """Σ_r (n_r / B)·∇ mean_r = ∇ (1/B) Σ_i ℓ_i, the sum the DDP hook forms (float64 autograd as reference)."""
    g = torch.Generator().manual_seed(seed)
    x, w = torch.randn(size, 3, generator=g, dtype=torch.float64), torch.randn(3, dtype=torch.float64)

    def grad(rows):
        p = w.clone().requires_grad_()
        torch.log1p(torch.exp(rows @ p)).mean().backward()  # a mean over the rows, like the ELBO loss
        return p.grad if len(rows) else torch.zeros(3, dtype=torch.float64)  # empty shard: no gradient

    total = sum(data_parallel.Shard(r, world, size).weight * grad(x[r::world]) for r in range(world))
    torch.testing.assert_close(total, grad(x))


def test_each_rank_draws_its_own_numbers_from_the_global_generator():
    def draw(rank, world=2, step=3):
        with data_parallel.rank_rng(data_parallel.Shard(rank, world, 8, seed=0, step=step)):
            return torch.rand(4)

    before = torch.get_rng_state()
    a, b = draw(0), draw(1)
    assert not torch.equal(a, b)  # ranks seeded alike would otherwise draw duplicates
    assert torch.equal(a, draw(0)) and not torch.equal(a, draw(0, step=4))  # reproducible, per step
    assert torch.equal(torch.get_rng_state(), before)  # the outer stream is untouched
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    assert torch.equal(draw(0, world=1), expected)  # one process: the global stream as usual


def test_shard_rows_and_weights_outside_fit():
    assert [data_parallel.shard_rows(3, r, 4) for r in range(4)] == [1, 1, 1, 0]
    with pytest.raises(ValueError, match="global batch size is not known"):
        _ = data_parallel.Shard(0, 2).rows
    assert data_parallel.Shard(0, 4).weight == 0.25  # DDP's plain average
    with pytest.raises(ValueError, match="the batch axis 0 of \\(3, 2\\) has 3 rows, this rank's shard has 2"):
        data_parallel.Shard(1, 2, 5, seed=0).randn(3, 2)


def test_the_current_shard_is_the_steps_inside_using_shard_only():
    outside = data_parallel.current_shard()
    assert (outside.rank, outside.world, outside.seed) == (0, 1, None)
    shard = data_parallel.Shard(0, 1, 4, seed=1, step=2)
    with data_parallel.using_shard(shard):
        assert data_parallel.current_shard() is shard
    assert data_parallel.current_shard() is not shard


def test_the_epoch_order_is_a_permutation_fixed_by_seed_and_epoch():
    p = data_parallel.epoch_permutation(7, 2, 50)
    assert sorted(p.tolist()) == list(range(50))
    assert torch.equal(p, data_parallel.epoch_permutation(7, 2, 50))
    assert not torch.equal(p, data_parallel.epoch_permutation(7, 3, 50))
    assert not torch.equal(p, data_parallel.epoch_permutation(8, 2, 50))
