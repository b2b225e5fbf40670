from services.engine.app import main
from services.engine.handlers import USE_CASE
from shared.platform.runtime.gate import environment_from_parent, preload

environment_from_parent()  # after the imports: `bts up` sends the database and broker once they are up
# NautilusTrader, empyrical, pandas: after the gate, not before, so that they do not take the CPU from the database's
# start, the migrations and the other services' imports; they load while the consumers wait for their group join.
preload(USE_CASE, yielding=True)
main()
