"""Where each card sits on the topic map: a force layout in numpy that keeps families together."""
from __future__ import annotations

import numpy as np


def force_layout(n: int, edges: list[tuple[int, int]], groups: list[int], iterations: int = 160, seed: int = 0) -> np.ndarray:
    """Positions in [0, 1]^2: Fruchterman-Reingold forces plus a pull towards the family's centre.

    Deterministic for a given graph (fixed seed). O(n^2) per step: fine for a few hundred cards.
    """
    if n == 0:
        return np.zeros((0, 2))
    rng = np.random.default_rng(seed)
    group_ids = np.asarray(groups)
    n_groups = int(group_ids.max()) + 1
    angles = 2 * np.pi * np.arange(n_groups) / max(n_groups, 1)
    centres = 0.5 + 0.35 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    pos: np.ndarray = (centres[group_ids] + rng.normal(scale=0.05, size=(n, 2))).astype(np.float32)
    k = 0.9 / np.sqrt(n)  # ideal edge length in the unit square
    a = np.array([e[0] for e in edges], dtype=int)
    b = np.array([e[1] for e in edges], dtype=int)
    temperature = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=2), 1e-3)
        force = ((k * k / dist**2)[:, :, None] * delta).sum(axis=1)  # repulsion
        if len(a):
            d = pos[a] - pos[b]
            length = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-3)
            pull = d * length / k  # attraction along edges
            np.add.at(force, a, -pull)
            np.add.at(force, b, pull)
        centroid = np.zeros((n_groups, 2))
        np.add.at(centroid, group_ids, pos)
        centroid /= np.maximum(np.bincount(group_ids, minlength=n_groups), 1)[:, None]
        force += 0.6 * (centroid[group_ids] - pos) / k  # families stay together: colours read as regions
        force += 0.05 * (0.5 - pos) / k  # and the whole map stays centred
        step = np.linalg.norm(force, axis=1, keepdims=True)
        pos += force / np.maximum(step, 1e-9) * np.minimum(step, temperature)
        temperature = max(temperature * 0.975, 0.002)
    pos -= pos.min(axis=0)
    pos /= np.maximum(pos.max(axis=0), 1e-9)
    return pos
