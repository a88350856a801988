"""SPNet (Luvizon et al., TPAMI 2020) in PyTorch, numerically faithful to the authors' Keras model.

Input: channels-first clips (N, T, 3, 256, 256), RGB scaled to [-1, 1]. Every conv and pool of the
pose part works frame by frame (Keras' TimeDistributed), only the action branch mixes frames, so
the network splits exactly into

- `forward_frames(frames (B, 3, 256, 256)) -> (pose (B, J, D+1), features (B, K))`: the final pose
  and, packed, the per-frame tensors the action branch reads (K = `frame_feature_size`);
- `forward_actions(features (N, T, K)) -> (N, A)`: the final action scores of T cached frames.

K is a sum over the action blocks (3 levels x 2 action pyramids = 6 blocks) of
J * (D + 1) + Fv * ceil(J / 4) * 2: NTU 6 * (17 * 4 + 192 * 10) = 11,928 values (47,712 bytes in
fp32); Penn 6 * (16 * 3 + 160 * 8) = 7,968 values (31,872 bytes). Each joint's coordinates and
visibility are kept apart (the action branch multiplies them) so that they can be moved into a
clip's one crop window; see `ActionBlock` and deephar_ros.perception.clip_window.
"""

from __future__ import annotations

import torch
from torch import nn

from deephar_ros.model.config import SPNetConfig
from deephar_ros.model.spnet_blocks import (
    ActionBlock,
    EntryFlow,
    PredictionBlock,
    ResidualUnit,
    ScalingUnit,
)


class PyramidStage(nn.Module):
    """One level of one pyramid: rescale, predict the pose, and (in action pyramids) its action block."""

    def __init__(
        self,
        pyramid_name: str,
        level: int,
        down: bool,
        config: SPNetConfig,
        features: int,
        size: int,
        action_number: int | None,
        action_residual: bool,
        has_lateral: bool,
        last_pose: bool,
    ) -> None:
        super().__init__()
        self.level = level
        self.down = down
        unit = "du" if down else "uu"
        in_features = features - config.growth if down else features + config.growth
        self.rescale = ScalingUnit(
            f"{pyramid_name}_{unit}{level}", in_features, features, config.kernel_size, down
        )
        self.block = PredictionBlock(
            f"{pyramid_name}_pb{level}", config, features, size, action_number is not None, last_pose
        )
        action_features = max(config.num_pose_features, config.num_visual_features)
        self.action_residual = (
            ResidualUnit(
                f"{pyramid_name}_{unit}{level}_action_r0", action_features, action_features, 3, separable=True
            )
            if action_residual
            else None
        )
        self.action_name = f"act{action_number}" if action_number is not None else None
        self.action = (
            ActionBlock(
                f"{self.action_name}_action",
                config,
                context_channels=features,
                has_lateral=has_lateral,
                emits_features=action_number != config.num_action_blocks,
            )
            if action_number is not None
            else None
        )

    def keras_layers(self) -> dict[str, nn.Module]:
        layers = self.rescale.keras_layers()
        layers.update(self.block.keras_layers())
        if self.action is not None:
            layers[f"{self.action_name}_xy2_x"] = self.block.soft_argmax
            layers[f"{self.action_name}_xy2_y"] = self.block.soft_argmax
            if self.action_residual is not None:
                layers.update(self.action_residual.keras_layers())
            layers.update(self.action.keras_layers())
        return layers


class SPNet(nn.Module):
    """The multi-task network: entry flow, alternating down/up pyramids, action blocks."""

    def __init__(self, config: SPNetConfig) -> None:
        super().__init__()
        self.config = config
        self.entry_flow = EntryFlow(config)

        levels = config.num_levels
        base_size = config.input_size // config.image_div
        level_features = [self.entry_flow.out_channels + i * config.growth for i in range(levels)]
        # Which levels hold an action tensor (Keras' `la` list) decides which action layers exist.
        lateral_action = [False] * levels
        action_number = 0
        self.pyramids = nn.ModuleList()
        for pyramid in range(1, config.num_pyramids + 1):
            down = pyramid % 2 == 1
            name = f"dp{pyramid}" if down else f"up{pyramid}"
            do_action = pyramid in config.action_pyramids
            order = range(1, levels) if down else range(levels - 2, -1, -1)
            has_action = lateral_action[0] if down else lateral_action[-1]
            stages = nn.ModuleList()
            for level in order:
                if do_action:
                    action_number += 1
                stages.append(
                    PyramidStage(
                        name,
                        level,
                        down,
                        config,
                        level_features[level],
                        base_size >> level,
                        action_number if do_action else None,
                        action_residual=do_action and has_action,
                        has_lateral=has_action,
                        last_pose=pyramid == config.num_pyramids and level == order[-1],
                    )
                )
                has_action = has_action or do_action
                lateral_action[level] = has_action
            self.pyramids.append(stages)

        self.action_feature_sizes = [
            stage.action.frame_feature_size for stages in self.pyramids for stage in stages if stage.action
        ]
        self.frame_feature_size = sum(self.action_feature_sizes)

    # ---- per frame -------------------------------------------------------------------------------
    def _run_frames(self, frames: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """frames (B, 3, S, S) -> (every pose output (B, J, D+1), packed action features (B, K))."""
        x = self.entry_flow(frames)
        lateral: list[torch.Tensor | None] = [x] + [None] * (self.config.num_levels - 1)
        context: list[torch.Tensor | None] = list(lateral)  # features of the first pyramid per level
        poses: list[torch.Tensor] = []
        encoded: list[torch.Tensor] = []
        for stages in self.pyramids:
            x = lateral[0] if stages[0].down else lateral[-1]
            for stage in stages:
                level = stage.level
                x = stage.rescale(x)
                if context[level] is None:
                    context[level] = x
                if lateral[level] is not None:
                    x = x + lateral[level]
                out = stage.block(x)
                poses.append(out.pose)
                if stage.action is not None:
                    encoded.append(
                        stage.action.encode_frame(out.action_probmaps, out.action_pose, context[level])
                    )
                lateral[level] = x = out.features
        features = torch.cat(encoded, dim=1) if encoded else frames.new_zeros(frames.shape[0], 0)
        return poses, features

    # ---- clip ------------------------------------------------------------------------------------
    def _run_actions(self, features: torch.Tensor) -> list[torch.Tensor]:
        """features (N, T, K) -> every action output (N, A) in Keras order."""
        chunks = iter(features.split(self.action_feature_sizes, dim=-1))
        lateral: list[torch.Tensor | None] = [None] * self.config.num_levels
        scores: list[torch.Tensor] = []
        for stages in self.pyramids:
            xa = lateral[0] if stages[0].down else lateral[-1]
            for stage in stages:
                if stage.action is not None:
                    if stage.action_residual is not None:
                        xa = stage.action_residual(xa)
                        if lateral[stage.level] is not None:
                            xa = xa + lateral[stage.level]
                    block_scores, xa = stage.action(next(chunks), xa)
                    scores += block_scores
                lateral[stage.level] = xa
        return scores

    # ---- public API ------------------------------------------------------------------------------
    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """clip (N, T, 3, S, S) -> every output in `config.output_names` order.

        Poses are (N, T, J, D+1), actions (N, A). Pose-only configs also take (N, 3, S, S) and
        then return poses (N, J, D+1).
        """
        if self.config.is_pose_only and clip.dim() == 4:
            self._check_frames(clip)
            return tuple(self._run_frames(clip)[0])
        self._check_clip(clip)
        n, t = clip.shape[:2]
        poses, features = self._run_frames(clip.flatten(0, 1))
        outputs = [pose.unflatten(0, (n, t)) for pose in poses]
        if not self.config.is_pose_only:
            outputs += self._run_actions(features.unflatten(0, (n, t)))
        return tuple(outputs)

    def forward_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, 3, S, S) -> (final pose (B, J, D+1), per-frame action features (B, K))."""
        self._check_frames(frames)
        poses, features = self._run_frames(frames)
        return poses[-1], features

    def forward_actions(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, T, K) of T frames at the clip stride -> final action scores (N, A) of label set 0."""
        if self.config.is_pose_only:
            raise RuntimeError(f"config {self.config.name!r} is pose only: it has no action branch")
        expected = (self.config.num_frames, self.frame_feature_size)
        if not torch.jit.is_tracing() and (features.dim() != 3 or tuple(features.shape[1:]) != expected):
            raise ValueError(
                f"features must be (N, {expected[0]}, {expected[1]}), got {tuple(features.shape)}"
            )
        return self._run_actions(features)[-len(self.config.num_actions)]

    def keras_layers(self) -> dict[str, nn.Module]:
        """Keras layer name -> the module holding its weights, in build order."""
        layers = self.entry_flow.keras_layers()
        for stages in self.pyramids:
            for stage in stages:
                layers.update(stage.keras_layers())
        return layers

    def _check_frames(self, frames: torch.Tensor) -> None:
        if torch.jit.is_tracing():  # shapes are symbolic while exporting; the example input was checked
            return
        size = self.config.input_size
        if frames.dim() != 4 or tuple(frames.shape[1:]) != (3, size, size):
            raise ValueError(f"frames must be (B, 3, {size}, {size}), got {tuple(frames.shape)}")

    def _check_clip(self, clip: torch.Tensor) -> None:
        if torch.jit.is_tracing():
            return
        size = self.config.input_size
        frames = "T" if self.config.is_pose_only else str(self.config.num_frames)
        if clip.dim() != 5 or tuple(clip.shape[2:]) != (3, size, size):
            raise ValueError(f"clip must be (N, {frames}, 3, {size}, {size}), got {tuple(clip.shape)}")
        if not self.config.is_pose_only and clip.shape[1] != self.config.num_frames:
            raise ValueError(f"clip must hold {self.config.num_frames} frames, got {clip.shape[1]}")
