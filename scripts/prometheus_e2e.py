#!/usr/bin/env python3
"""A real Prometheus scrapes a real server, and the Grafana dashboard's queries run on it.

    prometheus_e2e.py SERVER_BIN BENCH_BIN [SCREENSHOT_DIR]

Starts the server (--demo, a metrics token) and Debian's `prometheus` (its own config and
storage in a temporary directory, scraping every second with the token), drives a little
load with `nati-bench throughput`, then checks through Prometheus' HTTP API that the target
is up and that every query of docs/grafana/nati-chat.json is valid PromQL, the main ones with
data. With SCREENSHOT_DIR and `chromium`, saves Prometheus' graph of messages stored per
second and the ack latency there. Exits non-zero, saying what failed, on any problem.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "prometheus-e2e-scrape-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(msg):
    print(f"prometheus e2e: {msg}", file=sys.stderr)
    sys.exit(1)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def query(prom, expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return get_json(url)
    except urllib.error.HTTPError as e:
        return json.load(e)


def wait_for(what, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    fail(f"timed out waiting for {what}")


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    server_bin, bench_bin = sys.argv[1], sys.argv[2]
    shots = sys.argv[3] if len(sys.argv) > 3 else None
    prometheus = shutil.which("prometheus") or fail("prometheus not found (apt-get install prometheus)")
    work = tempfile.mkdtemp(prefix="nati-prom-")
    procs = []
    try:
        port, prom_port = free_port(), free_port()
        env = dict(os.environ, NATI_METRICS_TOKEN=TOKEN, NATI_LOGIN_RATE_PER_MINUTE="100000",
                   NATI_GUEST_START_RATE_PER_MINUTE="100000", NO_COLOR="1")
        env.pop("NATI_DATABASE_URL", None)
        log = open(os.path.join(work, "server.log"), "w")
        procs.append(subprocess.Popen(
            [server_bin, "serve", "--demo", "--bind", f"127.0.0.1:{port}", "--data-dir",
             os.path.join(work, "data")], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{port}"
        wait_for("the server", lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200, 60)

        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: nati-chat
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
""")
        plog = open(os.path.join(work, "prometheus.log"), "w")
        procs.append(subprocess.Popen(
            [prometheus, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/tsdb",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=plog, stderr=plog, stdin=subprocess.DEVNULL))
        prom = f"http://127.0.0.1:{prom_port}"
        wait_for("prometheus", lambda: urllib.request.urlopen(f"{prom}/-/ready", timeout=2).status == 200, 60)

        def up():
            r = query(prom, 'up{job="nati-chat"}')["data"]["result"]
            return r and r[0]["value"][1] == "1"
        wait_for("the scrape target to be up (format and token accepted)", up, 30)

        bench = subprocess.run(
            [bench_bin, "throughput", "--url", base, "--customers", "16", "--staff", "2",
             "--duration", "6", "--warmup", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
        if bench.returncode != 0:
            fail(f"nati-bench throughput failed:\n{bench.stdout}")
        time.sleep(3)  # the last scrapes after the load

        dashboard = json.load(open(os.path.join(ROOT, "docs", "grafana", "nati-chat.json")))
        must_have_data = {"Messages stored per second", "Ack latency (arrival at the writer to commit)",
                          "Send to deliver (write to frame on a socket)", "Write batches: commands per batch, batch time p99",
                          "Writes by result", "HTTP requests by status", "Database pool use"}
        checked = 0
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "15s").replace('$instance', ".*")
                r = query(prom, expr)
                if r.get("status") != "success":
                    fail(f"panel {panel['title']!r}: {expr}\n  {r.get('error')}")
                result = r["data"]["result"]
                values = [float(x["value"][1]) for x in result if x["value"][1] not in ("NaN", "+Inf", "-Inf")]
                if panel["title"] in must_have_data and not any(v > 0 for v in values):
                    fail(f"panel {panel['title']!r}: no data after the load: {expr}\n  {result}")
                checked += 1
        stored = query(prom, 'sum(increase(nati_messages_stored_total[30s]))')["data"]["result"]
        print(f"prometheus e2e: target up with the token, {checked} dashboard queries valid, "
              f"~{float(stored[0]['value'][1]):.0f} messages stored in the last 30 s as Prometheus saw them")

        chromium = shutil.which("chromium")
        if shots and chromium:
            os.makedirs(shots, exist_ok=True)
            graphs = {
                "prometheus-messages-stored.png": "sum(rate(nati_messages_stored_total[15s]))",
                "prometheus-ack-p99-ms.png":
                    "1000 * histogram_quantile(0.99, sum by (le) (rate(nati_write_ack_seconds_bucket[15s])))",
            }
            for name, expr in graphs.items():
                url = f"{prom}/graph?" + urllib.parse.urlencode(
                    {"g0.expr": expr, "g0.tab": "0", "g0.range_input": "1m"})
                subprocess.run(
                    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     "--window-size=1280,800", "--virtual-time-budget=5000",
                     f"--screenshot={os.path.join(shots, name)}", url],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            print(f"prometheus e2e: graphs saved in {shots}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
