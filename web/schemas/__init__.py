"""Request and response shapes, one module per resource: validation of what comes in, and the OpenAPI
description of what goes out. Routes write `schemas.Booking`; the modules say where each shape lives."""

from web.schemas.accounts import *  # noqa: F403
from web.schemas.bookings import *  # noqa: F403
from web.schemas.catalog import *  # noqa: F403
from web.schemas.common import *  # noqa: F403
from web.schemas.door import *  # noqa: F403
from web.schemas.orders import *  # noqa: F403
from web.schemas.programme import *  # noqa: F403
from web.schemas.screens import *  # noqa: F403
from web.schemas.waitlist import *  # noqa: F403
from web.schemas.webhooks import *  # noqa: F403
