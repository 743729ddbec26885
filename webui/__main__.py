"""Serve the web UI with waitress: `python -m webui [--host H] [--port P] [--threads N] …`.

TorchServe must already be running (`make serve`); `make run` starts both. Every setting of
webui.config.WebUIConfig is a flag and a WEBUI_* environment variable (`--help` lists them).
"""

from __future__ import annotations

import sys

from webui import create_app
from webui.config import WebUIConfig
from webui.feedback.store import migrate_at_start
from webui.logs import STDERR, configure_logging
from webui.server import serve


def main(argv: list[str] | None = None) -> int:
    try:
        config = WebUIConfig.from_args(argv)
    except ValueError as exc:
        print(f"webui: {exc}", file=sys.stderr)
        return 2
    configure_logging(config)
    app = create_app(config)
    if app.extensions["feedback"].store is not None:
        migrate_at_start(app.extensions["feedback"].store)
    logs = "" if config.log_file == STDERR else f", log in {config.log_file}"
    print(
        f"Web UI on http://{config.host}:{config.port} -> TorchServe {config.torchserve_url}{logs}",
        flush=True,
    )
    try:
        if config.debug:
            app.run(host=config.host, port=config.port, debug=True)
        else:
            serve(app, config)
    except OSError as exc:
        where = f"{config.host}:{config.port}"
        print(f"webui: cannot listen on {where}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
