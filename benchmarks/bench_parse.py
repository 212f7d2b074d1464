"""Is the note parser linear in note size? One note mixing every shape, parsed at 0.5 MB and at 5 MB.

    python -m benchmarks.bench_parse              # 0.5 and 5 MB, 3 rounds each (median)
    python -m benchmarks.bench_parse --sizes 0.5 5 20

Three notes per size, each built by repeating one block until it reaches the size:
  mixed       every markdown shape (Q: headings, numbered and '?' headings with prose, quick-fire,
              Q:/A: pairs, <details>, callouts, bold lines) with traps (:: in code, ? in fences, == in math)
  flashcards  the same, tagged #flashcards, with ::, :::, ?/?? cards and ==clozes==
  logseq      a Logseq page of #card blocks nested three deep, with clozes and properties
and, as the baseline of the same run, the shipped note repeated to the same size.
Reported: seconds per MB at each size, and the ratio of the largest size's per-MB time to the
smallest's (1.0 = linear). Results: benchmarks/results/parse.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.notes.corpus import parse_note  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "parse.json"

MIXED_BLOCK = """## Family {n}

### 4. Why does dropout {n} behave like an ensemble?
Each step trains a random sub-network that shares weights with all the others.

<details><summary>What does weight decay {n} do to the loss?</summary>

It adds $\\lambda \\|w\\|^2$, so $\\sum_{{k' < k}} w_k$ shrinks.

</details>

**Q:** Why scale activations {n} at test time?
A: To keep the expected activation equal.

**Q: What is label smoothing {n}?** Train on $1-\\varepsilon$ for the true class.

> [!question] What is the KL divergence {n}?
> $D_{{KL}}(p\\|q) \\ge 0$, see [[#Q: What is MSE {n}?]].

### Q: What is MSE {n}?

Mean squared error; use `std::vector` or https://x.org/a::b, and $a == b$ holds.

```python
what = "is this?"
?
```
"""

FLASHCARD_BLOCK = MIXED_BLOCK + """
Adam {n}::Per-parameter step sizes <!--SR:!2026-01-12,3,250-->
SGD {n}:::stochastic gradient descent

Why warm up {n}
?
Early moment estimates are noisy.

Dropout {n} trains ==random sub-networks== that share ==weights==.
"""

LOGSEQ_BLOCK = """- ## Section {n}
\t- What is MSE {n}? #card
\t  card-repeats:: 2
\t\t- The mean of squared errors
\t\t\t- it penalises outliers
\t\t\t\t- quadratically
\t- The Huber loss {n} is {{{{cloze quadratic}}}} near zero #card
\t- a plain block with `a::b`
\t\t- its child
"""


def repeated(block: str, megabytes: float, head: str = "") -> str:
    target = int(megabytes * 1_048_576)
    parts, size, n = [head], len(head.encode()), 0
    while size < target:
        piece = block.format(n=n) if "{n}" in block else block
        parts.append(piece)
        size += len(piece.encode())
        n += 1
    return "\n".join(parts)


def time_parse(text: str, syntax: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        parse_note(text, "bench.md", syntax)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 5.0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    shipped = (ROOT / "corpus" / "losses-in-deep-learning.md").read_text(encoding="utf-8")
    notes = {
        "shipped (baseline)": (lambda mb: repeated(shipped.replace("{", "{{").replace("}", "}}"), mb), "markdown"),
        "mixed": (lambda mb: repeated(MIXED_BLOCK, mb, "# Mixed\n"), "markdown"),
        "flashcards": (lambda mb: repeated(FLASHCARD_BLOCK, mb, "# Cards\n\n#flashcards\n"), "markdown"),
        "logseq": (lambda mb: repeated(LOGSEQ_BLOCK, mb, "title:: bench\n"), "logseq"),
    }
    report: dict = {"sizes_mb": args.sizes, "rounds": args.rounds, "notes": {}}
    for name, (make, syntax) in notes.items():
        rows = []
        for mb in args.sizes:
            text = make(mb)
            real_mb = len(text.encode()) / 1_048_576
            seconds = time_parse(text, syntax, args.rounds)
            cards = len(parse_note(text, "bench.md", syntax).cards) if mb == args.sizes[0] else None
            rows.append({"mb": round(real_mb, 3), "seconds": round(seconds, 3), "seconds_per_mb": round(seconds / real_mb, 4), "cards_at_smallest": cards})
        ratio = rows[-1]["seconds_per_mb"] / rows[0]["seconds_per_mb"]
        report["notes"][name] = {"rows": rows, "per_mb_ratio_largest_to_smallest": round(ratio, 3)}
        print(f"{name:20} " + "  ".join(f"{r['mb']:.2f} MB: {r['seconds']:.2f} s ({r['seconds_per_mb']:.3f} s/MB)" for r in rows) + f"  ratio {ratio:.2f}",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
