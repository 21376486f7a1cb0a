"""runtime: the Pythons on this machine and the one way pip is run.

Interpreter discovery and probing, and pip run as a subprocess in a
scrubbed environment and, where the kernel allows it, without a network.

Interface: ``interpreters.find_interpreters()`` lists the Pythons here and
``piprun.PipRunner`` runs pip against one of them, keeping each command and
its output.
"""
