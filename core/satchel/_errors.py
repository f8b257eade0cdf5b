"""The exception hierarchy: one base class, split by who is at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._session import EndedReason

__all__ = [
    "ConfigurationError",
    "CookieError",
    "NoRequestContext",
    "OwnerIndexUnavailable",
    "ProtocolError",
    "SatchelError",
    "SatchelWarning",
    "SessionConflict",
    "SessionTimedOut",
    "SessionTooLarge",
    "StoreError",
    "UnstorableValue",
]


class SatchelError(Exception):
    """Base class of every error satchel raises."""


class ConfigurationError(SatchelError, ValueError):
    """A setting is invalid; the message names the setting.

    Raised when settings, keyrings or stores are built, so a bad configuration
    fails at start-up rather than on the first request.
    """


class CookieError(SatchelError, ValueError):
    """A cookie the application asked to send would be malformed or unsafe.

    Raised by ``Set-Cookie`` serialisation for a name, value, path, domain or
    attribute combination that could inject an attribute or break a prefix
    rule. Nothing is emitted when it is raised. Never raised for a cookie a
    client sent: those are parsed leniently.
    """


class ProtocolError(SatchelError, RuntimeError):
    """The caller used an exchange out of order (finishing twice, touching the
    session after finish, sending a result no operation asked for).

    The exchange is left in its error state afterwards.
    """


class NoRequestContext(ProtocolError):
    """A request-scoped accessor (``satchel.current_session()`` and the like)
    was called where no request is being served: at import time, in a
    background job, or in a thread the request did not start.

    A `ProtocolError`, because it is the caller's misuse; no exchange is
    involved, so none is left in its error state.
    """


class SessionTooLarge(SatchelError):
    """The sealed session does not fit in the cookie size limit.

    Attributes:
        size: the size in bytes of the cookie that would have been sent
            (name plus value).
        limit: the configured limit.

    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the session cookie would be {size} bytes (name + value), over the "
            f"limit of {limit} bytes; store less in the session, use server-side "
            "storage, or turn on cookie chunking"
        )
        self.size = size
        self.limit = limit


class UnstorableValue(SatchelError, TypeError):
    """A session value cannot be held by the record format.

    Attributes:
        key: the session key whose value is the problem.

    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"session key {key!r} cannot be stored: {reason}")
        self.key = key
        self.reason = reason


class StoreError(SatchelError):
    """A store failed to carry out an operation (unreachable, timed out,
    refused). Drivers raise this and only this for store failures.
    """


class SessionConflict(StoreError):
    """A save could not complete before ``Settings.conflict_deadline``: it kept
    losing compare-and-set races to concurrent requests of the same session
    (in other processes), or waited that long for its turn behind them.

    A `StoreError`, because to the client it is the same thing: the session
    could not be saved right now, and trying again shortly will work.
    Adapters answer it like a store failure (503 with ``Retry-After``).

    Attributes:
        conflicts: how many races the save had lost when it gave up.

    """

    def __init__(self, message: str, *, conflicts: int = 0) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class SessionTimedOut(SatchelError):
    """Raised by an adapter's session accessor when the session the request
    presented ended by its idle or absolute timeout.

    Adapters whose framework has no exception of its own for a response
    (WSGI, ASGI) raise it, and their middleware answers such a request with
    its timeout response (a redirect by default) whatever the application
    does next, so there is no need to catch it. Frameworks that log every
    exception a view raises can be told to ignore it.

    Attributes:
        reason: ``"idle"`` or ``"absolute"``.

    """

    def __init__(self, reason: EndedReason) -> None:
        super().__init__(f"the session ended by its {reason} timeout")
        self.reason: EndedReason = reason


class OwnerIndexUnavailable(SatchelError, RuntimeError):
    """Sessions were to be listed or ended by owner where no owner index exists.

    Raised where the call is made (``end_other_sessions``, ``end_sessions``,
    ``list_sessions``, ``end_session``) with cookie storage, whose sealed
    cookies cannot be revoked without server state, or with a store whose
    driver keeps no owner index (it lacks ``owner_index = True``), so that an
    "end all" never silently leaves a session behind. Tying a session to an
    owner works everywhere: the owner is kept in the record either way.
    """


class SatchelWarning(UserWarning):
    """Warnings about risky but legal set-ups, such as a throwaway keyring."""
