"""CIFAR-style ResNet-18 (3x3 stem, no max-pool), as used by SimCLR/BadEncoder on 32x32 images.

``width=64`` is the paper's network (512-d features); the shipped CPU models use
``width=16`` (128-d features, 0.7M parameters).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mudjack.encoders.base import Encoder, InputSpec
from mudjack.encoders.registry import register_encoder


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()  # modules, so GuidedBackprop can hook them
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


@register_encoder("resnet18")
class ResNet18(Encoder):
    """CIFAR-style ResNet-18 image encoder.

    Args:
        width: channels of the first stage (64 in the paper; stages use 1x, 2x, 4x, 8x).
        in_channels, image_size: the input images' channels and side length.
        mean, std: per-channel normalisation applied to [0, 1] inputs inside ``forward``.
        blocks: residual blocks per stage ((2, 2, 2, 2) is ResNet-18).
    """

    name = "resnet18"

    def __init__(
        self,
        *,
        width: int = 64,
        in_channels: int = 3,
        image_size: int = 32,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        blocks: tuple[int, ...] = (2, 2, 2, 2),
    ) -> None:
        super().__init__()
        mean = tuple(mean) if mean is not None else (0.5,) * in_channels
        std = tuple(std) if std is not None else (0.5,) * in_channels
        self._config = {
            "width": width,
            "in_channels": in_channels,
            "image_size": image_size,
            "mean": list(mean),
            "std": list(std),
            "blocks": list(blocks),
        }
        self.input_spec = InputSpec("image", in_channels, image_size, image_size, mean, std)
        self.register_buffer("_mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        stages = []
        cin = width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            layers = [_BasicBlock(cin, cout, 1 if i == 0 else 2)]
            layers += [_BasicBlock(cout, cout, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.embed_dim = cin

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def attribution_layer(self) -> nn.Module:
        return self.stages[-1]

    def pruning_layer(self) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
        block = self.stages[-1][-1]
        return block.conv1, block.bn1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self._mean) / self._std
        x = self.stages(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


@register_encoder("tiny_cnn")
class TinyCNN(Encoder):
    """A three-layer CNN for tests and quick experiments (seconds to train on a CPU)."""

    name = "tiny_cnn"

    def __init__(
        self, *, width: int = 8, in_channels: int = 1, image_size: int = 8, embed_dim: int = 16
    ) -> None:
        super().__init__()
        self._config = {
            "width": width,
            "in_channels": in_channels,
            "image_size": image_size,
            "embed_dim": embed_dim,
        }
        mean, std = (0.5,) * in_channels, (0.5,) * in_channels
        self.input_spec = InputSpec("image", in_channels, image_size, image_size, mean, std)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * width, embed_dim),
        )
        self.embed_dim = embed_dim

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def attribution_layer(self) -> nn.Module:
        return self.net[3]

    def pruning_layer(self) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
        return self.net[3], self.net[4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - 0.5) / 0.5)
