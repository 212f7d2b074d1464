"""Startup of the web app: time to page and to the first search answer, from a cold process.

Launches `python app.py` on a free port over a prepared index (as a user's second launch would),
then measures from process start:
  page      first HTTP 200 for "/" (the page can be used: browsing never waits for the model)
  answer    first search answer through the app's "search" endpoint (keyword-only until the model is in)
  semantic  first hybrid answer (the embedding model is loaded)
Baselines measured in the same run: a minimal Gradio Blocks app's time to page (the floor set by
`import gradio`), and the cold import of sentence-transformers (what the model load used to cost).
Goals on 2 cores: page <= 3 s, first answer <= 8 s.

    python benchmarks/bench_startup.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = "why does ppo clip the ratio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def call_search(base: str, query: str) -> str | None:
    """One call of the app's `search` endpoint (Gradio's HTTP API); the result HTML or None."""
    try:
        request = urllib.request.Request(f"{base}/gradio_api/call/search", data=json.dumps({"data": [query, "All families"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            event_id = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{base}/gradio_api/call/search/{event_id}", timeout=60) as response:
            stream = response.read().decode("utf-8", "replace")
    except OSError:
        return None
    for block in stream.split("\n\n"):
        if block.startswith("event: complete"):
            data = block.split("data:", 1)[1].strip()
            return json.loads(data)[0]
    return None


def launch(command: list[str], env: dict, timeout: float = 120.0) -> tuple[subprocess.Popen, float, int]:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    while not http_ok(base + "/"):
        if proc.poll() is not None or time.perf_counter() - started > timeout:
            proc.kill()
            raise RuntimeError(f"{' '.join(command)} did not serve a page (exit code {proc.poll()})")
        time.sleep(0.05)
    return proc, time.perf_counter() - started, port


def measure_app(env: dict, query: str = QUERY) -> dict:
    """Seconds from launch to page, first answer and first semantic answer; then the server's peak RSS."""
    proc, page, port = launch([sys.executable, "app.py"], env)
    started = time.perf_counter() - page
    base = f"http://127.0.0.1:{port}"
    first_answer = semantic = None
    try:
        while semantic is None and time.perf_counter() - started < 180:
            html = call_search(base, query)
            now = time.perf_counter() - started
            if html and "kb-hit" in html:
                first_answer = first_answer or now
                if "still loading" not in html:
                    semantic = now
            time.sleep(0.05)
        memory = {"peak_rss_mb": peak_rss_mb(proc.pid), "torch_loaded": torch_mapped(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(10)
    return {"page": page, "answer": first_answer, "semantic": semantic, **memory}


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def torch_mapped(pid: int) -> bool | None:
    """Whether the process has libtorch mapped, i.e. imported torch."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


MINIMAL_APP = textwrap.dedent(
    """
    import sys
    import gradio as gr
    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Markdown("hello")
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[-1]))
    """
)


def measure_minimal_gradio(env: dict, script: Path) -> float:
    proc, page, _ = launch([sys.executable, str(script)], env)
    proc.terminate()
    proc.wait(10)
    return page


def measure_import(module: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kb-bench-startup-"))
    env = {**os.environ, "KB_INDEX": str(work / "index"), "KB_DATA": str(work / "data"), "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    subprocess.run([sys.executable, "-m", "kb", "build"], cwd=ROOT, env=env, check=True, capture_output=True)
    script = work / "minimal_app.py"
    script.write_text(MINIMAL_APP, encoding="utf-8")

    runs = [measure_app(env) for _ in range(args.rounds)]
    minimal = [measure_minimal_gradio(env, script) for _ in range(args.rounds)]
    st_import = [measure_import("sentence_transformers", env) for _ in range(max(1, args.rounds // 2))]

    print(f"startup of `python app.py` over a built index, {args.rounds} rounds, medians (s):")
    print(f"  page (first HTTP 200)           {median(r['page'] for r in runs):6.2f}   goal <= 3")
    print(f"  first search answer             {median(r['answer'] for r in runs):6.2f}   goal <= 8")
    print(f"  first semantic (hybrid) answer  {median(r['semantic'] for r in runs):6.2f}")
    print("baselines, same run:")
    print(f"  minimal Gradio Blocks app, page {median(minimal):6.2f}")
    print(f"  cold `import sentence_transformers` {median(st_import):6.2f}")
    print("rounds:", json.dumps([{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in runs]))


if __name__ == "__main__":
    main()
