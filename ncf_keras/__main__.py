from ncf_keras.cli import main

raise SystemExit(main())
