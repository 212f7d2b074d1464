"""Images in notes, made safe to show offline.

A note may show images. Remote ones (https://, //host) would make the browser fetch from the internet
every time a card is shown, telling that host what you study: they become links naming the host, unless
KB_REMOTE_IMAGES=1 (or `kb serve --remote-images`).

Local images (a relative path beside the note) are read here and sent inline as data: URIs. We chose that
over Gradio's allowed_paths because allowed_paths would serve every file under the folder (the notes
themselves, `.kb/`, `.obsidian/`, anything) to whoever can reach the page, by URL, for as long as the app
runs; a data: URI exposes only the bytes of an image file that a note names, that resolves (symlinks
followed) inside the corpus folder, has an image suffix and is at most MAX_INLINE_IMAGE_BYTES.
"""
from __future__ import annotations

import base64
import functools
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from markdown_it.common.utils import normalizeReference

from kb import markdown_parser as parser
from kb.config import setting_flag


def escape_text(text: str) -> str:  # as kb.ui.render's, which builds on this module
    return html.escape(text or "", quote=True)


IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
               ".svg": "image/svg+xml", ".bmp": "image/bmp", ".avif": "image/avif"}
MAX_INLINE_IMAGE_BYTES = 4 * 1024 * 1024
_remote_images_override: list[bool] = []  # set by `kb serve --remote-images`; empty: KB_REMOTE_IMAGES decides
_MD_IMAGE_RE = re.compile(
    r"!\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]"  # ![alt], alt may hold one level of [brackets]
    r"(?:\(\s*(<[^<>\n]*>|(?:[^\s()]|\([^\s()]*\))*)(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"  # (url "title")
    r"|\[([^\[\]\n]*)\])?"  # [label], [] or nothing: a reference image
)
_HTML_TAG_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)\b((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR_RE = re.compile(r"([a-zA-Z_:][\w:.-]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+)")
_RESOURCE_ATTRS = {"src", "srcset", "poster", "data", "background", "lowsrc", "dynsrc", "xlink:href"}
_IMAGE_TAGS = {"img", "picture", "source", "image", "input"}
_CSS_URL_RE = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE)
_CODE_SPAN_RE = re.compile(r"(`+)(?:.+?)\1")
_MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def allow_remote_images(allowed: bool | None) -> None:
    """`kb serve --remote-images`: decide for this process (None: back to KB_REMOTE_IMAGES)."""
    _remote_images_override[:] = [] if allowed is None else [bool(allowed)]


def remote_images_allowed() -> bool:
    if _remote_images_override:
        return _remote_images_override[0]
    return setting_flag("KB_REMOTE_IMAGES")


def image_policy_head() -> str:
    """A Content-Security-Policy for the page head: with remote images off, the browser itself refuses to
    load an image from anywhere but this server or inline data, whatever markup a note finds to slip past
    the rewriting below."""
    if remote_images_allowed():
        return ""
    return "<meta http-equiv=\"Content-Security-Policy\" content=\"img-src 'self' data: blob:\">"


def _is_remote(url: str) -> bool:
    """Anything but a relative path or inline image data: http(s), //host, and also file:, javascript: ..."""
    low = url.strip().lower()
    if low.startswith(("data:image/", "blob:")):
        return False
    return low.startswith(("//", "\\\\")) or bool(re.match(r"[a-z][a-z0-9+.-]*:", low))


def _remote_link(url: str, alt: str = "", what: str = "image") -> str:
    """A link naming the host ("image from example.org") in place of the remote thing; not even a link
    for a URL that is not http(s)."""
    url = url.strip()
    url = "https:" + url if url.startswith("//") else url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        return f'<span class="kb-image-off">[{what} not shown{": " + escape_text(alt) if alt else ""}]</span>'
    title = f' title="{escape_text(alt)}"' if alt else ""
    return f'<a class="kb-remote-image" href="{escape_text(url)}"{title}>{what} from {escape_text(host)}</a>'


@functools.lru_cache(maxsize=64)
def _data_uri(path: str, mtime_ns: int, size: int) -> str:
    data = Path(path).read_bytes()
    return f"data:{IMAGE_TYPES[Path(path).suffix.lower()]};base64,{base64.b64encode(data).decode('ascii')}"


def local_image_uri(url: str, note_dir: Path | None, root: Path | None) -> str | None:
    """A data: URI for an image a note names by a relative path, if it is an image file inside `root`."""
    if note_dir is None or root is None:
        return None
    rel = unquote(url.strip().split("#", 1)[0].split("?", 1)[0])
    if not rel or rel.startswith(("/", "\\")):
        return None
    try:
        target = (note_dir / rel).resolve()
        inside = target.is_relative_to(root.resolve())
        stat = target.stat() if inside and target.suffix.lower() in IMAGE_TYPES else None
    except (OSError, ValueError):
        return None
    if stat is None or not target.is_file() or stat.st_size > MAX_INLINE_IMAGE_BYTES:
        return None
    try:
        return _data_uri(str(target), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return None


def _image_html(url: str, alt: str, note_dir: Path | None, root: Path | None, allow_remote: bool, extra: str = "") -> str | None:
    """What an image becomes; None leaves its markup as written. `extra`: safe attributes to keep (width...)."""
    url = url.strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]
    if url.lower().startswith("data:image/"):
        return None
    if _is_remote(url):
        return None if allow_remote and url.lower().startswith(("https:", "http:", "//")) else _remote_link(url, alt)
    uri = local_image_uri(url, note_dir, root)
    if uri is not None:
        return f'<img class="kb-note-image" src="{uri}" alt="{escape_text(alt)}"{extra}>'
    if note_dir is None:
        return None  # no note to look beside (chat, interview): a relative path can only reach this server
    return f'<span class="kb-image-off">[image {escape_text(url[:120])} not found{": " + escape_text(alt) if alt else ""}]</span>'


def _rewrite_tag(match: re.Match[str], note_dir: Path | None, root: Path | None, allow_remote: bool) -> str:
    name, attrs = match.group(1).lower(), match.group(2)
    if name == "a":
        return match.group(0)
    found = {m.group(1).lower(): m.group(2).strip("\"'") for m in _ATTR_RE.finditer(attrs)}
    if name == "img":
        alt = html.unescape(found.get("alt", ""))
        src = html.unescape(found.get("src", ""))
        if "srcset" in found or not src:  # candidates the browser would pick among: show the first as a link
            src = src or html.unescape(found.get("srcset", "")).strip().split(" ")[0].rstrip(",")
            if allow_remote:
                return match.group(0)
            return _image_html(src, alt, note_dir, root, False) or f'<img alt="{escape_text(alt)}">'
        extra = "".join(f' {k}="{escape_text(html.unescape(found[k]))}"' for k in ("width", "height", "title") if k in found)
        return _image_html(src, alt, note_dir, root, allow_remote, extra) or match.group(0)
    if allow_remote:
        return match.group(0)
    links, kept = [], []
    for m in _ATTR_RE.finditer(attrs):
        key, value = m.group(1).lower(), html.unescape(m.group(2).strip("\"'"))
        urls = [c.strip().split(" ")[0] for c in value.split(",")] if key == "srcset" else [value]
        resource = key in _RESOURCE_ATTRS or (key == "href" and name not in ("a", "area"))
        if resource and any(_is_remote(u) for u in urls if u):
            links += [_remote_link(u, what="image" if name in _IMAGE_TAGS else name) for u in urls if u and _is_remote(u)]
            continue
        if key == "style" and any(_is_remote(u.group(2)) for u in _CSS_URL_RE.finditer(value)):
            value = _CSS_URL_RE.sub(lambda u: "none" if _is_remote(u.group(2)) else u.group(0), value)
        kept.append(f'{key}="{escape_text(value)}"')
    if not links and len(kept) == len(list(_ATTR_RE.finditer(attrs))) and "url(" not in attrs.lower():
        return match.group(0)
    return f"<{name}{''.join(' ' + k for k in kept)}>" + " ".join(links)


def rewrite_images(markdown: str, note_dir: Path | None = None, root: Path | None = None) -> str:
    """Images in a note made safe to show offline (see above). Code blocks and code spans stay as written.

    `note_dir` is the folder of the note (relative paths start there) and `root` the corpus folder no image
    may come from outside of; without them local images are left as written.
    """
    if not markdown or ("![" not in markdown and "<" not in markdown):
        return markdown or ""
    allow_remote = remote_images_allowed()
    env: dict[str, Any] = {}  # markdown-it's: the link reference definitions it read
    tokens = parser().parse(markdown, env)
    references = env.get("references", {})
    lines = markdown.split("\n")
    code = [False] * len(lines)
    for token in tokens:
        if token.type in ("fence", "code_block") and token.map:
            for i in range(token.map[0], min(token.map[1], len(lines))):
                code[i] = True

    def markdown_image(m: re.Match[str]) -> str:
        alt, url, label = m.group(1), m.group(2), m.group(3)
        if url is None:  # ![alt][label], ![label][] or ![label]
            ref = references.get(normalizeReference(label or alt))
            if ref is None:
                return m.group(0)
            url = ref["href"]
        else:  # as markdown reads a destination: backslash escapes and entities (`&#104;ttps:`) resolved
            url = html.unescape(_MD_ESCAPE_RE.sub(r"\1", url))
        return _image_html(url, alt, note_dir, root, allow_remote) or m.group(0)

    def outside_code(text: str) -> str:
        out, cursor = [], 0
        for span in _CODE_SPAN_RE.finditer(text):
            out.append(rewrite_prose(text[cursor : span.start()]))
            out.append(span.group(0))
            cursor = span.end()
        out.append(rewrite_prose(text[cursor:]))
        return "".join(out)

    def rewrite_prose(text: str) -> str:
        text = _MD_IMAGE_RE.sub(markdown_image, text)
        return _HTML_TAG_RE.sub(lambda m: _rewrite_tag(m, note_dir, root, allow_remote), text)

    out: list[str] = []
    chunk: list[str] = []
    for line, in_code in zip(lines, code, strict=True):
        if in_code:
            if chunk:
                out.append(outside_code("\n".join(chunk)))
                chunk = []
            out.append(line)
        else:
            chunk.append(line)
    if chunk:
        out.append(outside_code("\n".join(chunk)))
    return "\n".join(out)
