"""The data plane behind the gateway: engines that load adapters and generate tokens."""
