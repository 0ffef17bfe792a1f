"""glowops benchmarks: in-process figures printed as ratios against baselines run alongside."""
