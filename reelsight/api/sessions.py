"""The viewer's sign-in sessions: the API token is exchanged once for an opaque session id.

The id is 32 random bytes (``secrets.token_urlsafe``) that the browser keeps in an ``HttpOnly;
Secure; SameSite=Strict`` cookie. The server keeps only a SHA-256 digest of each id, with its expiry
and a digest of the token it was issued for, in this process's memory: signing out deletes the
entry, a rotated token ends every session issued for the old one, and a restart ends them all (the
viewer then asks for the token again).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from reelsight import envvars
from reelsight.errors import ParamError

SESSION_COOKIE = "reelsight_session"
DEFAULT_SESSION_SECONDS = 8 * 3600
MAX_SESSION_SECONDS = 7 * 24 * 3600
MAX_SESSIONS = 10_000


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    session_id: str
    expires_at: float  # time.time()
    seconds: int


class SessionStore:
    """Session ids by digest, each with its expiry (monotonic) and the digest of its token."""

    def __init__(self, seconds: int = DEFAULT_SESSION_SECONDS, max_sessions: int = MAX_SESSIONS) -> None:
        if not 60 <= seconds <= MAX_SESSION_SECONDS:
            raise ParamError(
                f"{envvars.API_SESSION_SECONDS} must be 60..{MAX_SESSION_SECONDS} seconds, got {seconds}"
            )
        self.seconds = seconds
        self.max_sessions = max_sessions
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def create(self, token: str) -> Session:
        session_id = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= self.max_sessions:
                self._drop_expired_or_oldest(now)
            self._entries[digest(session_id)] = (now + self.seconds, digest(token))
        return Session(session_id=session_id, expires_at=time.time() + self.seconds, seconds=self.seconds)

    def valid(self, session_id: str, token: str) -> bool:
        """True while the session exists, has not expired, and was issued for ``token``."""
        key = digest(session_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            expires, token_digest = entry
            if time.monotonic() >= expires or not secrets.compare_digest(token_digest, digest(token)):
                del self._entries[key]
                return False
            return True

    def end(self, session_id: str) -> bool:
        with self._lock:
            return self._entries.pop(digest(session_id), None) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def _drop_expired_or_oldest(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        if len(self._entries) >= self.max_sessions:  # still full: the tenth that expires soonest goes
            for key in sorted(self._entries, key=lambda k: self._entries[k][0])[: self.max_sessions // 10]:
                del self._entries[key]
