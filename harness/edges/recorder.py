"""A recording relay between a Docker client and the engine, on a unix socket of its own.

To explain a cache miss we need the build context each client *really* sends, not what we
believe docker-py or the CLI would send. Pointing a client's DOCKER_HOST at this relay observes
the real programs unchanged: bytes pass through verbatim both ways (so hijacked and upgraded
connections, chunked bodies and streamed replies just work, with no HTTP knowledge here), and
every byte a client sends is also written to ``capture_dir/conn-<n>.bin`` for
:mod:`harness.core.httpcapture` to parse afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import selectors
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from harness.core.errors import UserError

_CHUNK = 64 * 1024
_SUN_PATH_MAX = 107  # AF_UNIX addresses hold 108 bytes on Linux, the terminating NUL included
_JOIN_SECONDS = 5.0
_THREAD_PREFIX = "recording-proxy"


class SocketPathTooLong(UserError):
    """The relay's socket would lie too deep for AF_UNIX (a long TMPDIR): one line saying so,
    not a traceback."""


def unix_socket_path(host: str) -> str:
    """The socket path of a ``unix://`` Docker host; other transports are not relayed."""
    scheme, separator, path = host.partition("://")
    if not separator or scheme != "unix" or not path:
        raise ValueError(
            f"the recording proxy relays only unix:// engines (like unix:///run/docker.sock), "
            f"not {host!r}"
        )
    return path


class RecordingProxy:
    """Relay every connection on ``socket_path`` to ``upstream``, teeing what clients send.

    Use it as a context manager; :attr:`host` is the DOCKER_HOST to give the clients.
    Connection ``n`` (from 1, in order of acceptance) is captured in ``conn-<n>.bin``.
    """

    def __init__(self, upstream: str, socket_path: Path, capture_dir: Path) -> None:
        self.upstream_path = unix_socket_path(upstream)
        self.socket_path = Path(socket_path)
        length = len(os.fsencode(self.socket_path))
        if length > _SUN_PATH_MAX:
            raise SocketPathTooLong(
                f"--explain records each build through a unix socket, whose path may have "
                f"{_SUN_PATH_MAX} bytes at most; under this TMPDIR it has {length} "
                f"({self.socket_path}): set TMPDIR to a shorter folder"
            )
        self.capture_dir = Path(capture_dir)
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._relays: list[_Relay] = []
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._acceptor: threading.Thread | None = None
        self._closed = False

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> Self:
        """Listen on the socket and start accepting; the socket file must not exist yet."""
        if self._listener is not None or self._closed:
            raise RuntimeError("a RecordingProxy starts once")
        self.capture_dir.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.socket_path))
        except OSError:
            listener.close()
            raise
        try:
            listener.listen(64)
            listener.setblocking(False)
            self._wake = socket.socketpair()
            self._listener = listener
            self._acceptor = threading.Thread(
                target=self._accept_loop, name=f"{_THREAD_PREFIX}-accept", daemon=True
            )
            self._acceptor.start()
        except BaseException:
            self._listener = None
            listener.close()
            self._close_wake()
            self.socket_path.unlink(missing_ok=True)
            raise
        return self

    def close(self) -> None:
        """Stop accepting, cut every live connection, wait for the threads (bounded), and
        remove the socket file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(b"x")
        if self._acceptor is not None:
            self._acceptor.join(_JOIN_SECONDS)
        if self._listener is not None:
            self._listener.close()
            self.socket_path.unlink(missing_ok=True)
        with self._lock:
            relays = list(self._relays)
            self._relays.clear()
        for relay in relays:
            relay.abort()
        for relay in relays:
            relay.join(_JOIN_SECONDS)
        acceptor_done = self._acceptor is None or not self._acceptor.is_alive()
        if acceptor_done:  # never close a descriptor a straggling thread may still select on
            self._close_wake()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _close_wake(self) -> None:
        if self._wake is not None:
            for end in self._wake:
                end.close()
            self._wake = None

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        listener, wake = self._listener, self._wake[0]
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if wake in ready:
                    return
                try:
                    client, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                self._start_relay(client)

    def _start_relay(self, client: socket.socket) -> None:
        client.setblocking(True)
        with self._lock:
            if self._closed:
                client.close()
                return
            self._relays = [relay for relay in self._relays if relay.alive()]
            number = next(self._numbers)
            relay = _Relay(
                number, client, self.upstream_path, self.capture_dir / f"conn-{number:04d}.bin"
            )
            self._relays.append(relay)
        relay.start()


class _Relay:
    """One client connection and its upstream twin: a thread per direction."""

    def __init__(
        self, number: int, client: socket.socket, upstream_path: str, capture_path: Path
    ) -> None:
        self.client = client
        self.upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.upstream_path = upstream_path
        self.capture_path = capture_path
        self._lock = threading.Lock()
        self._aborted = False
        self._sockets_closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"{_THREAD_PREFIX}-conn-{number}", daemon=True
        )
        self._replies = threading.Thread(
            target=_pump,
            args=(self.upstream, self.client, None),
            name=f"{_THREAD_PREFIX}-conn-{number}-replies",
            daemon=True,
        )

    def start(self) -> None:
        try:
            self._thread.start()
        except RuntimeError:
            self._close_sockets()

    def alive(self) -> bool:
        return self._thread.is_alive() or self._replies.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._replies.ident is not None:
            self._replies.join(timeout)

    def abort(self) -> None:
        """Cut both sockets (waking any blocked recv or send); their owner closes them."""
        with self._lock:
            self._aborted = True
            if self._sockets_closed:
                return
            for sock in (self.client, self.upstream):
                _shutdown(sock, socket.SHUT_RDWR)

    def _run(self) -> None:
        try:
            try:
                self.upstream.connect(self.upstream_path)
            except OSError:
                return  # the client sees its connection closed, as if the engine were down
            with self.capture_path.open("wb") as capture:
                with self._lock:
                    if self._aborted:
                        return
                    self._replies.start()
                _pump(self.client, self.upstream, capture)
            self._replies.join()
        finally:
            self._close_sockets()

    def _close_sockets(self) -> None:
        with self._lock:
            self._sockets_closed = True
            self.client.close()
            self.upstream.close()


def _pump(source: socket.socket, sink: socket.socket, capture: BinaryIO | None) -> None:
    """Copy ``source`` to ``sink`` until EOF, then pass the half-close on; on any error end
    the connection both ways, as the peer that failed would have."""
    try:
        while data := source.recv(_CHUNK):
            if capture is not None:
                capture.write(data)
                capture.flush()
            sink.sendall(data)
    except OSError:
        _shutdown(source, socket.SHUT_RDWR)
        _shutdown(sink, socket.SHUT_RDWR)
        return
    _shutdown(sink, socket.SHUT_WR)


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)
