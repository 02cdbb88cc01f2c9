"""The explicit list of driver kinds a configuration can name.

No filename scanning and no plugin discovery: a kind is a line below, resolved lazily so that a
vendor SDK is imported only when its device is used. An import failure of our own driver module is
a bug and propagates; a missing vendor SDK is reported by the driver's ``probe`` as a
:class:`~drivers.base.Health`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

from analysis.errors import InputError
from drivers.base import Device, Health

# kind → "module:Class". Keep sorted by family; add a line when a driver lands.
DRIVER_KINDS: dict[str, str] = {
    "basler": "drivers.camera.basler:BaslerCamera",
    "opencv": "drivers.camera.opencv_camera:UvcCamera",
    "video-file": "drivers.camera.video_file:VideoFileCamera",
    "nidaqmx": "drivers.daq.nidaq:NidaqDaq",
    "sim.daq": "drivers.sim.devices:SimulatedDaq",
    "sim.camera": "drivers.sim.devices:SimulatedCamera",
}


def known_kinds() -> tuple[str, ...]:
    return tuple(sorted(DRIVER_KINDS))


def driver_class(kind: str) -> type[Device]:
    """The class for a configured kind; an unknown kind is the configuration's error."""
    try:
        target = DRIVER_KINDS[kind]
    except KeyError:
        raise InputError(
            f"unknown device kind '{kind}'",
            subject="hardware configuration",
            remedy=f"Use one of: {', '.join(known_kinds())}.",
        ) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Device)):
        raise TypeError(f"{target} is not a drivers.base.Device")
    return cls


def probe(kind: str, name: str, settings: Mapping[str, Any]) -> Health:
    """Health of a configured device without opening it."""
    return driver_class(kind).probe(name, settings)


def create_device(
    kind: str,
    name: str,
    settings: Mapping[str, Any],
    shared: MutableMapping[str, Any] | None = None,
) -> Device:
    """Instantiate (not open) a device. ``shared`` carries objects devices of one session share,
    e.g. the simulated lab behind the simulated DAQ and cameras."""
    cls = driver_class(kind)
    if getattr(cls, "uses_shared_resources", False):
        return cls(name, settings, shared=shared if shared is not None else {})  # type: ignore[call-arg]
    return cls(name, settings)
