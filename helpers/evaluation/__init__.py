"""The judge of generated images: a classifier and what it measures. Nothing in the core imports it.

- :mod:`helpers.evaluation.classifier`  the digit classifier: network, training, loading
- :mod:`helpers.evaluation.metrics`     accuracy, recognisability, class coverage, diversity, trajectories
- :mod:`helpers.evaluation.fid`         FID and KID on the classifier's features, next to their floor
- :mod:`helpers.evaluation.clip`        CLIP's reading of the images (when its weights can be had)
- :mod:`helpers.evaluation.clip_small`  the course's small CLIP: zero-shot digits, attributes, CLIP score
- :mod:`helpers.evaluation.report`      everything at once on a samples file (``python -m helpers evaluate``)
"""
