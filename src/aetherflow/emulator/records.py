"""The server-side truth the emulator keeps about each request it served."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RequestRecord"]


@dataclass
class RequestRecord:
    """One served request, as the emulator saw and shaped it.

    ``input_tokens`` is the whole prompt; ``cached_tokens`` were read from the prefix cache
    and ``cache_write_tokens`` newly written. ``output_tokens`` is the planned reply length,
    ``streamed_tokens`` how many content chunks were actually sent (they differ only when a
    fault cut the stream). ``token_offsets_ms`` are the scheduled send times of each token
    after the request arrived (``ttft_ms`` is the first), before any ``stall_ms``;
    ``sent_offsets_ms`` are the measured times each content chunk was actually written (the
    event loop may wake a little after the schedule), and ``end_offset_ms`` when the stream's
    last byte was written: the ground truth for fidelity tests. ``received_clock_ns`` is the
    moment the handler received the request on the system-wide monotonic clock
    (``time.perf_counter`` is ``CLOCK_MONOTONIC`` on Linux, shared by every process), so a
    client on the same machine can place the offsets on its own timeline.
    """

    index: int
    provider: str
    path: str
    model: str = ""
    stream: bool = False
    status: int = 200
    fault: str | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    streamed_tokens: int = 0
    finish: str | None = None
    reply_source: str | None = None
    #: Index of the profile's reply rule that answered (None: the default filler): tests use
    #: one rule per plan step to count the requests each step made.
    reply_rule: int | None = None
    ttft_ms: float | None = None
    decode_ms_per_output_token: float | None = None
    token_offsets_ms: list[float] = field(default_factory=list)
    sent_offsets_ms: list[float] = field(default_factory=list)
    end_offset_ms: float | None = None
    received_clock_ns: int | None = None
    stall_ms: float = 0.0
    completed: bool = False
    #: The client closed the connection before the reply was whole (a killed or cancelled
    #: client); the emulator stops writing and logs nothing, as a real server does.
    client_gone: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)
