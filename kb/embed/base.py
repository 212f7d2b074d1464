"""The one thing every encoder is: texts in, L2-normalised float32 vectors out. numpy only.

Also the agreement check that decides whether two encoders are interchangeable (an ONNX export
against sentence-transformers, bf16 against fp32): the verification texts and the cosine floor.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

MIN_COSINE = 0.9999  # the export must reproduce sentence-transformers at least this closely

Progress = Callable[[int], object]  # called with how many more texts are done


class Encoder:
    """Turns texts into L2-normalised float32 vectors. Subclasses implement `_encode`."""

    model_id: str
    dim: int
    backend: str = "?"
    notes: list[str]  # why this implementation serves (fallback reasons), for `kb` and the UI

    def encode(self, texts: list[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.asarray(self._encode(list(texts), batch_size, progress), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalized: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return normalized

    def encode_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.encode([text], batch_size=1)[0]
        return vector

    def _encode(self, texts: list[str], batch_size: int, progress: Progress | None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


_LONG_PARAGRAPH = (
    "Cross-entropy compares the predicted distribution with the target one. For a single example "
    "with a one-hot label it reduces to the negative log of the probability the model gives to the "
    "true class, so confident mistakes are punished much harder than hesitant ones. When the logits "
    "go through a softmax first, the gradient with respect to each logit is simply the predicted "
    "probability minus the target, which is bounded and never vanishes while the prediction is "
    "wrong; that is the main reason it trains faster than mean squared error on probabilities. "
    "Label smoothing mixes the one-hot target with a uniform distribution, which keeps the logits "
    "from growing without limit and usually improves calibration. Focal loss multiplies each term "
    "by one minus the true-class probability raised to a power gamma, so easy, well classified "
    "examples contribute little and training concentrates on the hard minority. Class weights do "
    "something similar per class instead of per example. In knowledge distillation the student "
    "matches the teacher's softened distribution, obtained with a temperature above one, and the "
    "loss is scaled by the square of that temperature so gradient magnitudes stay comparable. "
    "Numerically, implementations fuse the log and the softmax with the log-sum-exp trick, "
    "subtracting the largest logit before exponentiating, because computing the softmax first and "
    "taking its logarithm afterwards overflows or underflows for large logits. Finally, binary "
    "cross-entropy on a sigmoid output is the two-class special case, and its with-logits variant "
    "is the numerically safe one to use in practice, especially with mixed precision training."
)


# Varied on purpose: tiny, typical queries, LaTeX, non-English, symbols, padding-heavy batches,
# a ~180-token text (beyond the 128 tokens the shipped tokenizer.json would keep) and a text
# longer than the 256-token window.
VERIFICATION_TEXTS = [
    "why does PPO clip the probability ratio?",
    "pinball loss",
    "a",
    "   leading and trailing spaces   ",
    "What is the difference between L1 and L2 regularisation, and when would you prefer each?",
    "Huber loss: quadratic near zero, linear in the tails, $L_\\delta(r) = \\tfrac12 r^2$ for $|r| \\le \\delta$.",
    "$$\\mathcal{L} = -\\sum_{i} y_i \\log \\hat{y}_i$$",
    "contrastive loss vs triplet loss with hard negative mining",
    "KL divergence is not symmetric: KL(P||Q) != KL(Q||P)",
    "Warum verwendet man Kreuzentropie statt quadratischem Fehler für Klassifikation?",
    "交叉熵损失函数是什么？",
    "dice loss for segmentation 🩻 with class imbalance",
    "GAN minimax objective; non-saturating generator loss; Wasserstein distance with gradient penalty",
    "CTC loss aligns unsegmented sequences by summing over all valid alignments.",
    "q: how do you tune the margin in a hinge loss?",
    "ELBO = reconstruction term - KL(q(z|x) || p(z))",
    "1 2 3 4 5 6 7 8 9 10",
    " ".join(_LONG_PARAGRAPH.split()[:130]),
    _LONG_PARAGRAPH,
    _LONG_PARAGRAPH + " " + _LONG_PARAGRAPH,
]


PROBE_INDICES = (0, 5)  # re-checked at every load (short ones: this runs on every cold start)


def agreement(candidate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-row cosine between two sets of (normalised) vectors."""
    a = candidate / np.maximum(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12)
    b = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    cosines: np.ndarray = np.sum(a * b, axis=1)
    return cosines
