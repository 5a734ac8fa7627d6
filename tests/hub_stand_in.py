"""A stand-in for the Hugging Face Hub on 127.0.0.1, for download tests.

Serves the few routes huggingface_hub's `snapshot_download` uses (repo info,
file tree, file HEAD/GET) for local folders, from a thread, on loopback only.
"""

import hashlib
import http.server
import json
import os
import re
import threading
import urllib.parse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _files(folder):
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            yield os.path.relpath(path, folder).replace(os.sep, "/"), path


def _etag(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class HubStandIn:
    """`with HubStandIn({"google/electra-x": folder}) as hub: hub.endpoint`."""

    def __init__(self, repos):
        self.repos = dict(repos)
        self.requests = []
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                stand_in._serve(self, body=False)

            def do_GET(self):
                stand_in._serve(self, body=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=10)
        self.server.server_close()

    def _send(self, handler, status, payload=b"", headers=None, body=True):
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if body:
            handler.wfile.write(payload)

    def _json(self, handler, value, body):
        self._send(handler, 200, json.dumps(value).encode(),
                   {"Content-Type": "application/json"}, body)

    def _serve(self, handler, body):
        path = urllib.parse.urlparse(handler.path).path
        self.requests.append((handler.command, path))
        info = re.fullmatch(r"/api/models/(.+?)/revision/([^/]+)", path)
        tree = re.fullmatch(r"/api/models/(.+?)/tree/([^/]+)(/.*)?", path)
        resolve = re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path)
        match = info or tree or resolve
        repo = urllib.parse.unquote(match.group(1)) if match else None
        if repo not in self.repos:
            self._send(handler, 404, b'{"error": "Repository not found"}',
                       {"X-Error-Code": "RepoNotFound"}, body)
            return
        folder = self.repos[repo]
        if info:
            self._json(handler, {
                "id": repo, "modelId": repo, "sha": COMMIT, "private": False,
                "siblings": [{"rfilename": n} for n, _ in _files(folder)],
            }, body)
        elif tree:
            self._json(handler, [
                {"type": "file", "path": name, "size": os.path.getsize(p),
                 "oid": _etag(p)[:40]}
                for name, p in _files(folder)
            ], body)
        else:
            file_path = os.path.join(folder, urllib.parse.unquote(
                resolve.group(3)))
            if not os.path.isfile(file_path):
                self._send(handler, 404, b'{"error": "Entry not found"}',
                           {"X-Error-Code": "EntryNotFound"}, body)
                return
            with open(file_path, "rb") as f:
                payload = f.read()
            self._send(handler, 200, payload, {
                "X-Repo-Commit": COMMIT,
                "ETag": f'"{_etag(file_path)}"',
                "Content-Type": "application/octet-stream",
            }, body)
