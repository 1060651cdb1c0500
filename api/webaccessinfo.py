"""A home's key safe and access notes, set from the resident's record or the wizard's last step.
The form is write-only: what is recorded is never put back into the page (reading it in clear is
the call screen's logged reveal); saving replaces it, against the version the page was read at."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tecwatch.api import deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import RowId
from tecwatch.api.web import _render, page_user
from tecwatch.api.webforms import ENROLMENT, actor, posted, problems, text, version
from tecwatch.registry import accessinfo, enrolment
from tecwatch.registry.accessinfo import Sealer
from tecwatch.registry.changes import Conflict, Invalid, NotFound

router = APIRouter(include_in_schema=False)
FIELDS = ("key_safe_location", "key_safe_code", "access_notes")
LABELS = {"key_safe_location": "Where the key safe is", "key_safe_code": "Key safe code",
          "access_notes": "Getting in: other notes"}
# Where the form was sent from, and so where to go back to.
BACK = {"record": "/enrol/residents/{id}?done=access", "wizard": "/enrol/residents/{id}/setup/check?done=access"}


@router.post("/enrol/residents/{resident_id}/access-info", response_class=HTMLResponse)
def set_access_info(request: Request, resident_id: RowId, form: FormData = Depends(posted),
                    who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    back = BACK.get(text(form, "back", 10), BACK["record"]).format(id=resident_id)
    sealer = Sealer(request.app.state.settings.registry.encryption_key.get_secret_value())
    info = {f: text(form, f, 2000) for f in FIELDS}
    try:
        with Session(request.app.state.registry) as s, s.begin():
            home_id = enrolment.overview(s, resident_id).resident.home_id
            accessinfo.set_access_info(s, sealer, actor(who), home_id, info, version=version(form),
                                       now=deps.now(request))
    except NotFound:
        return _render(request, "message.html", who, 404, title="Not found", message=f"There is no resident {resident_id}.")
    except (Invalid, Conflict) as err:
        said = " ".join(f"{LABELS.get(k, '')}: {v}" if k else v for k, v in problems(err, FIELDS).items())
        return _render(request, "message.html", who, 409 if isinstance(err, Conflict) else 422, title="Not saved",
                       message=said, back=back.split("?")[0])
    return RedirectResponse(back, status_code=303)
