"""`CodeSource`: the configured repositories, scanned on start, on demand and when files
change.

Scans run in a worker thread (parsing is CPU work; the event loop keeps serving) and one
at a time. After each, the source reports the whole code graph as its snapshot: the hub
keeps what did not change and removes what is gone, so a deleted module disappears with
its edges. The watch (watchfiles, debounced) rescans only the changed files. When the
watch cannot run (too many watched folders for the system's inotify limit), the source
says so as its status and keeps scanning on start and on demand.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import watchfiles

from gestalt.model import Connection, Entity, SourceState
from gestalt.model.config.collectors import CodeCollector
from gestalt.sources.base import Sink
from gestalt.sources.code.graph import repository_graph
from gestalt.sources.code.repository import Repository, ScanReport

log = logging.getLogger(__name__)
# Per-file warnings logged per scan at most; all of them are in the scan's answer.
LOGGED_WARNINGS = 20


class CodeSource:
    name = "code"

    def __init__(self, config: CodeCollector) -> None:
        self._config = config
        self.repositories = [Repository(r, max_file_bytes=config.max_file_bytes,
                                        ignore=config.ignore) for r in config.repositories]
        self._lock = asyncio.Lock()
        self._sink: Sink | None = None
        self._watch_problem = ""
        self.reports: dict[str, ScanReport] = {}
        self._scanning: asyncio.Future[list[dict[str, Any]]] | None = None

    async def run(self, sink: Sink) -> None:
        self._sink = sink
        await self.scan()
        if not self._config.watch or not self.repositories:
            await asyncio.Event().wait()
        await self._watch()

    async def scan(self) -> list[dict[str, Any]]:
        """Read every repository again (ScansOnDemand). Asked again while a scan runs,
        the answer is that scan's: requests never queue up scans."""
        if self._scanning is None or self._scanning.done():
            self._scanning = asyncio.ensure_future(self._scan())
        return await asyncio.shield(self._scanning)

    async def _scan(self) -> list[dict[str, Any]]:
        async with self._lock:
            reports = await asyncio.to_thread(lambda: [r.scan() for r in self.repositories])
            self._publish(reports)
        return [_summary(r) for r in reports]

    async def _watch(self) -> None:
        roots = [r.root for r in self.repositories if r.files or r.walk_warnings == []]
        if not roots:
            await asyncio.Event().wait()
        try:
            async for changes in watchfiles.awatch(
                    *roots, debounce=int(self._config.debounce_seconds * 1000), step=20,
                    ignore_permission_denied=True):
                paths = {path for _, path in changes}
                async with self._lock:
                    reports = await asyncio.to_thread(self._rescan, paths)
                    if reports:
                        self._publish(reports)
        except (OSError, RuntimeError) as exc:
            self._watch_problem = f"not watching for changes ({exc}); scans on start and " \
                                  "on demand only"
            log.warning("code: %s", self._watch_problem)
            self._status()
            await asyncio.Event().wait()

    def _rescan(self, paths: set[str]) -> list[ScanReport]:
        reports = []
        for repo in self.repositories:
            report = repo.rescan(paths)
            if report is not None:
                reports.append(report)
        return reports

    def _publish(self, reports: list[ScanReport]) -> None:
        for report in reports:
            self.reports[report.repository] = report
            log.info("code: %s: %d modules, %d imports in %.3f s (%d files parsed), "
                     "%d warnings", report.repository, report.modules, report.imports,
                     report.seconds, report.files_parsed, len(report.warnings))
            for warning in report.warnings[:LOGGED_WARNINGS]:
                log.warning("code: %s", warning)
        entities: list[Entity] = []
        connections: list[Connection] = []
        for repo in self.repositories:
            found, edges = repository_graph(repo)
            entities += found
            connections += edges
        assert self._sink is not None
        self._sink.snapshot(entities, connections)
        self._status()

    def _status(self) -> None:
        assert self._sink is not None
        missing = [r.walk_warnings[0] for r in self.repositories
                   if not r.files and r.walk_warnings]
        problems = [*missing, *([self._watch_problem] if self._watch_problem else [])]
        if problems:
            self._sink.status(SourceState.DEGRADED, "; ".join(problems))
        else:
            self._sink.status(SourceState.OK)


def _summary(report: ScanReport) -> dict[str, Any]:
    return {"repository": report.repository, "modules": report.modules,
            "imports": report.imports, "seconds": round(report.seconds, 3),
            "files_parsed": report.files_parsed, "warnings": report.warnings}
