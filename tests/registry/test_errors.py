"""Registry errors carry the HTTP status the serving layer answers with; none is reported as the server's fault."""

import pytest

from adaptlab.registry.errors import AccessDeniedError, AuthenticationError, GateRefusedError, NotFoundError, RegistryError
from adaptlab.serve.errors import error_body


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFoundError("no model acme/bot"), 404, "model_not_found"),
        (AuthenticationError("unknown token"), 401, "invalid_api_key"),
        (AccessDeniedError("other tenant"), 403, "model_access_denied"),
        (GateRefusedError("refused", ["relative_score"]), 409, "gate_refused"),
        (RegistryError("tenant 'acme' already exists"), 409, "registry_conflict"),
    ],
)
def test_each_registry_error_maps_to_its_status(error, status, code):
    body = error_body(error)
    assert (body.status, body.code, body.message) == (status, code, str(error))


def test_a_refused_operation_is_not_an_internal_error(registry, admin):
    registry.create_tenant(admin, "acme")
    with pytest.raises(RegistryError) as refused:
        registry.create_tenant(admin, "acme")
    assert error_body(refused.value).status == 409
