from celerymod.cli import main

main()
