"""Losing calls on purpose: a TCP proxy that cuts connections, interceptors that drop replies.

:class:`CuttingProxy` forwards bytes between a client and the server; armed
with :meth:`CuttingProxy.cut_next_reply`, it closes both sockets the moment
the server next sends anything, so the client sees its connection die in the
middle of a call (the request may or may not have been processed).
:class:`DropReply` and :class:`AsyncDropReply` let a chosen call reach the
server, then throw its reply away and fail with UNAVAILABLE, which is exactly
a reply lost on the wire.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import grpc
import grpc.aio


class CuttingProxy:
    """A localhost TCP proxy to ``target_port`` whose connections can be cut mid-call."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections_accepted = 0
        self.cuts = 0
        self._armed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut_next_reply(self) -> None:
        """Close the connection instead of forwarding the server's next bytes."""
        self._armed.set()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.connections_accepted += 1
                self._sockets += [client, upstream]
            pair = (client, upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream, pair, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, pair, True), daemon=True
            ).start()

    def _pump(self, source, sink, pair, from_server: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_server and self._armed.is_set():
                    self._armed.clear()
                    self.cuts += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class LostReply(grpc.RpcError):
    """What a call whose reply never arrived looks like to the client."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection lost before the reply arrived (injected by the test)"


class DropReply(grpc.UnaryUnaryClientInterceptor):
    """Lets the ``drop``-th call of ``method`` (1-based) reach the server, then loses its reply."""

    def __init__(self, method: str, drop: int):
        self.method, self.drop = method, drop
        self.calls = 0
        self.dropped: list = []

    def intercept_unary_unary(self, continuation, client_call_details, request):
        if client_call_details.method.endswith(f"/{self.method}"):
            self.calls += 1
            if self.calls == self.drop:
                self.dropped.append(continuation(client_call_details, request).result())
                raise LostReply()
        return continuation(client_call_details, request)


class AsyncDropReply(grpc.aio.UnaryUnaryClientInterceptor):
    """The asyncio twin of :class:`DropReply`."""

    def __init__(self, method: str, drop: int):
        self.method, self.drop = method, drop
        self.calls = 0
        self.dropped: list = []

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        if method.endswith(f"/{self.method}"):
            self.calls += 1
            if self.calls == self.drop:
                call = await continuation(client_call_details, request)
                self.dropped.append(await call)
                raise LostReply()
        return await continuation(client_call_details, request)
