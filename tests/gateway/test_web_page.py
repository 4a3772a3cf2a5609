"""The gateway's web page, driven in headless Chromium (Debian's ``chromium``) by Playwright.

Real processes only: an Orlop server, ``orlop gateway`` in front of it, the ``orlop`` CLI
for the changes made elsewhere, and the browser. One server and one gateway serve the
whole module (each test uses its own buckets); each test has its own browser context.
Every test also checks that the page raised no JavaScript error and asked nothing of any
origin but the gateway's (it must work offline).

Screenshots land in each test's ``tmp_path`` and are copied to ``/tmp/orlop-screenshots/``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright import sync_api
from playwright.sync_api import expect

from orlop.testing import ServerProcess

pytestmark = pytest.mark.timeout(240)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ORLOP = str(Path(sys.executable).parent / "orlop")
SCREENSHOTS = Path("/tmp/orlop-screenshots")
DASH = "\u2013"  # the pager reads "1\u201350 of 120", with an en dash
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# ---- helpers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def object_url(base: str, bucket: str, name: str) -> str:
    """The raw object's URL, each segment of the name percent-encoded (as the page does)."""
    encoded = "/".join(quote(part, safe="") for part in name.split("/"))
    return f"{base}/api/v1/buckets/{quote(bucket, safe='')}/objects/{encoded}"


def page_range(first: int, last: int, total: int) -> str:
    return f"{first}{DASH}{last} of {total}"


def orlop_cli(*args: str) -> str:
    """Run the ``orlop`` CLI; its output, or a failure that shows what it printed."""
    done = subprocess.run([ORLOP, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"orlop {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def save_screenshot(page: sync_api.Page | sync_api.Locator, path: Path, **options: object) -> Path:
    """Screenshot ``page`` (or a locator) to ``path`` and copy it to /tmp/orlop-screenshots/."""
    page.screenshot(path=str(path), **options)  # type: ignore[arg-type]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / path.name)
    return path


@dataclass
class Gateway:
    """The servers under test: ``nats`` is the NATS URL, ``base`` the gateway's HTTP origin,
    ``audit`` the audit file the gateway reads for objects' history (tests write it)."""

    nats: str
    base: str
    http: httpx.Client
    audit: Path

    def put(self, bucket: str, name: str, data: bytes) -> dict[str, object]:
        resp = self.http.put(object_url(self.base, bucket, name), content=data)
        assert resp.status_code == 201, resp.text
        info: dict[str, object] = resp.json()
        return info

    def info(self, bucket: str, name: str) -> dict[str, Any]:
        resp = self.http.post(f"/api/v1/buckets/{bucket}/get", json={"name": name, "info_only": True})
        assert resp.status_code == 200, resp.text
        info: dict[str, Any] = resp.json()["info"]
        return info

    def create_bucket(self, bucket: str, **config: object) -> None:
        resp = self.http.post("/api/v1/buckets", json={"bucket": bucket, **config})
        assert resp.status_code == 201, resp.text


@dataclass
class Session:
    """One browser context's page, with what it did that a test must check afterwards."""

    page: sync_api.Page
    base: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def goto(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base}/{fragment}")
        expect(self.page.locator("#buckets-body tr").first).to_be_visible()

    def select_bucket(self, bucket: str) -> None:
        self.page.locator(f'#buckets-body tr[data-bucket="{bucket}"] [data-action="select"]').click()
        expect(self.page.locator("#objects-title")).to_have_text(f"Objects in {bucket}")
        expect(self.page.locator("#live")).to_have_attribute("data-state", "live")

    def row(self, name: str) -> sync_api.Locator:
        return self.page.locator(f'#objects-body tr[data-name="{name}"]')

    def status(self) -> sync_api.Locator:
        return self.page.locator("#status")

    def upload(self, name: str, data: bytes, prefix: str = "") -> None:
        """Upload one file through the file input and wait for its progress row to say done."""
        page = self.page
        page.locator("#upload-prefix").fill(prefix)
        page.locator("#file-input").set_input_files(
            files=[{"name": name, "mimeType": "text/plain", "buffer": data}]
        )
        full = f"{prefix.strip('/')}/{name}" if prefix else name
        item = page.locator(f'#upload-list li[data-name="{full}"]').last
        expect(item).to_have_attribute("data-state", "done")
        expect(item.locator("progress")).to_have_attribute("value", "100")


# ---- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """An Orlop server with JetStream and ``orlop gateway`` in front of it (module scope)."""
    server = ServerProcess(kind="orlop", jetstream=True, store_dir=str(tmp_path_factory.mktemp("orlop")))
    server.start()
    port = free_port()
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    audit = log_path.with_name("audit.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [ORLOP, "gateway", "--listen", f"127.0.0.1:{port}", "-s", server.url, "--audit-file", str(audit)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"orlop gateway exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"orlop gateway did not answer /healthz:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Gateway(nats=server.url, base=base, http=http, audit=audit)
    finally:
        http.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    # `make test` installs it (Debian's chromium package); missing, the test fails, never skips.
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed: run `make install`"
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_session(browser: sync_api.Browser, site: Gateway, viewport: dict[str, int]) -> Iterator[Session]:
    context = browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = context.new_page()
    session = Session(page=page, base=site.base)
    page.on("pageerror", lambda exc: session.errors.append(str(exc)))

    def on_request(request: sync_api.Request) -> None:
        if not request.url.startswith((site.base + "/", "data:", "blob:")):
            session.foreign.append(request.url)

    def on_dialog(dialog: sync_api.Dialog) -> None:
        session.dialogs.append(dialog.message)
        dialog.accept()

    page.on("request", on_request)
    page.on("dialog", on_dialog)
    try:
        yield session
    finally:
        context.close()
    assert session.errors == [], f"JavaScript errors on the page: {session.errors}"
    assert session.foreign == [], f"the page fetched from elsewhere: {session.foreign}"


@pytest.fixture
def web(browser: sync_api.Browser, site: Gateway) -> Iterator[Session]:
    """A desktop-sized page on the gateway."""
    yield from open_session(browser, site, WIDE)


@pytest.fixture
def phone(browser: sync_api.Browser, site: Gateway) -> Iterator[Session]:
    """A phone-sized page (390 x 844) on the gateway."""
    yield from open_session(browser, site, PHONE)


# ---- tests -----------------------------------------------------------------------------


def test_buckets_listed_created_and_deleted(web: Session, site: Gateway, tmp_path: Path) -> None:
    site.create_bucket("archive", description="Old reports", history=4, ttl=7 * 86400 * 10**9)
    site.put("archive", "2023/report.pdf", os.urandom(300_000))
    site.put("archive", "2023/summary.txt", b"x" * 40_000)
    page = web.page
    web.goto()

    archive = page.locator('#buckets-body tr[data-bucket="archive"]')
    expect(archive).to_contain_text("Old reports")
    expect(archive.locator('[data-label="Objects"]')).to_have_text("2")
    expect(archive.locator('[data-label="History"]')).to_have_text("4")
    expect(archive.locator('[data-label="TTL"]')).to_have_text("7d")
    expect(archive.locator('[data-label="Sealed"]')).to_have_text("no")
    expect(archive.locator('[data-label="Replicas"]')).to_have_text("1")
    expect(archive.locator('[data-label="Compression"]')).to_have_text("none")

    # Create a bucket through the form: it is listed with its settings, and selected.
    page.get_by_label("Name", exact=True).fill("web-photos")
    page.locator("#new-description").fill("Pictures from the page")
    page.get_by_label("History").fill("3")
    page.get_by_role("button", name="Create bucket").click()
    created = page.locator('#buckets-body tr[data-bucket="web-photos"]')
    expect(created).to_contain_text("Pictures from the page")
    expect(created.locator('[data-label="History"]')).to_have_text("3")
    expect(web.status()).to_have_text("Created bucket “web-photos”")
    expect(page.locator("#objects-title")).to_have_text("Objects in web-photos")
    status = site.http.get("/api/v1/buckets/web-photos").json()
    assert (status["description"], status["history"]) == ("Pictures from the page", 3)

    # One bar per bucket in the storage chart.
    buckets = site.http.get("/api/v1/buckets").json()["buckets"]
    expect(page.locator("#chart svg rect.bar")).to_have_count(len(buckets))

    # An API error is shown with the gateway's own description.
    page.get_by_label("Name", exact=True).fill("bad name!")
    page.get_by_role("button", name="Create bucket").click()
    refused = site.http.post("/api/v1/buckets", json={"bucket": "bad name!"})
    assert refused.status_code == 400
    expect(page.locator("#status-box")).to_have_attribute("data-kind", "error")
    expect(web.status()).to_have_text(refused.json()["error"]["description"])

    save_screenshot(page.locator("#buckets-section"), tmp_path / "buckets.png")

    # Delete the new bucket (the confirm is accepted).
    created.get_by_role("button", name="Delete bucket web-photos").click()
    expect(created).to_have_count(0)
    assert any("web-photos" in message for message in web.dialogs)
    assert site.http.get("/api/v1/buckets/web-photos").status_code == 404
    expect(page.locator("#no-bucket")).to_be_visible()


def test_upload_download_versions_restore_delete(web: Session, site: Gateway, tmp_path: Path) -> None:
    site.create_bucket("docs", description="Versioned documents", history=5)
    page = web.page
    web.goto()
    web.select_bucket("docs")
    expect(page.locator("#objects-body")).to_contain_text("This bucket is empty")

    # Upload through the file input, into a folder: a name with slashes and UTF-8.
    name = "reports/2024/notes ü.txt"
    first = b"first version \xe2\x9c\x93\n" * 2000
    web.upload("notes ü.txt", first, prefix="reports/2024/")
    row = web.row(name)
    expect(row).to_be_visible()
    expect(row.locator('[data-label="Size"]')).to_have_text("35.2 KiB")
    rev1 = int(row.locator('[data-label="Revision"]').inner_text())

    # Download through the row's link: the same bytes, under the object's base name.
    with page.expect_download() as download_info:
        row.locator('[data-action="download"]').click()
    download = download_info.value
    assert download.suggested_filename == "notes ü.txt"
    assert Path(download.path()).read_bytes() == first

    # A second version of the same name replaces it in the list.
    second = b"second version\n" * 100
    web.upload("notes ü.txt", second, prefix="reports/2024/")
    expect(row.locator('[data-label="Size"]')).to_have_text("1.5 KiB")
    assert int(row.locator('[data-label="Revision"]').inner_text()) > rev1
    assert site.http.get(object_url(site.base, "docs", name)).content == second

    # Info shows every field, with headers.
    row.locator('[data-action="info-icon"]').click()
    dialog = page.locator("#object-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#dialog-title")).to_have_text(name)
    info = site.info("docs", name)
    panel = page.locator("#panel-info")
    for value in (info["nuid"], info["digest"], str(info["revision"])):
        expect(panel).to_contain_text(value)

    # Versions: restore the first one; the object's bytes are the old ones again.
    page.get_by_role("tab", name="Versions").click()
    versions = page.locator("#panel-versions tbody tr")
    expect(versions).to_have_count(2)
    page.get_by_role("button", name=f"Restore revision {rev1}").click()
    expect(web.status()).to_contain_text(f"Restored revision {rev1}")
    expect(versions).to_have_count(3)
    assert site.http.get(object_url(site.base, "docs", name)).content == first
    expect(row.locator('[data-label="Size"]')).to_have_text("35.2 KiB")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    site.put("docs", "README.md", b"# Documents\n")
    expect(web.row("README.md")).to_be_visible()
    docs = page.locator('#buckets-body tr[data-bucket="docs"]')
    expect(docs.locator('[data-label="Objects"]')).to_have_text("2")
    page.get_by_role("button", name="Dismiss message").click()
    expect(page.locator("#status-box")).to_have_attribute("data-kind", "")
    save_screenshot(page, tmp_path / "objects.png", full_page=True)

    # Delete (the confirm is accepted): gone from the page and from the API.
    row.locator('[data-action="delete"]').click()
    expect(row).to_have_count(0)
    assert any(name in message for message in web.dialogs)
    gone = site.http.get(object_url(site.base, "docs", name))
    assert gone.status_code == 404
    assert gone.json()["error"]["err_code"] == 10404


DROP_FILES = """([files]) => {
    const transfer = new DataTransfer();
    for (const [name, b64] of files) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name));
    }
    const zone = document.getElementById("dropzone");
    for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }
}"""


def test_drop_several_files(web: Session, site: Gateway) -> None:
    site.create_bucket("dropped")
    page = web.page
    web.goto("#bucket=dropped")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    files = {"big.bin": os.urandom(3 * 1024 * 1024 + 17), "small.txt": "héllo\n".encode()}
    encoded = [[name, base64.b64encode(data).decode()] for name, data in files.items()]
    page.evaluate(DROP_FILES, [encoded])
    for name, data in files.items():
        item = page.locator(f'#upload-list li[data-name="{name}"]')
        expect(item).to_have_attribute("data-state", "done")
        expect(item.locator("progress")).to_have_attribute("value", "100")
        expect(web.row(name)).to_be_visible()
        assert site.http.get(object_url(site.base, "dropped", name)).content == data
    assert site.info("dropped", "big.bin")["chunks"] > 1
    expect(web.status()).to_have_text("2 uploads finished")


def test_edit_description_and_headers(web: Session, site: Gateway) -> None:
    site.create_bucket("notes")
    site.put("notes", "todo.txt", b"buy milk\n")
    page = web.page
    web.goto("#bucket=notes")
    web.row("todo.txt").locator('[data-action="edit"]').click()
    expect(page.locator("#panel-edit")).to_be_visible()
    page.locator("#edit-description").fill("Things to do")
    page.locator("#edit-headers").fill("Content-Type: text/plain\nX-Owner: alice")
    page.locator("#edit-metadata").fill("team=ops")
    page.get_by_role("button", name="Save changes").click()
    expect(web.status()).to_have_text("Saved “todo.txt”")
    info = site.info("notes", "todo.txt")
    assert info["description"] == "Things to do"
    headers = {k.lower(): v for k, v in info["headers"].items()}
    assert headers["x-owner"] == ["alice"]
    assert headers["content-type"] == ["text/plain"]
    assert info["metadata"] == {"team": "ops"}
    page.get_by_role("tab", name="Info").click()
    expect(page.locator("#panel-info")).to_contain_text("X-Owner")
    expect(page.locator("#panel-info")).to_contain_text("Things to do")
    page.keyboard.press("Escape")

    # "Copy link" puts the absolute download URL on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base)
    web.row("todo.txt").get_by_role("button", name="Copy download link of todo.txt").click()
    expect(web.status()).to_have_text("Copied the link to “todo.txt”")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == object_url(site.base, "notes", "todo.txt")
    assert httpx.get(link).content == b"buy milk\n"


def test_changes_made_elsewhere_appear_without_reload(web: Session, site: Gateway, tmp_path: Path) -> None:
    site.create_bucket("inbox")
    page = web.page
    web.goto()
    web.select_bucket("inbox")
    page.evaluate("window.__sameDocument = true")

    upload = tmp_path / "from-cli.txt"
    upload.write_bytes(b"put by the CLI\n")
    orlop_cli("object", "-s", site.nats, "put", "inbox", str(upload), "--no-progress")
    expect(web.row("from-cli.txt")).to_be_visible()
    expect(page.locator("#page-info")).to_have_text(page_range(1, 1, 1))
    expect(page.locator('#buckets-body tr[data-bucket="inbox"] [data-label="Objects"]')).to_have_text("1")

    orlop_cli("object", "-s", site.nats, "rm", "inbox", "from-cli.txt", "-f")
    expect(web.row("from-cli.txt")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True


def test_filter_sort_and_pages(web: Session, site: Gateway) -> None:
    site.create_bucket("many")
    for i in range(120):
        site.put("many", f"item-{i:03d}.bin", b"x" * (i + 1))
    page = web.page
    listings: list[str] = []
    page.on("request", lambda r: listings.append(r.url) if "/objects?" in r.url else None)
    web.goto()

    # Select the bucket with the keyboard.
    page.locator('#buckets-body tr[data-bucket="many"] [data-action="select"]').focus()
    page.keyboard.press("Enter")
    rows = page.locator("#objects-body tr[data-name]")
    expect(rows).to_have_count(50)
    expect(page.locator("#page-info")).to_have_text(page_range(1, 50, 120))
    expect(rows.first).to_have_attribute("data-name", "item-000.bin")

    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-info")).to_have_text(page_range(51, 100, 120))
    expect(rows.first).to_have_attribute("data-name", "item-050.bin")

    # Sorting by size starts with the largest, from the first page.
    page.locator('th[data-sort="size"] button').click()
    expect(page.locator('th[data-sort="size"]')).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#page-info")).to_have_text(page_range(1, 50, 120))
    expect(rows.first).to_have_attribute("data-name", "item-119.bin")
    page.locator('th[data-sort="size"] button').click()
    expect(rows.first).to_have_attribute("data-name", "item-000.bin")

    # A glob, and plain text that matches anywhere in the name.
    page.get_by_label("Filter").fill("*-11?.bin")
    expect(page.locator("#page-info")).to_have_text(page_range(1, 10, 10))
    expect(rows).to_have_count(10)
    page.get_by_label("Filter").fill("m-04")
    expect(page.locator("#page-info")).to_have_text(page_range(1, 10, 10))
    expect(rows.first).to_have_attribute("data-name", "item-040.bin")
    page.get_by_label("Filter").fill("nothing-like-this")
    expect(page.locator("#objects-body")).to_contain_text("No objects match")

    # Every listing asked for one page, never for the whole bucket.
    assert listings
    assert all("limit=50" in url for url in listings), listings


def test_phone_sized_window(phone: Session, site: Gateway, tmp_path: Path) -> None:
    site.create_bucket("mobile", description="Seen on a phone", history=2)
    for name, size in [
        ("photos/beach.jpg", 180_000),
        ("photos/harbour at dusk.jpg", 95_000),
        ("notes.md", 900),
    ]:
        site.put("mobile", name, os.urandom(size))
    page = phone.page
    phone.goto()
    phone.select_bucket("mobile")
    expect(phone.row("notes.md")).to_be_visible()
    save_screenshot(page, tmp_path / "phone.png", full_page=True)
    save_screenshot(page.locator("#buckets-section"), tmp_path / "phone-buckets.png")
    save_screenshot(page.locator("#objects-section"), tmp_path / "phone-objects.png")
    # Nothing wider than the window: no sideways scrolling.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide in a {PHONE['width']}px window"
    phone.row("notes.md").locator('[data-action="info"]').click()
    expect(page.locator("#panel-info")).to_contain_text("notes.md")
    # The dialog is modal: focus is inside it, and Escape gives it back to the row.
    assert page.evaluate("document.getElementById('object-dialog').contains(document.activeElement)")
    save_screenshot(page, tmp_path / "phone-info.png")
    page.keyboard.press("Escape")
    expect(page.locator("#object-dialog")).to_be_hidden()
    assert page.evaluate("document.activeElement.dataset.action") == "info"


def audit_record(second: int, op: str, user: str | None, name: str | None, **extra: object) -> str:
    """One line of the server's audit file (its fixed format)."""
    record = {
        "time": f"2026-12-03T09:45:{second:02d}.123456Z",
        "server": "orlop-1",
        "account": "ACME",
        "user": user,
        "client_id": 5,
        "client_addr": "127.0.0.1:53422",
        "bucket": "audited",
        "object": name,
        "op": op,
        "bytes": None,
        "revision": None,
        "result": "ok",
        "err_code": None,
        "error": None,
        **extra,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def test_object_history_from_the_audit_trail(web: Session, site: Gateway, tmp_path: Path) -> None:
    site.create_bucket("audited", description="Audited reports")
    name = "plans/q4 budget.xlsx"
    site.put("audited", name, os.urandom(48_000))
    with site.audit.open("a", encoding="utf-8") as trail:
        trail.write(audit_record(1, "create_bucket", "alice", None))
        trail.write(audit_record(2, "put", "alice", name, bytes=48_000, revision=2))
        trail.write(audit_record(3, "put", "alice", "plans/other.txt", bytes=10, revision=3))
        trail.write(audit_record(4, "get", "bob", name, bytes=48_000, revision=2))
        trail.write(audit_record(5, "update_meta", "alice", name, bytes=48_000, revision=4))
        trail.write(
            audit_record(
                6, "delete", "mallory", name, result="denied", err_code=10403, error="permissions violation"
            )
        )
        trail.write(audit_record(7, "info", "bob", name, bytes=48_000, revision=4))
    page = web.page
    web.goto("#bucket=audited")
    web.row(name).locator('[data-action="info"]').click()
    history = page.locator("#object-history")
    expect(history).to_be_visible()
    expect(history.locator("h3")).to_have_text("History")
    rows = history.locator("tbody tr")
    expect(rows).to_have_count(5)  # this object's records only, newest first
    assert [rows.nth(i).get_attribute("data-op") for i in range(5)] == [
        "info",
        "delete",
        "update_meta",
        "get",
        "put",
    ]
    denied = rows.nth(1)
    expect(denied.locator('[data-label="Who"]')).to_have_text("mallory (ACME)")
    expect(denied.locator('[data-label="Result"]')).to_have_text("denied 10403 permissions violation")
    expect(denied.locator(".badge")).to_have_text("denied")
    expect(rows.nth(4).locator('[data-label="Size"]')).to_have_text("46.9 KiB")
    expect(rows.nth(4).locator('[data-label="Revision"]')).to_have_text("2")
    history.scroll_into_view_if_needed()
    save_screenshot(page.locator("#object-dialog"), tmp_path / "gateway-history.png")
    # On a phone the rows become cards, and nothing is wider than the window.
    page.set_viewport_size(PHONE)
    history.scroll_into_view_if_needed()
    save_screenshot(page, tmp_path / "gateway-history-phone.png")
    width = page.evaluate("document.getElementById('object-history').scrollWidth")
    assert width <= PHONE["width"], f"the history is {width}px wide in a {PHONE['width']}px window"
    page.set_viewport_size(WIDE)
    page.keyboard.press("Escape")

    # A gateway without an audit file answers 501: the page shows no History section.
    page.route(
        "**/history/**",
        lambda route: route.fulfill(
            status=501,
            content_type="application/json",
            body=json.dumps(
                {"error": {"code": 501, "err_code": 10501, "description": "audit trail not configured"}}
            ),
        ),
    )
    page.reload()
    expect(web.row(name)).to_be_visible()
    web.row(name).locator('[data-action="info"]').click()
    expect(page.locator("#panel-info")).to_contain_text("Metadata")
    expect(history).to_be_hidden()
    expect(web.status()).to_have_text("")
