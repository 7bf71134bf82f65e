"""Call-latency experiments (issue 10, "Then: call latency"); see README.md.

Self-contained prototypes: they import the package's wire modules (codec,
generated protobuf, frames, placeholder, message) and never modify it.
"""
