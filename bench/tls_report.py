#!/usr/bin/env python3
"""Markdown report for bench/tls.sh: tls_report.py RESULTS.tsv META.txt

RESULTS rows: ROW <TAB> proxy CPU s (or -) <TAB> origin CPU s <TAB> the client's BENCHJSON object (or an
error text). ROW is CASE-TARGET, e.g. hs-ringcap-warm, ka100b-direct, ka1m-ringcap.
With several rounds the best rate per row is kept.
"""

import json
import sys

ROWS = [
    ("hs-direct", "handshakes", "direct (client → nginx)"),
    ("hs-ringcap-warm", "handshakes", "ringcap, warm leaf cache"),
    ("hs-ringcap-cold", "handshakes", "ringcap, cold (new SNI per conn.)"),
    ("hs-mitmdump", "handshakes", "mitmdump"),
    ("hsr-direct", "resumed handshakes", "direct (client resumes with nginx)"),
    ("hsr-ringcap", "resumed handshakes", "ringcap (client resumes with ringcap)"),
    ("ka100b-direct", "100 B keep-alive", "direct"),
    ("ka100b-ringcap", "100 B keep-alive", "ringcap"),
    ("ka100b-mitmdump", "100 B keep-alive", "mitmdump"),
    ("ka1m-direct", "1 MiB keep-alive", "direct"),
    ("ka1m-ringcap", "1 MiB keep-alive", "ringcap"),
]


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            row, cpu, ocpu, rest = line.split("\t", 3)
            try:
                j = json.loads(rest)
            except ValueError:
                j = None
            r = {"error": rest[:120]} if j is None else dict(j)
            if j is not None:
                r["rate"] = j["ok"] / j["seconds"] if j["seconds"] else 0.0
                r["mbps"] = j["bytes"] / j["seconds"] / 1e6 if j["seconds"] else 0.0
                r["proxy_cpu"] = float(cpu) if cpu not in ("", "-") else None
                r["origin_cpu"] = float(ocpu) if ocpu not in ("", "-") else None
            old = rows.get(row)
            if old is None or r.get("rate", -1) > old.get("rate", -1):
                rows[row] = r
    return rows


def f(v, nd=0):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def rate(rows, k):
    return rows.get(k, {}).get("rate")


def div(a, b):
    return a / b if a is not None and b else None


def main():
    rows = load(sys.argv[1])
    out = []
    with open(sys.argv[2]) as fh:
        out.append(fh.read().rstrip())
    out += ["",
            "| case | target | per s | MB/s | errors | client CPU s | client µs/op"
            " | proxy CPU s | proxy µs/op | origin µs/op | × direct | × mitmdump |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    notes = []
    for key, case, label in ROWS:
        r = rows.get(key)
        if r is None:
            continue
        if "error" in r:
            notes.append(f"- {key}: {r['error']}")
            continue
        prefix = key.split("-")[0]
        direct = rate(rows, prefix + "-direct")
        mitm = rate(rows, prefix + "-mitmdump")
        ops = r["ok"] or None
        cpu_op = r["client_cpu_s"] * 1e6 / ops if ops else None
        pcpu = r["proxy_cpu"]
        pcpu_op = pcpu * 1e6 / ops if ops and pcpu is not None else None
        ocpu = r["origin_cpu"]
        ocpu_op = ocpu * 1e6 / ops if ops and ocpu is not None else None
        unit = "handshakes/s" if "handshakes" in case else "req/s"
        out.append("| " + " | ".join([
            case, label, f(r["rate"]) + " " + unit, f(r["mbps"], 1), f(r["errors"]),
            f(r["client_cpu_s"], 2), f(cpu_op, 1), f(pcpu, 2), f(pcpu_op, 1), f(ocpu_op, 1),
            f(div(r["rate"], direct), 2),
            f(div(r["rate"], mitm), 1) if "mitmdump" not in key else "1.0",
        ]) + " |")
        if r.get("first_error"):
            notes.append(f"- {key}: first client error: {r['first_error']}")
        if key.startswith("hsr-") and r.get("resumed") is not None and ops:
            notes.append(f"- {key}: {r['resumed'] / ops:.0%} of the client's handshakes resumed")
    out.append("")
    if notes:
        out += ["Notes:", ""] + notes + [""]
    warm, cold = rate(rows, "hs-ringcap-warm"), rate(rows, "hs-ringcap-cold")
    d = rows.get("hs-direct", {})
    if d.get("client_cpu_s") is not None and d.get("seconds"):
        out.append(f"Client load in the direct handshake row: "
                   f"{d['client_cpu_s'] / d['seconds']:.2f} of {_ncpu()} CPUs "
                   f"(the client shares the cores with nginx and the proxy).")
    out.append(f"Cold ÷ warm handshakes: {f(div(cold, warm), 2)}")
    out.append("")
    out.append("Targets (issue 16):")
    out.append("")
    checks = [
        ("resumed new connections ≥ 0.75 × direct", rate(rows, "hsr-ringcap"),
         rate(rows, "hsr-direct"), 0.75),
        ("full-handshake new connections (warm cache) ≥ 0.6 × direct", warm,
         rate(rows, "hs-direct"), 0.6),
        ("keep-alive HTTPS req/s (100 B) ≥ 0.7 × direct", rate(rows, "ka100b-ringcap"),
         rate(rows, "ka100b-direct"), 0.7),
    ]
    for name, a, b, want in checks:
        r = div(a, b)
        if r is None:
            out.append(f"- {name}: not measured")
        else:
            out.append(f"- {name}: {r:.2f}× — {'MET' if r >= want else 'NOT MET'}")
    out.append("")
    out.append("Targets (issue 3):")
    out.append("")
    checks = [
        ("warm-cache handshakes ≥ 0.5 × direct TLS", warm, rate(rows, "hs-direct"), 0.5),
        ("warm-cache handshakes ≥ 20 × mitmdump", warm, rate(rows, "hs-mitmdump"), 20.0),
        ("keep-alive HTTPS req/s (100 B) ≥ 0.6 × direct", rate(rows, "ka100b-ringcap"),
         rate(rows, "ka100b-direct"), 0.6),
    ]
    for name, a, b, want in checks:
        r = div(a, b)
        if r is None:
            out.append(f"- {name}: not measured")
        else:
            out.append(f"- {name}: {r:.2f}× — {'MET' if r >= want else 'NOT MET'}")
    m1 = div(rows.get("ka1m-ringcap", {}).get("mbps"), rows.get("ka1m-direct", {}).get("mbps"))
    out.append(f"- (no target) 1 MiB keep-alive MB/s: {f(m1, 2)}× direct")
    print("\n".join(out))


def _ncpu():
    import os
    return os.cpu_count()


if __name__ == "__main__":
    main()
