"""Reading a camera's driver-specific keys from its ``[[cameras]]`` table, with clear errors.

``drivers.config`` checks the keys every device has (name, kind, view, rate_hz); the rest belong
to the driver. A bad value becomes a :class:`CameraSettingError` naming the key, which a driver's
``probe`` turns into a MISCONFIGURED :class:`~drivers.base.Health` (probes never raise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from drivers.base import Health, HealthStatus
from drivers.config import ConfigError


class CameraSettingError(ConfigError):
    """A camera setting that cannot be used; ``subject`` names the camera and the key."""

    def __init__(self, problem: str, *, camera: str, key: str, remedy: str = "") -> None:
        self.key = key
        super().__init__(problem, subject=f"cameras '{camera}'.{key}", remedy=remedy)

    def health(self) -> Health:
        """As a device state; the device's name is shown next to it, so the key suffices."""
        return Health(HealthStatus.MISCONFIGURED, f"{self.key}: {self.problem}", self.remedy)


class SettingsReader:
    """Typed access to one camera's settings; every failure names ``cameras '<name>'.<key>``."""

    def __init__(self, name: str, settings: Mapping[str, Any]) -> None:
        self.name = name
        self.settings = settings

    def fail(self, key: str, problem: str, remedy: str = "") -> CameraSettingError:
        return CameraSettingError(problem, camera=self.name, key=key, remedy=remedy)

    def string(self, key: str, default: str | None = None) -> str:
        value = self.settings.get(key, default)
        if value is None:
            raise self.fail(key, "is missing", f'Add {key} = "..." to the camera\'s table.')
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {value!r}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float = -math.inf,
        high: float = math.inf,
        integer: bool = False,
    ) -> float:
        value = self.settings.get(key, default)
        if value is None:
            raise self.fail(key, "is missing", f"Give a number between {low:g} and {high:g}.")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(key, f"must be a number, not {value!r}")
        if integer and value != int(value):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"{value:g} is outside {low:g}–{high:g}")
        return int(value) if integer else float(value)

    def optional_int(self, key: str, *, low: int = 0, high: int = 1 << 20) -> int | None:
        if self.settings.get(key) is None:
            return None
        return int(self.number(key, low=low, high=high, integer=True))

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(key, default)
        if value not in options:
            raise self.fail(key, f"'{value}' is not allowed", f"Use one of: {', '.join(options)}.")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.settings.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value
