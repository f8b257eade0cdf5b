"""Coverage-guided fuzz targets for the core (atheris), run by ``make fuzz``.

Each target module has a ``check(data)`` function that turns fuzzer bytes
into calls and asserts the invariants; the regression tests call it with
the inputs that once failed. See the "Fuzzing" section of docs/security.md.
"""
