"""A device tensor copied to the host without waiting for the device (the trainer's logging reads)."""

import pytest
import torch

from jasper_core.training.host_copy import HostCopy


def test_host_copy__keeps_the_values_it_was_made_with():
    values = torch.tensor([1.0, 2.0, 3.0])
    copy = HostCopy(values)
    values.fill_(7.0)  # a captured step's outputs are rewritten by the next replay
    assert copy.get().tolist() == [1.0, 2.0, 3.0] and copy.get().device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_host_copy__on_cuda_reads_the_values_queued_before_later_kernels():
    values = torch.arange(4, dtype=torch.float32, device="cuda")
    torch.cuda._sleep(10_000_000)  # the device is busy: the copy is queued, not made
    copy = HostCopy(values)
    values.mul_(10)  # queued after the copy
    assert copy.get().tolist() == [0.0, 1.0, 2.0, 3.0] and copy.get().is_pinned()
