"""Take the README's screenshots of the demo gallery with Playwright and Debian's Chromium.

    .venv/bin/python scripts/screenshot.py        # writes docs/gallery.png and docs/dialogs.png
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.servers import Server  # noqa: E402


def main() -> None:
    out = ROOT / "docs"
    out.mkdir(exist_ok=True)
    server = Server("demos.app:app").start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
            page.goto(server.url + "/")
            expect(page.locator("h1")).to_have_text("stube examples")
            page.screenshot(path=str(out / "gallery.png"), full_page=False)
            page.goto(server.url + "/dialogs")
            page.locator('button:text-is("Yes")').click()
            expect(page.locator("label.stube-label")).to_have_text("What's your name?")
            page.set_viewport_size({"width": 800, "height": 420})
            page.screenshot(path=str(out / "dialogs.png"))
            browser.close()
    finally:
        server.stop()
    print(f"wrote {out / 'gallery.png'} and {out / 'dialogs.png'}")


if __name__ == "__main__":
    main()
