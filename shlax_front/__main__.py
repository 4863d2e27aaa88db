from shlax_front.cli import main

main()
