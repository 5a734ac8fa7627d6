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


# Files the real hub keeps in git LFS (reported with their sha256).
LFS_SUFFIXES = (".safetensors", ".bin", ".h5")


def _tree_entry(name, path):
    """A file as the hub's tree API lists it, with the hashes it reports:
    git's blob sha1 for plain files, the LFS sha256 for weights."""
    with open(path, "rb") as f:
        data = f.read()
    entry = {"type": "file", "path": name, "size": len(data)}
    if name.endswith(LFS_SUFFIXES):
        entry["oid"] = hashlib.sha1(data).hexdigest()  # The LFS pointer's.
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(),
                        "size": len(data), "pointerSize": 134}
    else:
        blob = b"blob %d\0" % len(data) + data
        entry["oid"] = hashlib.sha1(blob).hexdigest()
    return entry


class HubStandIn:
    """`with HubStandIn({"google/electra-x": folder}) as hub: hub.endpoint`.

    `tampered` maps `(repo, file)` to bytes served instead of the file's
    (its listed hashes stay those of the real file), and `extra_files` maps
    a repo to `{name: bytes}` listed and served beside its folder's files
    (names the local folder cannot hold, such as `../outside.json`).
    """

    def __init__(self, repos, tampered=None, extra_files=None):
        self.repos = dict(repos)
        self.tampered = dict(tampered or {})
        self.extra_files = dict(extra_files or {})
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
                "siblings": [{"rfilename": n} for n, _ in _files(folder)]
                + [{"rfilename": n} for n in self.extra_files.get(repo, {})],
            }, body)
        elif tree:
            extra = self.extra_files.get(repo, {})
            self._json(handler, [
                _tree_entry(name, p) for name, p in _files(folder)
            ] + [
                {"type": "file", "path": name, "size": len(data),
                 "oid": hashlib.sha1(data).hexdigest()}
                for name, data in extra.items()
            ], body)
        else:
            name = urllib.parse.unquote(resolve.group(3))
            file_path = os.path.join(folder, name)
            extra = self.extra_files.get(repo, {})
            if name in extra:
                payload = extra[name]
            elif os.path.isfile(file_path):
                with open(file_path, "rb") as f:
                    payload = f.read()
            else:
                self._send(handler, 404, b'{"error": "Entry not found"}',
                           {"X-Error-Code": "EntryNotFound"}, body)
                return
            etag = hashlib.sha256(payload).hexdigest()
            payload = self.tampered.get((repo, name), payload)
            self._send(handler, 200, payload, {
                "X-Repo-Commit": COMMIT,
                "ETag": f'"{etag}"',
                "Content-Type": "application/octet-stream",
            }, body)
