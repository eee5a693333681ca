"""One torchrun worker of tests/test_ddp.py: trains the small VAE of the tests on the digits.

Usage: python -m torch.distributed.run ... tests/ddp_worker.py OUT [KEY=VALUE ...]
KEY=VALUE pairs set TrainConfig fields (integers, or text such as data=FILE.npz). With KLVAE_TEST_KILL_STEP=k, rank 1 of the first
attempt (TORCHELASTIC_RESTART_COUNT == 0) SIGKILLs itself after step k, as a crashed worker
would; KLVAE_TEST_MARKS names a folder where each worker notes its attempt and rank.
"""

import faulthandler
import os
import signal
import sys
from pathlib import Path

from klvae.train import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig, train_vae


def main() -> None:
    faulthandler.dump_traceback_later(150, exit=True)  # a hang fails the test, with the stacks
    out, *pairs = sys.argv[1:]
    fields = {k: int(v) if v.isdigit() else v for k, v in (p.split("=", 1) for p in pairs)}
    rank, attempt = int(os.environ["RANK"]), int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))
    if os.environ.get("KLVAE_TEST_MARKS"):
        Path(os.environ["KLVAE_TEST_MARKS"], f"attempt{attempt}-rank{rank}").touch()
    kill_step = int(os.environ.get("KLVAE_TEST_KILL_STEP", 0))

    def crash(task, state):
        if rank == 1 and attempt == 0 and state.step == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)

    train_vae(VAEConfig(hidden=(32,), latent_dim=4), ELBOConfig(iw_k=20),
              TrainConfig(out=out, log_every=5, **fields), hooks=(crash,) if kill_step else (), figures=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's teardown of torch (seconds on a loaded machine); files are closed


if __name__ == "__main__":
    main()
