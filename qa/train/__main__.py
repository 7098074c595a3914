"""`python -m qa.train`: build the training cases, fit the reader, write the policy."""

from qa.train.fit import main

main()
