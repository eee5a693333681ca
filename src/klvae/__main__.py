from klvae.cli import main

raise SystemExit(main())
