"""First-party qbench solvers, registered through the ``qbench.solvers`` entry-point group."""
