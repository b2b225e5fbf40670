"""Strategy types from entry points: the built-ins, a plugin installed on sys.path, and plugins that are
broken in each way an operator could break one (left out with the reason; the rest keeps working)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.engine.domain.errors import StrategyUnavailable
from services.engine.domain.strategy_loader import resolve_strategy
from shared.contracts.models import StrategyType, TradingStrategy
from shared.strategy_types import (
    ENTRY_POINT_GROUP,
    ParameterError,
    registry,
    registry_problems,
    reload_registry,
    validate_parameters,
)

PLUGIN = """
from pydantic import Field
from bts_sdk import Strategy, StrategyParameters, StrategyTypeSpec


class BandParameters(StrategyParameters):
    width: float = Field(gt=0, le=5)


class Band(Strategy[BandParameters]):
    def on_bar(self, bar):
        return 1 if bar.close > self.parameters.width else 0


def spec(name, strategy_class="fake_band_plugin:Band"):
    return StrategyTypeSpec(name=name, parameters=BandParameters, description="a test band",
                            strategy_class=strategy_class)


BAND = spec("BAND")
MISNAMED = spec("SOMETHING_ELSE")
NOT_A_SPEC = {"name": "NOT_A_SPEC"}
LOWER = spec("lower")
SMA_CROSSOVER = spec("SMA_CROSSOVER")
NOT_A_SIGNAL_STRATEGY = spec("NOT_A_SIGNAL_STRATEGY", "collections:OrderedDict")
MISSING_CLASS = spec("MISSING_CLASS", "fake_band_plugin:Nope")
"""

ENTRY_POINTS = {
    "BAND": "fake_band_plugin:BAND",
    "MISNAMED": "fake_band_plugin:MISNAMED",
    "NOT_A_SPEC": "fake_band_plugin:NOT_A_SPEC",
    "lower": "fake_band_plugin:LOWER",
    "SMA_CROSSOVER": "fake_band_plugin:SMA_CROSSOVER",
    "NOT_A_SIGNAL_STRATEGY": "fake_band_plugin:NOT_A_SIGNAL_STRATEGY",
    "MISSING_CLASS": "fake_band_plugin:MISSING_CLASS",
    "BROKEN": "fake_broken_plugin:SPEC",
}


@pytest.fixture
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution on sys.path, as an installer would leave it: modules plus a dist-info with entry points."""
    (tmp_path / "fake_band_plugin.py").write_text(PLUGIN)
    (tmp_path / "fake_broken_plugin.py").write_text("raise ImportError('a dependency of the plugin is missing')\n")
    info = tmp_path / "fake_band_plugin-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-band-plugin\nVersion: 1.2\n")
    lines = "\n".join(f"{name} = {value}" for name, value in ENTRY_POINTS.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reload_registry()
    yield
    monkeypatch.undo()
    for module in ("fake_band_plugin", "fake_broken_plugin"):
        sys.modules.pop(module, None)
    reload_registry()


def test_the_builtins_register_through_bts_entry_points() -> None:
    builtins = {name: spec for name, spec in registry().items() if spec.distribution == "bts"}
    assert set(builtins) == {t.value for t in StrategyType}  # the data model's enum values, unchanged
    for spec in builtins.values():
        assert spec.strategy_class.startswith("bts_sdk.builtin.")  # written with the SDK, like a plugin
        assert spec.json_schema()["additionalProperties"] is False
    assert registry_problems() == ()


def test_listing_and_validating_import_no_nautilus_and_no_service() -> None:
    code = textwrap.dedent("""
        import sys
        from shared.strategy_types import registry
        for spec in registry().values():
            spec.json_schema()
        registry()["SMA_CROSSOVER"].validate({"fast_period": 5, "slow_period": 20})
        loaded = [m for m in sys.modules if m.startswith(("nautilus_trader", "services"))]
        sys.exit(f"imported: {loaded[:5]}" if loaded else 0)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.usefixtures("plugin_installed")
def test_an_installed_plugin_appears_and_broken_ones_are_left_out_with_the_reason() -> None:
    band = registry()["BAND"]
    assert (band.distribution, band.version) == ("fake-band-plugin", "1.2")
    assert registry()["SMA_CROSSOVER"].distribution == "bts"  # the host's own wins a name clash
    for name in ("MISNAMED", "SOMETHING_ELSE", "NOT_A_SPEC", "lower", "BROKEN"):
        assert name not in registry()
    problems = "\n".join(registry_problems())
    assert "MISNAMED = fake_band_plugin:MISNAMED of fake-band-plugin 1.2: the entry point's name must equal" in problems
    assert "NOT_A_SPEC = fake_band_plugin:NOT_A_SPEC of fake-band-plugin 1.2: is a dict, not a StrategyTypeSpec" in (
        problems
    )
    assert "name 'lower' must match" in problems
    assert "SMA_CROSSOVER is already registered by bts; ignored" in problems
    assert "cannot be loaded: ImportError: a dependency of the plugin is missing" in problems


@pytest.mark.usefixtures("plugin_installed")
def test_parameters_of_a_plugin_type_are_validated_by_its_model() -> None:
    assert validate_parameters("BAND", {"width": 2}).model_dump() == {"width": 2.0, "allow_short": False}
    with pytest.raises(ParameterError) as info:
        validate_parameters("BAND", {"width": 9, "height": 1})
    assert dict(info.value.errors) == {
        "parameters.width": "Input should be less than or equal to 5",
        "parameters.height": "unknown parameter for BAND; expected: allow_short, width",
    }


def test_an_unregistered_type_is_named_with_the_registered_ones() -> None:
    with pytest.raises(ParameterError) as info:
        validate_parameters("SMA_CROSS", {"fast_period": 5})
    [(field, message)] = info.value.errors
    assert field == "strategy_type"
    assert message == ("strategy type 'SMA_CROSS' is not registered; registered: " + ", ".join(sorted(registry())))


NOW = datetime(2024, 1, 2, tzinfo=UTC)


def _strategy(strategy_type: str, parameters: dict[str, object], **context: object) -> TradingStrategy:
    data = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "name": "s",
        "strategy_type": strategy_type,
        "parameters": parameters,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return TradingStrategy.model_validate(data, context=context or None)


@pytest.mark.usefixtures("plugin_installed")
def test_a_strategy_of_a_plugin_type_normalizes_its_parameters() -> None:
    assert _strategy("BAND", {"width": 1}).parameters == {"width": 1.0, "allow_short": False}


def test_a_stored_strategy_whose_plugin_is_gone_stays_readable_but_not_valid_as_new() -> None:
    stored = _strategy("GONE_PLUGIN", {"width": 1}, stored=True)
    assert stored.parameters == {"width": 1}
    with pytest.raises(ValidationError, match="strategy type 'GONE_PLUGIN' is not registered"):
        _strategy("GONE_PLUGIN", {"width": 1})


@pytest.mark.usefixtures("plugin_installed")
@pytest.mark.parametrize(
    ("strategy_type", "parameters", "message"),
    [
        ("NOPE", {"width": 1}, "strategy type 'NOPE' is not registered; registered: BAND, "),
        ("BAND", {"width": -1}, "parameters do not match BAND: parameters.width: Input should be greater than 0"),
        ("NOT_A_SIGNAL_STRATEGY", {"width": 1}, "collections:OrderedDict is not a subclass of "),
        ("MISSING_CLASS", {"width": 1}, "cannot import fake_band_plugin:Nope: AttributeError"),
    ],
)
def test_the_engine_refuses_what_it_cannot_run_with_the_reason(
    strategy_type: str, parameters: dict[str, object], message: str
) -> None:
    with pytest.raises(StrategyUnavailable, match=re.escape(message)):
        resolve_strategy(strategy_type, parameters)


@pytest.mark.usefixtures("plugin_installed")
def test_the_engine_resolves_a_plugin_class_lazily_with_normalized_parameters() -> None:
    resolved = resolve_strategy("BAND", {"width": 3})
    assert resolved.strategy_class.__name__ == "Band"
    assert resolved.parameters == {"width": 3.0, "allow_short": False}
    assert resolved.make().parameters.width == 3.0  # typed: the plugin's own model
