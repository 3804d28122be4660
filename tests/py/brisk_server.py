"""Start and stop `brisk serve` for the server tests and the load benchmark.

The server binds port 0 (any free port) and prints the one it got; every wait
has a timeout, so a broken server fails a test instead of hanging it."""
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

from brisk_ffi import BRISK_BIN


class Server:
    def __init__(self, model, *args, start_timeout=60):
        self.proc = subprocess.Popen([str(BRISK_BIN), "serve", "-m", str(model), "--port", "0", *map(str, args)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = None
        ready = threading.Event()

        def read_stderr():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read_stderr, daemon=True)
        self.reader.start()
        if not ready.wait(start_timeout) or self.port is None:
            self.kill()
            raise RuntimeError("brisk serve did not start: " + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"
        self.model_id = re.search(r"model '([^']+)'", "".join(self.log)).group(1)

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, parsed JSON or text) of one request; body: dict (sent as JSON), bytes or an iterable of bytes
        (sent chunked, without Content-Length)."""
        with contextlib.closing(self.connect(timeout)) as c:
            data, h = body, dict(headers or {})
            if isinstance(body, dict):
                data = json.dumps(body).encode()
            if body is not None:
                h.setdefault("Content-Type", "application/json")
            c.request(method, path, body=data, headers=h, encode_chunked=body is not None and not isinstance(data, bytes))
            r = c.getresponse()
            text = r.read().decode()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    def connect(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    @contextlib.contextmanager
    def stream(self, path, body, timeout=120):
        """POST body and yield the response's lines (decoded, without line ends) as they come."""
        c = self.connect(timeout)
        try:
            c.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            yield r.status, (line.decode().rstrip("\r\n") for line in r)
        finally:
            c.close()

    def metrics(self, headers=None):
        status, text = self.request("GET", "/metrics", headers=headers, timeout=10)
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_metric(self, name, pred, timeout=30):
        """Poll /metrics until pred(value) holds; returns the last value."""
        end = time.monotonic() + timeout
        while True:
            v = self.metrics().get(name)
            if pred(v) or time.monotonic() > end:
                return v
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal the server and wait for it to exit; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        self.reader.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
