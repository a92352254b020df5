"""Actions that change infrastructure (chaos experiments): off by default, authenticated
with an operator token, allow-listed, rate-limited and audited. `service.Actions` is the
one way in; `experiments.Experiments` adds a preview and a report around it."""

from gestalt.engine.actions.experiments import Experiments
from gestalt.engine.actions.policy import Refused
from gestalt.engine.actions.service import NATS, ActionRequest, Actions, Caller

__all__ = ["NATS", "ActionRequest", "Actions", "Caller", "Experiments", "Refused"]
