from zoo_site.cli import main

main()
