# SPDX-License-Identifier: GPL-3.0-or-later
"""The API's switches between slaves and jobs: a slave blacklisted or disabled farm-wide, kept from one job
for failures or by hand (its blacklist), or switched off for one job (its switch).

The views join the API's blueprint when this module is imported, before the
blueprint is registered (``netrender.master`` sees to it).
"""

from __future__ import annotations

from typing import Any

from .api import bp, farm, now


@bp.put("/slaves/<slave_id>/blacklist")
def blacklist_slave(slave_id: str) -> Any:
    return farm().set_farm_blacklist(slave_id, True, now()).to_json()


@bp.delete("/slaves/<slave_id>/blacklist")
def unblacklist_slave(slave_id: str) -> Any:
    return farm().set_farm_blacklist(slave_id, False, now()).to_json()


@bp.put("/slaves/<slave_id>/disable")
def disable_slave(slave_id: str) -> Any:
    return farm().set_disabled(slave_id, True, now()).to_json()


@bp.delete("/slaves/<slave_id>/disable")
def enable_slave(slave_id: str) -> Any:
    return farm().set_disabled(slave_id, False, now()).to_json()


@bp.put("/jobs/<id:job_id>/switched-off/<slave_id>")
def switch_off_for_job(job_id: int, slave_id: str) -> Any:
    return {"switched_off": farm().switch_for_job(job_id, slave_id, False, now())}


@bp.delete("/jobs/<id:job_id>/switched-off/<slave_id>")
def switch_on_for_job(job_id: int, slave_id: str) -> Any:
    return {"switched_off": farm().switch_for_job(job_id, slave_id, True, now())}


@bp.get("/jobs/<id:job_id>/blacklist")
def job_blacklist(job_id: int) -> Any:
    return {"blacklist": farm().blacklist_of(job_id)}


@bp.put("/jobs/<id:job_id>/blacklist/<slave_id>")
def add_to_job_blacklist(job_id: int, slave_id: str) -> Any:
    return {"blacklist": farm().set_job_blacklist(job_id, slave_id, True, now())}


@bp.delete("/jobs/<id:job_id>/blacklist/<slave_id>")
def remove_from_job_blacklist(job_id: int, slave_id: str) -> Any:
    return {"blacklist": farm().set_job_blacklist(job_id, slave_id, False, now())}
