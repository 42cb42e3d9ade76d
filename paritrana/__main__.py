from paritrana.cli import main

main()
