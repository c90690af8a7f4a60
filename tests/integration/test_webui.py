#!/usr/bin/env python3
"""The web UI (issue 13) in a real browser: Debian chromium driven by
chromedriver through python3-selenium, headless, against a real `ringcap
run` with real traffic (curl through the proxy to a real origin) while the
page is open.

What is checked: the assets' headers (strict CSP, no inline script, ETag
and 304, gzip that inflates to the same bytes), the QR code and /ui/info;
a session started from the page; rows appearing live over the event
stream; sort by size flipping the order; a URL-excludes filter set in the
column header stopping capture (checked with `ringcap ls`); an invalid
regex showing the API's error next to the field; pause and resume; the
details pane showing the body curl sent; delete of a selected row; Save
Requests (the export route's file, or its error while the route is
missing); the cookies tab listing Set-Cookie; the overview's counts equal
to `ringcap overview`; history renaming a session; devices; an unknown
session id; and the daemon restarting under the page (the page says the
stream is lost, reconnects and says so, and rows flow again).

Screenshots of each tab go to $RINGCAP_UI_SHOTS (docs/ui/ to refresh the
README's; default: the run's temporary directory).

Skipped (exit 0, reported) when chromium, chromedriver or selenium are
missing: `apt-get install -y chromium chromium-driver python3-selenium`.
"""

import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import xml.dom.minidom

import harness
from origin import Origin
try:
    import test_websocket as ws   # its origin, client and script
    if ws.websockets is None:
        ws = None
except ImportError:
    ws = None
from test_sessions import Daemon, rc

try:
    from selenium import webdriver
except ImportError:   # pyenv's python3 does not see Debian's dist-packages
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from selenium import webdriver
    except ImportError:
        webdriver = None
if webdriver:
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 15     # a row, a banner, a tab: how long the page may take on a loaded box
SHOTS = os.environ.get("RINGCAP_UI_SHOTS") or tempfile.mkdtemp(prefix="ringcap-ui-")

# The visible rows of the requests table: [id, status, method, url, type, size text].
ROWS_JS = """return [...document.querySelectorAll('#rows .row:not([hidden])')]
  .filter(r => r.dataset.id).map(r => [Number(r.dataset.id), r.children[2].textContent,
  r.children[3].textContent, r.children[4].textContent, r.children[5].textContent,
  r.children[6].textContent]);"""


def browser(download_dir):
    o = webdriver.ChromeOptions()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--window-size=1280,760",
              "--user-data-dir=" + tempfile.mkdtemp(prefix="chromium-")):
        o.add_argument(a)
    o.binary_location = CHROMIUM
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    o.add_experimental_option("prefs", {"download.default_directory": download_dir,
                                        "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(DRIVER), options=o)
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                   "downloadPath": download_dir})
    return d


class WebUI(unittest.TestCase):
    """One daemon and one browser for the class: the tests run in name
    order (test_01 ... test_99) and build on each other's session, as a
    user's afternoon would."""

    @classmethod
    def setUpClass(cls):
        if harness.EXTERNAL:
            raise unittest.SkipTest("needs its own ringcap")
        if webdriver is None or not os.access(CHROMIUM, os.X_OK) or not os.access(DRIVER, os.X_OK):
            raise unittest.SkipTest("needs chromium, chromium-driver and python3-selenium")
        cls.origin = Origin().start()
        cls.d = Daemon("webui").start()
        cls.downloads = tempfile.mkdtemp(prefix="ringcap-dl-")
        cls.b = browser(cls.downloads)
        cls.b.implicitly_wait(0)
        cls.base = "http://%s/" % cls.d.control
        cls.sid = None

    @classmethod
    def tearDownClass(cls):
        cls.b.quit()
        if cls.d.p.proc.poll() is None:
            cls.d.stop()
        cls.origin.stop()

    # -- helpers -------------------------------------------------------------
    def wait(self, fn, what, timeout=WAIT_S):
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                last = fn()
                if last:
                    return last
            except Exception as e:   # an element replaced while we looked: look again
                last = e
            time.sleep(0.1)
        self.fail("timed out waiting for %s (last: %r)" % (what, last))

    def css(self, sel):
        return self.b.find_element(By.CSS_SELECTOR, sel)

    def text(self, sel):
        return self.css(sel).text

    def curl(self, path, *extra):
        return self.d.curl(self.origin.url(path), *extra)

    def rows(self):
        return self.b.execute_script(ROWS_JS)

    def ls(self, *extra):
        code, out, err = rc("ls", self.sid, "--data", self.d.data, "--json", "--limit", "100000",
                            *extra)
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def tab(self, name):
        self.css("#tabs button[data-tab=%s]" % name).click()
        self.wait(lambda: not self.css("#tab-" + name).get_attribute("hidden"), name + " tab")

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.b.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def wait_row(self, needle):
        return self.wait(lambda: [r for r in self.rows() if needle in r[3]], "a row with " + needle)

    def severe_logs(self):
        """Script errors (a refused or 404 fetch is logged as "network" and
        is expected in the bad-input tests)."""
        return [e for e in self.b.get_log("browser")
                if e["level"] == "SEVERE" and e.get("source") != "network"]

    # -- assets --------------------------------------------------------------
    def test_01_assets_headers_and_page(self):
        c = http.client.HTTPConnection("127.0.0.1", self.d.ctl_port, timeout=10)
        c.request("GET", "/")
        r = c.getresponse()
        page = r.read().decode()
        self.assertEqual(r.status, 200)
        csp = r.getheader("Content-Security-Policy")
        self.assertIn("script-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("http", csp, "nothing from another origin")
        self.assertFalse(re.search(r"<script(?![^>]*\bsrc=)", page), "no inline script")
        self.assertFalse(re.search(r"\son[a-z]+=", page), "no inline event handler")
        self.assertFalse(re.search(r"https?://(?!ringcap\.cert)", page), "no CDN, no other host")
        etag = r.getheader("ETag")
        self.assertTrue(etag and r.getheader("Cache-Control") == "no-cache", r.getheaders())
        c.request("GET", "/ui/app.js", headers={"Accept-Encoding": "gzip, br"})
        r = c.getresponse()
        body = r.read()
        self.assertEqual((r.status, r.getheader("Content-Encoding")), (200, "gzip"))
        c.request("GET", "/ui/app.js", headers={"Accept-Encoding": "gzip;q=0, identity"})
        r2 = c.getresponse()
        plain = r2.read()
        self.assertIsNone(r2.getheader("Content-Encoding"))
        self.assertEqual(gzip.decompress(body), plain)
        self.assertNotEqual(r.getheader("ETag"), r2.getheader("ETag"), "one tag per encoding")
        c.request("GET", "/", headers={"If-None-Match": 'W/"x", ' + etag})
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (304, b""))
        c.request("GET", "/ui/qr.svg")
        r = c.getresponse()
        svg = r.read()
        self.assertEqual(r.getheader("Content-Type"), "image/svg+xml")
        xml.dom.minidom.parseString(svg)   # well-formed
        self.assertGreater(svg.count(b"h1v1h-1z"), 100, "a QR code has hundreds of dark modules")
        c.request("GET", "/ui/info")
        info = json.loads(c.getresponse().read())
        c.request("GET", "/ca.sha256")
        fp = c.getresponse().read().decode().strip()
        c.request("GET", "/ui/no-such.js")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 404)
        c.close()
        self.assertEqual(info["ca_sha256"], fp)
        self.assertTrue(all(a.endswith(":%d" % self.d.p.port) for a in info["proxy"]), info)

        self.b.get(self.base)
        self.wait(lambda: self.text("#ca-fp") == fp, "the CA fingerprint in the footer")
        self.wait(lambda: str(self.d.p.port) in self.text("#proxy-addrs"), "the proxy address")
        self.wait(lambda: self.css("#qr").get_property("naturalWidth") > 0, "the QR image")
        self.assertEqual(self.text("#capture-state"), "not capturing")
        self.assertEqual(self.severe_logs(), [])

    # -- a session from the page, live rows ------------------------------------
    def test_02_start_session_and_rows_appear_live(self):
        self.css("#n-name").send_keys("webui")
        self.css("#n-cookies").click()
        self.css("#n-filter").send_keys("method=GET,POST,PUT status=xx9")
        self.css("#b-start").click()
        st, body, _ = self.d.api("POST", "/api/sessions", {"filter": {
            "methods": ["GET", "POST", "PUT"], "status": ["xx9"]}})
        self.assertEqual(st, 400)
        self.wait(lambda: self.text("#start-error") == body["error"], "the API's filter error")
        self.css("#n-filter").clear()
        self.css("#n-filter").send_keys("method=GET,POST,PUT url-excludes=\"never here\"")
        self.css("#b-start").click()
        self.wait(lambda: self.text("#s-state") == "active", "the session to start")
        st, s, _ = self.d.api("GET", "/api/status")
        self.assertEqual(s["active"]["name"], "webui")
        self.assertEqual(s["active"]["settings"]["filter"],
                         'method=GET,POST,PUT url-excludes="never here"')
        self.assertEqual(self.text("#start-error"), "")
        type(self).sid = s["active"]["id"]
        self.assertTrue(s["active"]["settings"]["capture_cookies"])
        self.wait(lambda: "capturing" in self.text("#capture-state"), "the header's capture state")
        for n in (300, 5000, 70, 1200):
            self.curl("/size/%d" % n)
        rows = self.wait(lambda: len(self.rows()) >= 4 and self.rows(), "4 live rows")
        self.assertEqual(sorted(r[3].rsplit("/", 1)[1] for r in rows),
                         ["1200", "300", "5000", "70"])
        self.assertEqual({r[1] for r in rows}, {"200"})
        # newest first: the last request is on top
        self.assertTrue(rows[0][3].endswith("/size/1200"), rows)
        self.curl("/size/99?late")
        self.wait_row("late")
        self.wait(lambda: self.text("#s-count") == "5", "the session bar's count")
        self.shot("requests")

    def test_03_sort_by_size_flips(self):
        size = self.b.find_element(By.CSS_SELECTOR, "#thead [data-col=size]")
        size.click()
        sizes = lambda: self.b.execute_script(
            "const t = window.ringcap.table; return [...Array(t.total).keys()]"
            ".map(i => t.rowAt(i)).filter(Boolean).map(r => r.response_size)")
        first = self.wait(lambda: len(sizes()) == 5 and sizes(), "rows sorted by size")
        self.assertEqual(len(set(first)), 5)
        self.assertEqual(first, sorted(first, reverse=True))
        self.assertIn("▼", size.text)
        size.click()
        second = self.wait(lambda: sizes() != first and len(sizes()) == 5 and sizes(), "flipped")
        self.assertEqual(second, sorted(first))
        self.assertIn("▲", size.text)
        self.assertTrue(self.rows()[0][3].endswith("/size/70"), "the smallest on top")
        # a live row while sorted by size: the view stays, a marker counts it
        before = self.rows()
        self.curl("/size/1?marker")
        self.wait(lambda: self.css("#new-rows").is_displayed() and
                  "1 new row" in self.text("#new-rows"), "the new-rows marker")
        self.assertEqual(self.rows(), before, "the rows did not move")
        self.css("#new-rows").click()
        self.wait(lambda: "marker" in self.rows()[0][3], "the new row placed by size")
        self.assertFalse(self.css("#new-rows").is_displayed())
        # search narrows on the server
        self.css("#search").send_keys("size/5000")
        self.wait(lambda: [r[3] for r in self.rows()] == [self.origin.url("/size/5000")], "search")
        self.css("#search").send_keys(Keys.CONTROL, "a", Keys.DELETE)
        self.wait(lambda: len(self.rows()) == 6, "all rows again")
        time_col = self.css("#thead [data-col=time]")
        time_col.click()
        self.wait(lambda: "▼" in time_col.text, "time sort")
        time_col.click()   # oldest first: a live row lands at the end
        self.wait(lambda: "▲" in time_col.text and self.rows()[0][3].endswith("/size/300"),
                  "oldest first")
        self.curl("/size/2?at-end")
        self.wait(lambda: self.rows()[-1][3].endswith("at-end"), "the live row at the end")
        self.assertFalse(self.css("#new-rows").is_displayed())
        time_col.click()   # back to newest first for the next tests
        self.wait(lambda: "▼" in time_col.text and "at-end" in self.rows()[0][3], "newest first")

    def test_04_details_show_the_body_curl_sent(self):
        body = '{"greeting": "hello from curl", "n": [1, 2, 3]}'
        self.curl("/echo/details", "-H", "Content-Type: application/json", "--data-binary", body)
        self.wait_row("/echo/details")
        self.b.execute_script("""
            const r = [...document.querySelectorAll('#rows .row')].find(
                r => r.children[4].textContent.includes('/echo/details'));
            r.children[4].click();""")
        self.wait(lambda: "hello from curl" in self.text("#details"), "the request body")
        pane = self.text("#details")
        self.assertIn("POST", pane)
        self.assertIn("Content-Type", pane)
        self.assertIn('"greeting"', pane, "pretty JSON view")
        self.css("#b-curl").click()
        curl = self.wait(lambda: self.b.execute_script("return window.ringcap.details.lastCurl"),
                         "copy as curl")
        self.assertIn("--data-binary", curl)
        self.assertIn("hello from curl", curl)
        self.assertIn(self.origin.url("/echo/details"), curl)
        self.shot("details")
        # a binary body: the hex view; then Delete from the pane
        path = os.path.join(tempfile.mkdtemp(), "bin")
        with open(path, "wb") as f:
            f.write(bytes(range(256)))
        self.curl("/echo/binary", "-H", "Content-Type: application/octet-stream",
                  "--data-binary", "@" + path)
        row = self.wait_row("/echo/binary")[0]
        self.b.execute_script("""
            [...document.querySelectorAll('#rows .row')].find(
                r => r.children[4].textContent.endsWith('/echo/binary')).children[4].click();""")
        self.wait(lambda: "00000000  00 01 02 03 04 05 06 07" in self.text("#details"), "hex view")
        self.assertIn("000000f0  f0 f1 f2", self.text("#details"))
        self.b.find_element(By.XPATH, "//aside[@id='details']//button[text()='Delete']").click()
        self.wait(lambda: not self.css("#details").is_displayed(), "the pane closed")
        self.wait(lambda: not [r for r in self.rows() if r[0] == row[0]], "the row gone")
        st, _, _ = self.d.api("GET", "/api/sessions/%s/exchanges/%d" % (self.sid, row[0]))
        self.assertEqual(st, 404)

    def test_04b_details_list_websocket_messages_and_the_server(self):
        if ws is None:
            self.skipTest("needs python3-websockets")
        origin = ws.Origin()
        try:
            ws.run_plain(self.d.p, origin, compression=None)
        finally:
            origin.stop()
        path = "127.0.0.1:%d/echo" % origin.port
        self.wait_row(path)
        self.b.execute_script("""
            [...document.querySelectorAll('#rows .row')].find(
                r => r.children[4].textContent.includes(arguments[0])).children[4].click();""",
                              path)
        self.wait(lambda: self.b.find_elements(By.CSS_SELECTOR, "#ws-messages tr[data-dir]"),
                  "the messages table")
        msgs = self.b.execute_script("""return [...document.querySelectorAll(
            '#ws-messages tr[data-dir]')].map(r => [r.dataset.dir, r.children[2].textContent,
            r.children[4].textContent]);""")
        # ws.script(): each message is echoed; a ping and its pong; the
        # client's close 4000 "client done" and the origin's answer
        self.assertEqual(len(msgs), len(ws.expected(False, 4000, "client done", "client")), msgs)
        self.assertEqual(msgs[0], ["send", "text", ws.UTEXT])
        self.assertEqual(msgs[1], ["receive", "text", ws.UTEXT])
        self.assertEqual(msgs[2][:2], ["send", "binary"])
        self.assertTrue(msgs[2][2].startswith("00 01 02 03"), msgs[2])
        self.assertIn(["send", "ping", "ping-data"], msgs)
        self.assertIn(["receive", "pong", "ping-data"], msgs)
        self.assertEqual(msgs[-1][1:], ["close", "4000 client done"])
        pane = self.text("#details")
        self.assertRegex(pane, r"server\s+127\.0\.0\.1:%d" % origin.port)
        self.assertRegex(pane, r"protocol\s+HTTP/1\.1")
        self.b.execute_script("document.querySelector('#ws-messages').scrollIntoView()")
        self.shot("details-websocket")
        self.b.find_element(By.XPATH, "//aside[@id='details']//button[text()='Close']").click()
        # a gRPC-shaped response: its trailer section under the body
        self.curl("/grpc", "-H", "Content-Type: application/grpc", "--data-binary", "ping")
        self.wait_row("/grpc")
        self.b.execute_script("""
            [...document.querySelectorAll('#rows .row')].find(
                r => r.children[4].textContent.endsWith('/grpc')).children[4].click();""")
        self.wait(lambda: "RESPONSE TRAILERS" in self.text("#details").upper(), "the trailers")
        pane = self.text("#details")
        self.assertRegex(pane, r"grpc-status\s+0")
        self.assertRegex(pane, r"grpc-message\s+ok")
        self.b.find_element(By.XPATH, "//aside[@id='details']//button[text()='Close']").click()

    def test_05_header_filter_excludes_stop_capture(self):
        self.css("#thead .ficon[data-filter=url]").click()
        field = self.css(".popover input[name=url_excludes]")
        self.assertEqual(field.get_attribute("value"), "never here", "the start form's filter")
        field.send_keys(", skip-me")
        self.css(".popover button[type=submit]").click()
        self.wait(lambda: not self.b.find_elements(By.CSS_SELECTOR, ".popover"), "applied")
        st, s, _ = self.d.api("GET", "/api/sessions/" + self.sid)
        self.assertEqual(s["settings"]["filter"],
                         'method=GET,POST,PUT url-excludes="never here",skip-me')
        self.assertIn("on", self.css("#thead .ficon[data-filter=url]").get_attribute("class"))
        self.curl("/size/10?skip-me")
        self.curl("/size/11?kept")
        self.wait_row("kept")
        time.sleep(0.7)   # the store flushes within 250 ms
        urls = [r["url"] for r in self.ls()]
        self.assertTrue(any("kept" in u for u in urls), urls)
        self.assertFalse(any("skip-me" in u for u in urls), urls)

    def test_06_invalid_regex_shows_the_api_error(self):
        self.css("#thead .ficon[data-filter=url]").click()
        self.css(".popover input[name=url_regex]").send_keys("([")
        self.css(".popover button[type=submit]").click()
        msg = self.wait(lambda: self.text(".popover .ferr"), "the error next to the field")
        st, body, _ = self.d.api("PATCH", "/api/sessions/" + self.sid,
                                 {"filter": {"methods": ["GET", "POST", "PUT"], "url_excludes": ["never here", "skip-me"],
                                             "url_regex": ["(["]}})
        self.assertEqual(st, 400)
        self.assertEqual(msg, body["error"])
        self.assertIn("regex", msg)
        self.css(".popover button[type=button]:nth-of-type(2)").click()   # Cancel
        st, s, _ = self.d.api("GET", "/api/sessions/" + self.sid)
        self.assertNotIn("url-regex", s["settings"]["filter"], "nothing changed")

    def test_07_pause_and_resume(self):
        self.css("#b-pause").click()
        self.wait(lambda: self.text("#s-state") == "paused", "paused")
        self.curl("/size/12?while-paused")
        self.css("#b-resume").click()
        self.wait(lambda: self.text("#s-state") == "active", "active again")
        self.curl("/size/13?after-resume")
        self.wait_row("after-resume")
        time.sleep(0.7)
        urls = [r["url"] for r in self.ls()]
        self.assertFalse(any("while-paused" in u for u in urls), urls)
        self.assertTrue(any("after-resume" in u for u in urls), urls)

    def test_08_delete_a_selected_row(self):
        before = len(self.ls())
        target = self.wait_row("/size/70")[0]
        self.b.execute_script("""
            const r = [...document.querySelectorAll('#rows .row')].find(
                r => r.children[4].textContent.endsWith('/size/70'));
            r.querySelector('input').click();""")
        self.wait(lambda: self.text("#sel-count") == "1 selected", "one selected")
        self.css("#b-delete-sel").click()
        self.wait(lambda: not [r for r in self.rows() if r[0] == target[0]], "the row gone")
        time.sleep(0.3)
        self.assertEqual(len(self.ls()), before - 1)
        self.assertFalse(any(r["url"].endswith("/size/70") for r in self.ls()))

    def test_09_select_two_and_save_requests(self):
        picked = self.b.execute_script("""
            const rows = [...document.querySelectorAll('#rows .row')].filter(r => r.dataset.id)
                .slice(0, 2);
            rows.forEach(r => r.querySelector('input').click());
            return rows.map(r => Number(r.dataset.id));""")
        self.wait(lambda: self.text("#sel-count") == "2 selected", "two selected")
        ids = ",".join(str(i) for i in sorted(picked))
        path = "/api/sessions/%s/export?format=postman&ids=%s&group=domain&name=webui" % (
            self.sid, ids)
        for f in os.listdir(self.downloads):
            os.remove(os.path.join(self.downloads, f))
        self.css("#b-save-sel").click()
        st, body, _ = self.d.api("GET", path)
        if st == 200:   # the export route is there: a collection is downloaded
            files = self.wait(lambda: [f for f in os.listdir(self.downloads)
                                       if not f.endswith(".crdownload")], "the downloaded file")
            with open(os.path.join(self.downloads, files[0]), "rb") as f:
                coll = json.loads(f.read())
            self.assertIn("item", coll)
            self.assertIn("info", coll)
        else:           # not yet: the page shows the API's own error
            msg = self.wait(lambda: self.text("#sel-error"), "the export error")
            self.assertIn(body["error"], msg)
        self.b.execute_script("window.ringcap.table.selectAll(false)")

    def test_10_cookies_tab_lists_set_cookie(self):
        self.curl("/set-cookie")
        self.wait_row("/set-cookie")
        time.sleep(0.5)
        self.tab("cookies")
        names = self.wait(lambda: {e.get_attribute("data-name") for e in
                                   self.b.find_elements(By.CSS_SELECTOR, "#ck-table tr[data-name]")}
                          >= {"sid", "theme"} and True, "sid and theme")
        self.assertTrue(names)
        table = self.text("#ck-table")
        self.assertIn("Set-Cookie", table)
        self.assertIn("abc123", table)
        self.assertIn("HttpOnly", table)
        self.shot("cookies")
        for f in os.listdir(self.downloads):
            os.remove(os.path.join(self.downloads, f))
        self.b.find_element(By.XPATH, "//button[text()='Export cookies.txt']").click()
        jar = self.wait(lambda: [f for f in os.listdir(self.downloads) if f.endswith(".txt")],
                        "cookies.txt")
        with open(os.path.join(self.downloads, jar[0])) as f:
            text = f.read()
        st, want, _ = self.d.api("GET", "/api/sessions/%s/cookies?format=netscape" % self.sid)
        self.assertEqual(text.encode(), want, "the API's jar, as downloaded")
        self.assertIn("\ttheme\tdark", text)   # sid is for example.test: not in a jar for 127.0.0.1
        self.css("#ck-table tr[data-name=theme] input").click()
        self.b.find_element(By.XPATH, "//button[text()='Delete selected']").click()
        self.wait(lambda: not self.b.find_elements(By.CSS_SELECTOR, "#ck-table tr[data-name=theme]"),
                  "theme deleted")
        names = {c["name"] for c in self.d.api("GET", "/api/sessions/%s/cookies" % self.sid)[1]}
        self.assertEqual(names, {"sid"})

    def test_11_overview_counts_equal_ringcap_overview(self):
        time.sleep(0.5)
        self.tab("overview")
        self.wait(lambda: self.css("#ov-by"), "the group dropdown")
        for by in ("status", "method"):
            self.b.execute_script("const s = document.querySelector('#ov-by'); s.value = "
                                      "arguments[0]; s.dispatchEvent(new Event('change'))", by)
            code, out, err = rc("overview", self.sid, "--data", self.d.data, "--by", by, "--json")
            self.assertEqual(code, 0, err)
            want = {str(g["key"]): g["count"] for g in json.loads(out)["groups"]}
            got = self.wait(lambda: self.b.execute_script(
                "const t = document.querySelector('#ov-table'); return t && t.querySelector('th')."
                "textContent === arguments[0] && Object.fromEntries([...t."
                "querySelectorAll('tr[data-key]')].map(r => [r.dataset.key, Number(r.dataset."
                "count)]))", by), "the overview by " + by)
            self.assertEqual(got, want)
        self.assertIn("127.0.0.1", self.text("#tab-overview"), "the sources")
        self.shot("overview")

    def test_12_devices(self):
        self.tab("devices")
        row = self.wait(lambda: self.css("#dev-table tr[data-client='127.0.0.1']"), "a device")
        st, j, _ = self.d.api("GET", "/api/sessions/%s/exchanges?limit=1" % self.sid)
        self.wait(lambda: row.text.split()[1] == str(j["total"]), "its count")
        self.shot("devices")
        row.find_element(By.TAG_NAME, "button").click()
        self.wait(lambda: not self.css("#tab-requests").get_attribute("hidden"), "requests tab")
        self.assertIn("127.0.0.1", self.text("#device-filter"))
        self.css("#device-filter").click()

    def test_13_history_renames(self):
        self.tab("history")
        row = self.wait(lambda: self.css("#hist-table tr[data-id='%s']" % self.sid), "our row")
        self.assertIn("active", row.text)
        row.find_element(By.XPATH, ".//button[text()='Rename']").click()
        inp = self.css("#hist-table input.rename")
        inp.send_keys(Keys.CONTROL, "a")
        inp.send_keys("webui-renamed", Keys.ENTER)
        self.wait(lambda: "webui-renamed" in self.text("#hist-table tr[data-id='%s']" % self.sid),
                  "the new name in the table")
        st, s, _ = self.d.api("GET", "/api/sessions/" + self.sid)
        self.assertEqual(s["name"], "webui-renamed")
        self.wait(lambda: self.text("#s-name") == "webui-renamed", "the session bar")
        self.shot("history")
        self.tab("requests")

    def test_14_unknown_session_id(self):
        self.b.get(self.base + "#/s/no-such-session/requests")
        st, body, _ = self.d.api("GET", "/api/sessions/no-such-session")
        self.assertEqual(st, 404)
        self.wait(lambda: body["error"] in self.text("#banner"), "the API's error")
        self.b.get(self.base + "#/s/%s/requests" % self.sid)
        self.wait(lambda: self.text("#s-name") == "webui-renamed", "the session again")
        self.wait(lambda: len(self.rows()) >= 5, "its rows")

    def test_15_login_off_loopback(self):
        """Bound off loopback the page asks for the token, keeps it in
        sessionStorage (never in the URL) and works with it."""
        d = Daemon("webui-token", control_host="0.0.0.0").start()
        try:
            with open(os.path.join(d.data, "control.token")) as f:
                token = f.read().strip()
            self.b.get("http://%s/" % d.control)
            self.wait(lambda: self.css("#login").is_displayed(), "the login form")
            self.assertFalse(self.css("#app").is_displayed())
            self.css("#login-token").send_keys("0" * 64, Keys.ENTER)
            self.wait(lambda: "wrong bearer token" in self.text("#login-error")
                      or "refused" in self.text("#login-error"), "the refusal")
            self.css("#login-token").send_keys(token, Keys.ENTER)
            self.wait(lambda: self.css("#app").is_displayed(), "the app")
            self.wait(lambda: str(d.p.port) in self.text("#proxy-addrs"), "/ui/info with the token")
            self.assertEqual(self.b.execute_script(
                "return sessionStorage.getItem('ringcap.token')"), token)
            self.assertNotIn(token, self.b.current_url)
            self.b.refresh()   # the tab keeps it: no second login
            self.wait(lambda: self.css("#app").is_displayed(), "the app after a reload")
            self.assertFalse(self.css("#login").is_displayed())
        finally:
            d.stop()
        self.b.get(self.base + "#/s/%s/requests" % self.sid)
        self.wait(lambda: self.text("#s-state") == "active", "back on the live session")

    def test_95_stopped_session_header_filters_the_view(self):
        self.css("#n-name").send_keys("second")
        self.css("#b-start").click()
        st, body, _ = self.d.api("POST", "/api/sessions", {"name": "third"})
        self.assertEqual(st, 409)
        self.wait(lambda: self.text("#start-error") == body["error"], "the 409 next to the form")
        self.css("#n-name").clear()
        self.css("#b-stop").click()
        self.wait(lambda: self.text("#s-state") == "stopped", "stopped")
        self.wait(lambda: "filter this view" in self.text("#filter-mode"), "the view-filter hint")
        filt = self.d.api("GET", "/api/sessions/" + self.sid)[1]["settings"]["filter"]
        stored = len(self.ls())
        self.css("#thead .ficon[data-filter=url]").click()
        self.css(".popover input[name=url_contains]").send_keys("size/1200")
        self.css(".popover button[type=submit]").click()
        self.wait(lambda: [r[3] for r in self.rows()] == [self.origin.url("/size/1200")],
                  "only the matching row")
        self.assertIn("1 of 1", self.text("#table-foot"))
        self.assertEqual(len(self.ls()), stored, "a view filter deletes nothing")
        self.assertEqual(self.d.api("GET", "/api/sessions/" + self.sid)[1]["settings"]["filter"],
                         filt, "nor changes the capture filter")
        self.css("#thead .ficon[data-filter=url]").click()
        self.css(".popover input[name=url_regex]").send_keys("([")
        self.css(".popover button[type=submit]").click()
        msg = self.wait(lambda: self.text(".popover .ferr"), "the listing's error")
        q = urllib.parse.quote(json.dumps({"url_contains": ["size/1200"], "url_regex": ["(["]}))
        st, body, _ = self.d.api("GET", "/api/sessions/%s/exchanges?filter=%s" % (self.sid, q))
        self.assertEqual((st, msg), (400, body["error"]))
        self.css(".popover button[type=button]").click()   # Clear
        self.css(".popover button[type=submit]").click()
        self.wait(lambda: self.b.execute_script("return window.ringcap.table.total") == stored,
                  "every row again")
        self.shot("stopped")
        # history: delete a session (the button asks twice)
        st, doomed, _ = self.d.api("POST", "/api/sessions", {"name": "doomed"})
        self.assertEqual(st, 201)
        self.assertEqual(self.d.api("POST", "/api/sessions/doomed/stop")[0], 200)
        self.tab("history")
        row = self.wait(lambda: self.css("#hist-table tr[data-id='%s']" % doomed["id"]), "doomed")
        button = row.find_element(By.XPATH, ".//button[starts-with(text(), 'Delete')]")
        button.click()
        self.assertIn("click again", button.text)
        self.assertEqual(self.d.api("GET", "/api/sessions/doomed")[0], 200, "not yet")
        button.click()
        self.wait(lambda: not self.b.find_elements(
            By.CSS_SELECTOR, "#hist-table tr[data-id='%s']" % doomed["id"]), "gone from history")
        self.assertEqual(self.d.api("GET", "/api/sessions/doomed")[0], 404)

    def test_16_hidden_tab_drops_its_stream(self):
        """A tab in the background closes its event stream; shown again it
        follows again and catches up on what it missed."""
        self.b.execute_script(
            "window.vlog = []; document.addEventListener('visibilitychange', () => "
            "setTimeout(() => vlog.push([document.visibilityState, !!window.ringcap.stream])))")
        page = self.b.current_window_handle
        self.b.switch_to.new_window("tab")
        self.curl("/size/15?while-hidden")
        time.sleep(0.7)
        self.b.close()
        self.b.switch_to.window(page)
        self.wait(lambda: self.b.execute_script("return vlog.length") == 2, "hidden, then shown")
        self.assertEqual(self.b.execute_script("return vlog"), [["hidden", False], ["visible", True]])
        self.wait_row("while-hidden")

    def test_90_daemon_restart_reconnects(self):
        """kill -9 under the page: it says the stream is lost; a restart
        that continues the session (run --session) reconnects the stream and
        says so; one that does not shows the session interrupted (page and
        history); continuing it later makes the page follow it again."""
        self.wait(lambda: self.text("#s-state") == "active", "a live session")
        argv = self.d.p.argv()
        again = lambda: argv + ["--session", "webui-renamed"]
        self.d.kill9()
        self.wait(lambda: "reconnecting" in self.text("#banner"), "the page saying so")
        self.d.p.argv = again
        self.d.start()
        self.wait(lambda: "reconnected" in self.text("#banner"), "reconnected", timeout=20)
        self.curl("/size/16?after-reconnect")
        self.wait_row("after-reconnect")

        self.d.kill9()
        self.wait(lambda: "reconnecting" in self.text("#banner"), "lost again")
        self.d.p.argv = lambda: list(argv)
        self.d.start()
        self.wait(lambda: "was interrupted" in self.text("#banner"), "interrupted, said", timeout=20)
        self.assertEqual(self.text("#s-state"), "interrupted")
        self.tab("history")
        self.wait(lambda: "interrupted" in self.text("#hist-table tr[data-id='%s']" % self.sid),
                  "interrupted in the history")
        self.tab("requests")
        self.assertEqual(self.d.stop(), 0)
        self.d.p.argv = again
        self.d.start()
        self.wait(lambda: "continues after a restart" in self.text("#banner"), "continued",
                  timeout=20)
        self.assertEqual(self.text("#s-state"), "active")
        self.curl("/size/14?after-restart")
        self.wait_row("after-restart")
        self.assertEqual(self.severe_logs(), [])

if __name__ == "__main__":
    harness.main()
