"""`Registry`: the governed registry's Python API, one class assembled from its concerns — tenants and
tokens (tenancy.py), versions (versions.py), governance (governance.py), canaries on aliases (canary.py),
live completions and feedback (feedback.py), the audit log (audit_log.py), artifacts (artifacts.py),
human review sets (reviews.py, over artifacts) and attached comparison reports (reports.py), all sharing the
transactions and lookups of store.py. Every call takes the acting `Principal`; every change is one database
transaction that also appends to the hash-chained audit log (the server's completion records and ratings,
telemetry, are written outside it: see feedback.py)."""

from adaptlab.registry.audit_log import AuditLog
from adaptlab.registry.canary import Canaries
from adaptlab.registry.feedback import CompletionLog
from adaptlab.registry.governance import Governance
from adaptlab.registry.reports import Reports
from adaptlab.registry.reviews import Reviews
from adaptlab.registry.tenancy import Tenancy


class Registry(Tenancy, Governance, Canaries, CompletionLog, AuditLog, Reviews, Reports):
    """Open with `Registry.open(folder, db=URL, blobs=URL)`; close (or use as a context manager) when done."""
