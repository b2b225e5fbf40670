"""Run one backtest on NautilusTrader's BacktestEngine and return its fills.

All instruments trade on one simulated venue with one MARGIN account (the portfolio the data model
describes). Bars arrive stamped at their close. Everything that affects the result is in the input,
and the fill model has no randomness, so the same input gives the same fills.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CurrencyPair, Equity
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler

from services.engine.domain.errors import RunError as RunError  # callers import it from here
from services.engine.domain.fees import CommissionFeeModel
from services.engine.domain.fills import TickSlippageFillModel
from services.engine.domain.progress import RunTracker
from services.engine.domain.shared_frames import derived
from services.engine.domain.strategies import SignalConfig, SignalStrategy
from services.engine.domain.strategies.base import TimestampGroups
from services.engine.domain.strategy_loader import resolve_strategy

VENUE = "SIM"
BAR_SPEC = {"BAR_1MIN": "1-MINUTE", "BAR_5MIN": "5-MINUTE", "BAR_1HOUR": "1-HOUR", "BAR_DAILY": "1-DAY"}
SUPPORTED_ASSET_CLASSES = {"EQUITY", "ETF", "FX"}


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
    # Warm-up: bars before this time (UTC) only warm the indicators; None: the strategy trades from the first bar
    trade_from: pd.Timestamp | None = None
    # The frames are shared by several runs (the engine's InputCache, see shared_frames): what is made of them
    # is made once
    bars_shared: bool = False


@dataclass(frozen=True)
class Fill:
    instrument_id: str
    ts: pd.Timestamp
    side: str  # BUY / SELL
    quantity: int
    price: Decimal
    commission: Decimal
    slippage: Decimal  # cost of slippage in money: ticks x tick size x quantity


@dataclass(frozen=True)
class MarginCall:
    ts: pd.Timestamp  # the bar timestamp whose closes pushed total margin above 3x the account value
    closed: tuple[str, ...]  # our instrument ids, in the order they were closed
    margin_used: Decimal  # before the call
    account_value: Decimal


@dataclass
class RunOutput:
    fills: list[Fill] = field(default_factory=list)
    bars_fed: int = 0
    bars_processed: int = 0
    signals: int = 0
    skipped_entries: int = 0
    margin_calls: list[MarginCall] = field(default_factory=list)
    # The closes Nautilus was given (on the tick grid), one column per instrument (our ids), indexed by bar
    # close: the marks of the ledger, the same as the strategy's.
    closes: pd.DataFrame = field(default_factory=pd.DataFrame)


def _nautilus_id(spec: InstrumentSpec) -> InstrumentId:
    return InstrumentId(Symbol(spec.id), Venue(VENUE))


def _instrument(spec: InstrumentSpec) -> Equity | CurrencyPair:
    if spec.asset_class not in SUPPORTED_ASSET_CLASSES:
        raise RunError(
            f"instrument {spec.id}: asset class {spec.asset_class} is not supported by the engine yet "
            f"(supported: {', '.join(sorted(SUPPORTED_ASSET_CLASSES))})"
        )
    margin = spec.margin_pct / 100
    common = {
        "instrument_id": _nautilus_id(spec),
        "raw_symbol": Symbol(spec.id),
        "price_precision": spec.price_precision,
        "price_increment": Price(spec.tick_size, spec.price_precision),
        "lot_size": Quantity.from_int(spec.lot_size),
        "ts_event": 0,
        "ts_init": 0,
        "margin_init": margin,
        "margin_maint": margin,
        "maker_fee": Decimal(0),
        "taker_fee": Decimal(0),
    }
    if spec.asset_class == "FX":  # quantities in units of the base currency, prices and P&L in the quote currency
        return CurrencyPair(
            base_currency=Currency.from_str(_fx_base(spec)),
            quote_currency=Currency.from_str(spec.currency),
            size_precision=0,
            size_increment=Quantity.from_int(1),
            **common,
        )
    return Equity(currency=Currency.from_str(spec.currency), **common)


def _fx_base(spec: InstrumentSpec) -> str:
    """EUR/USD, EUR.USD or EURUSD (IB's spellings) quoted in the instrument's currency -> EUR."""
    pair = spec.id.rsplit(".", 1)[0].replace("/", "").replace(".", "").upper()
    if len(pair) != 6 or pair[3:] != spec.currency:
        raise RunError(
            f"instrument {spec.id}: an FX symbol must be BASE/QUOTE with the quote currency "
            f"{spec.currency} (the instrument's currency), e.g. EUR/{spec.currency}"
        )
    return pair[:3]


def run_backtest(request: RunInput, tracker: RunTracker | None = None, *, nautilus_analysis: bool = False) -> RunOutput:
    """`tracker`, if given, can be read from another thread to follow the run (bars seen of bars fed).

    Nautilus' own post-run analysis is off by default: the engine computes the data model's metrics itself
    (Nautilus' are per position, not daily equity), and that analysis grows faster than linearly
    with the number of positions (a quarter of a 100k-bar run, more on longer ones).
    """
    strategy = resolve_strategy(request.strategy_type, request.parameters)  # a registered type, or RunError
    currencies = {s.currency for s in request.instruments}
    if len(currencies) != 1:
        raise RunError(f"all instruments of one backtest must share a currency, got {', '.join(sorted(currencies))}")
    currency = Currency.from_str(currencies.pop())
    config = BacktestEngineConfig(
        trader_id="BACKTESTER-001", logging=LoggingConfig(log_level="ERROR"), run_analysis=nautilus_analysis
    )
    engine = BacktestEngine(config=config)
    try:
        engine.add_venue(
            venue=Venue(VENUE),
            # HEDGING: each round trip is a position of its own, closed by an order that names it. With NETTING
            # one position per instrument is reopened again and again, and Nautilus pickles its whole history
            # at every reopen (Cache.snapshot_position): 10-15% of a daily run, the same fills.
            oms_type=OmsType.HEDGING,
            account_type=AccountType.MARGIN,
            base_currency=currency,
            starting_balances=[Money(request.initial_capital, currency)],
            default_leverage=Decimal(3),
            fill_model=TickSlippageFillModel(request.slippage_ticks),
            fee_model=CommissionFeeModel(request.commission_kind, request.commission_params),
            bar_execution=True,
        )
        bar_types: list[str] = []
        frames: dict[str, pd.DataFrame] = {}
        fed = 0
        for spec in request.instruments:
            instrument = _instrument(spec)
            engine.add_instrument(instrument)
            frame = request.bars.get(spec.id)
            if frame is None or frame.empty:
                raise RunError(f"no bars for {spec.id} in the requested period")
            bar_type = BarType.from_str(f"{instrument.id}-{BAR_SPEC[request.timeframe]}-LAST-EXTERNAL")
            prepare = functools.partial(nautilus_bars, frame, spec, bar_type, instrument)
            purpose = (str(bar_type), spec.price_precision)
            frame, nautilus = derived(frame, purpose, prepare) if request.bars_shared else prepare()
            frames[spec.id] = frame
            engine.add_data(nautilus)
            bar_types.append(str(bar_type))
            fed += len(frame)
        signal = SignalStrategy(
            SignalConfig(
                bar_types=bar_types,
                parameters=strategy.parameters,
                position_size_pct=float(request.position_size_pct),
                margin_pct={str(_nautilus_id(s)): float(s.margin_pct) for s in request.instruments},
                lot_sizes={str(_nautilus_id(s)): s.lot_size for s in request.instruments},
                slippage_per_share={
                    str(_nautilus_id(s)): float(s.tick_size * request.slippage_ticks) for s in request.instruments
                },
                commission_kind=request.commission_kind,
                commission_params={k: str(v) for k, v in request.commission_params.items()},
                currency=str(currency),
                venue=VENUE,
                trade_from_ns=None if request.trade_from is None else request.trade_from.value,
            ),
            strategy.make,
        )
        signal.groups = timestamp_groups(frames.values())
        engine.add_strategy(signal)
        if tracker is not None:
            tracker.attach(signal, fed)
        engine.run()
        output = RunOutput(
            bars_fed=fed,
            bars_processed=signal.bars_seen,
            signals=signal.signals,
            skipped_entries=signal.skipped_entries,
        )
        if output.bars_processed != fed:  # Nautilus stops silently on some account errors (see notes)
            raise RunError(f"the engine stopped after {output.bars_processed} of {fed} bars")
        output.fills = _fills(engine, request, signal.submission_order)
        ours = {str(_nautilus_id(s)): s.id for s in request.instruments}
        output.margin_calls = [
            MarginCall(pd.Timestamp(c.ts, tz="UTC"), tuple(ours[i] for i in c.closed), c.margin_used, c.account_value)
            for c in signal.margin_calls
        ]
        output.closes = pd.DataFrame({i: f["close"] for i, f in frames.items()}).sort_index()
        return output
    finally:
        if engine.kernel.trader.is_running:  # a run stopped by an exception (a cancel): stop it before disposing
            engine.end()
        engine.dispose()


def nautilus_bars(
    frame: pd.DataFrame, spec: InstrumentSpec, bar_type: BarType, instrument: Equity | CurrencyPair
) -> tuple[pd.DataFrame, list[Bar]]:
    """The instrument's bars on its tick grid (index: bar close), and as Nautilus bars of `bar_type`."""
    grid = on_tick_grid(frame[["open", "high", "low", "close", "volume"]].astype(float), spec)
    grid.index.name = "timestamp"
    return grid, BarDataWrangler(bar_type, instrument).process(grid)


def on_tick_grid(frame: pd.DataFrame, spec: InstrumentSpec) -> pd.DataFrame:
    """Prices rounded to the instrument's price precision, as Nautilus will hold them.

    Nautilus rounds every price it is given to the instrument's precision (half away from zero on the
    scaled float); rounding here first (numpy, half to even) makes the closes the ledger marks with
    exactly the ones the strategy and the matching engine see. Prices already on the grid are unchanged.
    """
    prices = ["open", "high", "low", "close"]
    values = frame[prices].to_numpy()
    rounded = np.round(values, spec.price_precision)
    if np.array_equal(rounded, values):
        return frame
    frame = frame.copy()
    frame[prices] = rounded
    return frame


def timestamp_groups(frames: Iterable[pd.DataFrame]) -> TimestampGroups:
    """How many bars Nautilus will deliver at each timestamp (index: bar close, UTC)."""
    stamps = [f.index.asi8 for f in frames]
    if len(stamps) == 1:
        return TimestampGroups(1)
    unique, counts = np.unique(np.concatenate(stamps), return_counts=True)
    if (counts == len(stamps)).all():
        return TimestampGroups(len(stamps))
    return TimestampGroups(0, unique.tolist(), counts.tolist())


def _fills(engine: BacktestEngine, request: RunInput, submission_order: dict[str, int]) -> list[Fill]:
    """Fills in time order, those of one timestamp in the order their orders were submitted: one per filled
    order, with what Nautilus' order fills report shows (read from the orders themselves: the report builds
    a DataFrame of every order's dict, a few percent of a daily run)."""
    ticks = {str(_nautilus_id(s)): (s.id, s.tick_size) for s in request.instruments}
    filled = [o for o in engine.cache.orders() if o.filled_qty.as_double() > 0]
    filled.sort(key=lambda o: (o.ts_last, submission_order.get(o.client_order_id.value, -1)))
    fills: list[Fill] = []
    for order in filled:
        our_id, tick = ticks[order.instrument_id.value]
        quantity = int(order.filled_qty.as_decimal())
        fills.append(
            Fill(
                instrument_id=our_id,
                ts=pd.Timestamp(order.ts_last, unit="ns", tz="UTC"),
                side="BUY" if order.side == OrderSide.BUY else "SELL",
                quantity=quantity,
                price=Decimal(str(order.avg_px)),
                commission=sum((Decimal(str(m).split()[0]) for m in order.commissions()), Decimal(0)),  # "1.00 USD"
                slippage=tick * request.slippage_ticks * quantity,
            )
        )
    return fills
