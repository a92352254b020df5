"""The version of the change log's JSON schema (model/changes.py), written as `"schema"` into
every document of the log: deltas, metrics frames and events. Bump it when a change to
those documents would make an older reader misread them."""

SCHEMA_VERSION = 1
