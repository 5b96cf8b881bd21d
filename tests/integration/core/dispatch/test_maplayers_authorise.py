"""The dispatcher's map layers show where drivers wait and who drives which van: staff only, in the core too."""

from __future__ import annotations

import pytest

from core.context import Core
from core.dispatch import maplayers
from core.errors import Forbidden
from core.principal import Principal, Role
from core.requests.intake import submit_request
from core.schemas import RequestCreate
from tests.factories import add_principal, add_technicians, as_technician, request_body


@pytest.mark.parametrize("layer", [maplayers.live_layer, maplayers.hexes_layer])
def test_a_technician_or_the_system_cannot_read_the_map_layers(core: Core, layer) -> None:  # type: ignore[no-untyped-def]
    tech = add_technicians(core, 1)[0]
    for who in (as_technician(tech), Principal.system("sweeper")):
        with pytest.raises(Forbidden):
            layer(core, who)


def test_a_dispatcher_sees_the_open_request_and_the_van_on_the_live_layer(core: Core) -> None:
    tech = add_technicians(core, 1)[0]
    made = submit_request(core, RequestCreate.model_validate(request_body()))
    body, _etag = maplayers.live_layer(core, add_principal(core, Role.DISPATCHER))
    assert f'"id":"r{made.id}"' in body, "the open request is not on the layer"
    assert f'"id":"t{tech}"' in body, "the technician is not on the layer"
