"""Alert rules, promtool style: series in expanding notation go in, the alerts expected at
given evaluation times come out. The clock is the evaluation time; nothing sleeps.

Notation (as in promtool's unit tests): `a+bxn` is n+1 values starting at a, stepping by
b; `axn` is a, n+1 times; `_` is no sample (the metric is missing); `stale` is a sample
whose source is down.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gestalt.engine.alerts import Lifecycle, RuleSet, blast_radius, compile_rules
from gestalt.engine.alerts.rules import CLEAR, GONE, NO_DATA, UNSEEN
from gestalt.engine.store import Store
from gestalt.model import (
    Alert,
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    Severity,
    SourceState,
    SourceStatus,
)
from gestalt.model.config import AlertRule, AlertsConfig, ConfigError, HealthConfig
from gestalt.sources.docker.api import ContainerInspect
from gestalt.sources.docker.entities import container

STALE = "stale"
POD = "pod:c1/shop/api-1"
FIXTURES = Path(__file__).parent.parent / "fixtures"


_TERM = re.compile(r"^(-?[\d.]+)(?:([+-])([\d.]+))?(?:x(\d+))?$")


def series(spec: str) -> list[float | str | None]:
    out: list[float | str | None] = []
    for term in spec.split():
        if term in ("_", STALE):
            out.append(None if term == "_" else STALE)
            continue
        match = _TERM.match(term)
        assert match, f"bad series term {term!r}"
        start, sign, step, count = match.groups()
        delta = float(step or 0) * (-1 if sign == "-" else 1)
        out.extend(float(start) + i * delta for i in range(int(count or 0) + 1))
    return out


def test_series_notation() -> None:
    assert series("1+2x3 _ stale 5x1 9-3x2") == [1, 3, 5, 7, None, STALE, 5, 5, 9, 6, 3]


class Harness:
    """Evaluates rules over one pod whose fields follow the given series."""

    def __init__(self, *rules: AlertRule, interval: float = 60.0) -> None:
        self.rules = RuleSet(compile_rules(AlertsConfig(rules=list(rules)), HealthConfig()))
        self.lifecycle = Lifecycle(resolved_retention=300)
        self.interval = interval

    def run(self, fields: dict[str, str], *, base: dict[str, Any] | None = None,
            sources: list[str] | None = None, steps: int = 0) -> list[dict[str, tuple[str, str]]]:
        """Per evaluation step, {alertname: (state, severity)} of the pod's alerts."""
        values = {name: series(spec) for name, spec in fields.items()}
        steps = max([steps, *(len(v) for v in values.values())])
        timeline = []
        last_ok: dict[str, float] = {}
        for step in range(steps):
            now = step * self.interval
            kw: dict[str, Any] = {"status": EntityStatus.RUNNING, **(base or {})}
            stale = False
            for name, points in values.items():
                value = points[step] if step < len(points) else points[-1]
                if value == STALE:
                    stale = True
                elif value is not None:
                    kw[name] = value
            pod = Entity(id=POD, kind=EntityKind.POD, name="api-1", namespace="shop",
                         stale=stale, **kw)
            statuses = []
            for s, st in zip(sources or [], _states(sources, step), strict=True):
                if st == "ok":
                    last_ok[s] = now  # as the hub does
                statuses.append(SourceStatus(name=s, state=SourceState(st),
                                             last_ok=last_ok.get(s)))
            observations = self.rules.observe([pod], [], statuses, now)
            subjects: dict[str, Any] = {POD: pod, **{f"source:{s.name}": s for s in statuses}}
            self.lifecycle.apply(now, observations,
                                 lambda alert, subjects=subjects, now=now: self.rules.verdict(
                                     alert.rule, subjects[alert.entity_id], now))
            timeline.append({a.rule: (a.state, a.severity.value)
                             for a in self.lifecycle.alerts.values()})
        return timeline


def _states(sources: list[str] | None, step: int) -> list[str]:
    return [s.split("@")[1].split()[step] if "@" in s else "ok" for s in sources or []]


def cpu_rule(**kw: Any) -> AlertRule:
    return AlertRule(name="HighCpu", check="cpu", **kw)


def test_pending_then_firing_after_for_then_resolved() -> None:
    timeline = Harness(cpu_rule(for_="2m")).run({"cpu_percent": "50 95x3 50x1"})
    assert timeline == [
        {},
        {"HighCpu": ("pending", "critical")},
        {"HighCpu": ("pending", "critical")},
        {"HighCpu": ("firing", "critical")},  # held for 2m
        {"HighCpu": ("firing", "critical")},
        {"HighCpu": ("resolved", "critical")},
        {"HighCpu": ("resolved", "critical")},  # listed until resolved_retention
    ]


def test_a_blip_shorter_than_for_never_fires() -> None:
    timeline = Harness(cpu_rule(for_="2m")).run({"cpu_percent": "50 95 95 50 50"})
    assert [t.get("HighCpu") for t in timeline] == [
        None, ("pending", "critical"), ("pending", "critical"), None, None]


def test_stale_is_unknown_never_resolved_and_comes_back_firing() -> None:
    harness = Harness(cpu_rule())
    timeline = harness.run({"cpu_percent": "95x2 stale stale 95 50"})
    assert [t["HighCpu"][0] for t in timeline] == [
        "firing", "firing", "firing", "unknown", "unknown", "firing", "resolved"]
    alert = next(iter(harness.lifecycle.alerts.values()))
    assert alert.started_at == 0  # the same incident throughout


def test_coming_back_from_unknown_is_not_a_new_firing() -> None:
    # A source that recovers must not put a second AlertFiring in the feed (nor page):
    # the alert fired once; coming back is "returned", which nobody is told about.
    rules = RuleSet(compile_rules(AlertsConfig(rules=[cpu_rule()]), HealthConfig()))
    lifecycle = Lifecycle()
    hot = Entity(id=POD, kind=EntityKind.POD, name="api-1", status=EntityStatus.RUNNING,
                 cpu_percent=95.0)
    stale = Entity(id=POD, kind=EntityKind.POD, name="api-1", status=EntityStatus.RUNNING,
                   cpu_percent=95.0, stale=True)
    whats = []
    for now, pod in enumerate([hot, stale, hot, hot]):
        changes = lifecycle.apply(float(now), rules.observe([pod], [], [], float(now)),
                                  lambda alert, pod=pod, now=now: rules.verdict(
                                      alert.rule, pod, float(now)))
        whats.append([c.what for c in changes])
    assert whats == [["firing"], ["unknown"], ["returned"], []]


def test_pending_alert_stays_pending_through_an_outage() -> None:
    timeline = Harness(cpu_rule(for_="3m")).run({"cpu_percent": "95 stale 95 95"})
    assert [t["HighCpu"][0] for t in timeline] == ["pending", "unknown", "pending", "firing"]


def test_severity_follows_the_check_and_escalates_in_place() -> None:
    harness = Harness(cpu_rule())
    timeline = harness.run({"cpu_percent": "75 95 75"})
    assert [t["HighCpu"] for t in timeline] == [
        ("firing", "warning"), ("firing", "critical"), ("firing", "warning")]
    assert len(harness.lifecycle.alerts) == 1


def test_critical_only_rule_ignores_warnings() -> None:
    timeline = Harness(cpu_rule(severity="critical")).run({"cpu_percent": "75 80 95"})
    assert [t.get("HighCpu") for t in timeline] == [None, None, ("firing", "critical")]


def test_missing_data_never_resolves() -> None:
    # No CPU sample (the first stats sample after a restart has no CPU yet) says nothing:
    # the alert stays firing until a value says the condition is gone.
    timeline = Harness(cpu_rule()).run({"cpu_percent": "95 _ _ 50"})
    assert [t["HighCpu"][0] for t in timeline] == ["firing", "firing", "firing", "resolved"]


def test_a_pending_alert_without_data_waits_and_does_not_fire() -> None:
    timeline = Harness(cpu_rule(for_="2m")).run({"cpu_percent": "95 _ _ _ 50"})
    assert [t.get("HighCpu", ("-",))[0] for t in timeline] == [
        "pending", "pending", "pending", "pending", "-"]


def test_an_exited_container_is_not_busy() -> None:
    # Its last CPU sample stays on the entity: history, not load.
    rules = RuleSet(compile_rules(AlertsConfig(rules=[cpu_rule()]), HealthConfig()))
    lifecycle = Lifecycle()
    busy = Entity(id="container:abc", kind=EntityKind.CONTAINER, name="web",
                  status=EntityStatus.RUNNING, cpu_percent=95.0)
    exited = msgspec.structs.replace(busy, status=EntityStatus.EXITED)
    states = []
    for now, ctr in enumerate([busy, exited]):
        lifecycle.apply(float(now), rules.observe([ctr], [], [], float(now)),
                        lambda alert, ctr=ctr, now=now: rules.verdict(alert.rule, ctr,
                                                                      float(now)))
        states.append([a.state for a in lifecycle.alerts.values()])
    assert states == [["firing"], ["resolved"]]


def test_rule_thresholds_override_the_check() -> None:
    timeline = Harness(cpu_rule(warning=0.4, critical=0.6)).run({"cpu_percent": "30 50 70"})
    assert [t.get("HighCpu") for t in timeline] == [
        None, ("firing", "warning"), ("firing", "critical")]


def test_labels_and_kinds_and_label_matchers() -> None:
    harness = Harness(cpu_rule(labels={"team": "shop"}, match_labels={"app": "api"}),
                      AlertRule(name="NodeCpu", check="cpu", kinds=["node"]))
    timeline = harness.run({"cpu_percent": "95"}, base={"labels": {"app": "api"}})
    assert set(timeline[0]) == {"HighCpu"}
    alert = next(iter(harness.lifecycle.alerts.values()))
    assert alert.labels["team"] == "shop" and alert.labels["alertname"] == "HighCpu"
    assert alert.labels["namespace"] == "shop" and alert.labels["kind"] == "pod"
    other = Harness(cpu_rule(match_labels={"app": "web"}))
    assert other.run({"cpu_percent": "95"}, base={"labels": {"app": "api"}}) == [{}]


def test_pod_pending_too_long_fires_on_time() -> None:
    harness = Harness(AlertRule(name="PodPending", check="pending", for_="30s"),
                      interval=30)
    timeline = harness.run({}, base={"status": EntityStatus.PENDING, "created_at": 0.0},
                           steps=7)
    # pending check: warning from 60 s pending; the rule then holds for 30 s.
    assert [t.get("PodPending", ("-",))[0] for t in timeline] == [
        "-", "-", "pending", "firing", "firing", "firing", "firing"]


def test_source_down_fires_after_for_and_resolves() -> None:
    harness = Harness(AlertRule(name="SourceDown", check="source_down", for_="1m"))
    timeline = harness.run({"cpu_percent": "10x4"},
                           sources=["docker@ok down down down ok"])
    assert [t.get("SourceDown", ("-",))[0] for t in timeline] == [
        "-", "pending", "firing", "firing", "resolved"]


def test_a_source_that_never_worked_does_not_page() -> None:
    # No cluster configured, no NATS on this machine: shown in /api/infra/health, not paged.
    harness = Harness(AlertRule(name="SourceDown", check="source_down", for_="1m"))
    timeline = harness.run({"cpu_percent": "10x4"}, sources=["nats@down down down down down"])
    assert all("SourceDown" not in t for t in timeline)


def test_default_rules_are_one_per_check() -> None:
    rules = compile_rules(AlertsConfig(), HealthConfig())
    assert {r.name for r in rules} >= {"crash_loop", "oom_killed", "pool_saturation",
                                       "source_down"}
    cpu = next(r for r in rules if r.name == "cpu")
    assert cpu.for_seconds == 60 and cpu.warning == 0.7 and cpu.critical == 0.9


@pytest.mark.parametrize(("rule", "key"), [
    (AlertRule(name="x", check="nope"), "alerts.rules[0].check"),
    (AlertRule(name="x", check="cpu", severity="page"), "alerts.rules[0].severity"),
    (AlertRule(name="x", check="cpu", for_="soon"), "alerts.rules[0].for"),
    (AlertRule(name="x", check="cpu", kinds=["toaster"]), "alerts.rules[0].kinds"),
])
def test_bad_rules_name_the_key(rule: AlertRule, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        compile_rules(AlertsConfig(rules=[rule]), HealthConfig())


def test_rules_load_from_yaml_with_for() -> None:
    raw = {"rules": [{"name": "HighCpu", "check": "cpu", "for": "5m",
                      "labels": {"team": "ops"}}]}
    config = msgspec.convert(raw, AlertsConfig, strict=True)
    assert compile_rules(config, HealthConfig())[0].for_seconds == 300


# -- restart --------------------------------------------------------------------------

def restored(lifecycle: Lifecycle, **kw: Any) -> Alert:
    alert = Alert(id="a1", rule="HighCpu", entity_id=POD, severity=Severity.CRITICAL,
                  state="firing", message="", started_at=0, updated_at=0,
                  sources=["kubernetes"], **kw)
    lifecycle.restore(alert)
    return alert


def test_a_restored_alert_stays_firing_until_its_subject_is_judged() -> None:
    lifecycle = Lifecycle(hold_until=100.0)
    alert = restored(lifecycle)
    # The sources have not reported yet: nothing to say, nothing changes.
    assert lifecycle.apply(50.0, [], lambda _a: UNSEEN) == []
    assert alert.state == "firing"
    # The subject is back but its check has no value yet (a trend needs a few polls).
    assert lifecycle.apply(60.0, [], lambda _a: NO_DATA) == []
    assert lifecycle.apply(160.0, [], lambda _a: NO_DATA) == []
    assert alert.state == "firing"
    # Judged, and the condition is gone: resolved now.
    assert [c.what for c in lifecycle.apply(170.0, [], lambda _a: CLEAR)] == ["resolved"]


def test_a_restored_alert_whose_source_never_reports_is_unknown_not_resolved() -> None:
    lifecycle = Lifecycle(hold_until=100.0)
    alert = restored(lifecycle)
    lifecycle.apply(50.0, [], lambda _a: UNSEEN)
    assert alert.state == "firing"
    assert [c.what for c in lifecycle.apply(120.0, [], lambda _a: UNSEEN)] == ["unknown"]
    assert lifecycle.apply(500.0, [], lambda _a: UNSEEN) == []
    assert alert.state == "unknown"
    # The source reports at last, without the subject: it is gone.
    assert [c.what for c in lifecycle.apply(510.0, [], lambda _a: GONE)] == ["resolved"]


def test_a_restored_alert_of_a_subject_gone_is_resolved_after_the_grace() -> None:
    lifecycle = Lifecycle(hold_until=100.0)
    alert = restored(lifecycle)
    assert lifecycle.apply(50.0, [], lambda _a: GONE) == []
    lifecycle.apply(120.0, [], lambda _a: GONE)
    assert alert.state == "resolved" and alert.resolved_at == 120.0


def test_restored_pending_unknown_alert_is_dropped_not_resolved() -> None:
    lifecycle = Lifecycle(hold_until=0.0)
    alert = Alert(id="a1", rule="HighCpu", entity_id=POD, severity=Severity.WARNING,
                  state="unknown", message="", started_at=0, updated_at=0)
    lifecycle.restore(alert, prior="pending")
    changes = lifecycle.apply(10.0, [], lambda _a: CLEAR)
    assert [c.what for c in changes] == ["dropped"] and not lifecycle.alerts


# -- blast radius ---------------------------------------------------------------------

def ent(eid: str, kind: EntityKind) -> Entity:
    return Entity(id=eid, kind=kind, name=eid.split(":")[-1])


def edge(src: str, dst: str, kind: ConnectionKind) -> Connection:
    return Connection(source_id=src, target_id=dst, kind=kind)


def test_blast_radius_follows_dependencies() -> None:
    store = Store()
    store.apply(
        upserts=[ent("ns:shop", EntityKind.NAMESPACE), ent("svc:api", EntityKind.SERVICE),
                 ent("pod:a", EntityKind.POD), ent("pod:b", EntityKind.POD),
                 ent("ctr:a", EntityKind.CONTAINER), ent("node:n1", EntityKind.NODE),
                 ent("ing:web", EntityKind.INGRESS), ent("subj:orders", EntityKind.NATS_SUBJECT),
                 ent("cons:billing", EntityKind.NATS_CONSUMER),
                 ent("db:main", EntityKind.DATABASE), ent("proc:app", EntityKind.PROCESS)],
        edge_upserts=[edge("ns:shop", "svc:api", ConnectionKind.OWNS),
                      edge("svc:api", "pod:a", ConnectionKind.NETWORK),
                      edge("svc:api", "pod:b", ConnectionKind.NETWORK),
                      edge("pod:a", "ctr:a", ConnectionKind.OWNS),
                      edge("pod:a", "node:n1", ConnectionKind.DEPENDS),
                      edge("pod:b", "node:n1", ConnectionKind.DEPENDS),
                      edge("ing:web", "svc:api", ConnectionKind.HTTP),
                      edge("subj:orders", "cons:billing", ConnectionKind.NATS),
                      edge("proc:app", "db:main", ConnectionKind.NETWORK)])
    # service -> its pods (and who calls it); never the namespace.
    assert set(blast_radius(store, "svc:api", depth=1)) == {"pod:a", "pod:b", "ing:web"}
    # node -> the pods on it (they depend on it), then what those pods carry.
    assert set(blast_radius(store, "node:n1", depth=1)) == {"pod:a", "pod:b"}
    assert "ctr:a" in blast_radius(store, "node:n1")
    # a pod does not take its node down.
    assert "node:n1" not in blast_radius(store, "pod:a", depth=1)
    assert blast_radius(store, "subj:orders") == ["cons:billing"]
    assert blast_radius(store, "db:main") == ["proc:app"]
    # an edge's alert starts from both ends.
    assert set(blast_radius(store, "http:ing:web->svc:api", depth=0)) == {"ing:web", "svc:api"}
    assert len(blast_radius(store, "svc:api", limit=2)) == 2


def test_containers_sharing_a_docker_network_do_not_harm_each_other() -> None:
    # Eleven containers on one network (as every standalone container is on `bridge`):
    # trouble in one is not trouble in the others. A call between two of them is.
    raw = json.loads((FIXTURES / "docker" / "container_inspect.json").read_text())
    net = Entity(id="network:docker/host/gfx-net", kind=EntityKind.NETWORK, name="gfx-net")
    store = Store()
    store.apply(upserts=[net])
    ids = []
    for i in range(11):
        inspect = msgspec.convert({**raw, "Id": f"{i:02d}" + raw["Id"][2:],
                                   "Name": f"/app-{i}"}, ContainerInspect)
        entity, edges = container(inspect, engine="host", local=False)
        assert net.id in [e.target_id for e in edges]
        ids.append(entity.id)
        store.apply(upserts=[entity], edge_upserts=edges)
    assert len(store.edges_of(net.id)) == 11
    assert blast_radius(store, ids[0]) == []
    store.apply(edge_upserts=[edge(ids[1], ids[0], ConnectionKind.HTTP)])
    assert blast_radius(store, ids[0]) == [ids[1]]


def test_a_moving_value_refreshes_the_message_without_a_change() -> None:
    rules = RuleSet(compile_rules(AlertsConfig(rules=[AlertRule(name="PodPending",
                                                                 check="pending")]),
                                  HealthConfig()))
    lifecycle = Lifecycle()
    pending = Entity(id=POD, kind=EntityKind.POD, name="api-1", status=EntityStatus.PENDING,
                     created_at=0.0)
    first = lifecycle.apply(100.0, rules.observe([pending], [], [], 100.0), lambda _a: CLEAR)
    assert [c.what for c in first] == ["firing"]
    later = lifecycle.apply(130.0, rules.observe([pending], [], [], 130.0), lambda _a: CLEAR)
    assert later == []  # nothing to persist or notify
    alert = lifecycle.alerts[first[0].alert.id]
    assert alert.message == "pending for 130 s (not scheduled or not started)"
    assert alert.updated_at == 100.0
