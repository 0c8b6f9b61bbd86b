"""The ADM UNet (Dhariwal & Nichol 2021, guided-diffusion's `UNetModel`) for inference.

Written by this project from the published architecture; module and parameter
names follow the official state dicts (`input_blocks.1.0.in_layers.0.weight`),
so official checkpoints load with strict key and shape matching
(`load_official_state`). Every block takes `(x, emb)`, so the network scripts
and traces without custom autograd functions or type checks. Inference only:
float32, dropout inert in eval mode, no gradient checkpointing.
"""

import math
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

NUM_CLASSES = 1000  # ImageNet classes of guided-diffusion's class-conditional models

# image_size -> channel_mult when none is given (create_model's defaults)
DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """[B] timesteps -> [B, dim]: cosines then sines at geometric frequencies 1 ... 1/max_period."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32, device=t.device) / half)
    angles = t.float().unsqueeze(1) * freqs.unsqueeze(0)
    out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2 == 1:
        out = torch.cat([out, torch.zeros_like(out[:, :1])], dim=1)
    return out


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input's dtype, the result in the input's dtype
    (guided-diffusion's GroupNorm32): under bfloat16 autocast the statistics stay float32 (torch
    1.13's CPU group_norm refuses a bfloat16 input with float32 parameters); on float32 input the
    casts do nothing, so float32 outputs are unchanged."""

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps).type(x.dtype)


def group_norm(channels: int) -> nn.GroupNorm:
    """ADM's normalisation: 32 groups, computed in float32."""
    return GroupNorm32(32, channels)


class Resample(nn.Module):
    """Parameter-free 2x resampling: nearest-neighbour up, 2x2 average down, or none."""

    def __init__(self, kind: str):
        super().__init__()
        assert kind in ("up", "down", "none")
        self.kind = kind

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.kind == "down":
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return x


class Upsample(nn.Module):
    """Nearest 2x upsampling followed by a 3x3 convolution (parameters `conv.*`)."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    """A 3x3 convolution of stride 2 (parameters `op.*`)."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.op(x)


class ResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding, optionally resampling.

    in_layers: norm, SiLU, conv3x3; emb_layers: SiLU, linear to C (added) or 2C
    (scale and shift of the second norm); out_layers: norm, SiLU, dropout,
    conv3x3; the skip path is the identity or a 1x1 convolution. With up/down,
    both paths are resampled between the first activation and convolution.
    """

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int,
                 scale_shift: bool, resample: str = "none"):
        super().__init__()
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(group_norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.h_upd = Resample(resample)
        self.x_upd = Resample(resample)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if scale_shift else out_channels))
        self.out_layers = nn.Sequential(group_norm(out_channels), nn.SiLU(), nn.Dropout(p=dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers[1](self.in_layers[0](x))
        h = self.in_layers[2](self.h_upd(h))
        x = self.x_upd(x)
        e = self.emb_layers(emb).unsqueeze(-1).unsqueeze(-1)
        if self.scale_shift:
            scale, shift = torch.chunk(e, 2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[2](self.out_layers[1](h)))
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, residual.

    qkv is a 1x1 convolution to 3C channels. The legacy order (the default)
    splits them per head as [q, k, v] blocks of each head; the new order
    (`use_new_attention_order`) as all q, all k, all v. q and k are each
    scaled by ch^-1/4 before their product; the softmax runs in float32.
    """

    def __init__(self, channels: int, num_heads: int, num_head_channels: int, new_order: bool):
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels != 0:
                raise ValueError(f"{channels} channels are not a multiple of num_head_channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.head_channels = channels // self.num_heads
        self.new_order = new_order
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        b, c, height, width = x.shape
        flat = x.reshape(b, c, height * width)
        qkv = self.qkv(self.norm(flat))
        length = height * width
        ch = self.head_channels
        if self.new_order:
            q, k, v = torch.chunk(qkv, 3, dim=1)
            q = q.reshape(b * self.num_heads, ch, length)
            k = k.reshape(b * self.num_heads, ch, length)
            v = v.reshape(b * self.num_heads, ch, length)
        else:
            q, k, v = torch.split(qkv.reshape(b * self.num_heads, 3 * ch, length), ch, dim=1)
        scale = 1.0 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        a = torch.einsum("bts,bcs->bct", weight, v).reshape(b, c, length)
        return (flat + self.proj_out(a)).reshape(b, c, height, width)


class InputConv(nn.Conv2d):
    """The first 3x3 convolution, in the (x, emb) form of every block (parameters `weight`, `bias`)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight, self.bias)


class Stage(nn.ModuleList):
    """A run of blocks, each called as block(x, emb) (parameters `<i>.*`)."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        for block in self:
            x = block(x, emb)
        return x


class ADMUNet(nn.Module):
    """guided-diffusion's UNetModel as create_model builds it (3 input channels).

    forward(x [B, 3, S, S], t [B]) -> eps [B, 3, S, S] or, with learn_sigma,
    eps and v [B, 6, S, S]. `t` is the original timestep in [0, T); with
    rescale_timesteps the network multiplies it by `timestep_scale` = 1000/T
    itself, as the official sampler does before its call. A class-conditional
    network embeds the fixed `class_label`.
    """

    def __init__(self, image_size: int, model_channels: int, num_res_blocks: int,
                 channel_mult: Sequence[float], attention_ds: Sequence[int], learn_sigma: bool = False,
                 num_classes: Optional[int] = None, class_label: int = -1, num_heads: int = 1,
                 num_head_channels: int = -1, num_heads_upsample: int = -1, use_scale_shift_norm: bool = False,
                 resblock_updown: bool = False, use_new_attention_order: bool = False, dropout: float = 0.0,
                 timestep_scale: float = 1.0):
        super().__init__()
        self.timestep_scale = float(timestep_scale)
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.image_size = image_size
        self.out_channels = 6 if learn_sigma else 3
        self.model_channels = model_channels
        emb_dim = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = None
        if num_classes is not None:
            if not 0 <= class_label < num_classes:
                raise ValueError(f"class label {class_label}: expected 0 <= label < {num_classes}")
            self.label_emb = nn.Embedding(num_classes, emb_dim)
        self.class_label = class_label

        def res(ch_in: int, ch_out: int, resample: str = "none") -> ResBlock:
            return ResBlock(ch_in, emb_dim, dropout, ch_out, use_scale_shift_norm, resample)

        def attn(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(ch, heads, num_head_channels, use_new_attention_order)

        ch = first = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([Stage([InputConv(3, ch)])])
        skips: List[int] = [ch]
        ds = 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                blocks: List[nn.Module] = [res(ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attention_ds:
                    blocks.append(attn(ch, num_heads))
                self.input_blocks.append(Stage(blocks))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                down = res(ch, ch, "down") if resblock_updown else Downsample(ch, ch)
                self.input_blocks.append(Stage([down]))
                skips.append(ch)
                ds *= 2
        self.middle_block = Stage([res(ch, ch), attn(ch, num_heads), res(ch, ch)])
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                blocks = [res(ch + skips.pop(), int(model_channels * mult))]
                ch = int(model_channels * mult)
                if ds in attention_ds:
                    blocks.append(attn(ch, num_heads_upsample))
                if level and i == num_res_blocks:
                    blocks.append(res(ch, ch, "up") if resblock_updown else Upsample(ch, ch))
                    ds //= 2
                self.output_blocks.append(Stage(blocks))
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), nn.Conv2d(first, self.out_channels, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if self.timestep_scale != 1.0:
            t = t.float() * self.timestep_scale
        emb = self.time_embed(sinusoidal_embedding(t, self.model_channels))
        label_emb = self.label_emb
        if label_emb is not None:
            emb = emb + label_emb.weight[self.class_label].unsqueeze(0)
        skips: List[Tensor] = []
        h = x
        for stage in self.input_blocks:
            h = stage(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for stage in self.output_blocks:
            h = stage(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h).float()  # float32 also under bfloat16 autocast


def load_official_state(model: nn.Module, state: dict) -> None:
    """Loads an official state dict strictly: every key present, no extra key, equal shapes.

    Tensors of other floating dtypes (fp16 checkpoints) are converted to float32.
    Raises ValueError naming the first mismatching key and both shapes.
    """
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise ValueError(f"checkpoint lacks key '{key}' (the flags expect shape {list(value.shape)})")
        given = state[key]
        if not isinstance(given, Tensor):
            raise ValueError(f"checkpoint key '{key}' is not a tensor")
        if tuple(given.shape) != tuple(value.shape):
            raise ValueError(f"checkpoint key '{key}' has shape {list(given.shape)}, "
                             f"the flags expect {list(value.shape)}")
    for key, value in state.items():
        if key not in expected:
            shape = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"checkpoint has key '{key}' (shape {shape}) that the flags do not expect")
    converted = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model.load_state_dict(converted, strict=True)
