"""`python -m qa.eval`: the lab's command line (`qa.eval.lab`)."""

from qa.eval.lab import lab

lab()
