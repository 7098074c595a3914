"""`python -m qa.train`: build the training cases, fit the reader, write the policy;
`python -m qa.train cross ...`: fine-tune the cross-encoder (see `qa.train.cross_fit`)."""

import sys

if sys.argv[1:2] == ["cross"]:
    from qa.train.cross_fit import main as cross_main

    cross_main(sys.argv[2:])
else:
    from qa.train.fit import main

    main()
