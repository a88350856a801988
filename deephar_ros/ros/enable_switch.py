"""The state behind the perception node's `~/enable` service (std_srvs/SetBool).

Disabled, the node drops incoming images before converting them, so no network time is spent; its
tracks then retire after track_timeout as when the camera stops. Kept apart from the node so the
service logic is tested without DDS. An Event, because the service callback and the image callback
may run on different threads of a multi-threaded executor.
"""

from __future__ import annotations

import threading
from typing import Protocol


class SetBoolRequest(Protocol):
    data: bool


class SetBoolResponse(Protocol):
    success: bool
    message: str


class EnableSwitch:
    """Whether the node processes images; `on_set_bool` is the SetBool service callback."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = threading.Event()
        if enabled:
            self._enabled.set()

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    def set(self, enabled: bool) -> None:
        if enabled:
            self._enabled.set()
        else:
            self._enabled.clear()

    def on_set_bool(self, request: SetBoolRequest, response: SetBoolResponse) -> SetBoolResponse:
        """Switch to request.data; the message says what changed, for `ros2 service call`."""
        wanted = bool(request.data)
        state = "enabled" if wanted else "disabled"
        changed = wanted != self.enabled
        self.set(wanted)
        response.success = True
        response.message = state if changed else f"already {state}"
        return response
