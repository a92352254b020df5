"""Alerting: rules over the health checks, the alert lifecycle, blast radius and
notifications (Slack, PagerDuty, webhooks, Alertmanager)."""

from gestalt.engine.alerts.blast import blast_radius
from gestalt.engine.alerts.lifecycle import Change, Lifecycle
from gestalt.engine.alerts.manager import STATE_CHOICES, AlertManager, select_alerts
from gestalt.engine.alerts.rules import Observation, Rule, RuleSet, alert_id, compile_rules

__all__ = ["STATE_CHOICES", "AlertManager", "Change", "Lifecycle", "Observation", "Rule",
           "RuleSet", "alert_id", "blast_radius", "compile_rules", "select_alerts"]
