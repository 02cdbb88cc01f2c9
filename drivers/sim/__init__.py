"""The simulated lab: a runner on an instrumented treadmill with ground truth."""
