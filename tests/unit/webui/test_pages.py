"""GET / and the static files: a CSP-clean page with everything served locally."""

from __future__ import annotations

import posixpath
import re


def test_index_renders_with_settings(client, config):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-low-confidence="{config.low_confidence}"' in html
    assert f'data-max-upload-bytes="{config.max_upload_bytes}"' in html
    assert 'id="pad"' in html


def test_index_has_no_inline_script_style_or_external_url(client):
    html = client.get("/").get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_controls_are_labelled(client):
    html = client.get("/").get_data(as_text=True)
    assert 'aria-live="polite"' in html
    assert re.search(r'<canvas[^>]*aria-label="[^"]+"', html)
    assert re.search(r'<label[^>]*for="file"', html)


def test_static_assets_are_served(client):
    for name in ("js/main.js", "style.css", "favicon.svg"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.data
        response.close()


# JavaScript MIME types (the common ones of the HTML standard): browsers refuse modules otherwise.
JAVASCRIPT_TYPES = {"text/javascript", "application/javascript", "application/x-javascript"}


def test_page_loads_its_script_as_modules_served_as_javascript(client):
    html = client.get("/").get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all('type="module"' in tag for tag in scripts)
    # Follow every static import, from the page's entry modules down.
    pending = [re.search(r'src="([^"]+)"', tag).group(1) for tag in scripts]
    seen = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype in JAVASCRIPT_TYPES, (url, response.mimetype)
        source = response.get_data(as_text=True)
        response.close()
        for target in re.findall(r'^import\b[^;]*?["\'](\.{1,2}/[^"\']+)["\']', source, re.M):
            pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(url), target)))
    assert len(seen) > 1  # the entry module and what it imports
