"""One HTTP/2 connection, sans-IO: bytes and calls in, events and bytes out (built on ``h2``).

``Http2Connection`` wraps ``h2.connection.H2Connection`` and adds what a proxy needs on
top of the framing:

* **Events of its own** (``proxy.http2.events``): a request or response head already
  mapped to a :class:`~proxy.http2.messages.Message` (pseudo-headers split out, header
  names lower-case), body pieces, trailers, end of stream, resets, "this stream can take
  more data again", GOAWAY.
* **Send buffering with flow control**: ``send_body`` writes what the peer's windows
  allow and keeps the rest per stream; it is sent as WINDOW_UPDATEs arrive.  A stream
  whose buffer is over ``high_water`` is *blocked*: the caller stops reading the source
  of that stream until a :class:`Writable` event (buffer under ``high_water / 2``).
* **Receive flow control is the caller's**: body bytes are acknowledged (WINDOW_UPDATE)
  only when the caller says they were consumed (``consumed``), i.e. written to the other
  side without it pushing back.  So a slow reader on one side slows the writer on the
  other side, and memory stays bounded per stream (``initial_window``).
* **Stream limits**: a server announces ``max_concurrent_streams``; a client asks
  ``can_open()`` before opening (the peer's limit, and not after a GOAWAY).
* **Graceful GOAWAY**: ``h2`` closes its connection state machine on any GOAWAY, which
  would stop the streams already in flight.  Here a GOAWAY with NO_ERROR only stops *new*
  streams: ``goaway()`` writes the frame without closing the state machine (streams up to
  the last accepted one finish; later ones are refused with REFUSED_STREAM), and a
  received NO_ERROR GOAWAY reports :class:`GoAway` and leaves the open streams running.
  ``drained`` is true once no stream is open after a GOAWAY either way.

Nothing here does I/O or reads a clock: the caller feeds ``receive(data)`` and writes
``outgoing()``.
"""

from __future__ import annotations

import collections
import enum
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

from proxy.http2.events import (
    Body,
    Ended,
    Event,
    GoAway,
    Informational,
    RequestStarted,
    ResponseStarted,
    StreamReset,
    Trailers,
    Writable,
)
from proxy.http2.messages import Message, MessageError, message_from_headers

DEFAULT_WINDOW: Final = 256 * 1024  # per stream; the connection window is bigger (below)
CONNECTION_WINDOW: Final = 4 * 1024 * 1024
DEFAULT_MAX_STREAMS: Final = 256
DEFAULT_HIGH_WATER: Final = 256 * 1024
MAX_FRAME: Final = 16384
NO_ERROR: Final = 0
PROTOCOL_ERROR: Final = int(h2.errors.ErrorCodes.PROTOCOL_ERROR)
CANCEL: Final = int(h2.errors.ErrorCodes.CANCEL)
REFUSED_STREAM: Final = int(h2.errors.ErrorCodes.REFUSED_STREAM)
INTERNAL_ERROR: Final = int(h2.errors.ErrorCodes.INTERNAL_ERROR)
_LAST_POSSIBLE: Final = 2**31 - 1


class Role(enum.Enum):
    SERVER = "server"
    CLIENT = "client"


class Http2ProtocolError(Exception):
    """The peer broke HTTP/2: the connection is over (a GOAWAY is in ``outgoing()``)."""


class _H2(h2.connection.H2Connection):
    """``H2Connection`` whose graceful GOAWAY (NO_ERROR) does not stop the streams in flight."""

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Any], list[Any]]:
        if frame.error_code != NO_ERROR:
            return super()._receive_goaway_frame(frame)
        event = h2.events.ConnectionTerminated()
        event.error_code = h2.errors.ErrorCodes.NO_ERROR
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]

    def send_graceful_goaway(self, last_stream_id: int) -> None:
        frame = GoAwayFrame(stream_id=0, last_stream_id=last_stream_id, error_code=NO_ERROR)
        self._prepare_for_sending([frame])


class _Outbox:
    """Body bytes of one stream waiting for flow-control window, and what follows them."""

    __slots__ = ("blocked", "chunks", "end", "size", "trailers")

    def __init__(self) -> None:
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.end = False  # end the stream once the chunks are out
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.blocked = False


class Http2Connection:
    """See the module docstring."""

    def __init__(
        self,
        role: Role,
        *,
        max_concurrent_streams: int = DEFAULT_MAX_STREAMS,
        initial_window: int = DEFAULT_WINDOW,
        high_water: int = DEFAULT_HIGH_WATER,
    ) -> None:
        self.role = role
        # Received heads are validated; what we send comes from validated heads or from our own
        # HTTP/1.1 mapping (lower-case names, trimmed values), so it is not checked twice.
        config = h2.config.H2Configuration(
            client_side=role is Role.CLIENT, header_encoding=None, validate_inbound_headers=True,
            validate_outbound_headers=False, normalize_outbound_headers=False,
        )  # fmt: skip
        self._h2 = _H2(config=config)
        self._h2.local_settings = h2.settings.Settings(
            client=role is Role.CLIENT,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        self.high_water = high_water
        self._outboxes: dict[int, _Outbox] = {}
        self._open: set[int] = set()  # streams not yet closed both ways (as this side sees them)
        self.going_away = False  # we sent a GOAWAY: no new streams
        self.peer_going_away = False  # the peer sent one: open no new streams
        self.last_accepted = 0  # server: the last stream id that is served after our GOAWAY
        self.closed = False  # the connection is unusable (protocol error or a GOAWAY with an error)

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        """Queue the preface (client) or the first SETTINGS (server)."""
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)

    def start_upgraded(self, settings_header: bytes, request: Message) -> list[Event]:
        """Server side of ``Upgrade: h2c``: stream 1 is ``request`` (already complete, no body)."""
        self._h2.initiate_upgrade_connection(settings_header)
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._open.add(1)
        return [RequestStarted(1, request, ended=True), Ended(1)]

    # ------------------------------------------------------------------ input
    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; returns what happened.  Raises Http2ProtocolError when the peer broke HTTP/2."""
        try:
            raw = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.closed = True
            raise Http2ProtocolError(str(e) or type(e).__name__) from e
        events: list[Event] = []
        for ev in raw:
            self._translate(ev, events)
        return events

    def _translate(self, ev: h2.events.Event, out: list[Event]) -> None:
        if isinstance(ev, h2.events.RequestReceived):
            self._on_request(ev, out)
        elif isinstance(ev, h2.events.ResponseReceived):
            try:
                message = message_from_headers(ev.headers or [], request=False)
            except MessageError:
                self.reset(ev.stream_id, PROTOCOL_ERROR)
                out.append(StreamReset(ev.stream_id, PROTOCOL_ERROR, remote=False))
                return
            out.append(ResponseStarted(ev.stream_id, message, ended=ev.stream_ended is not None))
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            try:
                out.append(Informational(ev.stream_id, message_from_headers(ev.headers or [], request=False)))
            except MessageError:
                pass
        elif isinstance(ev, h2.events.DataReceived):
            out.append(Body(ev.stream_id, ev.data or b"", ev.flow_controlled_length or 0))
        elif isinstance(ev, h2.events.TrailersReceived):
            out.append(Trailers(ev.stream_id, [(bytes(n), bytes(v)) for n, v in ev.headers or []]))
        elif isinstance(ev, h2.events.StreamEnded):  # h2 reports it apart from the frame that carried it
            self._remote_ended(ev.stream_id, out)
        elif isinstance(ev, h2.events.StreamReset):
            sid = ev.stream_id
            self._open.discard(sid)
            self._outboxes.pop(sid, None)
            out.append(StreamReset(sid, int(ev.error_code or 0), remote=ev.remote_reset))
        elif isinstance(ev, h2.events.WindowUpdated):
            self._on_window(ev.stream_id, out)
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            self._on_window(0, out)  # a bigger initial window opens every stream
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.peer_going_away = True
            code = int(ev.error_code or 0)
            if code != NO_ERROR:
                self.closed = True
            out.append(GoAway(int(ev.last_stream_id or 0), code))

    def _on_request(self, ev: h2.events.RequestReceived, out: list[Event]) -> None:
        sid = ev.stream_id
        if self.going_away and sid > self.last_accepted:
            self._h2.reset_stream(sid, REFUSED_STREAM)
            return
        try:
            message = message_from_headers(ev.headers or [], request=True)
        except MessageError:
            self._h2.reset_stream(sid, PROTOCOL_ERROR)
            return
        self._open.add(sid)
        ended = ev.stream_ended is not None
        out.append(RequestStarted(sid, message, ended=ended))

    def _remote_ended(self, sid: int, out: list[Event]) -> None:
        out.append(Ended(sid))
        self._maybe_closed(sid)

    def _maybe_closed(self, sid: int) -> None:
        stream = self._h2.streams.get(sid)
        if stream is None or stream.closed:
            self._open.discard(sid)
            self._outboxes.pop(sid, None)

    # ------------------------------------------------------------------ output
    def outgoing(self) -> bytes:
        """Bytes to write to the peer now."""
        return self._h2.data_to_send()

    def can_open(self) -> bool:
        """Client: whether a new stream may be opened now (the peer's stream limit, no GOAWAY)."""
        if self.closed or self.going_away or self.peer_going_away:
            return False
        return self._h2.open_outbound_streams < self._h2.remote_settings.max_concurrent_streams

    def open_stream(self, message: Message, *, end: bool = False) -> int:
        """Client: start a request; returns its stream id."""
        sid: int = self._h2.get_next_available_stream_id()
        self._h2.send_headers(sid, message.to_headers(), end_stream=end)
        self._open.add(sid)
        return sid

    def send_head(self, sid: int, message: Message, *, end: bool = False) -> None:
        """Server: the response head (a 1xx is sent as an informational head)."""
        self._h2.send_headers(sid, message.to_headers(), end_stream=end)
        if end:
            self._maybe_closed(sid)

    def send_body(self, sid: int, data: bytes, *, end: bool = False) -> bool:
        """Send body bytes (buffered beyond the windows); False when the stream is now blocked."""
        box = self._outboxes.get(sid)
        if box is None:
            box = self._outboxes[sid] = _Outbox()
        if data:
            box.chunks.append(data)
            box.size += len(data)
        if end:
            box.end = True
        self._pump(sid, box)
        if box.size > self.high_water:
            box.blocked = True
        return not box.blocked

    def send_trailers(self, sid: int, trailers: list[tuple[bytes, bytes]]) -> None:
        """End the stream with trailers (after any body still buffered)."""
        box = self._outboxes.get(sid)
        if box is None:
            box = self._outboxes[sid] = _Outbox()
        box.trailers = trailers
        box.end = True
        self._pump(sid, box)

    def end_stream(self, sid: int) -> None:
        self.send_body(sid, b"", end=True)

    def blocked(self, sid: int) -> bool:
        box = self._outboxes.get(sid)
        return box is not None and box.blocked

    def reset(self, sid: int, code: int = CANCEL) -> None:
        """RST_STREAM (ignored for a stream already closed)."""
        self._outboxes.pop(sid, None)
        self._open.discard(sid)
        stream = self._h2.streams.get(sid)
        if stream is not None and not stream.closed:
            try:
                self._h2.reset_stream(sid, code)
            except h2.exceptions.ProtocolError:
                pass

    def consumed(self, sid: int, size: int) -> None:
        """The caller has passed on ``size`` flow-controlled bytes of ``sid``: open the windows again."""
        if size <= 0 or self.closed:
            return
        try:
            self._h2.acknowledge_received_data(size, sid)
        except (h2.exceptions.StreamClosedError, KeyError):
            self._h2.increment_flow_control_window(size)  # the stream is gone: still give the connection window back
        except h2.exceptions.ProtocolError:
            pass

    def goaway(self, code: int = NO_ERROR) -> None:
        """Stop new streams.  NO_ERROR: the streams in flight finish (graceful drain)."""
        if self.going_away and code == NO_ERROR:
            return
        self.going_away = True
        if self.role is Role.SERVER:
            self.last_accepted = self._h2.highest_inbound_stream_id
        if code == NO_ERROR:
            self._h2.send_graceful_goaway(self.last_accepted)
        else:
            self.closed = True
            self._h2.close_connection(code)

    def ping(self) -> None:
        self._h2.ping(b"smi-mesh")

    @property
    def open_streams(self) -> int:
        return len(self._open)

    @property
    def drained(self) -> bool:
        """After a GOAWAY (ours or the peer's): no stream left in flight."""
        return (self.going_away or self.peer_going_away or self.closed) and not self._open

    # ------------------------------------------------------------------ flow control internals
    def _on_window(self, sid: int, out: list[Event]) -> None:
        targets = list(self._outboxes) if sid == 0 else [sid]
        for s in targets:
            box = self._outboxes.get(s)
            if box is None:
                continue
            self._pump(s, box)
            if box.blocked and box.size <= self.high_water // 2:
                box.blocked = False
                out.append(Writable(s))

    def _pump(self, sid: int, box: _Outbox) -> None:
        conn = self._h2
        stream = conn.streams.get(sid)
        if stream is None or stream.closed:
            self._outboxes.pop(sid, None)
            return
        while box.chunks:
            window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
            if window <= 0:
                return
            chunk = box.chunks[0]
            if len(chunk) <= window:
                box.chunks.popleft()
                piece = chunk
            else:
                piece, box.chunks[0] = chunk[:window], chunk[window:]
            box.size -= len(piece)
            last = not box.chunks and box.end and box.trailers is None
            conn.send_data(sid, piece, end_stream=last)
        if box.end:
            if box.trailers is not None:
                conn.send_headers(sid, box.trailers, end_stream=True)
            elif not box.chunks and stream.open and not _sent_end(stream):
                conn.end_stream(sid)
            self._outboxes.pop(sid, None)
            self._maybe_closed(sid)


def _sent_end(stream: Any) -> bool:
    """Whether our side of ``stream`` is already closed (h2 has no public accessor)."""
    try:
        return not bool(stream.state_machine.state.name in ("OPEN", "HALF_CLOSED_REMOTE"))
    except AttributeError:
        return False


__all__ = [
    "CANCEL",
    "INTERNAL_ERROR",
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "REFUSED_STREAM",
    "Http2Connection",
    "Http2ProtocolError",
    "Role",
]
