"""What a strategy plugin registers: a light description of one strategy type.

The spec names the strategy class (a bts_sdk.Strategy) by its dotted path instead of importing it, so
the gateway (and anything else) can list and validate parameter schemas without importing the plugin's
code; the class is imported when a run uses it, or when a sweep asks for its vectorised screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from shared.strategy_types.parameters import StrategyParameters, parse_parameters

NAME_PATTERN: Final = r"^[A-Z][A-Z0-9_]{0,63}$"
CLASS_PATH_PATTERN: Final = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


@dataclass(frozen=True)
class StrategyTypeSpec:
    """One strategy type.

    name:           the `strategy_type` users ask for, e.g. SMA_CROSSOVER (upper case, digits, underscores);
                    it must equal the entry point's name
    parameters:     its pydantic parameter model (a StrategyParameters subclass)
    description:    one or two sentences for people choosing a strategy
    strategy_class: "package.module:ClassName" of the strategy (a subclass of bts_sdk.Strategy),
                    imported only where it runs (the engine) or screens (a sweep's pre-screen)
    distribution / version: the installed package that registered it (filled in by the registry)
    """

    name: str
    parameters: type[StrategyParameters]
    description: str
    strategy_class: str
    distribution: str | None = None
    version: str | None = None

    def validate(self, parameters: Any) -> StrategyParameters:
        """Typed parameters, or ParameterError naming each bad field."""
        return parse_parameters(self.parameters, self.name, parameters)

    def normalized(self, parameters: Any) -> dict[str, Any]:
        """The parameters as JSON values with every default filled in (what a run uses and hashes)."""
        return self.validate(parameters).model_dump(mode="json")

    def json_schema(self) -> dict[str, Any]:
        return self.parameters.model_json_schema()

    def problems(self) -> list[str]:
        """What is wrong with this spec as a registration (empty when it is usable)."""
        found = []
        if not isinstance(self.name, str) or not re.match(NAME_PATTERN, self.name):
            found.append(f"name {self.name!r} must match {NAME_PATTERN}")
        if not (isinstance(self.parameters, type) and issubclass(self.parameters, StrategyParameters)):
            found.append("parameters must be a subclass of bts_sdk.StrategyParameters")
        if not isinstance(self.strategy_class, str) or not re.match(CLASS_PATH_PATTERN, self.strategy_class):
            found.append(f"strategy_class {self.strategy_class!r} must look like 'package.module:ClassName'")
        if not isinstance(self.description, str) or not self.description.strip():
            found.append("description must not be empty")
        return found
