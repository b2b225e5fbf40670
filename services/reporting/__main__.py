from services.reporting.app import main
from shared.platform.runtime.gate import environment_from_parent

environment_from_parent()  # after the imports: `bts up` sends the database and broker once they are up
main()
