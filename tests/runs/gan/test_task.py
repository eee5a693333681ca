"""The GAN as the loop's task (`klvae.runs.gan.task`): its steps on batches smaller than a pack."""

from dataclasses import replace

import torch

from klvae.gan.model import GANConfig, build_gan
from klvae.runs.gan.task import GANTask
from klvae.training.config import TrainConfig


def test_a_last_batch_smaller_than_a_pack_still_trains():
    cfg = GANConfig(pack=3, g_hidden=8, d_hidden=8, g_layers=1, d_layers=1).resolved(image=False)
    g, d = build_gan(cfg, (2,), image=False)
    train = TrainConfig(lr=1e-3, adam_beta1=0.5, adam_beta2=0.999)
    task = GANTask(g, d, cfg, train, evaluate=None)
    out = task.train_step(torch.randn(2, 2), None, 0, 0.0)  # 2 points, packs of 3
    assert all(torch.isfinite(v) for v in out.values())
    cfg1 = replace(cfg, pack=1)
    g, d = build_gan(cfg1, (2,), image=False)
    out = GANTask(g, d, cfg1, train, evaluate=None).train_step(torch.randn(1, 2), None, 0, 0.0)
    assert all(torch.isfinite(v) for v in out.values())  # one point: G's batch norm still works
