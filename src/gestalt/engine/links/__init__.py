"""Links: how the ends of a connection are found across sources.

- `edges`: each source's edges and the connections they become: an end given as an
  address (`endpoint:ip:port`) resolves to whoever owns the socket; a connection is shown
  while both ends exist.
- `located`: entities a source knows only by the address it dialled (a span's database,
  subject or peer) resolve to the entity another source reports at that place.
- `addresses`: reading `ip:port`, `[v6]:port`, names and loopback.
- `runs_as`: code (the code source's repositories and modules) to the processes,
  containers and pods that run it, each edge naming its evidence.

Links inside one system (owner references, selectors, mounts) are the source's own job.
"""

from gestalt.engine.links.addresses import endpoint_candidates
from gestalt.engine.links.edges import Edges, RawEdgeKey
from gestalt.engine.links.located import Located, View

__all__ = ["Edges", "Located", "RawEdgeKey", "View", "endpoint_candidates"]
