"""Who may reach the web app: the listening address and optional login credentials.

The app binds to 127.0.0.1 unless told otherwise; any other address gets a warning, because the
notes, the chat and everyone's interview progress become readable from the network. A login
(Gradio's own auth) is one `--auth user:pass`, or a file with one `user:pass` per line.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

from kb.errors import ConfigError

LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, has_login: bool) -> str | None:
    """A warning to print when the app will listen beyond this machine; None on loopback."""
    if is_loopback(host):
        return None
    where = "every network interface" if host in ("0.0.0.0", "::") else host
    login = "a login is required (--auth)" if has_login else "anyone who can reach it needs no password (add --auth user:pass)"
    return f"warning: serving on {where}: other machines can read your notes and progress; {login}"


def _pair(text: str, where: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        raise ConfigError(f"{where}: expected user:password, got {text[:40]!r}")
    return user.strip(), password


def credentials(auth: str | None = None, auth_file: Path | None = None) -> list[tuple[str, str]] | None:
    """(user, password) pairs from --auth and/or --auth-file; None when no login is wanted."""
    pairs: list[tuple[str, str]] = []
    if auth:
        pairs.append(_pair(auth, "--auth"))
    if auth_file:
        try:
            lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the auth file {auth_file}: {getattr(exc, 'strerror', None) or exc}") from None
        for number, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                pairs.append(_pair(line.strip(), f"{auth_file}:{number}"))
        if not pairs:
            raise ConfigError(f"the auth file {auth_file} has no user:password lines")
    return pairs or None
