"""The load generator: worker processes of picows clients, driven by a coordinator."""
