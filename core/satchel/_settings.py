"""One frozen settings object, validated when it is built."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._checks import check_seconds
from ._cookies import (
    check_prefix_rules,
    cookie_attributes,
    validate_cookie_name,
    validate_domain,
    validate_path,
)
from ._errors import ConfigurationError, CookieError
from ._keyring import Keyring

__all__ = ["Settings"]

SameSite = Literal["strict", "lax", "none"]


def _require_keyring(instance: Settings, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        raise ConfigurationError(
            "keyring: no secret configured. Make one with `python -m satchel keygen`, "
            "keep it out of source control (an environment variable or a secrets "
            "manager), and pass Settings(keyring=Keyring([secret])). For tests and "
            "demos only, Keyring.throwaway() makes a random one."
        )
    if not isinstance(value, Keyring):
        raise ConfigurationError(f"keyring: expected a satchel.Keyring, got {type(value).__name__}")


def _positive_seconds(instance: Settings, attribute: attrs.Attribute[Any], value: object) -> None:
    check_seconds(attribute.name, value)


def _normalise_same_site(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _default_touch_interval(settings: Settings) -> float:
    return settings.idle_timeout / 10


@attrs.frozen(kw_only=True)
class Settings:
    """Everything that shapes a session, shared by every adapter and store.

    Every setting is checked when the object is built; a bad value raises
    `ConfigurationError` naming the setting. Use `attrs.evolve` (or
    `Settings.evolve`) for a changed copy.

    Attributes:
        keyring: the secrets that seal cookies and sign session IDs (required).
        cookie_name: the session cookie's name.
        cookie_path: its Path attribute.
        cookie_domain: its Domain attribute; ``None`` (host-only) is safest.
        secure: send the Secure attribute. Turning it off is for plain-HTTP
            development only.
        http_only: send HttpOnly, hiding the cookie from scripts.
        same_site: ``"lax"``, ``"strict"``, ``"none"`` (needs `secure`) or ``None``.
        partitioned: send Partitioned (CHIPS; needs `secure`).
        persistent: give the cookie Max-Age/Expires equal to the time left
            before the session expires; by default it is a browser-session
            cookie.
        idle_timeout: seconds without a request after which a session ends.
        absolute_timeout: seconds after creation after which a session ends,
            however active.
        touch_interval: an unchanged session is re-saved (and its cookie
            refreshed) only when this many seconds have passed since its last
            save; defaults to a tenth of `idle_timeout`.
        clock_skew: how far in the future a stored timestamp may be before the
            session is rejected as invalid.
        max_cookie_size: the largest cookie (name + value bytes) satchel sends.
        cookie_chunks: with cookie storage, how many cookies a session may be
            split across when it outgrows `max_cookie_size`; 1 means never split.
        conflict_deadline: seconds of real time a save may spend waiting
            for its turn behind saves of the same session and re-applying
            this request's changes after lost races, before it gives up with
            `SessionConflict`. Measured on a monotonic clock by the op loop,
            not on the injected clock.
        max_sessions_per_owner: how many live sessions one owner (see
            ``Session.regenerate(owner=...)``) may keep in a store with an
            owner index; a login past it ends that owner's least recently
            used sessions. Bounds what one account can add to the index.

    """

    keyring: Keyring = attrs.field(default=None, validator=_require_keyring, repr=False)
    cookie_name: str = "session"
    cookie_path: str = "/"
    cookie_domain: str | None = None
    secure: bool = True
    http_only: bool = True
    same_site: SameSite | None = attrs.field(default="lax", converter=_normalise_same_site)
    partitioned: bool = False
    persistent: bool = False
    idle_timeout: float = attrs.field(default=1800.0, validator=_positive_seconds)
    absolute_timeout: float = attrs.field(default=43200.0, validator=_positive_seconds)
    touch_interval: float = attrs.field(
        default=attrs.Factory(_default_touch_interval, takes_self=True),
        validator=_positive_seconds,
    )
    clock_skew: float = 60.0
    max_cookie_size: int = 4096
    cookie_chunks: int = 1
    conflict_deadline: float = attrs.field(default=5.0, validator=_positive_seconds)
    max_sessions_per_owner: int = 100

    def __attrs_post_init__(self) -> None:
        if self.same_site not in ("strict", "lax", "none", None):
            raise ConfigurationError(
                f"same_site: must be 'strict', 'lax', 'none' or None, got {self.same_site!r}"
            )
        for name in ("secure", "http_only", "partitioned", "persistent"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{name}: must be True or False")
        try:
            validate_cookie_name(self.cookie_name)
        except CookieError as error:
            raise ConfigurationError(f"cookie_name: {error}") from None
        if "." in self.cookie_name:
            raise ConfigurationError(
                "cookie_name: must not contain '.', which satchel reserves for "
                "the names of chunk cookies"
            )
        try:
            validate_path(self.cookie_path)
        except CookieError as error:
            raise ConfigurationError(f"cookie_path: {error}") from None
        if self.cookie_domain is not None:
            try:
                validate_domain(self.cookie_domain)
            except CookieError as error:
                raise ConfigurationError(f"cookie_domain: {error}") from None
        if self.same_site == "none" and not self.secure:
            raise ConfigurationError(
                "same_site: 'none' requires secure=True (browsers reject it otherwise)"
            )
        if self.partitioned and not self.secure:
            raise ConfigurationError(
                "partitioned: requires secure=True (browsers reject it otherwise)"
            )
        try:
            check_prefix_rules(
                self.cookie_name,
                secure=self.secure,
                http_only=self.http_only,
                path=self.cookie_path,
                domain=self.cookie_domain,
            )
        except CookieError as error:
            raise ConfigurationError(f"cookie_name: {error}") from None
        if self.touch_interval >= self.idle_timeout:
            raise ConfigurationError(
                f"touch_interval: must be shorter than idle_timeout ({self.idle_timeout} s), "
                f"got {self.touch_interval} s"
            )
        if self.absolute_timeout < self.idle_timeout:
            raise ConfigurationError(
                f"absolute_timeout: must be at least idle_timeout ({self.idle_timeout} s), "
                f"got {self.absolute_timeout} s"
            )
        if (
            not isinstance(self.clock_skew, int | float)
            or isinstance(self.clock_skew, bool)
            or not 0 <= self.clock_skew <= 3600
        ):
            raise ConfigurationError(
                f"clock_skew: must be between 0 and 3600 seconds, got {self.clock_skew!r}"
            )
        if type(self.max_cookie_size) is not int or not 256 <= self.max_cookie_size <= 4096:
            raise ConfigurationError(
                "max_cookie_size: must be an int between 256 and 4096, "
                f"got {self.max_cookie_size!r}"
            )
        if type(self.cookie_chunks) is not int or not 1 <= self.cookie_chunks <= 8:
            raise ConfigurationError(
                "cookie_chunks: must be an int from 1 (no chunking) to 8, "
                f"got {self.cookie_chunks!r}"
            )
        if (
            type(self.max_sessions_per_owner) is not int
            or not 1 <= self.max_sessions_per_owner <= 100_000
        ):
            raise ConfigurationError(
                "max_sessions_per_owner: must be an int from 1 to 100000, "
                f"got {self.max_sessions_per_owner!r}"
            )
        if self.conflict_deadline > 60:
            raise ConfigurationError(
                "conflict_deadline: must be at most 60 seconds (a request waiting longer "
                f"than that has been given up on by its client), got {self.conflict_deadline!r}"
            )

    def attributes(self) -> str:
        """The session cookie's attributes, rendered (without Max-Age/Expires)."""
        return cookie_attributes(
            path=self.cookie_path,
            domain=self.cookie_domain,
            secure=self.secure,
            http_only=self.http_only,
            same_site=self.same_site,
            partitioned=self.partitioned,
        )

    def evolve(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (and validated)."""
        return attrs.evolve(self, **changes)
