"""Everything a running appliance holds, opened once before the server starts.

The CLI opens these (so a bad database is reported before any port is bound) and hands them to
the app factory; handlers reach them as `request.app.ctx.services`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ojin_local.config import Config
from ojin_local.db import Database, open_database
from ojin_local.domain.assets import Assets, reopen_interrupted_finalizes
from ojin_local.domain.auth import KeyRing
from ojin_local.domain.clock import Clock
from ojin_local.domain.faults import FaultRules
from ojin_local.domain.health import health_report
from ojin_local.domain.idle_video import IdleVideos
from ojin_local.domain.jobs import Jobs
from ojin_local.domain.journal import DatabaseJournal, Journal, RequestJournal
from ojin_local.domain.model_configs import ModelConfigs
from ojin_local.domain.model_variants import VariantCatalog, catalog_entries, sync_catalog
from ojin_local.domain.namespaces import Namespaces
from ojin_local.domain.reloads import Reloads
from ojin_local.domain.reset import reset_state
from ojin_local.domain.seed import load_demo_seed
from ojin_local.domain.time_travel import TimeTravel
from ojin_local.jobs.queue import HueyQueue, open_huey
from ojin_local.jobs.runtime import JobRuntime
from ojin_local.storage import Storage, open_storage

if TYPE_CHECKING:
    from ojin_local.jobs.consumer import EmbeddedConsumer


@dataclass
class Services:
    config: Config
    db: Database
    keys: KeyRing
    variants: VariantCatalog
    model_configs: ModelConfigs
    storage: Storage
    assets: Assets
    queue: HueyQueue
    jobs: Jobs
    idle_videos: IdleVideos
    job_runtime: JobRuntime
    clock: Clock
    time_travel: TimeTravel
    namespaces: Namespaces
    faults: FaultRules
    journal: Journal
    reloads: Reloads
    consumer: EmbeddedConsumer | None = None
    supervisor_status: Path | None = None  # an API process of `serve --processes N`

    def start_consumer(self) -> None:
        """Run jobs in this process: first put back what a stopped consumer left behind."""
        from ojin_local.jobs.consumer import start_embedded

        self.job_runtime.recover()
        self.consumer = start_embedded(self.queue.huey, self.config.jobs)

    def health_report(self) -> dict[str, Any]:
        """Blocking: see domain.health."""
        from ojin_local.supervisor import read_status

        return {
            **health_report(self.db, self.storage, self.queue, self.config.jobs, self.consumer),
            "processes": read_status(self.supervisor_status),
        }

    def reset(self) -> None:
        """Blocking: back to the seed state, with no fault rules, an empty journal and every
        clock at real time. Namespaces and their keys stay (keys are access, not data)."""
        reset_state(
            self.db, self.storage, self.queue, self.variants, self.config.organizations.template
        )
        self.db.write_sync(self.clock.reset_all)
        self.db.write_sync(self.faults.clear)
        self.journal.clear()

    def export_state(self, target: Path) -> dict[str, Any]:
        """Blocking: the snapshot archive (see domain.snapshot) written to `target`."""
        from ojin_local.domain.snapshot import export_snapshot  # tarfile: 4 ms of every start

        return export_snapshot(self.db, self.storage, target)

    def import_state(self, archive: Path) -> dict[str, Any]:
        """Blocking: check the archive, then replace the state with it; ValidationError (and
        nothing changed) if it is not a usable snapshot. The variant catalog stays this
        server's (it comes from its config)."""
        from ojin_local.domain.snapshot import import_snapshot, read_snapshot

        with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".import-") as scratch:
            snapshot = read_snapshot(archive, Path(scratch))
            manifest = import_snapshot(self.db, self.storage, self.queue, snapshot)
        self.db.write_sync(sync_catalog, catalog_entries(self.config.model_variants))
        self.db.write_sync(self.faults.clear)  # and every process reloads its clocks
        self.journal.clear()
        self.job_runtime.recover()  # the snapshot's queued jobs go on the queue
        return manifest

    def close(self) -> None:
        """Jobs in flight finish before the database closes under them."""
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
        self.queue.huey.storage.close()
        self.db.close()


def open_services(config: Config, fresh_start: bool = False) -> Services:
    """Open the data dir: migrate, load the variant catalog and, on first start, the demo seed.
    `fresh_start` (the command that starts the server): no fault rules or journal entries are
    left from an earlier run."""
    entries = catalog_entries(config.model_variants)
    db = open_database(config)
    db.write_sync(sync_catalog, entries)
    variants = VariantCatalog.load()
    template = config.organizations.template
    storage = open_storage(config)
    load_demo_seed(db, storage, variants, template)
    db.write_sync(reopen_interrupted_finalizes)
    assets = Assets(db, storage, template, config.storage.presign_expires_seconds)
    queue = HueyQueue(open_huey(config))
    jobs = Jobs(db, queue)
    clock = Clock()
    faults = FaultRules()
    # Several API processes keep one journal; one keeps it in its memory, off the database.
    journal: Journal = DatabaseJournal(db) if config.server.processes > 1 else RequestJournal()
    if fresh_start:
        db.write_sync(faults.clear)
        journal.clear()
    reloads = Reloads(clock.load, faults.load)
    reloads.refresh()
    job_runtime = JobRuntime(config, queue, db, clock, storage)
    return Services(
        config=config,
        db=db,
        keys=KeyRing(config.api_keys),
        variants=variants,
        model_configs=ModelConfigs(db, variants, template),
        storage=storage,
        assets=assets,
        queue=queue,
        jobs=jobs,
        idle_videos=IdleVideos(jobs, assets, config.jobs.idle_video_delay_seconds),
        job_runtime=job_runtime,
        clock=clock,
        time_travel=TimeTravel(db, clock, queue, job_runtime.collect_garbage),
        namespaces=Namespaces(db, storage, clock, journal),
        faults=faults,
        journal=journal,
        reloads=reloads,
    )
