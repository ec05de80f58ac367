"""REST command endpoints under /api/v1: the contract's commands, for integrations.

One sub-router per resource (topics, transfers, research, deliberations, tasks,
leadership, feedback), all built from the table in `api.rest.routes`.
"""

from __future__ import annotations

from api.rest.audit import router as audit_router
from api.rest.batch import batch_router
from api.rest.plans import router as plans_router
from api.rest.reads import router as reads_router
from api.rest.routes import rest_router

router = rest_router()
router.include_router(batch_router())  # POST /topics:batch
router.include_router(audit_router)  # the auditors' reads (issue 6)
router.include_router(plans_router)  # the plan as issued: .xlsx and CSV (issue 20)
router.include_router(reads_router)  # GET inbox and timeline (issue 21)
