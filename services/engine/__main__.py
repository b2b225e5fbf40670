from services.engine.app import main
from services.engine.handlers import USE_CASE
from shared.platform.runtime.gate import environment_from_parent, preload

preload(USE_CASE)  # NautilusTrader, empyrical, pandas: meanwhile, so the warm-up ends soon after ready
environment_from_parent()  # after the imports: `bts up` sends the database and broker once they are up
main()
