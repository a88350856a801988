"""Building blocks of SPNet, each the PyTorch twin of one helper of the authors' Keras code.

Every block knows the Keras names of its weighted layers (`keras_layers()`), so a released weights
file maps onto it by name. Layout is channels-first; Keras' TimeDistributed folds T into the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deephar_ros.model.config import SPNetConfig

BN_EPS = 1e-3  # Keras BatchNormalization default; PyTorch's 1e-5 gives another function.


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding (before, after) along one axis: the odd extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def keras_padding_amount(divisor: int, size: int) -> int:
    """Zeros the action branch appends so that `size` becomes a multiple of `divisor` (get_pad)."""
    return -(-size // divisor) * divisor - size


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


def conv2d(in_channels: int, out_channels: int, kernel: int | tuple[int, int]) -> nn.Conv2d:
    """The Keras `conv2d` helper: stride 1, 'same' (symmetric for odd kernels), no bias."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Conv2d(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=False)


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D (stride 1, 'same', no bias): depthwise then pointwise."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, kernel, padding=kernel // 2, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _ceil_mode_output(size: int, kernel: int, stride: int) -> int:
    """PyTorch's pooled size with ceil_mode=True and no padding."""
    out = -(-(size - kernel) // stride) + 1
    return out - 1 if (out - 1) * stride >= size else out


class MaxPoolSame(nn.Module):
    """Keras MaxPooling2D(padding='same') for a known input size: pads -inf after, as TF does.

    Where TF pads only after and PyTorch's ceil_mode yields the same windows, ceil_mode is used
    instead of a padded copy (the 3x3/2 entry pool: ~30% faster).
    """

    def __init__(self, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        top, bottom = tf_same_padding(size[0], kernel[0], stride[0])
        left, right = tf_same_padding(size[1], kernel[1], stride[1])
        self.padding = (left, right, top, bottom)
        self.kernel = kernel
        self.stride = stride
        self.ceil_mode = top == left == 0 and all(
            _ceil_mode_output(n, k, s) == -(-n // s) for n, k, s in zip(size, kernel, stride, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ceil_mode:
            return F.max_pool2d(x, self.kernel, self.stride, ceil_mode=True)
        return F.max_pool2d(F.pad(x, self.padding, value=float("-inf")), self.kernel, self.stride)


class ResidualUnit(nn.Module):
    """common.residual_unit: pre-activation residual, separable or bottleneck, projection if resized."""

    def __init__(
        self,
        keras_name: str,
        in_channels: int,
        out_channels: int,
        kernel: int,
        separable: bool,
        features_div: int = 2,
    ) -> None:
        super().__init__()
        self.keras_name = keras_name
        self.bn1 = batch_norm(in_channels)
        self.shortcut_conv = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None
        )
        if separable:
            self.conv1 = SeparableConv2d(in_channels, out_channels, kernel)
            self.bn2 = None
            self.conv2 = None
        else:
            middle = out_channels // features_div
            self.conv1 = conv2d(in_channels, middle, 1)
            self.bn2 = batch_norm(middle)
            self.conv2 = conv2d(middle, out_channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut_conv is None:
            shortcut = x
            x = F.relu(self.bn1(x))
        else:  # the projection reads the normalised, activated input
            x = F.relu(self.bn1(x))
            shortcut = self.shortcut_conv(x)
        x = self.conv1(x)
        if self.conv2 is not None:
            x = self.conv2(F.relu(self.bn2(x)))
        return shortcut + x

    def keras_layers(self) -> dict[str, nn.Module]:
        name = self.keras_name
        layers: dict[str, nn.Module] = {f"{name}_bn1": self.bn1}
        if self.shortcut_conv is not None:
            layers[f"{name}_shortcut_conv"] = self.shortcut_conv
        layers[f"{name}_conv1"] = self.conv1
        if self.conv2 is not None:
            layers[f"{name}_bn2"] = self.bn2
            layers[f"{name}_conv2"] = self.conv2
        return layers


class EntryFlow(nn.Module):
    """spnet.entry_flow for image_div 8: 7x7/2 conv, residuals and poolings down to 1/8."""

    def __init__(self, config: SPNetConfig) -> None:
        super().__init__()
        growth = config.growth
        size = config.input_size
        before, after = tf_same_padding(size, 7, 2)
        self.conv1_pad = nn.ZeroPad2d((before, after, before, after))
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, bias=False)
        self.res0 = ResidualUnit("res0", 64, growth, 3, separable=False)
        self.pool0 = MaxPoolSame((size // 2, size // 2), (3, 3), (2, 2))
        self.res1 = ResidualUnit("res1", growth, 2 * growth, 3, separable=False)
        self.res2 = ResidualUnit("res2", 2 * growth, 2 * growth, 3, separable=False)
        self.res3 = ResidualUnit("res3", 2 * growth, 3 * growth, 3, separable=False)
        self.res4 = ResidualUnit("res4", 3 * growth, 3 * growth, 3, separable=False)
        self.out_channels = 3 * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv1_pad(x))
        x = self.res0(x)
        x = self.pool0(x)
        x = self.res2(self.res1(x))
        x = F.max_pool2d(x, 2)
        return self.res4(self.res3(x))

    def keras_layers(self) -> dict[str, nn.Module]:
        layers: dict[str, nn.Module] = {"conv1": self.conv1}
        for unit in (self.res0, self.res1, self.res2, self.res3, self.res4):
            layers.update(unit.keras_layers())
        return layers


class ScalingUnit(nn.Module):
    """common.downscaling_unit / upscaling_unit (max pooling or nearest upsampling + separable residual)."""

    def __init__(self, keras_name: str, in_channels: int, out_channels: int, kernel: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.r0 = ResidualUnit(f"{keras_name}_r0", in_channels, out_channels, kernel, separable=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(x, 2) if self.down else F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.r0(x)

    def keras_layers(self) -> dict[str, nn.Module]:
        return self.r0.keras_layers()


class SoftArgmax2d(nn.Module):
    """Per-joint spatial softmax and its expectation on a 0..1 inclusive grid (x = col / (W - 1)).

    The grids are the frozen `*_xy_x` / `*_xy_y` (and `act*_xy2_*`) constants of the Keras file.
    """

    def __init__(self, num_joints: int, size: int, alpha: float) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.size = size
        self.alpha = alpha
        line = torch.from_numpy(np.linspace(0.0, 1.0, size).astype(np.float32))
        self.register_buffer("grid_x", line.expand(size, size).clone())
        self.register_buffer("grid_y", line[:, None].expand(size, size).clone())

    def probability_maps(self, heatmaps: torch.Tensor) -> torch.Tensor:
        if self.alpha != 1.0:
            heatmaps = self.alpha * heatmaps
        return torch.softmax(heatmaps.flatten(2), dim=-1).view_as(heatmaps)

    def forward(self, probmaps: torch.Tensor) -> torch.Tensor:
        x = (probmaps * self.grid_x).sum(dim=(-2, -1))
        y = (probmaps * self.grid_y).sum(dim=(-2, -1))
        return torch.stack([x, y], dim=-1)


def keypoint_visibility(probmaps: torch.Tensor) -> torch.Tensor:
    """layers.keypoint_confidence: 4 * 2x2 average (stride 1, valid), then the global max. (B, J, 1)."""
    return (4 * F.avg_pool2d(probmaps, 2, stride=1)).amax(dim=(-2, -1)).unsqueeze(-1)


def expected_depth(depthmaps: torch.Tensor, probmaps: torch.Tensor) -> torch.Tensor:
    """z = sum over H, W of sigmoid(depth map) * probability map. (B, J, 1)."""
    return (torch.sigmoid(depthmaps) * probmaps).sum(dim=(-2, -1)).unsqueeze(-1)


class PredictionBranch(nn.Module):
    """spnet.prediction_branch: 1x1 maps (and replica maps), then 1x1 back to features for re-injection."""

    def __init__(
        self,
        keras_name: str,
        features: int,
        num_joints: int,
        replica: bool,
        forward_maps: bool,
        reinject: bool,
    ) -> None:
        super().__init__()
        self.keras_name = keras_name
        self.activate = forward_maps  # heat maps re-inject through a ReLU, depth maps do not
        self.conv1 = conv2d(features, num_joints, 1)
        self.conv1_replica = conv2d(features, num_joints, 1) if replica else None
        self.fw_maps = conv2d(features, num_joints, 1) if forward_maps and reinject else None
        back_channels = 2 * num_joints if forward_maps else num_joints
        self.conv2 = conv2d(back_channels, features, 1) if reinject else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x: activated features. Returns (maps, replica maps or None, re-injected features or None)."""
        maps = self.conv1(x)
        replica = self.conv1_replica(x) if self.conv1_replica is not None else None
        if self.conv2 is None:
            return maps, replica, None
        back = maps
        if self.fw_maps is not None:
            back = torch.cat([self.fw_maps(x), maps], dim=1)
        if self.activate:
            back = F.relu(back)
        return maps, replica, self.conv2(back)

    def keras_layers(self) -> dict[str, nn.Module]:
        name = self.keras_name
        layers: dict[str, nn.Module] = {f"{name}_conv1": self.conv1}
        if self.conv1_replica is not None:
            layers[f"{name}_conv1_replica"] = self.conv1_replica
        if self.fw_maps is not None:
            layers[f"{name}_fw_maps"] = self.fw_maps
        if self.conv2 is not None:
            layers[f"{name}_conv2"] = self.conv2
        return layers


class BlockOutput(NamedTuple):
    """What one prediction block gives: next features, the pose, and the action branch's inputs."""

    features: torch.Tensor | None  # None for the network's very last block (Keras drops its re-injection)
    pose: torch.Tensor  # (B, J, D + 1): x, y[, z], visibility
    action_probmaps: torch.Tensor | None  # (B, J, H, W), replica maps where pose_replica
    action_pose: torch.Tensor | None  # (B, J, D + 1): x, y[, z], visibility, of the maps the action reads


class PredictionBlock(nn.Module):
    """The pose part of spnet.prediction_block at one pyramid level."""

    def __init__(
        self,
        keras_name: str,
        config: SPNetConfig,
        features: int,
        size: int,
        for_action: bool,
        last: bool,
    ) -> None:
        super().__init__()
        self.keras_name = keras_name
        self.for_action = for_action
        kernel = config.kernel_size
        replica = config.pose_replica and for_action
        self.r1 = ResidualUnit(f"{keras_name}_r1", features, features, kernel, separable=True)
        self.bn1 = batch_norm(features)
        self.conv1 = SeparableConv2d(features, features, kernel)
        self.bn2 = batch_norm(features)
        self.heatmaps = PredictionBranch(
            f"{keras_name}_heatmaps",
            features,
            config.num_joints,
            replica,
            forward_maps=True,
            reinject=not last,
        )
        self.depthmaps = (
            PredictionBranch(
                f"{keras_name}_depthmaps",
                features,
                config.num_joints,
                replica,
                forward_maps=False,
                reinject=not last,
            )
            if config.pose_dim == 3
            else None
        )
        self.soft_argmax = SoftArgmax2d(config.num_joints, size, config.sam_alpha)

    def forward(self, x: torch.Tensor) -> BlockOutput:
        x = self.r1(x)
        reinjected = x
        x = self.conv1(F.relu(self.bn1(x)))
        reinjected = reinjected + x
        x = F.relu(self.bn2(x))

        heat, heat_replica, heat_back = self.heatmaps(x)
        probmaps = self.soft_argmax.probability_maps(heat)
        coords = self.soft_argmax(probmaps)
        visibility = keypoint_visibility(probmaps)

        action_probmaps = probmaps
        action_coords = coords
        action_visibility = visibility
        if heat_replica is not None:
            action_probmaps = self.soft_argmax.probability_maps(heat_replica)
            action_coords = self.soft_argmax(action_probmaps)
            action_visibility = keypoint_visibility(action_probmaps)

        if self.depthmaps is not None:
            depth, depth_replica, depth_back = self.depthmaps(x)
            coords = torch.cat([coords, expected_depth(depth, probmaps)], dim=-1)
            action_depth = depth_replica if depth_replica is not None else depth
            action_coords = torch.cat([action_coords, expected_depth(action_depth, action_probmaps)], dim=-1)

        features = None
        if heat_back is not None:
            features = reinjected + heat_back
            if self.depthmaps is not None:
                features = features + depth_back
        pose = torch.cat([coords, visibility], dim=-1)
        if not self.for_action:
            return BlockOutput(features, pose, None, None)
        return BlockOutput(features, pose, action_probmaps, torch.cat([action_coords, action_visibility], -1))

    def keras_layers(self) -> dict[str, nn.Module]:
        name = self.keras_name
        layers = self.r1.keras_layers()
        layers[f"{name}_bn1"] = self.bn1
        layers[f"{name}_conv1"] = self.conv1
        layers[f"{name}_bn2"] = self.bn2
        layers.update(self.heatmaps.keras_layers())
        if self.depthmaps is not None:
            layers.update(self.depthmaps.keras_layers())
        layers[f"{name}_xy_x"] = self.soft_argmax
        layers[f"{name}_xy_y"] = self.soft_argmax
        return layers


class ActionPrediction(nn.Module):
    """The `_prediction` of spnet.action_prediction_early_fusion: max-min pooled softmax heads."""

    def __init__(
        self,
        keras_name: str,
        features: int,
        num_actions: tuple[int, ...],
        size: tuple[int, int],
        emits_features: bool,
    ) -> None:
        super().__init__()
        self.keras_name = keras_name
        self.bn1 = batch_norm(features)
        self.conv1 = conv2d(features, features, 3)
        self.pool = MaxPoolSame(size, (2, 2), (2, 2))
        self.bn2 = batch_norm(features)
        self.heads = nn.ModuleList(conv2d(features, count, 3) for count in num_actions)
        # The network's last action block feeds nothing further: Keras has no conv3 for it.
        self.conv3 = conv2d(sum(num_actions), features, 3) if emits_features else None

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        identity = x
        x1 = self.conv1(F.relu(self.bn1(x)))
        x = self.pool(x1) - self.pool(-x1)  # max-min pooling: max + min of each window
        x = F.relu(self.bn2(x))
        maps = [head(x) for head in self.heads]
        scores = [torch.softmax(h.amax(dim=(2, 3)) + h.amin(dim=(2, 3)), dim=-1) for h in maps]
        if self.conv3 is None:
            return scores, None
        up = F.interpolate(torch.cat(maps, dim=1), scale_factor=2.0, mode="nearest")
        return scores, identity + x1 + self.conv3(F.relu(up))

    def keras_layers(self) -> dict[str, nn.Module]:
        name = self.keras_name
        layers: dict[str, nn.Module] = {f"{name}_bn1": self.bn1, f"{name}_conv1": self.conv1}
        layers[f"{name}_bn2"] = self.bn2
        for index, head in enumerate(self.heads):
            layers[f"{name}_conv2h{index}"] = head
        if self.conv3 is not None:
            layers[f"{name}_conv3"] = self.conv3
        return layers


class ActionBlock(nn.Module):
    """spnet.action_prediction_early_fusion, split into a per-frame encoder and a clip part.

    Per frame (`encode_frame`) it keeps what the clip part reads: each joint's (x, y[, z]) and its
    visibility, J * (D + 1) values, and the appearance stream after its 1x1 conv and the joint half
    of its 2x2 max pooling (Fv x ceil(J / 4) * 2 values). Max pooling is separable and the 1x1 conv
    acts per (frame, joint), so doing them per frame is exact. `forward` runs the temporal part on
    (N, T, frame_feature_size), starting with the pose stream's input (x, y[, z]) * visibility: the
    product is taken there, not per frame, so that a frame's coordinates can be moved into the clip's
    one crop window (deephar_ros.perception.clip_window) exactly, which needs x and v apart.
    """

    def __init__(
        self,
        keras_name: str,
        config: SPNetConfig,
        context_channels: int,
        has_lateral: bool,
        emits_features: bool,
    ) -> None:
        super().__init__()
        self.keras_name = keras_name
        num_joints, dim, num_frames = config.num_joints, config.pose_dim, config.num_frames
        pose_features, visual_features = config.num_pose_features, config.num_visual_features
        features = max(pose_features, visual_features)

        time_stride = 2 if num_frames >= 16 else 1
        joints_pad = keras_padding_amount(4, num_joints)
        frames_pad = keras_padding_amount(2 * time_stride, num_frames)
        self.joint_padding = (joints_pad // 2, (joints_pad + 1) // 2)
        self.frame_padding = (frames_pad // 2, (frames_pad + 1) // 2)
        padded_frames = num_frames + frames_pad
        pooled_joints = (num_joints + joints_pad) // 2
        pooled = (-(-padded_frames // time_stride), pooled_joints)
        self.pose_size = num_joints * (dim + 1)
        self.pose_shape = (num_joints, dim + 1)
        self.appearance_shape = (visual_features, pooled_joints)
        self.frame_feature_size = self.pose_size + visual_features * pooled_joints

        # per frame
        self.v_conv0 = conv2d(context_channels, visual_features, 1)
        # clip
        self.p_conv0a = conv2d(dim, pose_features // 16, (3, 1))
        self.p_conv0b = conv2d(dim, pose_features // 8, (3, 3))
        self.p_conv0c = conv2d(dim, pose_features // 4, (3, 5))
        stem_channels = pose_features // 16 + pose_features // 8 + pose_features // 4
        self.r1 = ResidualUnit(f"{keras_name}_r1", stem_channels, pose_features, 3, separable=False)
        self.pose_pool = MaxPoolSame((padded_frames, num_joints + joints_pad), (2, 2), (time_stride, 2))
        self.appearance_pool = MaxPoolSame((padded_frames, pooled_joints), (2, 1), (time_stride, 1))
        fused_channels = pose_features + visual_features + (features if has_lateral else 0)
        self.r2 = ResidualUnit(
            f"{keras_name}_r2", fused_channels, features, 3, separable=False, features_div=4
        )
        self.pred = ActionPrediction(
            f"{keras_name}_pred", features, config.num_actions, pooled, emits_features
        )

    def encode_frame(
        self, probmaps: torch.Tensor, action_pose: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        """probmaps (B, J, H, W), action_pose (B, J, D+1), context (B, C, H, W) -> (B, frame_feature_size)."""
        kron = torch.einsum("bjhw,bchw->bcj", probmaps, context)  # appearance pooled by each joint's map
        appearance = self.v_conv0(kron.unsqueeze(2))
        appearance = F.pad(appearance, self.joint_padding)
        appearance = F.max_pool2d(appearance, (1, 2))
        return torch.cat([action_pose.flatten(1), appearance.flatten(1)], dim=1)

    def forward(
        self, frames: torch.Tensor, lateral: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """frames (N, T, frame_feature_size), lateral (N, F, T', J') or None -> (scores, features)."""
        n, t = frames.shape[:2]
        pose = frames[..., : self.pose_size].reshape(n, t, *self.pose_shape)
        pose = (pose[..., :-1] * pose[..., -1:]).permute(0, 3, 1, 2)  # (x, y[, z]) * visibility
        appearance = frames[..., self.pose_size :].reshape(n, t, *self.appearance_shape).permute(0, 2, 1, 3)

        pose = torch.cat([self.p_conv0a(pose), self.p_conv0b(pose), self.p_conv0c(pose)], dim=1)
        pose = self.r1(pose)
        pose = self.pose_pool(F.pad(pose, self.joint_padding + self.frame_padding))
        appearance = self.appearance_pool(F.pad(appearance, (0, 0, *self.frame_padding)))

        fused = [pose, appearance] if lateral is None else [pose, appearance, lateral]
        return self.pred(self.r2(torch.cat(fused, dim=1)))

    def keras_layers(self) -> dict[str, nn.Module]:
        name = self.keras_name
        layers: dict[str, nn.Module] = {
            f"{name}_p_conv0a": self.p_conv0a,
            f"{name}_p_conv0b": self.p_conv0b,
            f"{name}_p_conv0c": self.p_conv0c,
        }
        layers.update(self.r1.keras_layers())
        layers[f"{name}_v_conv0"] = self.v_conv0
        layers.update(self.r2.keras_layers())
        layers.update(self.pred.keras_layers())
        return layers
