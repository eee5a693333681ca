"""The training loop's progress bar (`klvae.training.progress`): its total under a time budget, and
the values it hands its listeners."""

from klvae.training.progress import Progress


def test_the_bar_total_follows_a_time_budget_that_ends_first():
    bar = Progress(2400, enabled=False, max_seconds=30)
    assert bar.total_for(step=100, seconds=10) == 300  # 10 steps/s for 20 more seconds
    assert bar.total_for(step=2000, seconds=1) == 2400  # the epochs end first
    assert bar.total_for(step=500, seconds=40) == 500  # past the budget: it ends here
    assert Progress(2400, enabled=False).total_for(step=100, seconds=10) == 2400  # no budget


def test_the_listeners_get_each_sync_and_each_epoch_and_the_bar_its_values():
    seen = []

    class Listener:
        def log_values(self, step, values):
            seen.append(("values", step, dict(values)))

        def log_epoch(self, epoch, record):
            seen.append(("epoch", epoch, record["train_loss"]))

    class OnlyEpochs:
        def log_epoch(self, epoch, record):
            seen.append(("only epochs", epoch))

    with Progress(100, enabled=True, max_seconds=10, listeners=[Listener(), OnlyEpochs()]) as bar:
        bar.start_epoch(1, 4)
        for _ in range(5):
            bar.update()
        bar.show(5, 1.0, {"loss": 2.5})
        assert bar.bar.total == 50 and bar.bar.n == 5  # 5 steps/s for 9 more seconds: 45 more
        assert bar.bar.postfix == "loss=2.5" and bar.bar.desc.startswith("epoch 1/4")
        bar.end_epoch({"epoch": 1.0, "train_loss": 2.5})
        bar.finish(7)
        assert bar.bar.total == 7
    assert seen == [("values", 5, {"loss": 2.5}), ("epoch", 1, 2.5), ("only epochs", 1)]
