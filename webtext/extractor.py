"""extract_page in a child process that can be killed, because trafilatura can run for minutes on a
pathological page, and neither signal.alarm nor a thread can stop lxml's C code; `webtext.extract_worker`
is the child's side of the protocol.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

from webtext.extract import TIMEOUT, TOO_LARGE, WORKER_CRASH, ExtractConfig, Extracted

_FRAME_HEADER = struct.Struct(">Q")
_STARTUP_TIMEOUT = 120.0
"""Seconds a fresh child may take to import trafilatura and report ready (slow disks, busy VMs)."""
_READY = "ready"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_DEFAULT_CONFIG = ExtractConfig()


def encode_frame(message: object) -> bytes:
    """One message of the parent-child protocol: an 8-byte big-endian length, then a pickle."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME_HEADER.pack(len(payload)) + payload


def read_frame(stream) -> object | None:
    """The next message from a blocking binary stream, or None at end of stream."""
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        return None
    (size,) = _FRAME_HEADER.unpack(header)
    payload = stream.read(size)
    return pickle.loads(payload) if len(payload) == size else None


class Extractor:
    """extract_page in a persistent child process, killed and restarted when a page overruns.

    The child is started lazily with subprocess (fork+exec: safe in Beam workers, which run gRPC
    threads, unlike multiprocessing's fork) and answers one request per page: bytes in, a small
    Extracted out. It decodes too, so the parent only copies bytes. A child whose parent dies sees
    end-of-file on its stdin and exits, so none outlives the pipeline.
    """

    def __init__(self, config: ExtractConfig = _DEFAULT_CONFIG) -> None:
        self.config = config
        self._process: subprocess.Popen | None = None
        self._served = 0

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """The child's process id, None while there is no child (for logs and monitoring)."""
        return self._process.pid if self._process is not None else None

    def extract(self, body: bytes, header_charset: str | None, url: str) -> Extracted | str:
        """An Extracted, or the reason (one of EXTRACT_REASONS) there is none.

        Raises RuntimeError only when a fresh child cannot start at all: a broken installation, which
        no page could cause and which should fail the job loudly.
        """
        if len(body) > self.config.max_html_bytes:
            return TOO_LARGE
        if self._served >= self.config.max_documents_per_worker:
            self.close()
        if self._process is None:
            self._start()
        self._served += 1
        try:
            self._write(encode_frame((body, header_charset, url)))
        except OSError:  # BrokenPipeError: the child is gone
            self._kill()
            return WORKER_CRASH
        payload = self._read_payload(time.monotonic() + self.config.time_limit)
        if isinstance(payload, str):
            self._kill()
            return payload
        return pickle.loads(payload)

    def close(self) -> None:
        """Stop the child: end of input lets it exit; one that does not is killed. Always reaped."""
        process, self._process = self._process, None
        self._served = 0
        if process is None:
            return
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "webtext.extract_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        self._served = 0
        with contextlib.suppress(OSError):  # a child that died at once is reported below
            self._write(encode_frame(self.config))
        payload = self._read_payload(time.monotonic() + _STARTUP_TIMEOUT)
        if isinstance(payload, str) or pickle.loads(payload) != _READY:
            self._kill()
            raise RuntimeError("webtext.extract_worker did not start; see its stderr above")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._process.stdin.fileno(), view) :]

    def _read_payload(self, deadline: float) -> bytes | str:
        """The child's next pickled message; TIMEOUT past the deadline, WORKER_CRASH if its output ends."""
        header = self._read_exact(_FRAME_HEADER.size, deadline)
        if isinstance(header, str):
            return header
        return self._read_exact(_FRAME_HEADER.unpack(header)[0], deadline)

    def _read_exact(self, size: int, deadline: float) -> bytes | str:
        fd = self._process.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        chunks, remaining = [], size
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return TIMEOUT
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                return WORKER_CRASH
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _kill(self) -> None:
        """Kill and reap the child; the next page starts a fresh one."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()
