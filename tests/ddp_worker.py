"""One torchrun worker of tests/test_ddp.py: trains the small VAE of the tests on the digits.

Usage: python -m torch.distributed.run ... tests/ddp_worker.py OUT [KEY=VALUE ...]
KEY=VALUE pairs set TrainConfig fields (integers, or text such as data=FILE.npz). With
KLVAE_TEST_KILL_STEP=k, rank 1 of the first attempt (TORCHELASTIC_RESTART_COUNT == 0)
SIGKILLs itself after step k, as a crashed worker would; with KLVAE_TEST_KILL_IN_SAVE=n, rank 0 of
the first attempt SIGKILLs itself inside its n-th checkpoint write (the new file written, not yet
renamed); KLVAE_TEST_MARKS names a folder where each worker notes its attempt and rank.
With KLVAE_TEST_UNSYNCED=FILE it then trains a task that does not synchronise its gradients
and writes the loop's error message to FILE; with KLVAE_TEST_FAMILY=DIR, a conditional IWAE
with the DReG gradient into DIR; with KLVAE_TEST_GAN=DIR it then trains a GAN on
ring8 for 1 s into DIR.
"""

import faulthandler
import os
import signal
import sys
from pathlib import Path

import torch

from klvae.runs.vae.job import train_vae
from klvae.training.config import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig


def family_run(out: str, fields: dict) -> tuple:
    """The configs of a conditional VAE trained by IWAE k = 3 with the DReG gradient (`train_vae`'s arguments)."""
    return (
        VAEConfig(hidden=(32,), latent_dim=4, conditional=True),
        ELBOConfig(iw_k=20, objective="iwae", k_train=3, dreg=True),
        TrainConfig(out=out, log_every=5, **{"val_size": 0.0, **fields}),
    )


class Unsynced:
    """A task whose module is NOT called through klvae.training.data_parallel.wrap: each rank drifts apart."""

    def __init__(self):
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.modules = {"m": torch.nn.Module()}
        self.modules["m"].w = self.w
        self.optimizers = {"m": torch.optim.SGD([self.w], lr=0.1)}

    def train_step(self, x, y, step, epoch):
        loss = (x @ self.w - 1).square().mean()
        self.optimizers["m"].zero_grad()
        loss.backward()
        self.optimizers["m"].step()
        return {"loss": loss.detach()}

    def end_epoch(self, epoch):
        return {}


def unsynced(path: str) -> None:
    from klvae.training.loop import fit

    try:
        fit(
            Unsynced(),
            torch.rand(16, 3, generator=torch.Generator().manual_seed(0)),
            None,
            TrainConfig(epochs=1, batch_size=4),
            Path(path).parent / "unsynced-run",
        )
    except RuntimeError as err:
        if torch.distributed.get_rank() == 0:
            Path(path).write_text(str(err))


def main() -> None:
    faulthandler.dump_traceback_later(150, exit=True)  # a hang fails the test, with the stacks
    out, *pairs = sys.argv[1:]
    fields = {k: int(v) if v.isdigit() else v for k, v in (p.split("=", 1) for p in pairs)}
    rank, attempt = int(os.environ["RANK"]), int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))

    def note(mark):
        if os.environ.get("KLVAE_TEST_MARKS"):
            Path(os.environ["KLVAE_TEST_MARKS"], mark).touch()

    note(f"attempt{attempt}-rank{rank}")
    kill_step = int(os.environ.get("KLVAE_TEST_KILL_STEP", 0))
    check_unsynced = os.environ.get("KLVAE_TEST_UNSYNCED")
    if check_unsynced:  # one process group for both runs (train_vae uses it and leaves it open)
        torch.distributed.init_process_group("gloo")

    def crash(task, state):
        if rank == 1 and attempt == 0 and state.step == kill_step:
            note(f"killed-attempt0-rank1-step{kill_step}")
            os.kill(os.getpid(), signal.SIGKILL)

    kill_save = int(os.environ.get("KLVAE_TEST_KILL_IN_SAVE", 0))
    if kill_save and rank == 0 and attempt == 0:  # die inside the n-th checkpoint write, before its rename
        import klvae._io as io

        replace, saves = os.replace, []

        def replace_or_die(src, dst):
            if str(dst).endswith("checkpoint.safetensors"):
                saves.append(dst)
                if len(saves) == kill_save:
                    note(f"killed-attempt0-rank0-save{kill_save}")
                    os.kill(os.getpid(), signal.SIGKILL)
            return replace(src, dst)

        io.os.replace = replace_or_die  # type: ignore[assignment]

    train_vae(
        VAEConfig(hidden=(32,), latent_dim=4),
        ELBOConfig(iw_k=20),
        TrainConfig(out=out, log_every=5, **{"val_size": 0.0, **fields}),
        hooks=(crash,) if kill_step else (),
        figures=False,
    )
    if check_unsynced:
        unsynced(check_unsynced)
    if os.environ.get("KLVAE_TEST_FAMILY"):  # the IWAE with DReG, conditional, on the same processes
        train_vae(*family_run(os.environ["KLVAE_TEST_FAMILY"], fields), figures=False)
    if os.environ.get("KLVAE_TEST_GAN"):  # the GAN on the same loop, stopped by a 1 s budget
        from klvae.gan import GANConfig
        from klvae.runs.gan.job import train_gan

        train_gan(
            GANConfig(),
            TrainConfig(
                out=os.environ["KLVAE_TEST_GAN"],
                data="ring8",
                epochs=1,
                batch_size=256,
                lr=1e-3,
                max_seconds=1,
                log_every=20,
            ),
            figures=False,
        )
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's teardown of torch (seconds on a loaded machine); files are closed


if __name__ == "__main__":
    main()
