"""The web console (`adaptlab ui`): a server-rendered view of the registry for people: models, versions
with lineage, evaluation figures and model cards, attached comparison reports, the audit log, and
approve / promote / roll back for approvers. Every action goes through the registry's own access
checks; sessions, CSRF and refusals are in sessions.py and guard.py. Documented in docs/console.md."""
