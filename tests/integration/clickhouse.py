#!/usr/bin/env python3
"""A real ClickHouse server (Debian's clickhouse-server 18.16) on loopback
for the fleet tests: a small config in a temporary directory, free ports,
optionally a two-shard cluster definition named `fleet` so that a
Distributed table can span two servers. stdlib only."""

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import harness

BIN = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log>
    <errorlog>{dir}/error.log</errorlog><console>0</console></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <mark_cache_size>5368709</mark_cache_size>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <remote_servers><fleet>{shards}</fleet></remote_servers>
</yandex>
"""
SHARD = ("<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica>"
         "</shard>")


class ClickHouse:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clickhouse-")
        self.http = harness.free_port()
        self.tcp = harness.free_port()
        while self.tcp == self.http:
            self.tcp = harness.free_port()
        self.proc = None
        self.shards = [self.tcp]

    def url(self):
        return "http://127.0.0.1:%d" % self.http

    def start(self, timeout=60):
        if not os.access(BIN, os.X_OK):
            raise RuntimeError("clickhouse-server is not installed (tools/dev.sh test "
                               "installs it)")
        with open(os.path.join(self.dir, "config.xml"), "w") as f:
            f.write(CONFIG.format(dir=self.dir, http=self.http, tcp=self.tcp,
                                  shards="".join(SHARD.format(tcp=t) for t in self.shards)))
        self.proc = subprocess.Popen([BIN, "--config-file=" + os.path.join(self.dir, "config.xml")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("clickhouse-server exited %s: %s" % (
                    self.proc.returncode, self.errors()))
            try:
                if self.query("SELECT 1").strip() == "1":
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise RuntimeError("clickhouse-server did not answer in %d s" % timeout)

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def query(self, sql, timeout=30):
        url = self.url() + "/?" + urllib.parse.urlencode({"query": sql})
        with urllib.request.urlopen(urllib.request.Request(url, data=b""),
                                    timeout=timeout) as r:
            return r.read().decode()

    def rows(self, sql):
        """Rows of a SELECT as dicts (FORMAT JSONEachRow)."""
        import json
        out = self.query(sql + " FORMAT JSONEachRow")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
