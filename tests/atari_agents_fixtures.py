"""Real atari-agents checkpoints, written by PyTorch (a test-only dependency).

`AtariNet` is the release's play.py network (same module and attribute names, so the
state-dict keys are the real `_AtariNet__...` ones); `write_checkpoint` stores what the
release ships: a gzip of `torch.save({"estimator_state": ...})`.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import torch
from torch import nn


class AtariNet(nn.Module):
    """floringogianu/atari-agents play.py's estimator, verbatim but for the assert."""

    def __init__(self, action_no, distributional=False):
        super().__init__()
        self.action_no = out_size = action_no
        self.distributional = distributional
        if distributional:
            support = torch.linspace(-10, 10, 51)
            self.__support = nn.Parameter(support, requires_grad=False)
            out_size = action_no * len(self.__support)
        self.__features = nn.Sequential(
            nn.Conv2d(4, 32, kernel_size=8, stride=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(inplace=True),
        )
        self.__head = nn.Sequential(
            nn.Linear(64 * 7 * 7, 512), nn.ReLU(inplace=True), nn.Linear(512, out_size)
        )

    def forward(self, x):
        x = x.float().div(255)
        x = self.__features(x)
        qs = self.__head(x.view(x.size(0), -1))
        if self.distributional:
            logits = qs.view(qs.shape[0], self.action_no, len(self.__support))
            qs_probs = torch.softmax(logits, dim=2)
            return torch.mul(qs_probs, self.__support.expand_as(qs_probs)).sum(2)
        return qs


def make_net(actions: int, distributional: bool = False, seed: int = 0) -> AtariNet:
    torch.manual_seed(seed)
    return AtariNet(actions, distributional).eval()


def write_checkpoint(path: Path, state: dict, *, legacy: bool = False, **extra) -> Path:
    """What atari-agents ships: a gzip of torch.save({"estimator_state": ..., ...})."""
    buffer = io.BytesIO()
    torch.save(
        dict(extra, **({"estimator_state": state} if state is not None else {})),
        buffer,
        _use_new_zipfile_serialization=not legacy,
    )
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def write_agent(
    path: Path, actions: int, *, distributional: bool = False, seed: int = 0
) -> AtariNet:
    """A random-weight agent saved at `path` (folders made); the network is returned."""
    net = make_net(actions, distributional, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(path, net.state_dict())
    return net


def torch_q_values(net: AtariNet, observations: np.ndarray) -> np.ndarray:
    """PyTorch's forward on canonical (N, 84, 84, 4) [0, 1] observations (uint8 k/255)."""
    stacks = np.rint(observations * 255).astype(np.uint8).transpose(0, 3, 1, 2)
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(stacks))).numpy()
