"""GET / and the static files: a CSP-clean page with everything served locally."""

from __future__ import annotations

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
    for name in ("app.js", "style.css", "favicon.svg"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.data
        response.close()
