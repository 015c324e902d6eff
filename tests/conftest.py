"""Suite-wide settings: headless pygame, few torch threads, no stray network."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

# Two cores are shared by everything on the machine; torch's default of one
# thread per core makes the many small forward passes in the suite far slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
