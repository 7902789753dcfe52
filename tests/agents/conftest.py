"""Agent-client tests run the whole stack against fakegrok: reuse the gateway fixtures."""

from tests.gateway.conftest import make_stack, stack  # noqa: F401
