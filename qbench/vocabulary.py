"""The names every layer shares, defined once: image roles, the store's file name, and the columns
that identify a result row. Pipelines, the runner, the store's readers and reports import them."""

from __future__ import annotations

#: image roles: the pristine image, a rescaler's low-resolution image, the decoded codec output,
#: and the solver's output (a learned codec's reconstruction included)
ORIGINAL = "original"
LOWRES = "lowres"
COMPRESSED = "compressed"
ENHANCED = "enhanced"

#: the image roles of the leaderboard's set-level column (reference, test)
LEADERBOARD_PAIR = (ORIGINAL, ENHANCED)

#: the column of the store's ``samples`` table that holds each role's stored key
ROLE_KEY_COLUMN = {ORIGINAL: "image_hash", COMPRESSED: "enc_key", ENHANCED: "out_key"}

#: the results store's file name inside a run folder
STORE_NAME = "results.sqlite"

#: the columns that identify a leaderboard row
KEYS = ["dataset", "solver", "codec", "quality"]
