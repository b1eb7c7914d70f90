"""One window per user: a second start hands its files to the running window and exits.

The first instance listens on a QLocalServer (a named pipe on Windows, a socket in the temporary
folder elsewhere) whose name is private to the user. A later start connects, sends its arguments
as one JSON line, waits for the acknowledgement and stops; the running window opens them and
comes to the front.
"""

from __future__ import annotations

import getpass
import hashlib
import json

from PySide6.QtCore import QDeadlineTimer, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_MS = 500
ANSWER_MS = 5000  # a busy window may take a while to come back to its event loop
ACK = b"ok\n"
HANDED, ABSENT, SILENT = "handed", "absent", "silent"


def default_name() -> str:
    """The server name of this user's instance (short: Unix socket paths are limited)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment: one name for all
        user = "user"
    return "htrjand-studio-" + hashlib.sha1(user.encode("utf-8")).hexdigest()[:12]


class SingleInstance(QObject):
    """``send(paths)`` to a running instance, else ``listen()`` and get ``received(paths)``."""

    received = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or default_name()
        self.server: QLocalServer | None = None

    def send(self, paths: list[str], timeout_ms: int = CONNECT_MS) -> str:
        """Hand ``paths`` to a running instance: HANDED (it opens them and shows itself),
        ABSENT (none runs: listen), or SILENT (one holds the name but does not answer)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            return ABSENT
        socket.write(json.dumps({"paths": list(paths)}).encode("utf-8") + b"\n")
        reply = bytearray()
        deadline = QDeadlineTimer(ANSWER_MS)
        while ACK not in reply and not deadline.hasExpired():
            if socket.bytesToWrite():
                socket.waitForBytesWritten(50)
            elif socket.waitForReadyRead(50):
                reply.extend(bytes(socket.readAll().data()))
            elif socket.state() != QLocalSocket.ConnectedState:
                break
        socket.abort()
        return HANDED if ACK in reply else SILENT

    def listen(self) -> bool:
        """Become the running instance; False (with ``error``) when the name cannot be taken."""
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.UserAccessOption)
        if not server.listen(self.name):
            # A socket left by a crashed instance (send() found nobody): take the name over.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                self.error = server.errorString()
                return False
        server.newConnection.connect(self._accept)
        self.server = server
        return True

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def _accept(self) -> None:
        while self.server is not None and self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.setParent(self)
            buffer = bytearray()

            def read(socket=socket, buffer=buffer) -> None:
                buffer.extend(bytes(socket.readAll().data()))
                if b"\n" not in buffer:
                    return
                line = bytes(buffer).split(b"\n", 1)[0]
                try:
                    paths = [str(p) for p in json.loads(line.decode("utf-8")).get("paths", [])]
                except (ValueError, AttributeError):
                    paths = None  # not one of ours: no answer
                if paths is not None:
                    socket.write(ACK)
                    socket.flush()
                    self.received.emit(paths)
                socket.disconnectFromServer()
            socket.readyRead.connect(read)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                read()
