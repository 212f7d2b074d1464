"""Images in notes, offline: remote ones (markdown or HTML) become links naming their host unless
KB_REMOTE_IMAGES=1 / `kb serve --remote-images`; local ones beside a note are shown inline (data: URIs,
only files inside the corpus folder). In the real browser, no request leaves the machine.
"""
from __future__ import annotations

import base64
import os
from urllib.parse import urlsplit

import pytest

from kb.ui import images
from kb.ui.images import image_policy_head, rewrite_images
from tests.support import PAGE_TIMEOUT_MS, load_kb, serve_app, write_notes

# A 2x2 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg=="
)
MD_REMOTE = "https://render.githubusercontent.com/render/math?math=x.png"
HTML_REMOTE = "https://example.org/figures/remote.png"
NOTE = f"""# Pictures

## Figures

### Q: What does the markdown diagram of the zebra loss show?
The zebra loss curve: ![zebra curve]({MD_REMOTE}) and beside the note ![local plot](plot.png).

### Q: What does the HTML figure of the zebra loss show?
An HTML figure: <img src="{HTML_REMOTE}" alt="remote figure"> and a local one <img src="plot.png" alt="local html plot" width="40">.

### Q: What does the zebra loss look like in code?
Code stays as written: `![x](https://example.com/code.png)`.
"""
MD_CARD = "what-does-the-markdown-diagram-of-the-zebra-loss-show"
HTML_CARD = "what-does-the-html-figure-of-the-zebra-loss-show"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


# ---- the rewriting, without a browser ------------------------------------------------------------------


@pytest.fixture()
def corpus_with_images(tmp_path):
    corpus = write_notes(tmp_path / "corpus", {"figs/note.md": NOTE, "figs/plot.png": PNG, "secret.txt": "not an image"})
    (tmp_path / "outside.png").write_bytes(PNG)
    os.symlink(tmp_path / "outside.png", corpus / "figs" / "escape.png")
    return corpus


def test_remote_images_become_links_naming_the_host(monkeypatch):
    monkeypatch.delenv("KB_REMOTE_IMAGES", raising=False)
    out = rewrite_images(f'a ![zebra]({MD_REMOTE}) b <IMG SRC="{HTML_REMOTE}"> c ![p](//cdn.example.net/p.png) ![r][ref]\n\n[ref]: https://ref.example.com/r.png')
    assert "image from render.githubusercontent.com" in out and "image from example.org" in out
    assert "image from cdn.example.net" in out and "image from ref.example.com" in out
    assert "<img" not in out.lower() and "![" not in out, out


def test_other_remote_resources_and_tricks_are_links_too(monkeypatch):
    monkeypatch.delenv("KB_REMOTE_IMAGES", raising=False)
    out = rewrite_images(
        '<picture><source srcset="https://a.example/1.png 1x, https://b.example/2.png 2x"></picture>'
        '<div style="background:url(\'https://c.example/bg.png\')">x</div><svg><image href="https://d.example/i.png"/></svg>'
        ' ![e](&#104;ttps://e.example/e.png) ![j](javascript:alert(1))'
    )
    for host in ("a.example", "b.example", "c.example", "d.example", "e.example"):
        assert host not in out or f"from {host}" in out, (host, out)
    assert "url(" not in out and "javascript:" not in out, out


def test_code_keeps_its_image_syntax(monkeypatch):
    monkeypatch.delenv("KB_REMOTE_IMAGES", raising=False)
    text = "`![x](https://example.com/a.png)`\n\n```\n<img src=\"https://example.com/b.png\">\n```"
    assert rewrite_images(text) == text


def test_remote_images_stay_when_turned_on(monkeypatch):
    markdown = f"![zebra]({MD_REMOTE}) <img src=\"{HTML_REMOTE}\">"
    monkeypatch.setenv("KB_REMOTE_IMAGES", "1")
    assert rewrite_images(markdown) == markdown
    assert image_policy_head() == ""
    monkeypatch.setenv("KB_REMOTE_IMAGES", "0")
    assert "Content-Security-Policy" in image_policy_head() and "img-src 'self' data: blob:" in image_policy_head()
    images.allow_remote_images(True)  # kb serve --remote-images
    try:
        assert rewrite_images(markdown) == markdown
    finally:
        images.allow_remote_images(None)
    assert rewrite_images(markdown) != markdown


def test_local_images_inside_the_corpus_only(corpus_with_images, monkeypatch):
    monkeypatch.delenv("KB_REMOTE_IMAGES", raising=False)
    note_dir, root = corpus_with_images / "figs", corpus_with_images
    out = rewrite_images("![plot](plot.png) <img src='plot.png' width=40>", note_dir=note_dir, root=root)
    assert out.count('src="data:image/png;base64,') == 2 and 'width="40"' in out
    for refused in ["../secret.txt", "escape.png", "/etc/passwd", "../../outside.png", "missing.png", "file:///etc/passwd"]:
        out = rewrite_images(f"![x]({refused})", note_dir=note_dir, root=root)
        assert "data:" not in out and "<img" not in out and "not" in out, (refused, out)


def test_kb_serve_has_the_flag(monkeypatch):
    from kb.cli.serve import serve

    monkeypatch.delenv("KB_REMOTE_IMAGES", raising=False)
    assert serve.make_context("serve", ["--remote-images"]).params["remote_images"] is True
    assert serve.make_context("serve", []).params["remote_images"] is False
    monkeypatch.setenv("KB_REMOTE_IMAGES", "1")
    assert serve.make_context("serve", []).params["remote_images"] is True


# ---- the real app in the real browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
def images_app(tmp_path_factory, encoder):
    """The app over a small corpus with a remote image in markdown and in HTML, and a local PNG."""
    base = tmp_path_factory.mktemp("offline-images")
    corpus = write_notes(base / "corpus", {"figs/note.md": NOTE, "figs/plot.png": PNG})
    kb = load_kb(corpus, encoder)
    server = serve_app(kb)
    yield server.url, kb
    server.close()


def watched_page(browser, url: str, requests: list[str]):
    """A page that records every request it makes (and every websocket it opens), from the first one."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda ws: requests.append(ws.url))
    page.goto(url)
    page.get_by_role("tab", name="Search").wait_for()
    return page


def off_machine(requests: list[str]) -> list[str]:
    """The requests that would leave the machine: anything but loopback, data: and blob:."""
    return [u for u in requests if not (u.startswith(("data:", "blob:")) or urlsplit(u).hostname in LOCAL_HOSTS)]


def check_card(page, card_id: str, host: str) -> None:
    from playwright.sync_api import expect

    page.evaluate("id => window.kbOpenCard(id)", card_id)
    answer = page.locator("#kb-card-answer")
    expect(page.locator("#kb-current-card textarea")).to_have_value(card_id)
    link = answer.locator("a.kb-remote-image")
    expect(link).to_have_text(f"image from {host}")
    assert answer.locator("img[src^='http'], img[src^='//']").count() == 0
    local = answer.locator("img.kb-note-image")
    expect(local).to_have_count(1)
    local.evaluate("img => img.decode()")  # the data: URI decodes: the local PNG is shown
    assert local.evaluate("img => img.naturalWidth") == 2


@pytest.mark.browser
def test_no_request_leaves_the_machine(browser, images_app):
    from playwright.sync_api import expect

    url, kb = images_app
    requests: list[str] = []
    page = watched_page(browser, f"{url}/?card={MD_CARD}", requests)
    try:
        expect(page.locator("#kb-card-header")).to_contain_text(kb.card(MD_CARD).question)
        check_card(page, MD_CARD, "render.githubusercontent.com")
        check_card(page, HTML_CARD, "example.org")
        assert page.locator("meta[http-equiv='Content-Security-Policy']").count() == 1

        page.get_by_role("tab", name="Search").click()
        box = page.get_by_label("Search", exact=True)
        box.fill("zebra loss figure")
        box.press("Enter")
        expect(page.locator("#kb-search-results .kb-hit").first).to_be_visible()

        page.get_by_role("tab", name="Chat").click()
        ask = page.get_by_label("Ask", exact=True)
        ask.fill("what does the HTML figure of the zebra loss show?")
        ask.press("Enter")
        reply = page.locator("#kb-chatbot .bot").first
        expect(reply).to_contain_text("image from example.org", timeout=60_000)
        assert page.locator("#kb-chatbot img[src^='http']").count() == 0
        page.wait_for_timeout(1000)  # anything lazy has had its chance to load
    finally:
        page.close()
    assert requests, "the page made no request at all: the listener is not working"
    assert off_machine(requests) == [], f"requests left the machine: {off_machine(requests)}"


@pytest.mark.browser
def test_the_page_refuses_remote_images_a_note_might_slip_through(browser, images_app):
    """Belt and braces: with remote images off, the page's Content-Security-Policy blocks any image from
    elsewhere, here one added to the page by script."""
    url, _ = images_app
    failures: list[tuple[str, str]] = []
    page = watched_page(browser, url, [])
    page.on("requestfailed", lambda request: failures.append((request.url, str(request.failure))))
    try:
        page.evaluate("() => { const img = document.createElement('img'); img.src = 'https://slipped.example/x.png'; document.body.append(img); }")
        page.wait_for_timeout(1000)
    finally:
        page.close()
    assert ("https://slipped.example/x.png", "csp") in failures, failures
