"""Chat quality on benchmarks/chat_dialogues.jsonl (multi-turn, with off-topic turns), per split.

Each turn expects one of some card ids as the first citation, or "abstain". Prints, per split,
turn accuracy, follow-up-turn accuracy (turns after the first), answered-rate on on-topic turns and
abstain-rate on off-topic turns, plus the top cosine of every turn to see the margin of the abstention threshold.
A baseline in the same run: the same turns searched without conversation context.

    python benchmarks/eval_chat.py [--index DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import Config, KnowledgeBase  # noqa: E402
from kb.retrieval.search import ABSTAIN_THRESHOLD  # noqa: E402


def load_dialogues(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def turn_ok(reply, expect) -> bool:
    if expect == "abstain":
        return reply.abstained
    return not reply.abstained and bool(reply.citations) and reply.citations[0].id in expect


def run(kb, dialogues, with_context: bool) -> dict:
    stats: dict = {}
    for dialogue in dialogues:
        s = stats.setdefault(dialogue["split"], {"turns": 0, "ok": 0, "follow": 0, "follow_ok": 0, "on": 0, "on_answered": 0, "off": 0,
                                                 "off_abstained": 0, "rows": []})
        topic = None  # the previous reply's card: what a follow-up refers to
        for i, turn in enumerate(dialogue["turns"]):
            reply = kb.ask(turn["say"], topic if with_context else None)
            ok = turn_ok(reply, turn["expect"])
            s["turns"] += 1
            s["ok"] += ok
            if i > 0:
                s["follow"] += 1
                s["follow_ok"] += ok
            if turn["expect"] == "abstain":
                s["off"] += 1
                s["off_abstained"] += reply.abstained
            else:
                s["on"] += 1
                s["on_answered"] += not reply.abstained
            top = kb.search(reply.query or turn["say"], k=1)
            s["rows"].append((ok, top[0].dense if top else 0.0, turn["say"], turn["expect"], [c.id for c in reply.citations][:1]))
            topic = reply.topic
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="print every turn with its top cosine")
    args = parser.parse_args()
    index = args.index or Path(tempfile.mkdtemp(prefix="kb-eval-chat-")) / "index"
    kb = KnowledgeBase.load(config=Config(corpus=ROOT / "corpus", index=index))
    dialogues = load_dialogues(ROOT / "benchmarks" / "chat_dialogues.jsonl")
    print(f"abstention: kb.search.is_confident, ABSTAIN_THRESHOLD = {ABSTAIN_THRESHOLD}")
    for label, with_context in (("chat (with context)", True), ("baseline: each turn alone", False)):
        stats = run(kb, dialogues, with_context)
        for split in ("dev", "test"):
            s = stats[split]
            print(
                f"{label:<26} {split:<4} turns {s['ok']}/{s['turns']} = {s['ok'] / s['turns']:.2f}; "
                f"follow-up turns {s['follow_ok']}/{s['follow']}; on-topic answered {s['on_answered']}/{s['on']}; "
                f"off-topic abstained {s['off_abstained']}/{s['off']}"
            )
            if args.verbose and with_context:
                for ok, dense, say, expect, got in s["rows"]:
                    print(f"    {'ok ' if ok else 'BAD'} {dense:.3f} {say!r} expect={expect} got={got}")


if __name__ == "__main__":
    main()
