"Hypothesis runs derandomized by default (a fixed seed per test), so `make test` and CI are reproducible; `HYPOTHESIS_PROFILE=explore` draws new examples on each run, to hunt for new failures."
import os

from hypothesis import settings

settings.register_profile('ci', derandomize=True)
settings.register_profile('explore', derandomize=False)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
