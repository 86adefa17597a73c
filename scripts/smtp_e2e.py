#!/usr/bin/env python3
"""End-to-end email through a well-kept SMTP server (aiosmtpd).

Starts aiosmtpd on 127.0.0.1 (a free port) writing to a Maildir, starts the real
nati-chat binary with that SMTP server configured, has a guest (with an email) ask a
question and an admin answer, and waits until the missed-reply email is in the Maildir:
addressed to the guest, with the reply's text, escaped in HTML, and a resume link. A
message read in time must send nothing. Exits non-zero on any failure.
"""
import email
import json
import mailbox
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = sys.argv[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def main():
    work = tempfile.mkdtemp(prefix="nati-smtp-")
    maildir = os.path.join(work, "maildir")
    smtp_port = free_port()
    smtpd = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
         "-c", "aiosmtpd.handlers.Mailbox", maildir],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    env = dict(os.environ,
               NATI_SMTP_HOST="127.0.0.1", NATI_SMTP_PORT=str(smtp_port), NATI_SMTP_SECURITY="none",
               NATI_EMAIL_POLL_MILLIS="100", NATI_GUEST_EMAIL_DELAY_SECS="1",
               NATI_PUBLIC_URL="https://chat.example.test", RUST_LOG="warn")
    server = subprocess.Popen([BIN, "serve", "--demo", "--bind", "127.0.0.1:0", "--data-dir", os.path.join(work, "data")],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        base = None
        deadline = time.time() + 30
        while time.time() < deadline and base is None:
            line = server.stdout.readline()
            if line.startswith("listening on "):
                base = line.split(" ", 2)[2].strip()
        if base is None:
            raise SystemExit("the server did not start")
        for _ in range(100):  # wait for aiosmtpd
            try:
                socket.create_connection(("127.0.0.1", smtp_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        admin = call(base, "POST", "/api/auth/login", {"email": "admin@nati.test", "password": "demo-password"})["token"]
        prefs = call(base, "GET", "/api/me/preferences", token=admin)
        prefs.update(admin_scope="none", email_delay_secs=3600)
        call(base, "PUT", "/api/me/preferences", prefs, token=admin)
        # Guest 1 will not read the reply: one email. Guest 2 reads it in time: none.
        g1 = call(base, "POST", "/api/chat/start", {"name": "Gina", "email": "gina@example.test", "message": "Is my car ready?"})
        g2 = call(base, "POST", "/api/chat/start", {"name": "Reza", "email": "reza@example.test", "message": "Quick one"})
        call(base, "POST", "/api/chat/send_message", {"chat_id": g1["chat"]["chat_id"], "message": "Yes <b>ready</b> at 5"}, token=admin)
        call(base, "POST", "/api/chat/send_message", {"chat_id": g2["chat"]["chat_id"], "message": "Sure"}, token=admin)
        call(base, "POST", "/api/chat/mark_read", {"chat_id": g2["chat"]["chat_id"]}, token=g2["guest_token"])
        box = None
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.isdir(maildir):
                box = list(mailbox.Maildir(maildir, factory=None))
                if box:
                    break
            time.sleep(0.2)
        if not box:
            raise SystemExit("no email reached aiosmtpd")
        time.sleep(2.5)  # anything else due would have arrived by now
        box = list(mailbox.Maildir(maildir, factory=None))
        if len(box) != 1:
            raise SystemExit(f"expected exactly one email (guest 2 read in time), got {len(box)}")
        msg = email.message_from_bytes(box[0].as_bytes())
        if "gina@example.test" not in msg["To"]:
            raise SystemExit(f"wrong recipient: {msg['To']}")
        parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.walk() if not p.is_multipart()}
        plain, html = parts.get("text/plain", ""), parts.get("text/html", "")
        if "Yes <b>ready</b> at 5" not in plain:
            raise SystemExit("the plain part lacks the reply as sent")
        if "&lt;b&gt;ready&lt;/b&gt;" not in html or "<b>ready</b>" in html:
            raise SystemExit("the HTML part does not escape user text")
        if not re.search(r"https://chat\.example\.test/guest\?resume=nr_", plain):
            raise SystemExit("no signed resume link")
        print(f"aiosmtpd received 1 email for {msg['To']}: {msg['Subject']}")
        print("1 passed, 0 failed")
    finally:
        server.terminate()
        smtpd.terminate()
        server.wait(timeout=10)
        smtpd.wait(timeout=10)


if __name__ == "__main__":
    main()
