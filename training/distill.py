"""Knowledge distillation: the student matches the teacher's softened frame-wise posteriors.

Loss = alpha * CTC(labels) + (1 - alpha) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)),
averaged over the valid frames. Teacher and student share the width downsampling, so frames
align one to one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from training.network import HtrJandNet, checkpoint_model


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, frames: torch.Tensor,
            temperature: float) -> torch.Tensor:
    """T^2-scaled KL divergence per valid frame (B, T, C logits; ``frames`` valid per line)."""
    t = temperature
    log_s = F.log_softmax(student_logits / t, dim=-1)
    log_t = F.log_softmax(teacher_logits / t, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # (B, T)
    valid = torch.arange(kl.shape[1], device=kl.device)[None, :] < frames[:, None]
    return (t * t) * (kl * valid).sum() / valid.sum().clamp(min=1)


def load_teacher(path: str | Path, charset: list[str]) -> HtrJandNet:
    """A frozen teacher from a checkpoint; its charset must equal the student's."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if list(ckpt["charset"]) != list(charset):
        raise ValueError(f"teacher {path} was trained with another charset")
    teacher = checkpoint_model(ckpt)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
