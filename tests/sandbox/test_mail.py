"""The sandbox catches mail: an SMTP server beside the API, its messages listed at /_sandbox/mail
and shown in the dashboard, the HTML body never run nor put raw into a page."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from playwright.sync_api import Page, expect

from bookshop.sandbox.__main__ import parse_args
from bookshop.sandbox.mail import MAX_MESSAGES, Mailbox, parse
from bookshop.sandbox.settings import SandboxSettings, SettingsError
from tests.fixtures.sandbox import SandboxServer, free_port
from tests.sandbox.test_process import start, wait_healthy

REPO_ROOT = Path(__file__).parents[2]
EVIL_HTML = (
    '<p onclick="alert(2)">Thanks <script>alert(1)</script>'
    '<a href="https://shop.test/orders/tok.en">your order</a>'
    '<a href="javascript:alert(3)">not a link</a></p>'
)


def message(subject: str, to: str = "Ada Reader <ada@example.com>", **parts: str) -> EmailMessage:
    """A message as the shop writes one: plain text, and HTML when given."""
    mail = EmailMessage()
    mail["From"] = "Bookshop <orders@bookshop.test>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@bookshop.test>"
    mail["Date"] = "Sun, 06 Dec 2026 13:55:07 +0000"
    mail.set_content(parts.get("text", "Thank you for your order.\n"))
    if "html" in parts:
        mail.add_alternative(parts["html"], subtype="html")
    return mail


def send(sandbox: SandboxServer, mail: EmailMessage) -> None:
    assert sandbox.smtp_port is not None
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=5) as smtp:
        smtp.send_message(mail)


@pytest.fixture
def mailbox(sandbox: SandboxServer) -> SandboxServer:
    """The session's sandbox with no mail caught yet."""
    sandbox.clear_mail()
    return sandbox


def test_a_message_sent_over_smtp_is_listed_with_its_envelope_headers_and_bodies(
    mailbox: SandboxServer,
) -> None:
    sent = message("Order BK-7Q4M2X confirmed", html="<p>Thank you</p>")
    before = int(time.time())
    send(mailbox, sent)
    (caught,) = mailbox.mail()
    assert caught["id"].startswith("msg_")
    assert before <= caught["received"] <= time.time()
    assert caught["mail_from"] == "orders@bookshop.test"
    assert caught["rcpt_tos"] == ["ada@example.com"]
    assert caught["subject"] == "Order BK-7Q4M2X confirmed"
    assert caught["from"] == "Bookshop <orders@bookshop.test>"
    assert caught["to"] == "Ada Reader <ada@example.com>"
    assert caught["message_id"] == sent["Message-ID"]
    assert caught["date"] == "Sun, 06 Dec 2026 13:55:07 +0000"
    assert caught["text"] == "Thank you for your order.\n"
    assert caught["html"] == "<p>Thank you</p>\n"
    assert ["Subject", "Order BK-7Q4M2X confirmed"] in caught["headers"]
    one = httpx.get(f"{mailbox.url}/_sandbox/mail/{caught['id']}")
    assert one.status_code == 200 and one.json() == caught


def test_mail_is_listed_newest_first_and_delete_forgets_it_all(mailbox: SandboxServer) -> None:
    for number in range(3):
        send(mailbox, message(f"message {number}"))
    assert [m["subject"] for m in mailbox.mail()] == ["message 2", "message 1", "message 0"]
    forgotten = httpx.delete(f"{mailbox.url}/_sandbox/mail")
    assert (forgotten.status_code, forgotten.json()) == (200, {"deleted": 3})
    assert mailbox.mail() == []


def test_an_unknown_message_is_a_404_in_the_api_and_the_dashboard(mailbox: SandboxServer) -> None:
    api = httpx.get(f"{mailbox.url}/_sandbox/mail/msg_missing")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "resource_missing"
    for path in ("/mail/msg_missing", "/mail/msg_missing/html", "/mail/msg_missing/source"):
        assert httpx.get(f"{mailbox.url}{path}").status_code == 404


def test_a_non_ascii_subject_and_names_are_decoded(mailbox: SandboxServer) -> None:
    subject = "Ihre Bestellung — Zoës 📚 ist unterwegs"
    send(mailbox, message(subject, to="Zoë Ørsted <zoe@example.com>", text="Grüße\n"))
    (caught,) = mailbox.mail()
    assert (caught["subject"], caught["to"], caught["text"]) == (
        subject,
        "Zoë Ørsted <zoe@example.com>",
        "Grüße\n",
    )
    page = httpx.get(f"{mailbox.url}/mail/{caught['id']}")
    assert subject in page.text and "Zoë Ørsted" in page.text


async def test_aiosmtplib_delivers_to_a_non_ascii_address_over_smtputf8(
    mailbox: SandboxServer,
) -> None:
    # The shop's sender uses aiosmtplib, which needs SMTPUTF8 for an address like this one.
    assert mailbox.smtp_port is not None
    mail = message("Ihre Bestellung", to="Zoë <zoë@example.com>")
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=mailbox.smtp_port, timeout=5)
    (caught,) = mailbox.mail()
    assert caught["rcpt_tos"] == ["zoë@example.com"]
    assert caught["to"] == "Zoë <zoë@example.com>"


def test_a_messages_page_shows_its_headers_and_text_and_frames_its_html(
    mailbox: SandboxServer,
) -> None:
    send(
        mailbox,
        message("Your order", text="See https://shop.test/orders/tok.en\n", html="<b>Hi</b>"),
    )
    (caught,) = mailbox.mail()
    page = httpx.get(f"{mailbox.url}/mail/{caught['id']}")
    assert page.status_code == 200
    for shown in (
        "Bookshop &lt;orders@bookshop.test&gt;",
        "Ada Reader &lt;ada@example.com&gt;",
        "Your order",
        "Sun, 06 Dec 2026 13:55:07 +0000",
        caught["message_id"].replace("<", "&lt;").replace(">", "&gt;"),
        "See https://shop.test/orders/tok.en",
        '<a href="https://shop.test/orders/tok.en" rel="noopener noreferrer">',
        f'<iframe sandbox src="/mail/{caught["id"]}/html"',
    ):
        assert shown in page.text
    assert "<b>Hi</b>" not in page.text


def test_html_with_a_script_is_never_put_into_a_page_and_its_own_route_forbids_scripts(
    mailbox: SandboxServer,
) -> None:
    send(
        mailbox,
        message("<script>alert(0)</script>", text="<script>alert(4)</script>\n", html=EVIL_HTML),
    )
    (caught,) = mailbox.mail()
    for page in (
        httpx.get(f"{mailbox.url}/mail/{caught['id']}"),
        httpx.get(f"{mailbox.url}/"),
    ):
        assert "<script" not in page.text
        assert "onclick" not in page.text and "javascript:" not in page.text
        assert "&lt;script&gt;alert(0)&lt;/script&gt;" in page.text
        assert "script-src" not in page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    body = httpx.get(f"{mailbox.url}/mail/{caught['id']}/html")
    assert body.text == EVIL_HTML + "\n"
    policy = [part.strip() for part in body.headers["Content-Security-Policy"].split(";")]
    assert policy[:3] == ["default-src 'none'", "style-src 'unsafe-inline'", "img-src data:"]
    assert "sandbox" in policy and not any(part.startswith("script-src") for part in policy)
    assert body.headers["Content-Type"] == "text/html; charset=utf-8"
    assert body.headers["X-Content-Type-Options"] == "nosniff"
    source = httpx.get(f"{mailbox.url}/mail/{caught['id']}/source")
    assert source.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Subject: <script>alert(0)</script>" in source.text


def test_in_a_browser_the_html_body_shows_styled_in_its_frame_and_its_scripts_never_run(
    mailbox: SandboxServer, page: Page, console_log: list[str]
) -> None:
    html = (
        '<p id="hello" style="color: rgb(1, 2, 3)">Hello from the shop</p>'
        "<script>document.body.dataset.ran = 'script'; parent.document.title = 'taken'</script>"
        '<img src="data:," onerror="document.body.dataset.ran = \'handler\'">'
    )
    send(mailbox, message("Styled", html=html))
    (caught,) = mailbox.mail()
    page.goto(f"{mailbox.url}/mail/{caught['id']}")
    body = page.frame_locator("iframe[sandbox]").locator("body")
    expect(body.locator("#hello")).to_have_css("color", "rgb(1, 2, 3)")
    page.goto(f"{mailbox.url}/mail/{caught['id']}/html")  # opened on its own, outside the frame
    expect(page.locator("#hello")).to_have_text("Hello from the shop")
    expect(page.locator("body")).not_to_have_attribute("data-ran", re.compile(".*"))
    page.goto(f"{mailbox.url}/mail/{caught['id']}")
    expect(page).to_have_title("Mail: Styled · Stripe sandbox")
    expect(body).not_to_have_attribute("data-ran", re.compile(".*"))
    assert not any("pageerror" in line for line in console_log)


def test_the_dashboard_lists_mail_newest_first_with_time_recipient_and_subject(
    mailbox: SandboxServer,
) -> None:
    send(mailbox, message("First of two", to="one@example.com"))
    send(mailbox, message("Second of two", to="two@example.com"))
    newest, _ = mailbox.mail()
    page = httpx.get(f"{mailbox.url}/").text
    mail = page[page.index("<h2>Mail</h2>") :]
    assert mail.index("Second of two") < mail.index("First of two")
    assert f'<a href="/mail/{newest["id"]}">Second of two</a>' in mail
    assert "two@example.com" in mail
    assert time.strftime("%Y-%m-%d ", time.gmtime(newest["received"])) in mail
    assert f"caught by SMTP on <code>127.0.0.1:{mailbox.smtp_port}</code>" in page


def test_the_mailbox_keeps_the_newest_500_messages() -> None:
    mailbox = Mailbox()
    assert mailbox.size == MAX_MESSAGES == 500
    for number in range(MAX_MESSAGES + 1):
        mailbox.keep(parse(f"Subject: {number}\r\n\r\nx\r\n".encode(), "a@b.test", ["c@d.test"], 0))
    kept = mailbox.recent()
    assert len(kept) == 500
    assert (kept[0].subject, kept[-1].subject) == ("500", "1")


def test_a_message_without_html_or_with_a_broken_charset_still_shows() -> None:
    raw = (
        b"From: a@b.test\r\nSubject: =?x-unknown?q?broken?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\nhello\r\n"
    )
    caught = parse(raw, "a@b.test", ["c@d.test"], 0)
    assert caught.text is not None and caught.text.strip() == "hello"
    assert caught.html is None
    assert caught.links() == []


def test_the_smtp_port_is_a_flag_that_must_differ_from_the_http_port() -> None:
    assert parse_args([]).smtp_port is None
    assert parse_args(["--smtp-port", "2525"]).smtp_port == 2525
    with pytest.raises(SystemExit):
        parse_args(["--port", "2525", "--smtp-port", "2525"])
    with pytest.raises(SystemExit):
        parse_args(["--smtp-port", "70000"])


def test_smtp_listens_on_loopback_unless_non_loopback_is_allowed() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--host", "0.0.0.0", "--smtp-port", "2525"])
    allowed = parse_args(["--host", "0.0.0.0", "--allow-non-loopback", "--smtp-port", "2525"])
    assert (allowed.host, allowed.smtp_port) == ("0.0.0.0", 2525)


def test_the_smtp_port_is_not_read_from_the_shops_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # SANDBOX_SMTP_PORT is the shop's; every sandbox a test starts would otherwise take it.
    monkeypatch.setenv("SANDBOX_SMTP_PORT", "2525")
    assert parse_args([]).smtp_port is None


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on, from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("smtp", [False, True])
def test_the_sandbox_listens_for_smtp_only_when_given_a_port(smtp: bool, tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    extra = ["--smtp-port", str(smtp_port)] if smtp else []
    process = start(port, tmp_path / "sandbox.log", *extra)
    try:
        wait_healthy(port, process)
        assert listening_ports(process.pid) == ({port, smtp_port} if smtp else {port})
        assert httpx.get(f"http://127.0.0.1:{port}/_sandbox/mail").json() == []
        page = httpx.get(f"http://127.0.0.1:{port}/").text
        assert ("--smtp-port" in page) is not smtp
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_smtp_server_stops_with_the_sandbox_even_mid_session(tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    process = start(port, tmp_path / "sandbox.log", "--smtp-port", str(smtp_port))
    try:
        wait_healthy(port, process)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as idle:
            assert idle.ehlo()[0] == 250
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            with pytest.raises(smtplib.SMTPServerDisconnected):
                idle.noop()  # the server closed the session
    finally:
        process.kill()
    with socket.create_server(("127.0.0.1", smtp_port)):
        pass  # the port is free again
    assert "Traceback" not in (tmp_path / "sandbox.log").read_text()


def test_a_taken_smtp_port_stops_the_sandbox_with_one_line_and_status_1(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        smtp_port = taken.getsockname()[1]
        process = start(free_port(), tmp_path / "log", "--smtp-port", str(smtp_port))
        assert process.wait(timeout=15) == 1
    log = (tmp_path / "log").read_text()
    assert f"cannot listen on 127.0.0.1:{smtp_port}: " in log
    assert "Address already in use" in log and "Traceback" not in log


def test_settings_refuse_an_smtp_port_out_of_range() -> None:
    with pytest.raises(SettingsError):
        SandboxSettings(smtp_port=-1).validate()
