"""meshstream domain logic: pure, engine-agnostic mesh processing.

Everything here is a function over bytes, numpy arrays or frozen dataclasses. Nothing in this
package imports Kafka or Faust, so the same code runs in a stream agent, the CLI and tests.
"""
