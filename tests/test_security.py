"""Security: loopback by default, a warning for other addresses, an optional login that hides all data,
no path traversal (card ids, deep links, `kb show`, Gradio's file route), and inert XSS payloads in
interview answers and profile names in the real browser (notes, search and chat payloads are covered
by tests/test_browser_app.py).
"""
from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kb.cli.access import credentials, exposure_warning, is_loopback
from kb.errors import CardNotFound, ConfigError
from tests.support import copy_shipped_corpus, free_port, kb_argv, kb_env, open_page, wait_http

TRAVERSALS = ["../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "....//....//etc/passwd", "../corpus/losses-in-deep-learning.md"]
PASSWD_MARK = "root:x:0:0"


# ---- addresses and logins (pure) -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_need_no_warning(host):
    assert is_loopback(host) and exposure_warning(host, has_login=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "myhost.example"])
def test_other_addresses_are_warned_about(host):
    warning = exposure_warning(host, has_login=False)
    assert warning.startswith("warning:") and "--auth" in warning and "no password" in warning
    assert "login is required" in exposure_warning(host, has_login=True)


def test_credentials_from_flag_and_file(tmp_path):
    (tmp_path / "users").write_text("# team\nalice:s3cret:with:colons\n\nbob:pw\n")
    assert credentials("carol:x", tmp_path / "users") == [("carol", "x"), ("alice", "s3cret:with:colons"), ("bob", "pw")]
    assert credentials(None, None) is None
    for bad in ["nocolon", ":nouser", "user:"]:
        with pytest.raises(ConfigError, match="expected user:password"):
            credentials(bad)
    (tmp_path / "broken").write_text("alice:ok\njustaname\n")
    with pytest.raises(ConfigError, match=r"broken:2: expected user:password"):
        credentials(None, tmp_path / "broken")
    with pytest.raises(ConfigError, match="cannot read the auth file"):
        credentials(None, tmp_path / "missing")


# ---- the real `kb serve` -----------------------------------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on `port`, from /proc/net/tcp and tcp6 (no network needed)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if width == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.add(address)
    return found


@pytest.fixture(scope="module")
def served(shipped_kb, tmp_path_factory):
    """`kb serve --auth-file` on a free port, default host, over the shipped corpus and its built index."""
    tmp = tmp_path_factory.mktemp("serve-auth")
    (tmp / "users").write_text("alice:s3cret\n")
    port = free_port()
    proc = subprocess.Popen(
        kb_argv("serve", "--corpus", shipped_kb.config.corpus, "--index", shipped_kb.config.index, "--port", port, "--auth-file", tmp / "users"),
        cwd=tmp, env=kb_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/", timeout=180)
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"kb serve did not start: {proc.communicate(timeout=30)}") from None
    yield base, port, proc
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def fetch(url: str, opener=None, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
    opener = opener or urllib.request.build_opener()
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def test_serve_binds_to_loopback_by_default(served):
    _, port, _ = served
    addresses = listening_addresses(port)
    assert addresses == {"127.0.0.1"}, addresses


def test_without_login_no_data_is_served(served, shipped_kb):
    base, _, _ = served
    a_question = shipped_kb.cards()[0].question
    for path in ["/config", "/gradio_api/info", "/gradio_api/info?all_endpoints=True", "/gradio_api/openapi.json",
                 "/gradio_api/queue/status", f"/gradio_api/file={shipped_kb.config.corpus}/losses-in-deep-learning.md"]:
        status, body = fetch(base + path)
        assert status == 401, (path, status, body[:200])
        assert a_question not in body
    status, body = fetch(base + "/gradio_api/queue/join", data=json.dumps({"data": ["ppo"], "fn_index": 0, "session_hash": "x"}).encode(),
                         headers={"Content-Type": "application/json"})
    assert status == 401, body[:200]
    status, body = fetch(base + "/")
    assert status == 200 and a_question not in body and "Mean Squared" not in body  # the login page only

    from gradio_client import Client

    with pytest.raises(Exception, match="(?i)credentials|login|auth"):
        Client(base, verbose=False)


def test_login_opens_the_app_and_a_wrong_password_does_not(served):
    base, _, _ = served
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _ = fetch(base + "/login", opener, urllib.parse.urlencode({"username": "alice", "password": "wrong"}).encode())
    assert status in (400, 401)
    assert fetch(base + "/config", opener)[0] == 401
    status, _ = fetch(base + "/login", opener, urllib.parse.urlencode({"username": "alice", "password": "s3cret"}).encode())
    assert status == 200
    status, body = fetch(base + "/config", opener)
    assert status == 200 and "kb" in body

    # Logged in, Gradio's file route still serves nothing outside its allowed paths.
    for target in ["/etc/passwd", "../../../../etc/passwd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd"]:
        status, body = fetch(base + "/gradio_api/file=" + target, opener)
        assert status != 200 and PASSWD_MARK not in body, (target, status)


def test_host_0_0_0_0_prints_a_warning(tmp_path):
    copy_shipped_corpus(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--corpus", "corpus", "--index", "index"],
        cwd=tmp_path, env=kb_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        first_line = proc.stderr.readline()  # printed before the index or the model load
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert first_line.startswith("warning: serving on every network interface"), first_line
    assert "--auth" in first_line


# ---- path traversal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("card_id", TRAVERSALS)
def test_card_ids_are_never_paths(shipped_kb, card_id):
    with pytest.raises(CardNotFound):
        shipped_kb.card(card_id)
    assert shipped_kb.resolve(card_id).id in {c.id for c in shipped_kb.cards()}  # a search, never a file read


@pytest.mark.parametrize("card_id", ["../../etc/passwd", "/etc/passwd", "../corpus/losses-in-deep-learning.md"])
def test_kb_show_refuses_paths(shipped_kb, tmp_path, card_id):
    result = subprocess.run(
        [sys.executable, "-m", "kb", "show", card_id, "--corpus", str(shipped_kb.config.corpus), "--index", str(shipped_kb.config.index)],
        cwd=tmp_path, env=kb_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert "kb: error: no card with id" in result.stderr and "Traceback" not in result.stderr
    assert PASSWD_MARK not in result.stdout + result.stderr
    assert "Mean Squared" not in result.stdout  # not the note's content either


# ---- the real app in the real browser ------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("target", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "../corpus/losses-in-deep-learning.md"])
def test_deep_link_traversal_shows_no_file(browser, progress_app_url, target):
    page = open_page(browser, f"{progress_app_url}/?card={target}")
    try:
        page.get_by_text("No card", exact=False).first.wait_for()
        body = page.locator("body").inner_text()
        assert PASSWD_MARK not in body and "/bin/bash" not in body
    finally:
        page.close()


XSS_PROFILE = "<img src=x onerror=\"window.__pwned='profile'\">"
XSS_ANSWERS = [
    "<img src=x onerror=\"window.__pwned='answer-img'\"> the loss predicts noise",
    "<script>window.__pwned='answer-script'</script> $\\alpha$ and <svg onload=\"window.__pwned='answer-svg'\"></svg>",
]


@pytest.mark.browser
def test_xss_in_interview_answers_and_profile_names_stays_inert(browser, progress_app_url, progress_store):
    from playwright.sync_api import expect

    from tests.support import DIFFUSION, start_interview_in_page

    page = open_page(browser, progress_app_url)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        start_interview_in_page(page, XSS_PROFILE, DIFFUSION)
        chat = page.locator("#kb-interview-chat")
        chat.get_by_text("Q1.").wait_for()
        box = page.get_by_label("Your answer")
        for payload in XSS_ANSWERS:  # an answer, then whatever the interviewer asks next (a follow-up or Q2)
            box.fill(payload)
            page.get_by_role("button", name="Send", exact=True).click()
            expect(box).to_have_value("", timeout=120_000)  # the handler clears the box when it has replied
        chat.get_by_text("Model answer").first.wait_for()
        expect(chat).to_contain_text("window.__pwned='answer-script'")  # shown as text, not run
        page.get_by_role("tab", name="Progress").click()
        page.locator("#kb-progress-profile textarea, #kb-progress-profile input").first.fill(XSS_PROFILE)
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(1500)
        assert page.evaluate("window.__pwned") is None
        assert not dialogs
        assert page.locator("#kb-interview-chat script, #kb-interview-chat [onerror], #kb-interview-chat [onload]").count() == 0
        assert page.locator("body [onerror], body svg[onload]").count() == 0
    finally:
        page.close()
    # Inert, not lost: the stored answers are exactly what was typed.
    stored = [r.answer for r in progress_store.reviews(XSS_PROFILE)]
    assert XSS_ANSWERS[0] in stored
