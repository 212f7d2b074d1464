"""Opening a large knowledge base: `KnowledgeBase.load` of a fresh, up-to-date index in a cold process.

    python benchmarks/bench_load.py                      # 1k and 10k cards
    python benchmarks/bench_load.py --cards 1000 10000 100000

For each size, a synthetic corpus (benchmarks/synthetic_corpus.py) is written to a tmp folder and
indexed once by the current kb. Then, in fresh processes over that same folder:
  before  kb as of BASELINE_COMMIT (exported with `git archive`), which rebuilt the BM25 index
          (tokenising, stemming and glossary-matching every card) on every load;
  after   the current kb, which reads index/lexical.npz.
Each is run --repeats times (median reported) with its peak RSS. A third process times the parts of
the current load (checksums, cards JSON, vectors, FAISS, stored lexical index, corpus hashes), and
both kbs time a lexical rebuild over the same cards (what a note change costs now; what every load cost before).

The index is built with random unit vectors in place of the model unless --real-model: a load reads
the same bytes whatever the vectors hold, and embedding 100k cards takes hours on this machine.
Results: benchmarks/results/load.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BASELINE_COMMIT = "f52112474460ccb3f120abf01d5d5ff2beb00d64"  # last commit before the stored lexical index
RESULTS = ROOT / "benchmarks" / "results" / "load.json"

# Run in a fresh interpreter: the time of KnowledgeBase.load alone (imports it needs included) and peak RSS.
LOAD_CHILD = r"""
import json, sys, time
started = time.perf_counter()
from kb import Config, KnowledgeBase
imported = time.perf_counter()
def no_model():
    raise SystemExit("the index was not up to date: the benchmark would measure a build")
from pathlib import Path
corpus, index, data = (Path(a) for a in sys.argv[1:4])
kb = KnowledgeBase.load(config=Config(corpus=corpus, index=index, data=data), encoder_factory=no_model)
done = time.perf_counter()
assert kb.report.action == "loaded", kb.report
kb.search("entrpoy bonus in reinforcement learning", k=5, mode="lexical")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"load_s": done - imported, "import_s": imported - started, "cards": len(kb.cards()), "peak_rss_mb": peak_kb / 1024}))
"""

# The parts of the current load, timed one by one in a fresh interpreter.
PARTS_CHILD = r"""
import json, sys, time
from pathlib import Path
corpus, index = Path(sys.argv[1]), Path(sys.argv[2])
t = {}
def timed(name, fn):
    start = time.perf_counter(); out = fn(); t[name] = time.perf_counter() - start; return out
import numpy as np
faiss = timed("import faiss", lambda: __import__("faiss"))
from kb.notes.cards import Card
from kb.retrieval.index import DATA_FILES, LEXICAL_FILE, corpus_hashes, file_sha256
from kb.retrieval.lexical import LexicalIndex, default_synonyms
timed("sha256 of the index files", lambda: [file_sha256(index / n) for n in (*DATA_FILES, LEXICAL_FILE)])
stored = timed("cards.json parse", lambda: json.loads((index / "cards.json").read_text(encoding="utf-8")))
cards = timed("Card objects", lambda: [Card.from_dict(c) for c in stored["cards"]])
timed("vectors.npy", lambda: np.load(index / "vectors.npy", allow_pickle=False))
timed("index.faiss read", lambda: faiss.read_index(str(index / "index.faiss")))
timed("glossary", default_synonyms)
timed("lexical.npz load (incl. typo index)", lambda: LexicalIndex.load(index / LEXICAL_FILE, len(cards)))
timed("corpus note hashes", lambda: corpus_hashes(corpus, 20 * 1024 * 1024))
print(json.dumps({k: round(v, 3) for k, v in t.items()}))
"""

# What rebuilding the lexical index costs (every load before; a note change now), for either kb.
REBUILD_CHILD = r"""
import json, sys, time
from pathlib import Path
stored = json.loads((Path(sys.argv[2]) / "cards.json").read_text(encoding="utf-8"))["cards"]
texts = [f"{c['question']}\n{c['question']}\n{c['family']}\n{c['answer_text']}" for c in stored]
import bm25s
from kb.retrieval.lexical import LexicalIndex
start = time.perf_counter()
LexicalIndex(texts)
print(json.dumps({"lexical_rebuild_s": round(time.perf_counter() - start, 2)}))
"""


class RandomEncoder:
    """Random unit vectors of the model's size: building the index to be loaded without the model."""

    dim = 384

    def __init__(self):
        import numpy as np

        self._rng = np.random.default_rng(0)

    def encode(self, texts, batch_size=32, progress=None):
        import numpy as np

        vectors = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def encode_query(self, text):
        return self.encode([text])[0]


def export_baseline(dest: Path) -> Path:
    """The kb package as of BASELINE_COMMIT, in dest/kb (git archive: no checkout, the worktree is untouched)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "kb"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest)
    return dest


def run_child(code: str, args: list[str], pythonpath: Path, cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd)
    if out.returncode != 0:
        raise SystemExit(f"child failed ({pythonpath}):\n{out.stderr[:1500]}\n...\n{out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def build(corpus: Path, index: Path, cards: int, real_model: bool) -> float:
    from synthetic_corpus import write_corpus

    from kb import Config, KnowledgeBase

    write_corpus(corpus, cards)
    factory = None if real_model else RandomEncoder
    started = time.perf_counter()
    config = Config(corpus=corpus, index=index, data=index.parent / "data")
    kb = KnowledgeBase.load(config=config, **({"encoder_factory": factory} if factory else {}))
    assert kb.report.action == "built" and len(kb.cards()) == cards, kb.report
    return time.perf_counter() - started


def measure(cards: int, work: Path, baseline: Path, repeats: int, real_model: bool) -> dict:
    corpus, index = work / f"corpus-{cards}", work / f"index-{cards}"
    build_s = build(corpus, index, cards, real_model)
    args = [str(corpus), str(index), str(work / "data")]
    runs = {"before": [], "after": []}
    for _ in range(repeats):  # interleaved, so both see the same machine load
        runs["before"].append(run_child(LOAD_CHILD, args, baseline, work))
        runs["after"].append(run_child(LOAD_CHILD, args, ROOT, work))
    parts = run_child(PARTS_CHILD, args[:2], ROOT, work)
    rebuild = {name: run_child(REBUILD_CHILD, args[:2], path, work)["lexical_rebuild_s"] for name, path in (("before", baseline), ("after", ROOT))}
    row = {"cards": cards, "build_s": round(build_s, 1), "index_mb": round(sum(p.stat().st_size for p in index.iterdir()) / 1_048_576, 1),
           "lexical_file_mb": round((index / "lexical.npz").stat().st_size / 1_048_576, 1), "parts_s": parts,
           "lexical_rebuild_s": rebuild}
    for name, values in runs.items():
        row[name] = {
            "load_s": round(statistics.median(r["load_s"] for r in values), 2),
            "load_s_all": [round(r["load_s"], 2) for r in values],
            "import_s": round(statistics.median(r["import_s"] for r in values), 2),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in values)),
        }
    row["speedup"] = round(row["before"]["load_s"] / row["after"]["load_s"], 1)
    row["load_avg_1min"] = round(os.getloadavg()[0], 1)  # 2 shared cores: absolute times inflate with this
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real-model", action="store_true", help="build the index with the real model (slow)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-load-") as tmp:
        work = Path(tmp)
        baseline = export_baseline(work / "baseline")
        for cards in args.cards:
            row = measure(cards, work, baseline, args.repeats, args.real_model)
            rows.append(row)
            print(f"{cards:>7,} cards  load before {row['before']['load_s']:7.2f} s  after {row['after']['load_s']:6.2f} s  "
                  f"({row['speedup']}x)  peak RSS {row['before']['peak_rss_mb']} -> {row['after']['peak_rss_mb']} MB  "
                  f"[lexical.npz {row['lexical_file_mb']} MB]", flush=True)
            print("         parts of the current load: " + ", ".join(f"{k} {v:.2f}" for k, v in row["parts_s"].items()), flush=True)
            print(f"         lexical rebuild (a note change; every load before): before {row['lexical_rebuild_s']['before']} s, "
                  f"after {row['lexical_rebuild_s']['after']} s", flush=True)
    report = {
        "what": "KnowledgeBase.load of an up-to-date index in a cold process; median of repeats; before = kb at baseline_commit",
        "baseline_commit": BASELINE_COMMIT,
        "vectors": "real model" if args.real_model else "random unit vectors (a load reads the same bytes)",
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "load_avg_at_start": load_at_start, "load_avg_at_end": os.getloadavg()},
        "rows": rows,
    }
    if args.out.exists():  # keep rows of other sizes measured in earlier runs (e.g. a separate 100k run)
        earlier = json.loads(args.out.read_text(encoding="utf-8")).get("rows", [])
        report["rows"] = sorted([r for r in earlier if r["cards"] not in args.cards] + rows, key=lambda r: r["cards"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
