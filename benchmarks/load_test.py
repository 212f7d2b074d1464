"""Load test: the real `kb serve` on loopback, driven by concurrent simulated users through gradio_client.

    python benchmarks/load_test.py --users 20 --duration 60 --out benchmarks/results/load_test.json

Each user has its own gradio_client session and its own interview profile, and loops over a mix of
search (50 %), chat (25 %) and interview answers (25 %), with queries from benchmarks/queries.jsonl.
First one user runs alone for --baseline seconds (the single-user latency, measured in the same run),
then all users run for --duration seconds. Reported: requests/s, p50/p95/p99 latency per kind and
overall, and errors (exceptions, or replies that carry an error mark). After the server is stopped,
every interview answer the app acknowledged (its reply carried a score) is looked up in the SQLite
progress database, and PRAGMA integrity_check is run.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MIX = (("search", 0.5), ("chat", 0.25), ("interview", 0.25))
ERROR_MARK = "⚠️"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def texts_of(history) -> list[tuple[str, str]]:
    """(role, text) of every chat message in a gradio_client Chatbot value."""
    out = []
    for message in history or []:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        out.append((message.get("role", ""), str(content or "")))
    return out


class User:
    """One simulated person: a gradio_client session, a profile, an interview in progress."""

    def __init__(self, number: int, url: str, queries: list[str], seed: int):
        from gradio_client import Client

        self.profile = f"load-user-{number:02d}"
        self.client = Client(url, verbose=False)
        self.queries = queries
        self.rng = random.Random(seed)
        self.history = None
        self.answers = 0
        self.acknowledged: list[str] = []

    def search(self) -> None:
        html = self.client.predict(self.rng.choice(self.queries), "All families", api_name="/search")
        if ERROR_MARK in str(html) or "kb-hit" not in str(html):
            raise RuntimeError(f"search reply without hits: {str(html)[:120]}")

    def chat(self) -> None:
        result = self.client.predict(self.rng.choice(self.queries), [], None, "load-test", None, api_name="/chat")
        replies = [t for role, t in texts_of(result[0]) if role == "assistant"]
        if not replies or ERROR_MARK in replies[-1]:
            raise RuntimeError(f"chat reply missing or an error: {replies[-1:]!r}")

    def interview(self) -> None:
        if self.history is None:
            result = self.client.predict(self.profile, ["All families"], 15, "Random", api_name="/interview_start")
            self.history = result[0]
            if not any("Q1." in t for _, t in texts_of(self.history)):
                raise RuntimeError(f"interview did not start: {texts_of(self.history)[-1:]!r}")
            return
        self.answers += 1
        token = f"[{self.profile}-answer-{self.answers}]"
        answer = f"{self.rng.choice(self.queries)} because it minimises the expected loss {token}"
        result = self.client.predict(answer, self.history, api_name="/interview_answer")
        history = texts_of(result[0])
        mine = max(i for i, (role, text) in enumerate(history) if role == "user" and token in text)
        after = " ".join(text for _, text in history[mine + 1 :])
        if ERROR_MARK in after:
            raise RuntimeError(f"interview answer refused: {after[:200]}")
        if "Score:" in after:
            self.acknowledged.append(answer)
        self.history = None if "Interview summary" in after or "interview is over" in after.lower() else result[0]


def run_users(users: list[User], seconds: float) -> list[tuple[str, float, float, str | None]]:
    """Every user loops until the deadline; returns (kind, start, latency_s, error) per request."""
    records: list[tuple[str, float, float, str | None]] = []
    lock = threading.Lock()
    start_line = threading.Barrier(len(users))
    kinds, weights = zip(*MIX, strict=True)

    def loop(user: User) -> None:
        start_line.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            kind = user.rng.choices(kinds, weights)[0]
            started = time.monotonic()
            error = None
            try:
                getattr(user, kind)()
            except Exception as exc:  # every failure is counted and reported, never hidden
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                if kind == "interview":
                    user.history = None
            with lock:
                records.append((kind, started, time.monotonic() - started, error))

    threads = [threading.Thread(target=loop, args=(u,), daemon=True) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 300)
    return records


def summarise(records, seconds: float) -> dict:
    def stats(rows):
        ms = np.array([r[2] * 1000 for r in rows]) if rows else np.zeros(1)
        return {"requests": len(rows), "errors": sum(r[3] is not None for r in rows), "per_s": round(len(rows) / seconds, 2),
                "p50_ms": round(float(np.percentile(ms, 50))), "p95_ms": round(float(np.percentile(ms, 95))), "p99_ms": round(float(np.percentile(ms, 99)))}

    by_kind = defaultdict(list)
    for r in records:
        by_kind[r[0]].append(r)
    errors = sorted({r[3] for r in records if r[3]})
    return {"all": stats(records), **{k: stats(v) for k, v in sorted(by_kind.items())}, "error_samples": errors[:10]}


def check_database(db_path: Path, users: list[User]) -> dict:
    db = sqlite3.connect(db_path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        stored = defaultdict(set)
        for profile, answer in db.execute("SELECT profile, answer FROM reviews"):
            stored[profile].add(answer)
    finally:
        db.close()
    acknowledged = [(u.profile, a) for u in users for a in u.acknowledged]
    missing = [(p, a) for p, a in acknowledged if a not in stored[p]]
    return {"integrity_check": integrity, "acknowledged_answers": len(acknowledged), "missing_from_db": len(missing),
            "missing_samples": missing[:5], "reviews_in_db": sum(len(v) for v in stored.values())}


def in_process_costs(work: Path, queries: list[str]) -> dict:
    """Where a request's time goes without HTTP: query encode, kb.search, the search tab's HTML, a chat
    reply, and a trivial Gradio round trip (the framework's own cost per request on this machine)."""
    sys.path.insert(0, str(ROOT))
    import gradio as gr
    from gradio_client import Client

    from kb import Config, KnowledgeBase
    from kb.coach.chat import answer
    from kb.ui.search_tab import search_results_html

    kb = KnowledgeBase.load(config=Config(corpus=work / "corpus", index=work / "index", data=work / "probe-data"))
    kb.search("warm up")
    sample = queries[:60]

    def p50(call) -> float:
        times = []
        for q in sample:
            kb.clear_query_cache()  # time the encode, not the remembered vector
            started = time.perf_counter()
            call(q)
            times.append((time.perf_counter() - started) * 1000)
        return round(float(np.percentile(times, 50)), 1)

    costs = {"encode_query_ms": p50(kb.encoder.encode_query), "kb_search_ms": p50(lambda q: kb.search(q, k=10)),
             "search_tab_html_ms": p50(lambda q: search_results_html(kb, q, "All families")), "chat_answer_ms": p50(lambda q: answer(kb, q))}
    with gr.Blocks() as echo_app:
        box, out = gr.Textbox(), gr.HTML()
        box.submit(lambda x: x, box, out, api_name="echo")
    port = free_port()
    echo_app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}", verbose=False)
        costs["gradio_echo_round_trip_ms"] = p50(lambda q: client.predict(q, api_name="/echo"))
    finally:
        echo_app.close()
    return costs


def start_server(work: Path, port: int, concurrency: int | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_DATA=str(work / "data"), KB_CORPUS=str(work / "corpus"), KB_INDEX=str(work / "index"))
    if concurrency:
        env["KB_CONCURRENCY"] = str(concurrency)
    build = subprocess.run([sys.executable, "-m", "kb", "build"], cwd=work, env=env, capture_output=True, text=True)
    if build.returncode != 0:
        raise SystemExit(f"kb build failed: {build.stderr}")
    log = open(work / "serve.log", "w")
    return subprocess.Popen([sys.executable, "-m", "kb", "serve", "--port", str(port)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Load test of the real web app (see the module docstring).")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--baseline", type=float, default=15.0, help="Seconds of one user alone before the load.")
    parser.add_argument("--concurrency", type=int, default=None, help="KB_CONCURRENCY for the server (Gradio default_concurrency_limit).")
    parser.add_argument("--breakdown", action="store_true", help="Also time encode, kb.search, chat and a trivial Gradio call in process.")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--label", default=None, help="Name of this run in the results file (default: users-concurrency).")
    args = parser.parse_args()

    queries = [json.loads(line)["query"] for line in (ROOT / "benchmarks" / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="kb-load-"))
    shutil.copytree(ROOT / "corpus", work / "corpus")
    port = free_port()
    server = start_server(work, port, args.concurrency)
    url = f"http://127.0.0.1:{port}"
    result: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "users": args.users, "duration_s": args.duration,
                    "concurrency": args.concurrency or "app default", "nproc": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    users: list[User] = []
    try:
        wait_http(url + "/", timeout=300)
        if args.breakdown:
            result["in_process"] = in_process_costs(work, queries)
            print("in process:", json.dumps(result["in_process"]), flush=True)
        solo = User(99, url, queries, seed=99)
        solo.search()  # the model finishes loading in the background; wait for it outside the clock
        users.append(solo)
        result["baseline_one_user"] = summarise(run_users([solo], args.baseline), args.baseline)
        print("one user:", json.dumps(result["baseline_one_user"]["all"]), flush=True)

        crowd = [User(i, url, queries, seed=i) for i in range(args.users)]
        users += crowd
        started = time.monotonic()
        records = run_users(crowd, args.duration)
        elapsed = time.monotonic() - started
        result["load"] = summarise(records, elapsed)
        result["load"]["elapsed_s"] = round(elapsed, 1)
        print(f"{args.users} users:", json.dumps(result["load"]), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    result["database"] = check_database(work / "data" / "progress.sqlite3", users)
    print("database:", json.dumps(result["database"]), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    if args.out:
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}
        runs = previous.get("runs", {}) if isinstance(previous, dict) else {}
        runs[args.label or f"{args.users}-users-concurrency-{args.concurrency or 'default'}"] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    failed = result["load"]["all"]["errors"] or result["database"]["missing_from_db"] or result["database"]["integrity_check"] != "ok"
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
