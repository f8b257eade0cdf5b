"""satchel: HTTP sessions as a sans-IO protocol core.

Make a `SessionProtocol` from `Settings`; per request, `begin` an exchange,
run its store ops, `finish`; send the headers in its `Outcome`.
"""

from __future__ import annotations

from ._adapter import (
    APPLICATION_ERRORS,
    RETRY_AFTER,
    UNAVAILABLE_BODY,
    UNAVAILABLE_HEADERS,
    UNAVAILABLE_STATUS,
    AdapterOptions,
    AsyncSessionRuntime,
    SessionRuntime,
    SweepThread,
    ThreadedStore,
    session_timed_out,
)
from ._checks import check_count, check_seconds
from ._cookies import (
    MAX_AGE_LIMIT,
    MAX_COOKIE_HEADER_BYTES,
    MAX_COOKIE_PAIRS,
    CookieAttributes,
    CookieOptions,
    SetCookie,
    format_http_date,
    parse_cookie_pairs,
    parse_cookies,
    render_delete_cookie,
    render_set_cookie,
)
from ._errors import (
    ConfigurationError,
    CookieError,
    ProtocolError,
    SatchelError,
    SatchelWarning,
    SessionConflict,
    SessionTooLarge,
    StoreError,
    UnstorableValue,
)
from ._exchange import (
    Exchange,
    Outcome,
    SessionProtocol,
    StorageKind,
)
from ._keyring import Keyring, generate_secret
from ._memory import AsyncMemoryStore, MemoryStore
from ._oploop import BACKOFF_CAP, BACKOFF_FIRST, AsyncSaveLocks, SaveLocks, arun_ops, run_ops
from ._ops import (
    AsyncStore,
    Conflict,
    Delete,
    Deleted,
    Load,
    Loaded,
    Missing,
    Op,
    Result,
    Save,
    Saved,
    Store,
    StoreFailed,
)
from ._session import EndedReason, Session
from ._settings import Settings
from ._sqlite import AsyncSQLiteStore, SQLiteStore
from ._state import State

__all__ = [
    "APPLICATION_ERRORS",
    "BACKOFF_CAP",
    "BACKOFF_FIRST",
    "MAX_AGE_LIMIT",
    "MAX_COOKIE_HEADER_BYTES",
    "MAX_COOKIE_PAIRS",
    "RETRY_AFTER",
    "UNAVAILABLE_BODY",
    "UNAVAILABLE_HEADERS",
    "UNAVAILABLE_STATUS",
    "AdapterOptions",
    "AsyncMemoryStore",
    "AsyncSQLiteStore",
    "AsyncSaveLocks",
    "AsyncSessionRuntime",
    "AsyncStore",
    "ConfigurationError",
    "Conflict",
    "CookieAttributes",
    "CookieError",
    "CookieOptions",
    "Delete",
    "Deleted",
    "EndedReason",
    "Exchange",
    "Keyring",
    "Load",
    "Loaded",
    "MemoryStore",
    "Missing",
    "Op",
    "Outcome",
    "ProtocolError",
    "Result",
    "SQLiteStore",
    "SatchelError",
    "SatchelWarning",
    "Save",
    "SaveLocks",
    "Saved",
    "Session",
    "SessionConflict",
    "SessionProtocol",
    "SessionRuntime",
    "SessionTooLarge",
    "SetCookie",
    "Settings",
    "State",
    "StorageKind",
    "Store",
    "StoreError",
    "StoreFailed",
    "SweepThread",
    "ThreadedStore",
    "UnstorableValue",
    "arun_ops",
    "check_count",
    "check_seconds",
    "format_http_date",
    "generate_secret",
    "parse_cookie_pairs",
    "parse_cookies",
    "render_delete_cookie",
    "render_set_cookie",
    "run_ops",
    "session_timed_out",
]
