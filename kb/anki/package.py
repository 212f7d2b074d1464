"""Reading an Anki package (.apkg, .colpkg): the SQLite collection inside and its media.

Three collection formats are read, newest first when a package holds several:

  collection.anki21b  current packages: a zstd-compressed SQLite file (schema 18: decks, notetypes,
                      fields and templates in their own tables, protobuf configs); media files are
                      zstd-compressed too and the `media` map is a zstd-compressed protobuf
  collection.anki21   legacy 2 (Anki 2.1): SQLite, schema 11 (decks and models as JSON in `col`)
  collection.anki2    legacy 1 (genanki, Anki 2.0); in a current package only a stub saying "update Anki"

The collection is copied to a temporary file and opened read-only; nothing in the package is
extracted by its own name, so a hostile zip cannot write outside the temporary folder.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kb.errors import KbError

COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
LATEST_PACKAGE_VERSION = 3  # `meta` protobuf: 1 legacy (anki2), 2 legacy (anki21), 3 latest (anki21b, zstd)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
FIELD_SEPARATOR = "\x1f"


class AnkiPackageError(KbError):
    """An Anki package that cannot be read (not a zip, no collection inside, damaged SQLite)."""


@dataclass
class Notetype:
    id: int
    name: str
    cloze: bool
    fields: list[str]
    templates: list[tuple[str, str]]  # (question format, answer format) per card ordinal


@dataclass
class Note:
    id: int
    guid: str
    notetype: int
    fields: list[str]
    tags: list[str]


@dataclass
class CardRow:
    id: int
    note: int
    deck: int  # the home deck (a card in a filtered deck counts in its original deck)
    ord: int


@dataclass
class RevlogRow:
    card: int
    at_ms: int  # the revlog id: milliseconds since the epoch when the card was answered
    ease: int  # 1-4 (again, hard, good, easy); 0 for a manual reschedule
    kind: int  # 0 learn, 1 review, 2 relearn, 3 filtered, 4 manual, 5 rescheduled


@dataclass
class AnkiCollection:
    format: str  # the collection file read: collection.anki21b, collection.anki21 or collection.anki2
    decks: dict[int, str]  # id -> "Parent::Child"
    notetypes: dict[int, Notetype]
    notes: dict[int, Note]
    cards: list[CardRow]
    revlog: list[RevlogRow]
    sched_version: int  # 1: learning cards had three buttons (ease 2 = good, 3 = easy)
    media: dict[str, str] = field(default_factory=dict)  # media file name -> zip member


# ---- protobuf, just enough to read Anki's small config messages ---------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def proto_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message: ints for varints and fixed ints, bytes otherwise."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _proto_first(data: bytes, number: int) -> int | bytes | None:
    return next((value for n, value in proto_fields(data or b"") if n == number), None)


def _proto_bytes(data: bytes, number: int) -> bytes:
    """A string or message field; b"" when absent (or not length-delimited)."""
    value = _proto_first(data, number)
    return value if isinstance(value, bytes) else b""


def _proto_int(data: bytes, number: int) -> int | None:
    """A varint or fixed-width field; None when absent (or not a number)."""
    value = _proto_first(data, number)
    return value if isinstance(value, int) else None


# ---- the package ----------------------------------------------------------------------------------


def _zstd_stream(source: IO[bytes], target: IO[bytes]) -> None:
    import zstandard

    zstandard.ZstdDecompressor().copy_stream(source, target)


def _zstd_bytes(data: bytes) -> bytes:
    import zstandard

    decompressed: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return decompressed


class AnkiPackage:
    """An open package: `.collection` read from its SQLite file, `.media_bytes(name)` for its media."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AnkiPackageError(f"no Anki package at {self.path}")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise AnkiPackageError(f"{self.path} is not an Anki package (.apkg/.colpkg are zip files): {exc}") from exc
        self._tmp = tempfile.TemporaryDirectory(prefix="kb-anki-")
        try:
            self.version = self._package_version()
            self.collection = self._read_collection()
            self.collection.media = self._media_map()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._zip.close()
        self._tmp.cleanup()

    def __enter__(self) -> AnkiPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _names(self) -> set[str]:
        return set(self._zip.namelist())

    def _package_version(self) -> int:
        if "meta" not in self._names():
            return 2 if "collection.anki21" in self._names() else 1
        try:
            return _proto_int(self._zip.read("meta"), 1) or 0
        except ValueError:
            return 0

    def _read_collection(self) -> AnkiCollection:
        names = self._names()
        chosen = next((name for name in COLLECTIONS if name in names), None)
        if chosen is None:
            raise AnkiPackageError(f"{self.path} holds no Anki collection (none of {', '.join(COLLECTIONS)})")
        target = Path(self._tmp.name) / "collection.sqlite"
        try:
            with self._zip.open(chosen) as source:
                compressed = source.read(4) == ZSTD_MAGIC
            with self._zip.open(chosen) as source, open(target, "wb") as out:
                if compressed:
                    _zstd_stream(source, out)
                else:
                    shutil.copyfileobj(source, out)
        except Exception as exc:  # zstd or zip errors: a damaged package
            raise AnkiPackageError(f"{self.path}: cannot read {chosen} ({type(exc).__name__}: {exc})") from exc
        db = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        db.create_collation("unicase", lambda a, b: (a.lower() > b.lower()) - (a.lower() < b.lower()))
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "notetypes" in tables:
                decks, notetypes, sched = _schema18(db)
            else:
                decks, notetypes, sched = _schema11(db)
            notes = {
                nid: Note(nid, guid, mid, flds.split(FIELD_SEPARATOR), tags.split())
                for nid, guid, mid, flds, tags in db.execute("SELECT id, guid, mid, flds, tags FROM notes ORDER BY id")
            }
            cards = [CardRow(cid, nid, odid or did, ord)
                     for cid, nid, did, odid, ord in db.execute("SELECT id, nid, did, odid, ord FROM cards ORDER BY nid, ord")]
            revlog = [RevlogRow(cid, rid, ease, kind) for rid, cid, ease, kind in db.execute("SELECT id, cid, ease, type FROM revlog ORDER BY id")]
        except sqlite3.DatabaseError as exc:
            raise AnkiPackageError(f"{self.path}: {chosen} is not a readable Anki collection ({exc})") from exc
        finally:
            db.close()
        return AnkiCollection(chosen, decks, notetypes, notes, cards, revlog, sched)

    def _media_map(self) -> dict[str, str]:
        """Media file name -> zip member ("0", "1", ...): JSON in legacy packages, zstd protobuf in current ones."""
        if "media" not in self._names():
            return {}
        raw = self._zip.read("media")
        if raw[:4] == ZSTD_MAGIC:
            raw = _zstd_bytes(raw)
        if raw.lstrip()[:1] == b"{":
            try:
                return {str(name): str(member) for member, name in json.loads(raw.decode("utf-8")).items()}
            except ValueError as exc:
                raise AnkiPackageError(f"{self.path}: the media map is damaged ({exc})") from exc
        found = {}
        try:
            for index, entry in enumerate(v for n, v in proto_fields(raw) if n == 1):
                message = entry if isinstance(entry, bytes) else b""
                name = _proto_bytes(message, 1).decode("utf-8", errors="replace")
                member = _proto_int(message, 255)
                found[name] = str(member if member is not None else index)
        except ValueError as exc:
            raise AnkiPackageError(f"{self.path}: the media map is damaged ({exc})") from exc
        return found

    def media_bytes(self, name: str) -> bytes | None:
        """A media file's bytes, or None when the package does not hold it."""
        member = self.collection.media.get(name)
        if member is None or member not in self._names():
            return None
        data = self._zip.read(member)
        if self.version >= LATEST_PACKAGE_VERSION and data[:4] == ZSTD_MAGIC:
            data = _zstd_bytes(data)
        return data


# ---- the two schemas -------------------------------------------------------------------------------


def _schema11(db: sqlite3.Connection) -> tuple[dict[int, str], dict[int, Notetype], int]:
    """Legacy collections: decks, models and config as JSON in the one `col` row."""
    decks_json, models_json, conf_json = db.execute("SELECT decks, models, conf FROM col").fetchone()
    decks = {int(d["id"]): str(d["name"]) for d in json.loads(decks_json).values()}
    notetypes: dict[int, Notetype] = {}
    for model in json.loads(models_json).values():
        fields = [f["name"] for f in sorted(model.get("flds", []), key=lambda f: f.get("ord", 0))]
        templates = [(t.get("qfmt", ""), t.get("afmt", "")) for t in sorted(model.get("tmpls", []), key=lambda t: t.get("ord", 0))]
        notetypes[int(model["id"])] = Notetype(int(model["id"]), str(model.get("name", "")), int(model.get("type", 0)) == 1, fields, templates)
    try:
        sched = int(json.loads(conf_json or "{}").get("schedVer", 1))
    except (ValueError, TypeError, AttributeError):
        sched = 1
    return decks, notetypes, sched


def _schema18(db: sqlite3.Connection) -> tuple[dict[int, str], dict[int, Notetype], int]:
    """Current collections: decks, notetypes, fields and templates in tables; configs are protobuf."""
    decks = {did: name.replace(FIELD_SEPARATOR, "::") for did, name in db.execute("SELECT id, name FROM decks")}
    fields: dict[int, list[str]] = {}
    for ntid, _ord, name in db.execute("SELECT ntid, ord, name FROM fields ORDER BY ntid, ord"):
        fields.setdefault(ntid, []).append(name)
    templates: dict[int, list[tuple[str, str]]] = {}
    for ntid, _ord, config in db.execute("SELECT ntid, ord, config FROM templates ORDER BY ntid, ord"):
        qfmt = _proto_bytes(config, 1).decode("utf-8", errors="replace")
        afmt = _proto_bytes(config, 2).decode("utf-8", errors="replace")
        templates.setdefault(ntid, []).append((qfmt, afmt))
    notetypes = {
        ntid: Notetype(ntid, name, _proto_int(config, 1) == 1, fields.get(ntid, []), templates.get(ntid, []))
        for ntid, name, config in db.execute("SELECT id, name, config FROM notetypes")
    }
    sched = 2
    row = db.execute("SELECT val FROM config WHERE KEY='schedVer'").fetchone()
    if row is not None:
        try:
            sched = int(json.loads(bytes(row[0]).decode("utf-8")))
        except (ValueError, TypeError):
            pass
    return decks, notetypes, sched
