"""Admin operations on people's records: erasure."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tecwatch.api import access, erasure
from tecwatch.api.access import Principal
from tecwatch.api.deps import RowId, errors, registry, require
from tecwatch.api.erasure import Erased, ErasureError
from tecwatch.api.familyview import ResidentNotFound
from tecwatch.store import StoreUnavailable
from tecwatch.registry.models import LeftReason, UserRole

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=errors(401, 403, 404, 422))


class Erase(BaseModel):
    # Needed only for someone still living at home with the service.
    left_reason: LeftReason | None = None
    left_at: datetime | None = None


@router.post("/residents/{resident_id}/erase", responses=errors(400, 409, 503))
def erase_resident(request: Request, resident_id: RowId, body: Erase, who: Principal = Depends(require(UserRole.ADMIN)),
                   session: Session = Depends(registry, scope="function")) -> Erased:
    """Erase a resident's personal data (name, date-of-birth band, family links; with nobody else
    at home, also the address, routine, alert notes and every reading). The commissioners'
    figures stay as they were."""
    try:
        out = erasure.erase_resident(session, request.app.state.store, resident_id, left_reason=body.left_reason,
                                     left_at=body.left_at)
    except ResidentNotFound as err:
        raise HTTPException(404, str(err)) from err
    except ErasureError as err:
        raise HTTPException(409, str(err)) from err
    except StoreUnavailable as err:
        raise HTTPException(503, f"the readings could not be deleted, so nothing was erased: {err}") from err
    access.log_access(session, who, "erase resident", home_id=out.home_id, resident_id=resident_id)
    return out
