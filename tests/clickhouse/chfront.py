"""ClickHouse HTTP interface over chDB, for tests.

No current clickhouse-server installs on these machines; the current engine is only
available in-process as chDB (PyPI `chdb-core`). This stdlib HTTP server puts the
ClickHouse HTTP interface in front of a `chdb.session.Session(data_dir)`, the way the Rust
`clickhouse` crate uses it, so the ClickHouse store is tested over the wire with the
crate's production settings (LZ4 on), and the same tests run against a real server
when CLICKHOUSE_URL points at one.

Verified with the Rust `clickhouse` crate 0.15.3 (default `lz4` feature, plus `time`),
Compression::Lz4 and Compression::None, against chdb-core 26.9.0 (engine 26.9.2.1).

Mapped: GET/POST on `/` with the `query` parameter and/or the body (the query parameter,
a newline, then the body: INSERT data follows `FORMAT <name>`); multipart/form-data
bodies (`query` and `param_*` fields); `database` (or `X-ClickHouse-Database`);
`default_format` (or `X-ClickHouse-Format`); `param_*` query parameters; `session_id`;
every other URL parameter is a setting (`SET name = 'value'`, so unknown ones fail with
UNKNOWN_SETTING as on a server); GET is readonly=2. `decompress=1`: the body is in
ClickHouse's native compressed-block framing (checksums verified). `compress=1`: the
response goes back in that framing. `Accept-Encoding: lz4|gzip|deflate` with
enable_http_compression (on by default since 25.10): the response is HTTP-compressed
with `Content-Encoding` (LZ4 *frame* format for lz4, which is what the crate decodes).
Errors: `Code: N. DB::Exception: ... (NAME) (version V (official build))` with
`X-ClickHouse-Exception-Code: N` and ClickHouse's status mapping (404 for UNKNOWN_TABLE...).

Usage: python chfront.py --listen 127.0.0.1:0 --data-dir DIR --url-file FILE
"""

import argparse
import fcntl
import gzip
import json
import os
import re
import signal
import struct
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import lz4.block
import lz4.frame
from clickhouse_cityhash.cityhash import CityHash128

# --- ClickHouse native compressed-block framing -------------------------------------
# Block: 16-byte CityHash128 (v1.0.2) of the rest of the block, then method byte,
# u32 LE size of (header + data), u32 LE uncompressed size, data.

METHOD_NONE, METHOD_LZ4, METHOD_ZSTD = 0x02, 0x82, 0x90
HEADER = struct.Struct("<BII")
BLOCK_SIZE = 1 << 20  # ClickHouse's DBMS_DEFAULT_BUFFER_SIZE
MAX_BLOCK = 1 << 30


class CHError(Exception):
    """A ClickHouse exception: code, name and message (without the version suffix)."""

    def __init__(self, code, name, message):
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    @classmethod
    def new(cls, code, name, text):
        return cls(code, name, f"DB::Exception: {text}. ({name})")


def checksum(block):
    """CityHash128 v1.0.2 as ClickHouse writes it: two u64 LE. The binding returns
    them as one int, the first written word in the high half."""
    h = CityHash128(block)
    return struct.pack("<QQ", h >> 64, h & 0xFFFFFFFFFFFFFFFF)


def compress_blocks(data, method=METHOD_LZ4, block_size=BLOCK_SIZE):
    out = bytearray()
    for start in range(0, len(data), block_size):
        chunk = bytes(data[start:start + block_size])
        payload = lz4.block.compress(chunk, store_size=False) if method == METHOD_LZ4 else chunk
        block = HEADER.pack(method, HEADER.size + len(payload), len(chunk)) + payload
        out += checksum(block) + block
    return bytes(out)


def decompress_blocks(data, verify=True):
    out, pos, view = bytearray(), 0, memoryview(data)
    while pos < len(data):
        if len(data) - pos < 16 + HEADER.size:
            raise CHError.new(271, "CANNOT_DECOMPRESS",
                              "Cannot decompress: truncated compressed block header")
        method, csize, usize = HEADER.unpack_from(data, pos + 16)
        if csize < HEADER.size or csize > MAX_BLOCK or usize > MAX_BLOCK:
            raise CHError.new(39, "TOO_LARGE_SIZE_COMPRESSED",
                              f"Too large size_compressed_without_checksum: {csize}")
        if pos + 16 + csize > len(data):
            raise CHError.new(271, "CANNOT_DECOMPRESS", "Cannot decompress: truncated compressed block")
        block = view[pos + 16:pos + 16 + csize]
        expected = bytes(view[pos:pos + 16])
        actual = checksum(block)
        if verify and actual != expected:
            raise CHError.new(40, "CHECKSUM_DOESNT_MATCH",
                              f"Checksum doesn't match: corrupted data. Reference: {expected.hex()}. "
                              f"Actual: {actual.hex()}. Size of compressed block: {csize}")
        payload = bytes(block[HEADER.size:])
        if method == METHOD_LZ4:
            try:
                chunk = lz4.block.decompress(payload, uncompressed_size=usize)
            except lz4.block.LZ4BlockError as e:
                raise CHError.new(271, "CANNOT_DECOMPRESS", f"Cannot decompress LZ4-encoded data: {e}")
        elif method == METHOD_NONE:
            chunk = payload
        else:
            raise CHError.new(89, "UNKNOWN_COMPRESSION_METHOD",
                              f"Unknown compression method: {method:#04x} (only LZ4 and NONE here)")
        if len(chunk) != usize:
            raise CHError.new(271, "CANNOT_DECOMPRESS", "Cannot decompress: size mismatch")
        out += chunk
        pos += 16 + csize
    return bytes(out)


# --- errors ---------------------------------------------------------------------------

# ClickHouse's exceptionCodeToHTTPStatus, by error name (chDB messages end in "(NAME)").
HTTP_STATUS = {401: "REQUIRED_PASSWORD",
               403: "UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE "
                    "ACCESS_DENIED",
               400: "BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT "
                    "CANNOT_PARSE_ESCAPE_SEQUENCE CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE "
                    "CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING "
                    "CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6 CANNOT_PARSE_INPUT_ASSERTION_FAILED "
                    "CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN UNKNOWN_ELEMENT_IN_AST "
                    "UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST "
                    "UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH "
                    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
               404: "UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE "
                    "UNKNOWN_DATABASE UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING "
                    "UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE "
                    "UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE",
               413: "QUERY_IS_TOO_LARGE", 501: "NOT_IMPLEMENTED",
               503: "SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK",
               411: "HTTP_LENGTH_REQUIRED", 408: "TIMEOUT_EXCEEDED", 415: "UNSUPPORTED_MEDIA_TYPE"}
STATUS_BY_NAME = {name: status for status, names in HTTP_STATUS.items() for name in names.split()}


def engine_error(exc):
    """chDB raises `[prefix: ]Code: N. DB::Exception: ... (NAME)[ (version V)]`."""
    text = str(exc).strip()
    m = re.search(r"Code: (\d+)\. (.*)", text, re.S)
    if not m:
        return CHError.new(1002, "UNKNOWN_EXCEPTION", text)
    message = re.sub(r"\s*\(version [^()]*\)$", "", m.group(2).strip())
    name = re.search(r"\(([A-Z][A-Z0-9_]*)\)$", message)
    return CHError(int(m.group(1)), name.group(1) if name else "UNKNOWN_EXCEPTION", message)


# --- the engine -----------------------------------------------------------------------

# URL parameters the HTTP handler consumes itself; all others are settings.
RESERVED = {"query", "database", "default_format", "user", "password", "quota_key", "query_id",
            "session_id", "session_timeout", "session_check", "compress", "decompress",
            "buffer_size", "wait_end_of_query", "role", "client_protocol_version", "stacktrace"}
INSERT_RE = re.compile(rb"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*INSERT\b", re.I | re.S)
FORMAT_RE = re.compile(rb"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)", re.I)
NOT_DATA_RE = re.compile(rb"\b(VALUES|SELECT|WITH)\b", re.I)
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def split_insert(text):
    """`INSERT ... FORMAT F<ws>data` -> (head, F, data), or None when not such an INSERT."""
    if not INSERT_RE.match(text):
        return None
    m = FORMAT_RE.search(text)
    if not m or NOT_DATA_RE.search(text, 0, m.start()):
        return None
    pos = m.end()
    while pos < len(text) and text[pos:pos + 1] in b" \t\f":
        pos += 1
    if text[pos:pos + 1] == b";":
        raise CHError.new(62, "SYNTAX_ERROR", "You have excessive ';' symbol before data for INSERT")
    if text[pos:pos + 1] == b"\r":
        pos += 1
    if text[pos:pos + 1] == b"\n":
        pos += 1
    return text[:m.start()].decode(), m.group(1).decode(), text[pos:]


class Engine:
    """One chDB engine per process (one data path); a short-lived chDB session per
    request, so `database` and settings stay per request as on a server."""

    def __init__(self, data_dir, lock_wait=60):
        self._path = os.path.abspath(data_dir)
        os.makedirs(self._path, exist_ok=True)
        # chDB does not lock its data directory: a restart waits for the old process.
        self._dir_lock = open(os.path.join(self._path, ".chfront.lock"), "w")
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                fcntl.flock(self._dir_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"chfront: {self._path} is in use by another process")
                time.sleep(0.1)
        from chdb import session  # 1-3 s to start the engine
        self._session_cls = session.Session
        self.lock = threading.Lock()
        self.root = self._session_cls(self._path)
        self.sessions = {}
        info = self.root.query("SELECT version(), timezone(), getSetting('enable_http_compression')",
                               "TabSeparated").bytes().decode().rstrip("\n").split("\t")
        self.version, self.timezone = info[0], info[1]
        self.http_compression_default = info[2] in ("1", "true")

    def execute(self, text, database, fmt, settings, params, session_id, readonly):
        """Runs one request; returns (output bytes, summary dict)."""
        with self.lock:
            if session_id:
                sess, temporary = self.sessions.get(session_id), False
                if sess is None:
                    sess = self.sessions[session_id] = self._session_cls(self._path)
            else:
                sess, temporary = self._session_cls(self._path), True
            try:
                return self._run(sess, text, database, fmt, settings, params, readonly)
            except CHError:
                raise
            except Exception as e:  # chDB raises RuntimeError subclasses with the message
                raise engine_error(e) from None
            finally:
                if temporary:
                    sess.close()

    def _run(self, sess, text, database, fmt, settings, params, readonly):
        if database:
            sess.query("USE `" + database.replace("\\", "\\\\").replace("`", "\\`") + "`")
        for name, value in settings.items():
            if not IDENT_RE.match(name):
                raise CHError.new(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
            sess.query(f"SET {name} = {quote(value)}")
        if readonly:
            sess.query("SET readonly = 2")
        insert = split_insert(text)
        if insert:
            head, in_fmt, data = insert
            inserter = sess.send_insert(head, in_fmt)
            try:
                if data:
                    inserter.append(data)
            except BaseException:
                inserter.cancel()
                raise
            res = inserter.finish()
            return b"", {"read_rows": 0, "read_bytes": 0, "written_rows": res.rows_written,
                         "written_bytes": res.bytes_written, "elapsed_ns": int(res.elapsed * 1e9)}
        if not text.strip():
            raise CHError.new(62, "SYNTAX_ERROR", "Empty query")
        res = sess.query(text.decode("utf-8", "replace"), fmt, params=params or None)
        out = res.bytes()
        # chDB's rows_read/bytes_read count the result; storage_* what was read
        return out, {"read_rows": res.storage_rows_read(), "read_bytes": res.storage_bytes_read(),
                     "written_rows": res.rows_written(), "written_bytes": res.bytes_written(),
                     "result_rows": res.rows_read(), "result_bytes": res.bytes_read(),
                     "elapsed_ns": int(res.elapsed() * 1e9)}

    def close(self):
        with self.lock:
            for sess in self.sessions.values():
                sess.close()
            self.root.close()  # the directory lock goes with the process


# --- HTTP -----------------------------------------------------------------------------

def content_type(fmt):
    f = fmt.lower()
    if f.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if f.startswith("json"):
        return "application/json; charset=UTF-8"
    if f.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if f.startswith(("pretty", "vertical", "markdown")):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


def http_encode(body, accept_encoding):
    """Response compression by Accept-Encoding, as ClickHouse with enable_http_compression."""
    accepted = {e.split(";")[0].strip().lower() for e in accept_encoding.split(",")}
    if "lz4" in accepted:
        return "lz4", lz4.frame.compress(body)
    if "gzip" in accepted:
        return "gzip", gzip.compress(body, 3)
    if "deflate" in accepted:
        return "deflate", zlib.compress(body, 3)
    return None, body  # zstd, br, xz...: not available here, sent as is


def http_decode(body, encoding):
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "lz4":
            return lz4.frame.decompress(body)
    except Exception as e:
        raise CHError.new(271, "CANNOT_DECOMPRESS", f"Cannot decompress {encoding} body: {e}")
    raise CHError.new(89, "UNKNOWN_COMPRESSION_METHOD", f"Unknown HTTP Content-Encoding: {encoding}")


def parse_multipart(body, ctype):
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not m:
        raise CHError.new(36, "BAD_ARGUMENTS", "multipart/form-data without boundary")
    fields = {}
    for part in body.split(b"--" + m.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.partition(b"\r\n\r\n")
        if b"filename=" in head:
            raise CHError.new(48, "NOT_IMPLEMENTED", "external data tables are not supported here")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value[:-2] if value.endswith(b"\r\n") else value
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chfront"
    engine = None  # set by main()
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self.handle_query(readonly=True)

    def do_POST(self):
        self.handle_query(readonly=False)

    def read_body(self):
        """The whole body, or ConnectionError when the client went away before sending it
        all: an aborted INSERT must not be executed with the part that arrived."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                if not line.endswith(b"\n"):
                    raise ConnectionError("body ended inside a chunk header")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                if len(chunk) != size or not self.rfile.readline().endswith(b"\n"):
                    raise ConnectionError("body ended inside a chunk")
                chunks.append(chunk)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) != length:
            raise ConnectionError("body shorter than Content-Length")
        return body

    def handle_query(self, readonly):
        url = urlsplit(self.path)
        try:
            body = self.read_body()
        except (ConnectionError, ValueError, OSError) as e:
            if self.verbose:
                sys.stderr.write(f"chfront: request dropped, nothing executed: {e}\n")
            self.close_connection = True
            return
        text_plain = {"Content-Type": "text/plain; charset=UTF-8"}
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and not url.query and not body):
            return self.reply(200, b"Ok.\n", text_plain)
        if url.path != "/":
            return self.reply(404, f"There is no handle {url.path}\n".encode(), text_plain)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            status, out, headers = 200, *self.run_query(params, body, readonly)
        except Exception as e:  # CHError, or a bug here: answered as a server would
            if not isinstance(e, CHError):
                e = CHError.new(1002, "UNKNOWN_EXCEPTION", f"chfront: {e!r}")
            out = f"Code: {e.code}. {e.message} (version {self.engine.version} (official build))\n".encode()
            status, headers = STATUS_BY_NAME.get(e.name, 500), {**text_plain, "X-ClickHouse-Exception-Code": str(e.code)}
            if self.verbose:
                sys.stderr.write(out.decode())
        accept = self.headers.get("Accept-Encoding", "")
        default = "1" if self.engine.http_compression_default else "0"
        if accept and params.get("enable_http_compression", default) in ("1", "true"):
            encoding, out = http_encode(out, accept)
            if encoding:
                headers["Content-Encoding"] = encoding
        self.reply(status, out, headers)

    def run_query(self, params, body, readonly):
        body = http_decode(body, self.headers.get("Content-Encoding", ""))
        if params.get("decompress") in ("1", "true"):
            verify = params.get("http_native_compression_disable_checksumming_on_decompress") not in ("1", "true")
            body = decompress_blocks(body, verify)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            params.update({k: v.decode() for k, v in parse_multipart(body, ctype).items()})
            body = b""
        query = params.get("query", "").encode()
        text = query + b"\n" + body if query and body else query or body
        fmt = params.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
        database = params.get("database") or self.headers.get("X-ClickHouse-Database") or ""
        settings = {k: v for k, v in params.items() if k not in RESERVED and not k.startswith("param_")}
        qparams = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        session_id = params.get("session_id", "")
        if session_id and params.get("session_check") in ("1", "true") and session_id not in self.engine.sessions:
            raise CHError.new(372, "SESSION_NOT_FOUND", f"Session {session_id} not found")
        out, summary = self.engine.execute(text, database, fmt, settings, qparams, session_id, readonly)
        out_fmt = FORMAT_RE.findall(text)
        out_fmt = out_fmt[-1].decode() if out_fmt and not split_insert(text) else fmt
        headers = {"Content-Type": content_type(out_fmt), "X-ClickHouse-Format": out_fmt,
                   "X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4()),
                   "X-ClickHouse-Timezone": self.engine.timezone,
                   "X-ClickHouse-Server-Display-Name": "chfront",
                   "X-ClickHouse-Summary": json.dumps({k: str(v) for k, v in summary.items()},
                                                      separators=(",", ":"))}
        if params.get("compress") in ("1", "true"):
            out = compress_blocks(out)
            headers["Content-Type"] = "application/octet-stream"
        return out, headers

    def reply(self, status, body, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hanging up are normal
            super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT, port 0 = a free one")
    ap.add_argument("--data-dir", required=True, help="chDB data directory (persists)")
    ap.add_argument("--url-file", help="written atomically with http://HOST:PORT once serving")
    ap.add_argument("--verbose", action="store_true", help="log requests and errors to stderr")
    args = ap.parse_args(argv)

    Handler.engine = engine = Engine(args.data_dir)
    Handler.verbose = args.verbose
    host, _, port = args.listen.rpartition(":")
    server = Server((host or "127.0.0.1", int(port)), Handler)
    stop = lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url = "http://%s:%d" % server.server_address[:2]
    if args.url_file:
        tmp = f"{args.url_file}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(url)
        os.replace(tmp, args.url_file)
    print(f"chfront: {url} (chDB {engine.version}, data {args.data_dir})", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()


if __name__ == "__main__":
    main()
