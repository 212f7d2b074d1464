"""Faults with real processes: SIGKILL mid-build, unwritable index folders, notes edited while running.

Each kill test runs the real `kb build` in a subprocess over a synthetic corpus (recombined from the
shipped and external notes; see benchmarks/synthetic_corpus.py) and sends SIGKILL at a moment it
observes from outside: the progress bar (through a pseudo-terminal) for "mid-embedding", and the index
files being renamed into place for "mid-write". The interview (SQLite) faults live at the end.
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from kb.errors import IndexCorruptError
from kb.retrieval.index import MANIFEST, load_index
from tests.support import copy_shipped_corpus, kb_argv, kb_env, kb_subprocess, load_benchmark, load_kb

BASE_CARDS = 400
KILL_WAIT_S = 300  # generous: the machine is shared; the kill itself is triggered by what we observe


def run_kb(tmp: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m kb ARGS` in `tmp`, its progress database in tmp/data."""
    return kb_subprocess(*args, env=kb_env(tmp), cwd=tmp, timeout=timeout)


@pytest.fixture(scope="module")
def base(tmp_path_factory, encoder):
    """A synthetic corpus of BASE_CARDS cards and its complete index, built once with the real model."""
    root = tmp_path_factory.mktemp("faults-base")
    load_benchmark("synthetic_corpus").write_corpus(root / "corpus", BASE_CARDS, seed=7, answer_words=12)
    kb = load_kb(root / "corpus", encoder)
    assert len(kb.cards()) == BASE_CARDS
    return root


@pytest.fixture()
def work(base, tmp_path) -> Path:
    shutil.copytree(base / "corpus", tmp_path / "corpus")
    shutil.copytree(base / "index", tmp_path / "index")
    return tmp_path


def start_build_with_tty(work: Path) -> tuple[subprocess.Popen, int]:
    """`kb build` with stderr on a pseudo-terminal, so its progress bar is drawn and can be read."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # tqdm draws nothing at width 0
    proc = subprocess.Popen(
        kb_argv("build", "--corpus", "corpus", "--index", "index"),
        cwd=work, env=kb_env(work), stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    os.close(slave)
    return proc, master


def sigkill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_kill_mid_embedding_keeps_the_old_index_and_the_next_build_finishes(work):
    load_benchmark("synthetic_corpus").write_corpus(work / "corpus" / "more", 300, seed=11, answer_words=12)
    proc, master = start_build_with_tty(work)
    seen = b""
    embedded = 0
    deadline = time.monotonic() + KILL_WAIT_S
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            seen += chunk
            counts = [int(n) for n in re.findall(rb"embedding: (\d+)", seen)]
            embedded = max(counts, default=0)
            if embedded > 0:
                sigkill(proc)
                break
    finally:
        if proc.poll() is None:
            sigkill(proc)
        os.close(master)
    assert 0 < embedded < 600, f"the kill did not land mid-embedding (progress seen: {seen[-300:]!r})"

    # The old index is untouched: it still loads and verifies (manifest checksums) as it was.
    old = load_index(work / "index")
    assert len(old.cards) == BASE_CARDS

    after = run_kb(work, "build", "--corpus", "corpus", "--index", "index")
    assert after.returncode == 0, after.stderr
    assert re.search(rf"updated index .*: {BASE_CARDS + 300} cards", after.stdout), after.stdout
    assert re.search(rf"re-embedded 300, reused {BASE_CARDS}", after.stdout), after.stdout
    assert len(load_index(work / "index").cards) == BASE_CARDS + 300


def test_kill_mid_write_is_detected_rebuilt_and_said(work):
    """Kill after cards.json is renamed into place but before the manifest is: a half-written index."""
    note = work / "corpus" / "note-00003.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n### Q: What does a killed write leave behind?\n\nA half-written index folder.\n", encoding="utf-8")
    index = work / "index"
    cards_inode = (index / "cards.json").stat().st_ino
    manifest_inode = (index / MANIFEST).stat().st_ino
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb", "build", "--corpus", "corpus", "--index", "index"],
        cwd=work, env=kb_env(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    landed = False
    deadline = time.monotonic() + KILL_WAIT_S
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if (index / "cards.json").stat().st_ino != cards_inode:
                    if (index / MANIFEST).stat().st_ino == manifest_inode:
                        os.kill(proc.pid, signal.SIGKILL)
                        landed = True
                    break
            except FileNotFoundError:
                pass
    finally:
        if proc.poll() is None and not landed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert landed and proc.returncode == -signal.SIGKILL, "the kill did not land between the cards and the manifest"
    assert (index / MANIFEST).stat().st_ino == manifest_inode, "the manifest was replaced before the kill took effect"

    with pytest.raises(IndexCorruptError):
        load_index(index)  # the old manifest no longer matches the new cards.json

    after = run_kb(work, "build", "--corpus", "corpus", "--index", "index")
    assert after.returncode == 0, after.stderr
    assert "half-written" in after.stderr and "rebuilt" in after.stderr, after.stderr
    assert re.search(rf"built index .*: {BASE_CARDS + 1} cards", after.stdout), after.stdout
    rebuilt = load_index(index)
    assert len(rebuilt.cards) == BASE_CARDS + 1
    assert any(c.question == "What does a killed write leave behind?" for c in rebuilt.cards)


# ---- unwritable index folders -------------------------------------------------------------------
# Tests run as root in CI, where chmod does not stop writes. Two stand-ins: an index path that runs
# through a regular file (mkdir fails with NotADirectoryError, everywhere), and an immutable folder
# (chattr +i stops root too; skipped where the filesystem or the container does not allow it).


@pytest.fixture()
def shipped_workdir(tmp_path) -> Path:
    """A working folder holding a copy of the shipped notes in corpus/ (and nothing else yet)."""
    copy_shipped_corpus(tmp_path)
    return tmp_path


def test_index_path_under_a_regular_file(shipped_workdir):
    (shipped_workdir / "blocker").write_text("a file, not a folder\n")
    build = run_kb(shipped_workdir, "build", "--corpus", "corpus", "--index", "blocker/index")
    assert build.returncode == 1
    assert "kb: error: cannot write the index to blocker/index" in build.stderr and "Not a directory" in build.stderr
    assert "Traceback" not in build.stderr and "built index" not in build.stdout

    search = run_kb(shipped_workdir, "search", "why does PPO clip", "-k", "1", "--corpus", "corpus", "--index", "blocker/index")
    assert search.returncode == 0, search.stderr
    assert "how-does-ppo-work-why-the-clip" in search.stdout
    assert "cannot write the index to blocker/index" in search.stderr and "in memory only" in search.stderr


def _chattr(flag: str, path: Path) -> bool:
    if not shutil.which("chattr"):
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_immutable_index_folder(shipped_workdir):
    assert run_kb(shipped_workdir, "build", "--corpus", "corpus", "--index", "index").returncode == 0
    note = shipped_workdir / "corpus" / "losses-in-deep-learning.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n### Q: What is a frozen-folder loss?\n\nA made-up loss for this test.\n", encoding="utf-8")
    if not _chattr("+i", shipped_workdir / "index"):
        pytest.skip("chattr +i is not permitted here (filesystem or container); the regular-file test covers this")
    try:
        build = run_kb(shipped_workdir, "build", "--corpus", "corpus", "--index", "index")
        assert build.returncode == 1
        assert "cannot write the index to index" in build.stderr and "Operation not permitted" in build.stderr
        search = run_kb(shipped_workdir, "search", "frozen-folder loss", "-k", "1", "--json", "--corpus", "corpus", "--index", "index")
        assert search.returncode == 0, search.stderr
        assert "what-is-a-frozen-folder-loss" in search.stdout  # served from memory
        assert "in memory only" in search.stderr
    finally:
        _chattr("-i", shipped_workdir / "index")
    assert len(load_index(shipped_workdir / "index").cards) == 59, "the old index is intact"


# ---- a note edited while the knowledge base is running ----------------------------------------------


def test_note_edited_while_running_is_found_at_the_next_search(make_kb):
    from kb.knowledge import REFRESH_INTERVAL_S

    kb = make_kb({"a.md": "## Basics\n\n### Q: What is MSE?\n\nMean squared error.\n"})
    assert all("quokka" not in h.card.question.lower() for h in kb.search("quokka regularisation", k=5))
    note = kb.config.corpus / "a.md"
    note.write_text(note.read_text() + "\n### Q: What is quokka regularisation?\n\nA penalty named after a marsupial.\n", encoding="utf-8")
    time.sleep(REFRESH_INTERVAL_S + 0.2)  # the stat fingerprint is checked at most this often
    hits = kb.search("quokka regularisation", k=1)
    assert hits[0].card.question == "What is quokka regularisation?"
    assert kb.report.action == "updated" and kb.report.embedded == 1


# ---- the interview's progress database ------------------------------------------------------------------


class Terminal:
    """Talks to `kb interview` over pipes, reading prompts that end without a newline."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.seen = ""

    def until(self, marker: str, timeout: float = KILL_WAIT_S) -> str:
        import select

        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            if time.monotonic() > deadline or self.proc.poll() is not None and not select.select([self.proc.stdout], [], [], 0)[0]:
                raise AssertionError(f"no {marker!r} from kb interview; last output: {self.seen[-500:]!r}")
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536).decode("utf-8", "replace")
                if not chunk and self.proc.poll() is not None:
                    continue
                self.seen += chunk
        before, _, self.seen = self.seen.partition(marker)
        return before

    def send(self, line: str) -> None:
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()


def start_interview(shipped_kb, data: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        kb_argv("interview", "--corpus", shipped_kb.config.corpus, "--index", shipped_kb.config.index,
                "--data", data, "--profile", "ana", "--length", "20", "--mode", "random", "--seed", "3", "--no-follow-ups", *extra),
        cwd=shipped_kb.config.corpus.parent, env=kb_env(shipped_kb.config.corpus.parent), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_kill_during_an_interview_answer_loses_no_acknowledged_review(shipped_kb, tmp_path):
    from kb.coach.progress import ProgressStore

    data = tmp_path / "data"
    proc = start_interview(shipped_kb, data)
    term = Terminal(proc)
    acknowledged = []
    try:
        for n in range(1, 4):
            term.until("> ")
            answer = f"the loss is minimised by gradient descent (answer {n})"
            term.send(answer)
            term.until("rating [Enter")  # shown only after the review is committed
            acknowledged.append(answer)
            term.send("good" if n == 2 else "")
        term.until("> ")
        term.send("an answer that is being graded when the process dies (answer 4)")
        time.sleep(0.05)  # inside grading or the SQLite write
        sigkill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)

    with ProgressStore(data / "progress.sqlite3") as store:
        assert store.integrity_check() == "ok"
        reviews = store.reviews("ana")
        stored = [r.answer for r in reviews]
        assert set(acknowledged) <= set(stored), (acknowledged, stored)
        assert len(stored) in (3, 4)  # the answer in flight is either wholly written or not at all
        assert [r.rating for r in reviews if r.answer == acknowledged[1]] == ["good"]  # the override was committed too
        assert sum(s.reviews for s in store.card_states("ana").values()) == len(stored)

    again = start_interview(shipped_kb, data)  # the next run opens the same database and goes on
    out, err = again.communicate(b"end\n", timeout=KILL_WAIT_S)
    assert again.returncode == 0, err.decode()


def test_a_corrupt_progress_database_is_named_and_left_untouched(shipped_kb, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    damaged = b"SQLite format 3\x00" + b"\xff" * 8000  # a real header over garbage pages
    (data / "progress.sqlite3").write_bytes(damaged)
    proc = start_interview(shipped_kb, data)
    out, err = proc.communicate(b"end\n", timeout=KILL_WAIT_S)
    message = err.decode()
    assert proc.returncode == 1
    assert f"{data / 'progress.sqlite3'}" in message and "corrupt" in message and "move it aside" in message
    assert "Traceback" not in message
    assert (data / "progress.sqlite3").read_bytes() == damaged, "never silently replaced"


def test_a_data_path_under_a_regular_file_is_a_clear_error(shipped_kb, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder\n")
    proc = start_interview(shipped_kb, tmp_path / "blocker" / "data")
    out, err = proc.communicate(b"end\n", timeout=KILL_WAIT_S)
    message = err.decode()
    assert proc.returncode == 1, message
    assert "kb: error:" in message and str(tmp_path / "blocker" / "data") in message and "KB_DATA" in message
    assert "Traceback" not in message


def test_an_immutable_data_folder_is_a_clear_error(shipped_kb, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    if not _chattr("+i", data):
        pytest.skip("chattr +i is not permitted here (filesystem or container); the regular-file test covers this")
    try:
        proc = start_interview(shipped_kb, data)
        out, err = proc.communicate(b"end\n", timeout=KILL_WAIT_S)
    finally:
        _chattr("-i", data)
    message = err.decode()
    assert proc.returncode == 1, message
    assert "kb: error:" in message and str(data) in message and "Traceback" not in message
