"""The contract app of ``shared/conformance/CONTRACT.md``: a fixed server for client tests."""
