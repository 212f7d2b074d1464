"""Finding and reading note files safely: hidden folders, size limit, encodings, binary files."""
from __future__ import annotations

import hashlib
from pathlib import Path

from kb.notes.logseq import graph_root, is_graph_internal
from kb.notes.problems import Problem


def read_note(path: Path, note: str, max_bytes: int) -> tuple[str | None, list[Problem], str]:
    """Read a note's bytes safely. Returns (text or None when unusable, problems, sha256)."""
    problems: list[Problem] = []
    try:
        size = path.stat().st_size
        if size > max_bytes:
            digest = hashlib.sha256(f"{size}:{path.stat().st_mtime_ns}".encode()).hexdigest()
            mb = size / 1_048_576
            problems.append(Problem(note, None, f"file is {mb:.1f} MB, over the {max_bytes / 1_048_576:.0f} MB limit (KB_MAX_NOTE_BYTES); skipped"))
            return None, problems, digest
        data = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(note, None, f"cannot be read: {exc.strerror or exc}"))
        return None, problems, ""
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip():
        problems.append(Problem(note, None, "empty file; nothing to index"))
        return None, problems, digest
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a byte-order mark (Windows editors)
        try:
            return data.decode("utf-16"), [Problem(note, None, "UTF-16 file; read as UTF-16 (save it as UTF-8)")], digest
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        problems.append(Problem(note, None, "binary file (NUL bytes), not a markdown note; skipped"))
        return None, problems, digest
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        head = data[:8192].decode("utf-8", errors="replace")
        if head.count("\ufffd") > 0.1 * len(head):
            problems.append(Problem(note, None, "binary file (mostly bytes that are not text), not a markdown note; skipped"))
            return None, problems, digest
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(note, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); undecodable bytes shown as \ufffd"))
        text = data.decode("utf-8", errors="replace")
    return text, problems, digest


def note_paths(corpus: Path) -> list[Path]:
    """Every *.md under the corpus, recursively, sorted; hidden folders (.obsidian, .trash) skipped,
    and so is a Logseq graph's own `logseq/` folder (its bak/ and version-files/ hold old page copies)."""
    root = corpus.resolve()
    found = []
    for path in sorted(corpus.rglob("*.md")):
        rel = path.relative_to(corpus)
        if any(part.startswith(".") for part in rel.parts):
            continue
        graph = graph_root(path, corpus) if "logseq" in rel.parts else None
        if graph is not None and is_graph_internal(path, graph):
            continue
        try:
            path.resolve().relative_to(root)
        except ValueError:
            continue  # a symlink pointing outside the corpus is not followed
        if path.is_file():
            found.append(path)
    return found
