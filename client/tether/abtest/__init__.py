"""A/B-test helpers of the thin client (pure standard library).

``assign`` is the documented, deterministic and sticky bucketing that the server imports too, so the
SDK, the REST ``/assign`` call and any other language that follows the docstring always agree.
"""

from ._assign import Assigner, assign, assign_many, bucket_bounds

__all__ = ["Assigner", "assign", "assign_many", "bucket_bounds"]
