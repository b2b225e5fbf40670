from services.engine.app import main

main()
