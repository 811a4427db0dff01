"""Tests of the ClickHouse HTTP front over chDB (chfront.py).

Run: VENV/bin/python -m unittest discover tests/clickhouse
The framing tests need only lz4 and clickhouse-cityhash; the server tests start
chfront.py on a free loopback port over a temporary data directory.
"""

import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import lz4.frame

import chfront

HERE = os.path.dirname(os.path.abspath(__file__))

# A request body captured from the Rust `clickhouse` crate 0.15.3 (Compression::Lz4):
# one native block holding one 126-byte RowBinary row (u64 1, DateTime64, "app1", ...).
CRATE_BODY = bytes.fromhex(
    "14fea052f9f96a06d96f21b86506cef582430000007e0000002201000100e47c68e5cf8b0100000461"
    "70703103160012021d002300ff0100340201611b002501620a000325002f327801001860787878787878")


def leb128(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        if len(chunk) != n:
            raise ValueError("truncated")
        self.pos += n
        return chunk

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def string(self):
        return self.take(self.uvarint()).decode()

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]


def block_count(data):
    count = pos = 0
    while pos < len(data):
        pos += 16 + struct.unpack_from("<I", data, pos + 17)[0]
        count += 1
    return count


class FramingTest(unittest.TestCase):
    def test_crate_body_checksum_and_payload(self):
        self.assertEqual(chfront.checksum(CRATE_BODY[16:]), CRATE_BODY[:16])
        row = chfront.decompress_blocks(CRATE_BODY)
        self.assertEqual(len(row), 126)
        self.assertEqual(row[:8], struct.pack("<Q", 1))
        self.assertIn(b"\x04app1", row)
        self.assertTrue(row.endswith(b"x" * 50))

    def test_round_trip_multi_block(self):
        data = os.urandom(5000) + b"abc" * 100_000
        for method in (chfront.METHOD_LZ4, chfront.METHOD_NONE):
            framed = chfront.compress_blocks(data, method, block_size=64 * 1024)
            self.assertEqual(block_count(framed), -(-len(data) // (64 * 1024)))
            self.assertEqual(framed[16], method)
            self.assertEqual(chfront.decompress_blocks(framed), data)
        self.assertLess(len(chfront.compress_blocks(data)), len(data) // 10)
        self.assertEqual(chfront.compress_blocks(b""), b"")
        self.assertEqual(chfront.decompress_blocks(b""), b"")

    def test_checksum_mismatch_rejected(self):
        framed = bytearray(chfront.compress_blocks(b"hello world" * 1000, block_size=4096))
        second = 16 + struct.unpack_from("<I", framed, 17)[0]
        for where in (30, second + 40, 3, second + 20):  # payload, payload, checksum, size field
            bad = bytearray(framed)
            bad[where] ^= 0x01
            with self.assertRaises(chfront.CHError) as cm:
                chfront.decompress_blocks(bytes(bad))
            self.assertIn(cm.exception.code, (39, 40, 271), where)
        bad = bytearray(framed)
        bad[30] ^= 0x01
        with self.assertRaises(chfront.CHError) as cm:
            chfront.decompress_blocks(bytes(bad))
        self.assertEqual((cm.exception.code, cm.exception.name), (40, "CHECKSUM_DOESNT_MATCH"))
        self.assertTrue(cm.exception.message.endswith("(CHECKSUM_DOESNT_MATCH)"))

    def test_truncated_and_unknown_method(self):
        framed = chfront.compress_blocks(b"x" * 100)
        with self.assertRaises(chfront.CHError) as cm:
            chfront.decompress_blocks(framed[:-1])
        self.assertEqual(cm.exception.code, 271)
        block = bytes([0x90]) + framed[17:]
        with self.assertRaises(chfront.CHError) as cm:
            chfront.decompress_blocks(chfront.checksum(block) + block)
        self.assertEqual(cm.exception.code, 89)

    def test_engine_error_parsing(self):
        e = chfront.engine_error(RuntimeError(
            "Streaming insert finish failed: Code: 33. DB::Exception: Cannot read all data: "
            "(at row 1)\n: While executing BinaryRowInputFormat. (CANNOT_READ_ALL_DATA) (version 26.9.2.1)"))
        self.assertEqual((e.code, e.name), (33, "CANNOT_READ_ALL_DATA"))
        self.assertTrue(e.message.startswith("DB::Exception: Cannot read all data"))
        self.assertTrue(e.message.endswith("(CANNOT_READ_ALL_DATA)"))
        self.assertEqual(chfront.STATUS_BY_NAME["UNKNOWN_TABLE"], 404)
        self.assertEqual(chfront.STATUS_BY_NAME["SYNTAX_ERROR"], 400)

    def test_split_insert(self):
        head, fmt, data = chfront.split_insert(b"INSERT INTO t (a, `format`) FORMAT RowBinary \n\n\x00")
        self.assertEqual((head.strip(), fmt, data), ("INSERT INTO t (a, `format`)", "RowBinary", b"\n\x00"))
        self.assertIsNone(chfront.split_insert(b"INSERT INTO t VALUES ('FORMAT x')"))
        self.assertIsNone(chfront.split_insert(b"INSERT INTO t SELECT 1"))
        self.assertIsNone(chfront.split_insert(b"SELECT 1 FORMAT JSON"))


class Server:
    """chfront.py as a subprocess on a free port."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.url_file = os.path.join(data_dir, "..", "url-%d" % time.monotonic_ns())
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "chfront.py"), "--listen", "127.0.0.1:0",
             "--data-dir", data_dir, "--url-file", self.url_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not os.path.exists(self.url_file):
            if self.proc.poll() is not None:
                raise RuntimeError("chfront exited: " + self.proc.stderr.read().decode())
            if time.monotonic() - started > 60:
                self.stop()
                raise RuntimeError("chfront did not start in 60 s")
            time.sleep(0.05)
        self.startup = time.monotonic() - started
        with open(self.url_file) as f:
            url = urllib.parse.urlsplit(f.read())
        self.host, self.port = url.hostname, url.port

    def request(self, sql=None, body=b"", method="POST", headers=None, **params):
        if sql is not None:
            params["query"] = sql
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, "/?" + urllib.parse.urlencode(params), body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def ok(self, sql=None, body=b"", **kw):
        status, headers, data = self.request(sql, body, **kw)
        if status != 200:
            raise AssertionError(f"{status}: {data!r}")
        return data

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc.stderr.close()


ERROR_RE = re.compile(r"Code: (\d+)\. DB::Exception: .* \(([A-Z_]+)\) \(version [\d.]+ \(official build\)\)\n\Z", re.S)


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="chfront-test-")
        cls.data_dir = os.path.join(cls.tmp.name, "data")
        cls.server = Server(cls.data_dir)
        cls.server.ok("CREATE DATABASE IF NOT EXISTS t1")
        cls.server.ok("CREATE TABLE t1.kv (k UInt64, v String) ENGINE = MergeTree ORDER BY k")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def assert_error(self, response, status, code, name):
        got_status, headers, body = response
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers.get("x-clickhouse-exception-code"), str(code))
        m = ERROR_RE.match(body.decode())
        self.assertIsNotNone(m, body)
        self.assertEqual((int(m.group(1)), m.group(2)), (code, name))

    def test_ping(self):
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10)
        conn.request("GET", "/ping")
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b"Ok.\n"))
        conn.close()

    def test_insert_rowbinary_select_rbwnat(self):
        s = self.server
        s.ok("CREATE TABLE t1.rb (k UInt64, v String) ENGINE = MergeTree ORDER BY k")
        rows = [(i, "value-%d" % i * (i % 7)) for i in range(3000)]
        data = b"".join(struct.pack("<Q", k) + leb128(len(v)) + v.encode() for k, v in rows)
        framed = chfront.compress_blocks(data, block_size=16 * 1024)
        self.assertGreater(block_count(framed), 3)
        # the crate's shape: query in the URL, compressed RowBinary body, chunked
        status, headers, _ = s.request("INSERT INTO rb (k, v) FORMAT RowBinary", iter([framed[:1000], framed[1000:]]),
                                       database="t1", decompress=1)  # an iterable: sent chunked
        self.assertEqual(status, 200)
        self.assertIn('"written_rows":"3000"', headers["x-clickhouse-summary"])
        out = s.ok(body=b"SELECT k, v FROM rb ORDER BY k", database="t1",
                   default_format="RowBinaryWithNamesAndTypes")
        r = Reader(out)
        ncols = r.uvarint()
        self.assertEqual([r.string() for _ in range(ncols)], ["k", "v"])
        self.assertEqual([r.string() for _ in range(ncols)], ["UInt64", "String"])
        got = [(r.u64(), r.string()) for _ in rows]
        self.assertEqual(got, rows)
        self.assertEqual(r.pos, len(out))

    def test_lz4_responses(self):
        s = self.server
        sql = "SELECT number, toString(number) FROM numbers(100000)"
        plain = s.ok(sql)
        status, headers, body = s.request(sql, headers={"Accept-Encoding": "lz4"})
        self.assertEqual((status, headers.get("content-encoding")), (200, "lz4"))
        self.assertLess(len(body), len(plain))
        self.assertEqual(lz4.frame.decompress(body), plain)
        status, headers, body = s.request(sql, headers={"Accept-Encoding": "lz4"}, enable_http_compression=0)
        self.assertEqual((headers.get("content-encoding"), body), (None, plain))
        status, headers, body = s.request(sql, compress=1)
        self.assertGreater(block_count(body), 1)
        self.assertEqual(chfront.decompress_blocks(body), plain)
        # errors are compressed too; the crate decodes them by Content-Encoding
        status, headers, body = s.request("SELECT * FROM t1.nope", headers={"Accept-Encoding": "lz4"})
        self.assertEqual(headers.get("content-encoding"), "lz4")
        self.assert_error((status, headers, lz4.frame.decompress(body)), 404, 60, "UNKNOWN_TABLE")

    def test_error_responses(self):
        s = self.server
        self.assert_error(s.request("SELECT * FROM t1.nope"), 404, 60, "UNKNOWN_TABLE")
        self.assert_error(s.request("SELEC 1"), 400, 62, "SYNTAX_ERROR")
        self.assert_error(s.request("SELECT 1", database="nope"), 404, 81, "UNKNOWN_DATABASE")
        self.assert_error(s.request("SELECT 1", no_such_setting=1), 404, 115, "UNKNOWN_SETTING")
        self.assert_error(s.request("SELECT throwIf(1)"), 500, 395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO")
        self.assert_error(s.request("INSERT INTO t1.kv VALUES (1, 'a')", method="GET"), 500, 164, "READONLY")
        # a corrupted compressed insert body: rejected, nothing written
        framed = bytearray(chfront.compress_blocks(struct.pack("<Q", 7) + b"\x01z"))
        framed[-1] ^= 0x20
        self.assert_error(s.request("INSERT INTO t1.kv FORMAT RowBinary", bytes(framed), decompress=1),
                          500, 40, "CHECKSUM_DOESNT_MATCH")
        self.assertEqual(s.ok("SELECT count() FROM t1.kv WHERE k = 7"), b"0\n")
        # truncated RowBinary
        self.assert_error(s.request("INSERT INTO t1.kv FORMAT RowBinary", struct.pack("<Q", 7) + b"\x05ab"),
                          500, 33, "CANNOT_READ_ALL_DATA")

    def test_aborted_insert_is_not_executed(self):
        s = self.server
        s.ok("CREATE TABLE t1.aborted (k UInt64) ENGINE = MergeTree ORDER BY k")
        block = chfront.compress_blocks(struct.pack("<Q", 1))  # a whole, valid block
        query = urllib.parse.urlencode({"query": "INSERT INTO t1.aborted FORMAT RowBinary", "decompress": 1})
        head = f"POST /?{query} HTTP/1.1\r\nHost: x\r\n"
        for request in (head + "Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(block),
                        head + "Content-Length: %d\r\n\r\n" % (len(block) + 10)):
            with socket.create_connection((s.host, s.port)) as sock:
                sock.sendall(request.encode() + block + b"\r\n")  # no last chunk / short body
                sock.shutdown(socket.SHUT_WR)
                self.assertEqual(sock.recv(100), b"")  # closed without an answer
        self.assertEqual(s.ok("SELECT count() FROM t1.aborted"), b"0\n")

    def test_our_error_codes_are_clickhouse_codes(self):
        names = {40: "CHECKSUM_DOESNT_MATCH", 89: "UNKNOWN_COMPRESSION_METHOD", 39: "TOO_LARGE_SIZE_COMPRESSED",
                 271: "CANNOT_DECOMPRESS", 62: "SYNTAX_ERROR", 115: "UNKNOWN_SETTING", 36: "BAD_ARGUMENTS",
                 48: "NOT_IMPLEMENTED", 372: "SESSION_NOT_FOUND", 1002: "UNKNOWN_EXCEPTION"}
        out = self.server.ok("SELECT code, name FROM system.errors WHERE code IN (%s) ORDER BY code "
                             "SETTINGS system_events_show_zero_values = 1" % ",".join(map(str, names)))
        got = dict(line.split("\t") for line in out.decode().splitlines())
        self.assertEqual({int(k): v for k, v in got.items()}, names)
        for name in chfront.STATUS_BY_NAME:
            self.assertIn(name.encode(), self.server.ok(
                "SELECT name FROM system.errors WHERE name = {n:String} SETTINGS system_events_show_zero_values = 1",
                param_n=name))

    def test_database_settings_params_multipart(self):
        s = self.server
        self.assertEqual(s.ok("SELECT currentDatabase()", database="t1"), b"t1\n")
        self.assertEqual(s.ok("SELECT currentDatabase()"), b"default\n")  # not sticky
        self.assertEqual(s.ok("SELECT getSetting('max_threads')", max_threads=3, wait_end_of_query=1), b"3\n")
        self.assertEqual(s.ok("SELECT 1 AS x", default_format="JSONEachRow",
                              output_format_json_quote_64bit_integers=1), b'{"x":1}\n')
        self.assertEqual(s.ok("SELECT toUInt64(1) AS x", default_format="JSONEachRow",
                              output_format_json_quote_64bit_integers=1), b'{"x":"1"}\n')
        self.assertEqual(s.ok("SELECT {a:UInt8} + 1", param_a=41), b"42\n")
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nSELECT {a:String}\r\n"
                b"--XyZ\r\nContent-Disposition: form-data; name=\"param_a\"\r\n\r\nhi\r\n--XyZ--\r\n")
        self.assertEqual(s.ok(body=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"}), b"hi\n")
        # query parameter + body: the body follows the query after a newline
        s.ok("INSERT INTO t1.kv FORMAT TSV", b"100\tx\n101\ty\n")
        s.ok(body=b"INSERT INTO t1.kv FORMAT JSONEachRow {\"k\":102,\"v\":\"z\"}")
        self.assertEqual(s.ok("SELECT v FROM t1.kv WHERE k >= 100 ORDER BY k"), b"x\ny\nz\n")

    def test_restart_keeps_data(self):
        s = self.server
        s.ok("CREATE TABLE t1.keep (k UInt64) ENGINE = MergeTree ORDER BY k")
        s.ok("INSERT INTO t1.keep SELECT number FROM numbers(1234)")
        s.stop()
        self.assertEqual(s.proc.returncode, 0)
        type(self).server = s = Server(self.data_dir)
        self.assertEqual(s.ok("SELECT count(), sum(k) FROM t1.keep"), b"1234\t760761\n")
        # an outage: SIGKILL loses nothing that was acknowledged
        s.ok("INSERT INTO t1.keep FORMAT RowBinary", chfront.compress_blocks(struct.pack("<Q", 5000)), decompress=1)
        s.stop(signal.SIGKILL)
        type(self).server = s = Server(self.data_dir)
        self.assertEqual(s.ok("SELECT count(), sum(k) FROM t1.keep"), b"1235\t765761\n")


if __name__ == "__main__":
    unittest.main()
