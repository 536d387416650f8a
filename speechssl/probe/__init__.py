"""SUPERB-style probes of frozen upstreams: weighted layer sum + task head (PR, ASR) on cached states.

Entry point: ``speechssl.probe.job.run_probe(ProbeConfig) -> ProbeResult``; CLI ``speechssl probe``.
"""
