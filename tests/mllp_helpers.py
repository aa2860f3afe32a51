"""Shared helpers for the MLLP listener tests: a listener in a thread, ACK reading over sockets,
and the listener as a real ``caretwin listen mllp`` process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import hl7
from tests.hl7_helpers import DATA

from caretwin.access import Actor
from caretwin.hl7v2 import (
    ListenerConfig,
    ListenerStats,
    MllpListener,
    RawMessage,
    frame,
    split_messages,
)
from caretwin.hl7v2.feed import Outcome
from caretwin.services.context import ServiceContext
from caretwin.services.hl7 import ingest_hl7_messages
from caretwin.workspace import Workspace

TIMEOUT = 20.0
FRAME_END = b"\x1c\r"


def stay_messages() -> list[str]:
    text = (DATA / "adt-stay-mllp.hl7").read_bytes().decode()
    return [m.text for m in split_messages(text, "")]


def service_commit(ws: Workspace) -> Callable[[Sequence[RawMessage]], list[Outcome]]:
    """The listener's real commit: the audited service into the workspace's lake."""
    ctx = ServiceContext(workspace=ws, actor=Actor("feed", frozenset({"analyst"}), "service"))
    return lambda messages: ingest_hl7_messages(ctx, messages, "mllp://test").outcomes


@dataclass
class InThread:
    listener: MllpListener
    thread: threading.Thread
    result: list[ListenerStats] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.listener.stats.port

    def stop(self) -> ListenerStats:
        self.listener.stop()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the listener did not shut down"
        return self.result[0]


def start_listener(
    commit: Callable[[Sequence[RawMessage]], Sequence[Outcome]], **config: object
) -> InThread:
    listener = MllpListener(ListenerConfig(host="127.0.0.1", port=0, **config), commit)
    bound = threading.Event()
    run = InThread(listener, threading.Thread(daemon=True, target=lambda: None))

    def main() -> None:
        run.result.append(asyncio.run(listener.serve(lambda _port: bound.set())))

    run.thread = threading.Thread(target=main, daemon=True)
    run.thread.start()
    assert bound.wait(TIMEOUT)
    return run


class AckReader:
    """Reads ACK frames from one socket (several may arrive in one recv)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> hl7.Message:
        while FRAME_END not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before the ACK"
            self.buffer += chunk
        block, self.buffer = self.buffer.split(FRAME_END, 1)
        assert block.startswith(b"\x0b")
        return hl7.parse(block[1:].decode())


def msa(ack: hl7.Message) -> tuple[str, str]:
    """MSA-1 (the code) and MSA-2 (the control id answered)."""
    seg = ack.segment("MSA")
    return str(seg(1)), str(seg(2))


def send_accepted(port: int, texts: Sequence[str]) -> None:
    """Over a new connection, send each message in turn; each must be answered AA."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        acks = AckReader(sock)
        for text in texts:
            sock.sendall(frame(text.encode()))
            assert msa(acks.next())[0] == "AA"


def closed_by_peer(sock: socket.socket, within: float = TIMEOUT) -> bool:
    """Whether the other end closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@dataclass
class Process:
    """``caretwin listen mllp`` as a child process; stderr is drained in a thread."""

    proc: subprocess.Popen[bytes]
    port: int
    stderr: bytearray
    reader: threading.Thread

    def terminate(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
        """Send ``sig``; the exit code and stdout (the summary)."""
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=60)
        self.reader.join(10)
        return self.proc.returncode, out.decode()


def start_process(
    workspace: Path,
    args: Sequence[str],
    *,
    prelude: str = "",
    extra_env: dict[str, str] | None = None,
) -> Process:
    """Run the CLI in a child (``prelude`` is Python run first, e.g. lowering RLIMIT_NOFILE)."""
    code = f"{prelude}\nfrom caretwin.cli.app import main\nmain()"
    env = {**os.environ, "CARETWIN_WORKSPACE": str(workspace), **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "listen", "mllp", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    err = bytearray()
    found = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            err.extend(line)
            if b"listening on" in line:
                found.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not found.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"listener did not start: {bytes(err)[:2000]!r}")
    match = re.search(rb"listening on [^\s]+:(\d+) \(MLLP", bytes(err))
    assert match is not None
    return Process(proc, int(match.group(1)), err, reader)
