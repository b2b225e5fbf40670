from services.api.app import DEFERRED_MODULES, main
from shared.platform.runtime.gate import environment_from_parent, preload

environment_from_parent()  # after the imports: `bts up` sends the database and broker once they are up
# At a lower priority, so that they take no CPU from the other services' start; they load while the consumers
# wait for their group join, and the first request that needs them does not import them on the event loop.
preload(*DEFERRED_MODULES, yielding=True)
main()
