"""/strategy-types: the registered strategy types (built-ins and installed plugins) with their schemas.

Read from the entry-point registry (`shared.strategy_types`): listing and validating never imports
NautilusTrader or a strategy's code, only its parameter model.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.api.auth import CurrentUser
from services.api.problems import not_found
from services.api.schemas import StrategyTypeOut
from shared.strategy_types import StrategyTypeSpec, registry
from shared.strategy_types.registry import HOST_DISTRIBUTION

router = APIRouter(prefix="/strategy-types", tags=["strategies"])


def out(spec: StrategyTypeSpec) -> StrategyTypeOut:
    return StrategyTypeOut(
        name=spec.name,
        description=spec.description,
        parameters_schema=spec.json_schema(),
        distribution=spec.distribution,
        version=spec.version,
        builtin=spec.distribution == HOST_DISTRIBUTION,
    )


@router.get("", response_model=list[StrategyTypeOut])
async def list_types(user: CurrentUser) -> list[StrategyTypeOut]:
    """Every strategy type `POST /strategies` accepts, with the JSON Schema its `parameters` must match."""
    return [out(spec) for spec in registry().values()]


@router.get("/{name}", response_model=StrategyTypeOut)
async def get_type(name: str, user: CurrentUser) -> StrategyTypeOut:
    spec = registry().get(name)
    if spec is None:
        raise not_found("strategy type", name)
    return out(spec)
