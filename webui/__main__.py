"""Serve the web UI with waitress: `python -m webui [--host H] [--port P] [--threads N]`.

TorchServe must already be running (`make serve`); `make run` starts both. Everything else is
configured by WEBUI_* environment variables, listed in --help.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import waitress

from webui import create_app
from webui.config import WebUIConfig, env_help


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"  # loopback only: put a reverse proxy in front to expose it
    port: int = 5000
    threads: int = 4  # waitress worker threads; each waits on TorchServe, so a few suffice
    debug: bool = False  # Flask's development server with reloader and debugger (never in prod)


def parse_args(argv: list[str] | None = None) -> ServeOptions:
    defaults = ServeOptions()
    parser = argparse.ArgumentParser(
        prog="python -m webui",
        description="Serve the digit-recognition web UI (TorchServe must be running).",
        epilog="Environment variables:\n" + env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=defaults.port, help="port to listen on")
    parser.add_argument(
        "--threads", type=int, default=defaults.threads, help="waitress worker threads"
    )
    parser.add_argument(
        "--debug", action="store_true", help="use Flask's development server (local debugging)"
    )
    args = parser.parse_args(argv)
    return ServeOptions(host=args.host, port=args.port, threads=args.threads, debug=args.debug)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = WebUIConfig.from_env()
    except ValueError as exc:
        print(f"webui: {exc}", file=sys.stderr)
        return 2
    app = create_app(config)
    print(f"Web UI on http://{options.host}:{options.port} -> TorchServe {config.torchserve_url}")
    try:
        if options.debug:
            app.run(host=options.host, port=options.port, debug=True)
        else:
            waitress.serve(
                app,
                host=options.host,
                port=options.port,
                threads=options.threads,
                # waitress would spool up to 1 GiB to disk before Flask's own limit answers 413
                # JSON; twice that limit still lets Flask answer, and bounds what is spooled.
                max_request_body_size=2 * config.max_upload_bytes,
            )
    except OSError as exc:
        print(
            f"webui: cannot listen on {options.host}:{options.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
