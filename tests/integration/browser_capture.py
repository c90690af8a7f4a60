#!/usr/bin/python3
"""Loads a page in headless Chromium (Debian's chromium + chromium-driver,
through python3-selenium) through a proxy and writes the DevTools protocol
messages it logged (performance log: Network.*, Page.*), with each
response's body fetched over the protocol, as one JSON array
(tests/node/chrome_har.js makes a HAR of them).
  browser_capture.py PROXY_HOST:PORT URL OUT.json
Runs with /usr/bin/python3: Debian's selenium lives there, not in a
pyenv interpreter. Exit 77 when selenium or chromium is missing."""

import json
import sys
import time

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:
    sys.exit(77)


def main():
    proxy, url, out = sys.argv[1:4]
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--proxy-server=http://" + proxy, "--proxy-bypass-list=<-loopback>",
              "--no-first-run", "--disable-background-networking"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    try:
        d.set_page_load_timeout(30)
        d.get(url)
        for _ in range(100):   # the page posts a form with fetch() when loaded
            if d.execute_script("return document.title") == "done":
                break
            time.sleep(0.1)
        msgs = []
        for e in d.get_log("performance"):
            m = json.loads(e["message"])["message"]
            msgs.append({"method": m["method"], "params": m.get("params", {})})
        # chrome-har takes a response's text from params.response.body
        for m in msgs:
            if m["method"] != "Network.responseReceived":
                continue
            try:
                body = d.execute_cdp_cmd("Network.getResponseBody",
                                         {"requestId": m["params"]["requestId"]})
            except Exception:
                continue
            if not body.get("base64Encoded"):
                m["params"]["response"]["body"] = body["body"]
        with open(out, "w") as f:
            json.dump(msgs, f)
    finally:
        d.quit()


if __name__ == "__main__":
    main()
