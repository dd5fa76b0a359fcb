"""A tickwork worker process for the NATS trigger tests.

    python worker.py --servers nats://127.0.0.1:4222 --name w1 --events /tmp/events \
        [--store nats|<SQLAlchemy URL>] [--ack-wait 3]

It runs one scheduler (NATS trigger, NATS KV store unless ``--store`` names a SQL URL)
until SIGTERM, and appends one JSON line per handler start and end to
``<events>/<name>.jsonl`` (flushed at once, so a SIGKILL loses nothing written). A
job whose metadata has ``sleep`` sleeps that many seconds in its handler. It prints
``ready`` on stdout once the scheduler runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tickwork import AsyncScheduler, JobEvent
from tickwork_nats_trigger import NATSTrigger, create_nats_scheduler


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--events", required=True, type=Path)
    parser.add_argument("--store", default="nats")
    parser.add_argument("--ack-wait", type=float, default=3.0)
    parser.add_argument("--replicas", type=int, default=1)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {args.name} %(name)s %(levelname)s %(message)s",
    )
    events = (args.events / f"{args.name}.jsonl").open("a", buffering=1)

    def log(kind: str, event: JobEvent, **extra: Any) -> None:
        line = {
            "kind": kind,
            "worker": args.name,
            "pid": os.getpid(),
            "job": event.id,
            "scheduled_at": event.scheduled_at.isoformat(),
            "at": time.time(),
            **extra,
        }
        events.write(json.dumps(line) + "\n")

    async def handler(event: JobEvent) -> None:
        log("start", event)
        pause = float(event.metadata.get("sleep", "0"))
        if pause:
            await asyncio.sleep(pause)
        log("end", event)

    options: dict[str, Any] = {
        "ack_wait": args.ack_wait,
        "reconciler_interval": 2.0,
        "reconciler_grace_period": 10.0,
        "replicas": args.replicas,
    }
    scheduler: AsyncScheduler
    if args.store == "nats":
        scheduler = create_nats_scheduler(
            args.servers.split(","), handler, worker_id=args.name, **options
        )
    else:
        trigger = NATSTrigger(args.servers.split(","), **options)
        scheduler = AsyncScheduler(args.store, handler, trigger=trigger, worker_id=args.name)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await scheduler.start()
    print("ready", flush=True)
    await stop.wait()
    await scheduler.stop(timeout=10)
    events.close()


if __name__ == "__main__":
    asyncio.run(main(parse_args(sys.argv[1:])))
