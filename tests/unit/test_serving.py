"""The listening socket `gestalt serve` binds: each connection it accepts sends at once."""

from __future__ import annotations

import asyncio
import socket

from gestalt.api.serving import bind


async def test_connections_of_the_bound_socket_have_nagle_off() -> None:
    # With Nagle on, each small answer after the first on a kept-alive connection (a
    # scrubbed moment's change, /readyz) waited for the client's delayed ACK: 40 ms.
    loop = asyncio.get_running_loop()
    nodelay: asyncio.Future[int] = loop.create_future()

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            nodelay.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    sock = bind("127.0.0.1", 0)
    server = await loop.create_server(Accepted, sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            async with asyncio.timeout(10):
                assert await nodelay != 0
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
