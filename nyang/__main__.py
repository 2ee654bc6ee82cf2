from nyang.cli import main

raise SystemExit(main())
