"""Run one backtest on NautilusTrader's BacktestEngine and return its fills.

All instruments trade on one simulated venue with one MARGIN account (the portfolio the seed
describes). Bars arrive stamped at their close. Everything that affects the result is in the input,
and the fill model has no randomness, so the same input gives the same fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler

from services.engine.domain.fees import CommissionFeeModel
from services.engine.domain.fills import TickSlippageFillModel
from services.engine.domain.strategies import STRATEGIES, SignalConfig

VENUE = "SIM"
BAR_SPEC = {"BAR_1MIN": "1-MINUTE", "BAR_5MIN": "5-MINUTE", "BAR_1HOUR": "1-HOUR", "BAR_DAILY": "1-DAY"}
SUPPORTED_ASSET_CLASSES = {"EQUITY", "ETF"}


class RunError(Exception):
    """The run cannot be done as asked; the message is the result's error_message."""


@dataclass(frozen=True)
class InstrumentSpec:
    id: str  # ours, e.g. AAPL.NASDAQ
    asset_class: str
    currency: str
    tick_size: Decimal
    lot_size: int
    margin_pct: Decimal

    @property
    def price_precision(self) -> int:
        return max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]


@dataclass(frozen=True)
class RunInput:
    strategy_type: str
    parameters: dict[str, object]
    instruments: list[InstrumentSpec]
    bars: dict[str, pd.DataFrame]  # per instrument: index = bar close (UTC), columns open/high/low/close/volume
    timeframe: str
    initial_capital: Decimal
    position_size_pct: Decimal
    commission_kind: str
    commission_params: dict[str, Decimal]
    slippage_ticks: int


@dataclass(frozen=True)
class Fill:
    instrument_id: str
    ts: pd.Timestamp
    side: str  # BUY / SELL
    quantity: int
    price: Decimal
    commission: Decimal
    slippage: Decimal  # cost of slippage in money: ticks x tick size x quantity


@dataclass
class RunOutput:
    fills: list[Fill] = field(default_factory=list)
    bars_fed: int = 0
    bars_processed: int = 0
    signals: int = 0
    skipped_entries: int = 0


def _nautilus_id(spec: InstrumentSpec) -> InstrumentId:
    return InstrumentId(Symbol(spec.id), Venue(VENUE))


def _instrument(spec: InstrumentSpec) -> Equity:
    if spec.asset_class not in SUPPORTED_ASSET_CLASSES:
        raise RunError(f"instrument {spec.id}: asset class {spec.asset_class} is not supported by the engine yet "
                       f"(supported: {', '.join(sorted(SUPPORTED_ASSET_CLASSES))})")  # fmt: skip
    margin = spec.margin_pct / 100
    return Equity(
        instrument_id=_nautilus_id(spec),
        raw_symbol=Symbol(spec.id),
        currency=Currency.from_str(spec.currency),
        price_precision=spec.price_precision,
        price_increment=Price(spec.tick_size, spec.price_precision),
        lot_size=Quantity.from_int(spec.lot_size),
        ts_event=0,
        ts_init=0,
        margin_init=margin,
        margin_maint=margin,
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )


def run_backtest(request: RunInput) -> RunOutput:
    strategy_cls = STRATEGIES.get(request.strategy_type)
    if strategy_cls is None:
        raise RunError(f"unknown strategy_type {request.strategy_type!r}; known: {', '.join(STRATEGIES)}")
    currencies = {s.currency for s in request.instruments}
    if len(currencies) != 1:
        raise RunError(f"all instruments of one backtest must share a currency, got {', '.join(sorted(currencies))}")
    currency = Currency.from_str(currencies.pop())
    engine = BacktestEngine(  # run_analysis off: our metrics come from the ledger, Nautilus' would cost ~25%
        config=BacktestEngineConfig(trader_id="BACKTESTER-001", logging=LoggingConfig(log_level="ERROR"),
                                    run_analysis=False)
    )  # fmt: skip
    try:
        engine.add_venue(
            venue=Venue(VENUE),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=currency,
            starting_balances=[Money(request.initial_capital, currency)],
            default_leverage=Decimal(3),
            fill_model=TickSlippageFillModel(request.slippage_ticks),
            fee_model=CommissionFeeModel(request.commission_kind, request.commission_params),
            bar_execution=True,
        )
        bar_types: list[str] = []
        fed = 0
        for spec in request.instruments:
            instrument = _instrument(spec)
            engine.add_instrument(instrument)
            frame = request.bars.get(spec.id)
            if frame is None or frame.empty:
                raise RunError(f"no bars for {spec.id} in the requested period")
            bar_type = BarType.from_str(f"{instrument.id}-{BAR_SPEC[request.timeframe]}-LAST-EXTERNAL")
            frame = frame[["open", "high", "low", "close", "volume"]].astype(float)
            frame.index.name = "timestamp"
            engine.add_data(BarDataWrangler(bar_type, instrument).process(frame))
            bar_types.append(str(bar_type))
            fed += len(frame)
        strategy = strategy_cls(
            SignalConfig(
                bar_types=bar_types,
                parameters=dict(request.parameters),
                position_size_pct=float(request.position_size_pct),
                margin_pct={str(_nautilus_id(s)): float(s.margin_pct) for s in request.instruments},
                lot_sizes={str(_nautilus_id(s)): s.lot_size for s in request.instruments},
                slippage_per_share={
                    str(_nautilus_id(s)): float(s.tick_size * request.slippage_ticks) for s in request.instruments
                },
                currency=str(currency),
                venue=VENUE,
            )
        )
        engine.add_strategy(strategy)
        engine.run()
        output = RunOutput(bars_fed=fed, bars_processed=strategy.bars_seen, signals=strategy.signals,
                           skipped_entries=strategy.skipped_entries)  # fmt: skip
        if output.bars_processed != fed:  # Nautilus stops silently on some account errors (see notes)
            raise RunError(f"the engine stopped after {output.bars_processed} of {fed} bars")
        output.fills = _fills(engine, request)
        return output
    finally:
        engine.dispose()


def _fills(engine: BacktestEngine, request: RunInput) -> list[Fill]:
    report = engine.trader.generate_order_fills_report()
    if report.empty:
        return []
    ticks = {str(_nautilus_id(s)): (s.id, s.tick_size) for s in request.instruments}
    fills: list[Fill] = []
    for row in report.sort_values(["ts_last"], kind="stable").itertuples():
        our_id, tick = ticks[str(row.instrument_id)]
        quantity = int(Decimal(str(row.filled_qty)))
        commission = sum((Decimal(str(m).split()[0]) for m in row.commissions), Decimal(0))
        fills.append(
            Fill(
                instrument_id=our_id,
                ts=pd.Timestamp(row.ts_last),
                side=str(row.side),
                quantity=quantity,
                price=Decimal(str(row.avg_px)),
                commission=commission,
                slippage=tick * request.slippage_ticks * quantity,
            )
        )
    return fills
