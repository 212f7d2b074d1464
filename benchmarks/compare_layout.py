"""Before/after figures for the package-layout refactor (flat kb/*.py -> kb/notes, kb/embed, kb/retrieval, ...).

A refactor that only moves modules must change no behaviour: every quality figure must come out
identical and every timing within 10 %. This script runs EACH TREE'S OWN benchmark scripts, in that
tree and with that tree's `kb` first on the path, so the code as it was is compared with the code as
it is. It reads only what those scripts print or write (stdout, benchmarks/results/*.json), never
their internals, because their import lines move with the refactor.

  quality, exact   eval_search.py   hybrid R@1 / R@5 / MRR@10 and abstention, per split
                   eval_links.py    recall@k of kb.related, per corpus and split
                   eval_grading.py  the grader's pairwise accuracy, per split
                   eval_chat.py     turn accuracy, follow-ups, answered / abstained, per split
  timings, +-10 %  eval_search.py   in-process kb.search p50 / p95 (query-vector cache cleared each query)
                   (here)           a fresh `python -m kb search "..."` process, wall seconds
                   bench_startup.py `python app.py` until the page is served (median of --app-rounds)

Each tree gets its own temporary index (built once, before anything is timed) and data folder; the
ONNX export is shared through KB_CACHE. Results files the scripts overwrite are put back afterwards,
so neither tree is left modified. Medians of --repeats runs are compared; measured in one call, the
two sides take turns repeat by repeat, which is fairer to the timings than two calls at different
times on a shared machine.

    python benchmarks/compare_layout.py --before ../baseline --after . --repeats 3
    python benchmarks/compare_layout.py --before ../baseline --only before       # one side, merged into the JSON
    python benchmarks/compare_layout.py --after . --only after                   # later: the other side + the table
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "layout_compare.json"
CLI_QUERY = "why does PPO clip the probability ratio"
TIMINGS = ("search p50 ms", "search p95 ms", "cold `kb search` s", "app page s")  # the rest must be identical
TOLERANCE = 0.10
CHAT_LINE = re.compile(r"^chat \(with context\)\s+(\w+)\s+turns (\d+)/(\d+) .*?follow-up turns (\d+)/(\d+); "
                       r"on-topic answered (\d+)/(\d+); off-topic abstained (\d+)/(\d+)", re.MULTILINE)


def shown(path: str | Path) -> str:
    """A path as the results file records it: relative to this repository, so no machine's folders are committed."""
    return os.path.relpath(path, ROOT)


class Tree:
    """One checkout, run with its own kb, index, data folder and temporary files."""

    def __init__(self, path: Path, python: str, cache: Path):
        self.path, self.python = path.resolve(), python
        self.work = Path(tempfile.mkdtemp(prefix="kb-layout-"))
        (self.work / "tmp").mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
        self.env.update(PYTHONPATH=str(self.path), KB_INDEX=str(self.work / "index"), KB_DATA=str(self.work / "data"),
                        KB_CACHE=str(cache), TMPDIR=str(self.work / "tmp"), GRADIO_ANALYTICS_ENABLED="False")

    def run(self, *command: str, timeout: float = 1800) -> str:
        proc = subprocess.run([self.python, *command], check=False, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed in {self.path} ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.stdout

    def script(self, name: str, *args: str) -> tuple[str, dict[str, dict]]:
        """Run benchmarks/<name>; its stdout and the results JSON it wrote. Overwritten results files are restored."""
        results = self.path / "benchmarks" / "results"
        before = {p.name: p.read_bytes() for p in results.glob("*.json")}
        try:
            stdout = self.run(f"benchmarks/{name}", *args)
            written = {p.name: p.read_bytes() for p in results.glob("*.json")}
        finally:
            for p in results.glob("*.json"):
                if p.name not in before:
                    p.unlink()
                elif p.read_bytes() != before[p.name]:
                    p.write_bytes(before[p.name])
        return stdout, {k: json.loads(v) for k, v in written.items()}

    def prepare(self) -> dict:
        where = self.run("-c", "import kb; print(kb.__file__)").strip()
        if not Path(where).resolve().is_relative_to(self.path):
            raise SystemExit(f"`import kb` resolves to {where}, not inside {self.path}")
        self.run("-m", "compileall", "-q", "kb", "app.py")  # no first-run byte-compile in the timings
        self.run("-c", "import gradio, onnxruntime, tokenizers")  # nor a cold disk cache for the big imports
        started = time.perf_counter()
        self.run("-m", "kb", "build")  # the tree's own index, exporting into KB_CACHE if needed
        build_s = round(time.perf_counter() - started, 2)
        git = ["git", "--no-optional-locks", "-C", str(self.path)]  # read-only: no index refresh
        commit = subprocess.run([*git, "rev-parse", "HEAD"], check=False, capture_output=True, text=True).stdout.strip()
        changed = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], check=False, capture_output=True, text=True).stdout
        return {"kb": os.path.relpath(where, self.path), "commit": commit, "uncommitted_changes": bool(changed.strip()), "build_s": build_s}


# ---- one repeat: every figure, plus the raw material the medians hide -------------------------------
def search_figures(tree: Tree, figures: dict, raw: dict) -> None:
    _, results = tree.script("eval_search.py")
    data = results["search.json"]
    for split in ("dev", "test"):
        for metric in ("R@1", "R@5", "MRR@10"):
            figures[f"search hybrid {split} {metric}"] = data["metrics"]["hybrid"][split][metric]
    for split in ("dev", "test"):
        calibration = data["calibration"].get(split, {})
        for key in ("on_topic_answered", "off_topic_refused", "balanced_accuracy"):
            if key in calibration:
                figures[f"abstention {split} {key.replace('_', ' ')}"] = calibration[key]
    figures["search p50 ms"] = data["latency"]["search_ms_p50"]
    figures["search p95 ms"] = data["latency"]["search_ms_p95"]
    raw["search_latency"] = data["latency"]


def link_figures(tree: Tree, figures: dict, raw: dict) -> None:
    _, results = tree.script("eval_links.py")
    data = results["links.json"]
    for corpus, row in data["corpora"].items():
        for split in ("dev", "test", "all"):
            figures[f"links {corpus} {split} recall@{data['k']}"] = row[f"{split}_links_recall@{data['k']}"]


def grading_figures(tree: Tree, figures: dict, raw: dict) -> None:
    out = tree.work / "grading.json"
    tree.script("eval_grading.py", "--index", str(tree.work / "index"), "--out", str(out))
    for split, numbers in json.loads(out.read_text())["splits"].items():
        figures[f"grading {split} pairwise accuracy"] = numbers["grader"]["accuracy"]


def chat_figures(tree: Tree, figures: dict, raw: dict) -> None:
    stdout, _ = tree.script("eval_chat.py", "--index", str(tree.work / "index"))
    matches = CHAT_LINE.findall(stdout)
    if not matches:
        raise SystemExit(f"eval_chat.py printed no 'chat (with context)' line:\n{stdout}")
    for split, *counts in matches:
        ok, turns, follow_ok, follow, on_ok, on, off_ok, off = map(int, counts)
        for name, k, n in (("turns", ok, turns), ("follow-up turns", follow_ok, follow),
                           ("on-topic answered", on_ok, on), ("off-topic abstained", off_ok, off)):
            figures[f"chat {split} {name}"] = round(k / n, 4) if n else None


def cli_figures(tree: Tree, figures: dict, raw: dict, runs: int) -> None:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        tree.run("-m", "kb", "search", CLI_QUERY, "-k", "5")
        seconds.append(round(time.perf_counter() - started, 3))
    figures["cold `kb search` s"] = statistics.median(seconds)
    raw["cli_s"] = seconds


def app_figures(tree: Tree, figures: dict, raw: dict, rounds: int) -> None:
    stdout, _ = tree.script("bench_startup.py", "--rounds", str(rounds))  # prints the median page time
    found = re.search(r"page \(first HTTP 200\)\s+([\d.]+)", stdout)
    if not found:
        raise SystemExit(f"bench_startup.py printed no page time:\n{stdout}")
    figures["app page s"] = float(found.group(1))
    raw["bench_startup_stdout"] = stdout.strip().splitlines()


def one_repeat(tree: Tree, args: argparse.Namespace) -> dict:
    figures, raw = {}, {"load_average_start": os.getloadavg()[0]}
    started = time.perf_counter()
    cli_figures(tree, figures, raw, args.cli_runs)
    app_figures(tree, figures, raw, args.app_rounds)
    search_figures(tree, figures, raw)
    link_figures(tree, figures, raw)
    grading_figures(tree, figures, raw)
    if not args.no_chat:
        chat_figures(tree, figures, raw)
    raw.update(seconds=round(time.perf_counter() - started, 1), load_average_end=os.getloadavg()[0])
    return {"figures": figures, "raw": raw}


def measure(paths: dict[str, Path], args: argparse.Namespace) -> dict[str, dict]:
    """Every side's repeats, taking turns (before, after, before, ...) so load drift hits both alike."""
    trees = {name: Tree(path, args.python, args.cache) for name, path in paths.items()}
    try:
        sides = {name: {"tree": shown(tree.path), **tree.prepare(), "python": shown(args.python), "repeats": args.repeats,
                        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": []} for name, tree in trees.items()}
        for i in range(args.repeats):
            for name, tree in trees.items():
                sides[name]["runs"].append(one_repeat(tree, args))
                print(f"  {name} repeat {i + 1}/{args.repeats}: {sides[name]['runs'][-1]['raw']['seconds']} s", file=sys.stderr, flush=True)
    finally:
        for tree in trees.values():
            shutil.rmtree(tree.work, ignore_errors=True)
    for side in sides.values():
        names = list(side["runs"][0]["figures"])
        side["median"] = {n: _median([r["figures"].get(n) for r in side["runs"]]) for n in names}
        side["varies_across_runs"] = [n for n in names if n not in TIMINGS and len({repr(r["figures"].get(n)) for r in side["runs"]}) > 1]
    return sides


def _median(values: list):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---- the table ----------------------------------------------------------------------------------
def verdict(name: str, before: dict | None, after: dict | None) -> str:
    if before is None or after is None or before["median"].get(name) is None or after["median"].get(name) is None:
        return "-"
    b, a = before["median"][name], after["median"][name]
    if name in TIMINGS:
        ratio = a / b if b else float("inf")
        return f"{ratio:.2f}x " + ("ok" if ratio <= 1 + TOLERANCE else f"SLOWER than +{TOLERANCE:.0%}")
    seen = {repr(r["figures"].get(name)) for side in (before, after) for r in side["runs"]}
    if len(seen) == 1:
        return "identical"
    return "same median, runs vary" if a == b else "DIFFERENT"


def table(data: dict) -> str:
    before, after = data.get("before"), data.get("after")
    names = list(dict.fromkeys([*((before or {}).get("median", {})), *((after or {}).get("median", {}))]))
    header = [f"figure | before (median of {before['repeats'] if before else '-'}) | after (median of {after['repeats'] if after else '-'}) "
              "| ratio / identical?",
              "--- | ---: | ---: | ---"]
    def cell(side: dict | None, name: str) -> str:
        return "-" if side is None or side["median"].get(name) is None else f"{side['median'][name]:g}"

    rows = [f"{n} | {cell(before, n)} | {cell(after, n)} | {verdict(n, before, after)}" for n in names]
    notes = [f"{label}: {side['tree']} @ {side['commit'][:7]}{' + uncommitted changes' if side.get('uncommitted_changes') else ''}, "
             f"{statistics.median(r['raw']['seconds'] for r in side['runs'])} s per repeat, "
             f"quality varying across its runs: {side['varies_across_runs'] or 'none'}" for label, side in (("before", before), ("after", after)) if side]
    return "\n".join(header + rows + [""] + notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--before", type=Path, help="the tree before the refactor")
    parser.add_argument("--after", type=Path, help="the tree after the refactor")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("before", "after"), help="measure one side; the other is kept from --out")
    parser.add_argument("--out", type=Path, default=OUT)
    default_python = ROOT / ".venv" / "bin" / "python"
    parser.add_argument("--python", default=str(default_python) if default_python.exists() else sys.executable)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "kb-layout-onnx-cache", help="KB_CACHE shared by both trees")
    parser.add_argument("--cli-runs", type=int, default=5, help="fresh `kb search` processes per repeat")
    parser.add_argument("--app-rounds", type=int, default=3, help="bench_startup.py --rounds, per repeat")
    parser.add_argument("--no-chat", action="store_true", help="skip eval_chat.py")
    args = parser.parse_args()
    sides = [args.only] if args.only else ["before", "after"]
    if missing := [s for s in sides if getattr(args, s) is None]:
        parser.error(f"give --{' and --'.join(missing)}")
    args.cache.mkdir(parents=True, exist_ok=True)
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    print(f"measuring {', '.join(f'{s}: {getattr(args, s)}' for s in sides)}", file=sys.stderr, flush=True)
    data.update(measure({s: getattr(args, s) for s in sides}, args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(table(data))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
