"""Callback plugins the tests hand to a Trainer."""

from jasper_core import hookimpl


class StopAfter:
    """A callback plugin that interrupts the run right after epoch ``k``'s checkpoint."""

    def __init__(self, k):
        self.k = k
        self.epoch = 0

    @hookimpl
    def jasper_epoch_end(self, run, epoch, metrics):
        self.epoch = epoch

    @hookimpl
    def jasper_checkpoint_saved(self, run, path, tags):
        if self.epoch == self.k:
            raise KeyboardInterrupt
