"""``python -m tests.server.counting_server --data DIR [--adapt-delay S] [--store URL]``:
a server process serving the test-double learner, for the kill-and-restart tests
(``server.app.serve`` with in-memory models instead of checkpoints; everything else is
the real server)."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.app import serve
from server.config import ServerConfig
from server.logs import configure_logging
from server.models import ModelRegistry
from tests.server.conftest import CountingLearner, counting_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--adapt-delay", type=float, default=0.0)
    parser.add_argument("--store", default="sqlite", help="sqlite or redis://HOST:PORT[/DB]")
    args = parser.parse_args()
    configure_logging("INFO")
    learner = CountingLearner(("matrix",), adapt_delay_s=args.adapt_delay)
    config = ServerConfig(
        models_dir=args.data / "models",
        data_dir=args.data,
        address="127.0.0.1:0",
        store=args.store,
    )
    serve(config, models=ModelRegistry([counting_model(learner)]))


if __name__ == "__main__":
    main()
