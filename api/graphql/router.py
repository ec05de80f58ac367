from __future__ import annotations

from fastapi import APIRouter


def graphql_router() -> APIRouter:
    return APIRouter()
