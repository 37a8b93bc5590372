"""zoo-site: a static website for a zoo of trained deep-RL Atari agents."""

__version__ = "0.1.0"

import os as _os

# TensorFlow is loaded lazily, only by the stages that need it; keep its start-up chatter
# out of the build's output unless the user asked for it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
