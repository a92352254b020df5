"""The building blocks of configuration sections: bounds carried by the types (checked
by msgspec when the config is read) and the base of every section."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# Bounds carried by the types, checked by msgspec when the config is read.
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
# A listener of a source: port 0 picks a free port.
ListenPort = Annotated[int, msgspec.Meta(ge=0, le=65535)]
# Intervals and timeouts: a zero interval would spin, a negative one makes no sense.
Seconds = Annotated[float, msgspec.Meta(gt=0)]
# Waits that may be zero (no wait).
Wait = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Threshold = Annotated[float, msgspec.Meta(ge=0)]
# The layouts the web UI knows (web/src/app.ts picks its "By namespace" preset for a
# value naming namespaces; anything else is the force layout).
LayoutAlgorithm = Literal["force-directed-3d", "force", "namespace"]

# Durations: seconds, or a string with a unit as Prometheus writes them ("30s", "5m", "4h").
Duration = float | str


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A configuration section: unknown keys are errors, every option keyword-only."""
