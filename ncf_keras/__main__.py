from ncf_keras.cli.main import main

raise SystemExit(main())
