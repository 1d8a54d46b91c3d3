# Sourced by .ci/run (and usable by contributors): start the servers the tests talk to.
# Each is optional for a local `make test`; the tests that need one are marked and fail loudly
# in CI when LLMOPS_CI=1 and the service is missing.
export LLMOPS_CI=1
