"""A world with ground truth: scripted people in front of a pinhole camera, rendered, with a perfect
stand-in for the network and a detector that reads the truth.

Not part of the installed package: tests and benches (bench/bench_world.py) use it to measure the
whole pipeline without trained weights. `scenes` scripts the people, `render` draws them (RGB and
metric depth), `perfect_network` answers as a perfectly trained SPNet would from each crop it is
given, `truth_detector` finds the people from the truth with chosen faults, `scores` judges a run and
`harness` runs a scene through the pipeline (directly or as a live stream with dropped frames).
"""
