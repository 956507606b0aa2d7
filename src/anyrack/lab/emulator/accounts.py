"""BMC user accounts: the default user, creating users, rotating passwords; who may authenticate.

Passwords live only in the BMC's state (``Password`` reads back as null). Recorded accounts keep
their user names but have no known password, so they cannot log in. A tree whose account
collection has empty slots (accounts with an empty UserName) fills the first free slot on create,
as fixed-slot BMCs do; other trees get a new member.
"""

from __future__ import annotations

import hmac
from typing import Any

from anyrack.lab.emulator.messages import error_response
from anyrack.lab.emulator.patch import check_properties, merge
from anyrack.lab.emulator.reply import Answer, Reply
from anyrack.lab.emulator.state import BmcState

STANDARD_ROLES = ("Administrator", "Operator", "ReadOnly")


def _members(state: BmcState) -> list[str]:
    key = state.layout.accounts
    doc = state.doc(key) if key else None
    links = (doc or {}).get("Members", []) if isinstance(doc, dict) else []
    found = []
    for link in links:
        member = link.get("@odata.id") if isinstance(link, dict) else None
        target = state.tree.link(member) or state.created.get(str(member).rstrip("/").lower())
        if target and state.doc(target) is not None:
            found.append(target)
    return found


def _username(state: BmcState, key: str) -> str | None:
    if key == "":
        return state.config.username
    doc = state.doc(key)
    return doc.get("UserName") if isinstance(doc, dict) else None


def _slots(state: BmcState) -> list[str]:
    return [k for k in _members(state) if state.doc(k).get("UserName") == ""]


def install_default_user(state: BmcState) -> None:
    """Make the configured user the tree's first named account (or the first free slot, or a new one)."""
    config = state.config
    if state.layout.accounts is None:
        state.passwords[""] = config.password
        return
    named = [k for k in _members(state) if state.doc(k).get("UserName") and state.doc(k).get("Enabled") is not False]
    key = named[0] if named else None
    if key is None:
        create(state, {"UserName": config.username, "Password": config.password, "RoleId": "Administrator"})
        return
    state.edit(key)["UserName"] = config.username
    state.passwords[key] = config.password


def check_password(state: BmcState, username: str, password: str) -> bool:
    """Whether ``username``/``password`` belong to an enabled account of this BMC."""
    for key, secret in state.passwords.items():
        if _username(state, key) != username or not hmac.compare_digest(secret.encode(), password.encode()):
            continue
        doc = state.doc(key) if key else {}
        if isinstance(doc, dict) and doc.get("Enabled") is not False and doc.get("Locked") is not True:
            return True
    return False


def _roles(state: BmcState) -> set[str]:
    service_key = state.tree.link(state.tree.docs["/redfish/v1"].get("AccountService"))
    service = state.doc(service_key) if service_key else None
    roles_key = state.tree.link(service.get("Roles")) if isinstance(service, dict) else None
    found = set(STANDARD_ROLES)
    for link in (state.doc(roles_key) or {}).get("Members", []) if roles_key else []:
        target = state.tree.link(link)
        if target and isinstance(state.doc(target), dict):
            found.add(state.doc(target).get("RoleId") or state.doc(target).get("Id"))
    return found


def _check_new_values(state: BmcState, body: dict[str, Any], key: str | None) -> Answer | None:
    for name in ("UserName", "Password", "RoleId"):
        if name in body and (not isinstance(body[name], str) or not body[name]):
            return error_response(400, "PropertyValueTypeError", body[name], name)
    if "RoleId" in body and body["RoleId"] not in _roles(state):
        return error_response(400, "PropertyValueNotInList", body["RoleId"], "RoleId")
    name = body.get("UserName")
    if name is not None and any(_username(state, k) == name and k != key for k in _members(state)):
        return error_response(409, "ResourceAlreadyExists", "ManagerAccount", "UserName", name)
    return None


def _role_link(doc: dict[str, Any], role: str) -> None:
    role_link = (doc.get("Links") or {}).get("Role")
    if isinstance(role_link, dict) and isinstance(role_link.get("@odata.id"), str):
        base = role_link["@odata.id"].rstrip("/").rsplit("/", 1)[0]
        role_link["@odata.id"] = f"{base}/{role}" + ("/" if role_link["@odata.id"].endswith("/") else "")


def create(state: BmcState, body: Any) -> Answer:
    """POST to the account collection: 201 with Location, 400 on a missing field, 409 on a taken name."""
    if not isinstance(body, dict):
        return error_response(400, "PropertyMissing", "UserName")
    for name in ("UserName", "Password", "RoleId"):
        if name not in body:
            return error_response(400, "PropertyMissing", name)
    problem = _check_new_values(state, body, None)
    if problem is not None:
        return problem
    slots = _slots(state)
    if slots:
        key = slots[0]
        doc = state.edit(key)
    else:
        key, doc = _new_account(state)
    doc.update({"UserName": body["UserName"], "RoleId": body["RoleId"], "Enabled": body.get("Enabled", True)})
    _role_link(doc, body["RoleId"])
    state.passwords[key] = body["Password"]
    return Reply(key, 201, {"Location": doc["@odata.id"]})


def _new_account(state: BmcState) -> tuple[str, dict[str, Any]]:
    collection = state.layout.accounts or ""
    members = _members(state)
    ids = [int(k.rsplit("/", 1)[-1]) for k in members if k.rsplit("/", 1)[-1].isdigit()]
    new_id = str(max(ids, default=0) + 1)
    template = state.doc(members[0]) if members else {}
    slash = "/" if str((state.doc(collection) or {}).get("@odata.id", "")).endswith("/") else ""
    key = f"{collection}/{new_id}"
    doc = {
        "@odata.id": key + slash,
        "@odata.type": template.get("@odata.type", "#ManagerAccount.v1_0_0.ManagerAccount"),
        "Id": new_id, "Name": "User Account", "Description": "User Account",
        "UserName": "", "Password": None, "RoleId": "ReadOnly", "Enabled": True, "Locked": False,
        "Links": {"Role": {"@odata.id": f"/redfish/v1/AccountService/Roles/ReadOnly{slash}"}},
    }
    state.put(key, doc)
    listing = state.edit(collection)
    listing.setdefault("Members", []).append({"@odata.id": key + slash})
    if "Members@odata.count" in listing:
        listing["Members@odata.count"] = len(listing["Members"])
    return key, doc


def update(state: BmcState, key: str, body: dict[str, Any]) -> Answer:
    """PATCH of an account: UserName, Password, RoleId, Enabled and other recorded properties."""
    problem = _check_new_values(state, body, key)
    if problem is not None:
        return problem
    password = body.pop("Password", None)
    doc = state.doc(key)
    problem = check_properties(doc, body)
    if problem is not None:
        return problem
    doc = state.edit(key)
    merge(doc, body)
    if "RoleId" in body:
        _role_link(doc, body["RoleId"])
    if password is not None:
        state.passwords[key] = password
    return Reply(key)


def delete(state: BmcState, key: str) -> Answer:
    """DELETE of an account: a fixed slot is emptied, any other account removed. 204."""
    state.passwords.pop(key, None)
    collection = state.layout.accounts
    if key in state.tree.docs and any(state.tree.docs[k].get("UserName") == "" for k in _members(state)
                                      if k in state.tree.docs):
        state.edit(key).update({"UserName": "", "Enabled": False})
        return Reply(None, 204)
    state.remove(key)
    if collection:
        listing = state.edit(collection)
        listing["Members"] = [m for m in listing.get("Members", []) if state.tree.link(m) != key
                              and str(m.get("@odata.id", "")).rstrip("/") != key]
        if "Members@odata.count" in listing:
            listing["Members@odata.count"] = len(listing["Members"])
    return Reply(None, 204)


def is_account(state: BmcState, key: str) -> bool:
    """Whether ``key`` is a member of the account collection."""
    collection = state.layout.accounts
    return bool(collection) and key.rsplit("/", 1)[0] == collection
