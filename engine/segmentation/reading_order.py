"""Regions from lines, and reading order: columns left to right, marginal notes beside their text.

Lines that follow each other closely and overlap horizontally form a region (a column, a
paragraph, a marginal note). Regions are then ordered top to bottom, except that a region which
sits beside another (they overlap vertically, not horizontally) is read after the one to its
left — two columns read left column first, and a note in the left margin precedes the passage
it annotates, as archival transcriptions usually place it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LineGroup:
    """Indices of lines forming one region, with the region's box."""

    members: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x0, y0, x1, y1


def _boxes(baselines: list[np.ndarray], heights: list[float]) -> np.ndarray:
    out = np.zeros((len(baselines), 4))
    for i, (bl, h) in enumerate(zip(baselines, heights)):
        out[i] = (bl[:, 0].min(), bl[:, 1].min() - 0.7 * h, bl[:, 0].max(), bl[:, 1].max() + 0.3 * h)
    return out


def group_lines(baselines: list[np.ndarray], heights: list[float]) -> list[LineGroup]:
    """Cluster lines into regions (union-find on 'next line of the same block' links)."""
    n = len(baselines)
    if n == 0:
        return []
    boxes = _boxes(baselines, heights)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    mid_y = np.array([np.median(bl[:, 1]) for bl in baselines])
    for i in range(n):
        h = heights[i]
        # The nearest line below that overlaps horizontally continues the block if close enough.
        best, best_d = -1, np.inf
        for j in range(n):
            if j == i:
                continue
            dy = mid_y[j] - mid_y[i]
            if dy <= 0.3 * h or dy > 2.2 * h:
                continue
            ov = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            shorter = min(boxes[i, 2] - boxes[i, 0], boxes[j, 2] - boxes[j, 0])
            if ov < 0.3 * max(shorter, 1.0):
                continue
            if dy < best_d:
                best, best_d = j, dy
        if best >= 0:
            parent[find(best)] = find(i)
    groups: dict[int, LineGroup] = {}
    for i in range(n):
        groups.setdefault(find(i), LineGroup()).members.append(i)
    out = []
    for g in groups.values():
        b = boxes[g.members]
        g.box = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        g.members.sort(key=lambda k: (mid_y[k], boxes[k, 0]))
        out.append(g)
    return out


def order_groups(groups: list[LineGroup]) -> list[LineGroup]:
    """Reading order of regions (a topological sort of 'above' and 'left of' relations)."""
    n = len(groups)
    if n <= 1:
        return list(groups)
    before = [[False] * n for _ in range(n)]
    for a in range(n):
        ax0, ay0, ax1, ay1 = groups[a].box
        for b in range(n):
            if a == b:
                continue
            bx0, by0, bx1, by1 = groups[b].box
            x_overlap = min(ax1, bx1) - max(ax0, bx0)
            y_overlap = min(ay1, by1) - max(ay0, by0)
            min_h = min(ay1 - ay0, by1 - by0)
            if y_overlap > 0.3 * min_h and x_overlap <= 0:
                before[a][b] = ax1 <= bx0 + 1e-6  # side by side: left first
            elif ay0 < by0 and (x_overlap > 0 or y_overlap <= 0.3 * min_h):
                before[a][b] = (ay0 + ay1) / 2 < (by0 + by1) / 2
    order: list[int] = []
    remaining = set(range(n))
    while remaining:
        free = [a for a in remaining if not any(before[b][a] for b in remaining if b != a)]
        if not free:  # a cycle (odd layouts): fall back to top-to-bottom
            free = list(remaining)
        pick = min(free, key=lambda a: (groups[a].box[1], groups[a].box[0]))
        order.append(pick)
        remaining.remove(pick)
    return [groups[i] for i in order]
