from services.ingest.app import main
from services.ingest.handlers import USE_CASE
from shared.platform.runtime.gate import environment_from_parent, preload

environment_from_parent()  # after the imports: `bts up` sends the database and broker once they are up
# pandas and the IB client: after the gate, at a lower priority, so that they do not take the CPU from the database's
# start, the migrations and the other services' imports; they load while the consumers wait for their group join.
preload(USE_CASE, yielding=True)
main()
