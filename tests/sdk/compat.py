"""Drives `msctl emulator` with the official Alibaba Cloud Python SDKs.

Run by tests/sdk_compat.rs inside a virtualenv holding alibabacloud-modelstudio20260210,
alibabacloud-ram20150501 and alibabacloud-aiworkspace20210204. Reads the endpoint and the access
key from the environment, exercises create, list (every page), update and delete on all three
products plus error cases, then makes a few changes behind msctl's back in the workspace named by
MSCTL_MANAGED_WORKSPACE, for `msctl drift` to find. Prints one JSON summary on stdout: `checks`
(name -> true/false), `failures` (what went wrong) and `facts` the Rust test asserts on.
"""

import inspect
import json
import os
import sys
import traceback

from alibabacloud_tea_openapi.utils_models import Config
from alibabacloud_modelstudio20260210 import models as ms_models
from alibabacloud_modelstudio20260210.client import Client as ModelStudio
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as Ram
from alibabacloud_aiworkspace20210204 import models as pai_models
from alibabacloud_aiworkspace20210204.client import Client as Pai

ENDPOINT = os.environ["MSCTL_EMULATOR_ENDPOINT"]
AK = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"]
SECRET = os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
MANAGED = os.environ.get("MSCTL_MANAGED_WORKSPACE", "sdk-managed")

checks = {}
failures = []
facts = {}


def check(name, ok, detail=""):
    checks[name] = bool(ok)
    if not ok:
        failures.append(f"{name}: {detail}")


def config(secret=SECRET):
    return Config(access_key_id=AK, access_key_secret=secret, endpoint=ENDPOINT, protocol="http")


def call(client, models, method, *path, body=None):
    """Calls `method` with path arguments and a request built from wire-named fields."""
    fn = getattr(client, method)
    args = list(path)
    if len(inspect.signature(fn).parameters) > len(path):
        name = "".join(w.capitalize() for w in method.split("_")) + "Request"
        args.append(getattr(models, name)().from_map(body or {}))
    return fn(*args).body.to_map()


def error_of(thunk):
    """Runs `thunk`, expecting an SDK exception; returns (code, status) or (None, None)."""
    try:
        thunk()
    except Exception as e:  # the SDK raises ClientException / ServerException subclasses
        return getattr(e, "code", None), getattr(e, "status_code", None) or getattr(e, "statusCode", None)
    return None, None


ms = ModelStudio(config())
ram = Ram(config())
pai = Pai(config())


def model_studio():
    created = []
    for name in ["sdk-ws-1", "sdk-ws-2", "sdk-ws-3"]:
        r = call(ms, ms_models, "create_workspace", body={"workspaceName": name, "serviceSite": "global"})
        created.append(r["workspace"]["workspaceId"])
        check(f"ms.create_workspace.{name}", r["success"] and r["workspace"]["workspaceName"] == name, r)
    # Every page of a filtered listing, two at a time.
    seen, token, pages = [], None, 0
    while True:
        body = {"maxResults": 2, "workspaceName": "sdk-ws-"}
        if token:
            body["nextToken"] = token
        r = call(ms, ms_models, "list_workspaces", body=body)
        pages += 1
        seen += [w["workspaceId"] for w in r["workspaces"]]
        token = r.get("nextToken")
        if not token or pages > 10:
            break
    check("ms.list_workspaces.pages", pages == 2 and sorted(seen) == sorted(created), (pages, seen))
    facts["ms_workspace_pages"] = pages
    ws = created[0]

    # Keys need the models they name to be authorized in a sub-workspace.
    r = call(ms, ms_models, "update_model_permissions", body={
        "workspaceId": ws, "accessAllEntities": "KEEP",
        "models": [{"model": "qwen-plus", "inference": True, "fineTune": False, "deploy": False},
                   {"model": "qwen-max", "inference": True}]})
    check("ms.update_model_permissions", r["success"], r)
    r = call(ms, ms_models, "list_model_permissions", body={
        "workspaceId": ws, "authorizationScope": "AUTHORIZED", "modelAction": "INFERENCE"})
    check("ms.list_model_permissions", sorted(m["model"] for m in r["list"]) == ["qwen-max", "qwen-plus"], r)
    r = call(ms, ms_models, "list_model_permissions", body={
        "workspaceId": ws, "filter": {"model": "qwen-plus"}})
    check("ms.list_model_permissions.filter", [m["model"] for m in r["list"]] == ["qwen-plus"], r)
    call(ms, ms_models, "update_model_permissions", body={
        "workspaceId": ws, "models": [{"model": "qwen-max", "inference": False}]})
    r = call(ms, ms_models, "list_model_permissions", body={"workspaceId": ws})
    check("ms.revoke_model_permission", [m["model"] for m in r["list"]] == ["qwen-plus"], r)

    r = call(ms, ms_models, "create_api_key", body={
        "workspaceId": ws, "description": "sdk key",
        "auth": {"type": "Custom", "accessIps": ["1.2.3.4/32"],
                 "modelAccessScope": {"allowAllModels": False, "accessibleModels": ["qwen-plus"]}}})
    key_id = r["apiKey"]["apiKeyId"]
    value = r["apiKey"]["apiKeyValue"]
    check("ms.create_api_key.value", value.startswith("sk-") and "*" not in value, "value not shown in full")
    got = call(ms, ms_models, "get_api_key", str(key_id))["apiKey"]
    check("ms.get_api_key.masked", "*" in got["apiKeyValue"] and got["apiKeyValue"] != value, "not masked")
    check("ms.get_api_key.auth", got["auth"]["type"] == "Custom"
          and got["auth"]["accessIps"] == ["1.2.3.4/32"]
          and got["auth"]["modelAccessScope"]["accessibleModels"] == ["qwen-plus"], got)
    listed = call(ms, ms_models, "list_api_keys", body={"workspaceId": ws})
    check("ms.list_api_keys", [k["apiKeyId"] for k in listed["apiKeys"]] == [key_id]
          and value not in json.dumps(listed), listed)
    call(ms, ms_models, "update_api_key", str(key_id), body={"description": "sdk key v2", "auth": {"type": "All"}})
    got = call(ms, ms_models, "get_api_key", str(key_id))["apiKey"]
    check("ms.update_api_key", got["description"] == "sdk key v2" and got["auth"]["type"] == "All", got)
    call(ms, ms_models, "disable_api_key", str(key_id))
    check("ms.disable_api_key", call(ms, ms_models, "get_api_key", str(key_id))["apiKey"]["disabled"] == 1, "")
    call(ms, ms_models, "enable_api_key", str(key_id))
    check("ms.enable_api_key", call(ms, ms_models, "get_api_key", str(key_id))["apiKey"]["disabled"] == 0, "")
    reset = call(ms, ms_models, "reset_api_key", str(key_id))["apiKey"]
    check("ms.reset_api_key", reset["apiKeyValue"] != value and "*" not in reset["apiKeyValue"], "")

    r = call(ms, ms_models, "delete_workspace", ws)
    check("ms.delete_workspace.refused", r["isDeleted"] is False
          and r["failReasons"][0]["resourceType"] == "API Key", r)

    r = call(ms, ms_models, "update_model_limits", body={"workspaceId": ws, "workspaceLimits": [
        {"model": "qwen-plus", "operationType": "OVERLAY", "requestLimit": 60, "requestLimitPeriod": 60,
         "usageLimit": 100000, "usageLimitPeriod": 60}]})
    check("ms.update_model_limits.overlay", r["success"], r)
    r = call(ms, ms_models, "list_model_limits", body={"workspaceId": ws})
    limit = [l for l in r["limits"] if l["model"] == "qwen-plus"]
    check("ms.list_model_limits", limit and limit[0]["workspaceLimit"]["requestLimit"] == 60
          and limit[0]["modelLimit"]["requestLimit"] > 0, r)
    call(ms, ms_models, "update_model_limits", body={"workspaceId": ws, "workspaceLimits": [
        {"model": "qwen-plus", "operationType": "DELETE"}]})
    r = call(ms, ms_models, "list_model_limits", body={"workspaceId": ws, "model": "qwen-plus"})
    check("ms.delete_model_limit", all("workspaceLimit" not in l or not l["workspaceLimit"] for l in r["limits"]), r)

    r = call(ms, ms_models, "list_models", body={"providers": ["qwen"], "maxResults": 5})
    check("ms.list_models", r["totalCount"] > 5 and len(r["models"]) == 5 and r.get("nextToken"), r)

    call(ms, ms_models, "delete_api_key", str(key_id))
    code, status = error_of(lambda: call(ms, ms_models, "get_api_key", str(key_id)))
    check("ms.get_deleted_api_key", status == 404 and code == "ApiKey.NotFound", (code, status))
    for w in created:
        r = call(ms, ms_models, "delete_workspace", w)
        check(f"ms.delete_workspace.{w}", r["isDeleted"] is True, r)
    r = call(ms, ms_models, "list_workspaces", body={"workspaceName": "sdk-ws-"})
    check("ms.workspaces_gone", r["totalCount"] == 0, r)


def ram_ops():
    for name in ["sdk-u1", "sdk-u2", "sdk-u3"]:
        r = call(ram, ram_models, "create_user", body={"UserName": name, "DisplayName": name.upper(), "Comments": "from the SDK"})
        check(f"ram.create_user.{name}", r["User"]["UserName"] == name and r["User"]["UserId"], r)
    code, status = error_of(lambda: call(ram, ram_models, "create_user", body={"UserName": "sdk-u1"}))
    check("ram.create_user.duplicate", (code, status) == ("EntityAlreadyExists.User", 409), (code, status))
    code, status = error_of(lambda: call(ram, ram_models, "get_user", body={"UserName": "nobody"}))
    check("ram.get_user.missing", (code, status) == ("EntityNotExist.User", 404), (code, status))
    facts["missing_user_error"] = code

    names, marker, pages = [], None, 0
    while True:
        body = {"MaxItems": 2}
        if marker:
            body["Marker"] = marker
        r = call(ram, ram_models, "list_users", body=body)
        pages += 1
        names += [u["UserName"] for u in r["Users"]["User"]]
        marker = r.get("Marker") if r.get("IsTruncated") else None
        if not marker or pages > 20:
            break
    check("ram.list_users.pages", pages >= 2 and {"sdk-u1", "sdk-u2", "sdk-u3"} <= set(names)
          and len(names) == len(set(names)), (pages, names))
    facts["ram_user_pages"] = pages

    r = call(ram, ram_models, "update_user", body={"UserName": "sdk-u1", "NewDisplayName": "First"})
    check("ram.update_user", r["User"]["DisplayName"] == "First", r)
    call(ram, ram_models, "create_group", body={"GroupName": "sdk-g", "Comments": "sdk group"})
    call(ram, ram_models, "add_user_to_group", body={"GroupName": "sdk-g", "UserName": "sdk-u1"})
    r = call(ram, ram_models, "list_groups_for_user", body={"UserName": "sdk-u1"})
    check("ram.list_groups_for_user", [g["GroupName"] for g in r["Groups"]["Group"]] == ["sdk-g"], r)
    code, status = error_of(lambda: call(ram, ram_models, "delete_user", body={"UserName": "sdk-u1"}))
    check("ram.delete_user.conflict", (code, status) == ("DeleteConflict.User.Group", 409), (code, status))
    call(ram, ram_models, "remove_user_from_group", body={"GroupName": "sdk-g", "UserName": "sdk-u1"})

    doc = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sfm:CreateIndex", "Resource": "*"}]}
    r = call(ram, ram_models, "create_policy", body={"PolicyName": "sdk-policy", "PolicyDocument": json.dumps(doc),
                                                      "Description": "sdk"})
    check("ram.create_policy", r["Policy"]["DefaultVersion"] == "v1", r)
    for n in range(2, 8):
        doc["Statement"][0]["Action"] = f"sfm:Action{n}"
        call(ram, ram_models, "create_policy_version", body={
            "PolicyName": "sdk-policy", "PolicyDocument": json.dumps(doc), "SetAsDefault": True,
            "RotateStrategy": "DeleteOldestNonDefaultVersionWhenLimitExceeded"})
    r = call(ram, ram_models, "list_policy_versions", body={"PolicyName": "sdk-policy", "PolicyType": "Custom"})
    versions = [v["VersionId"] for v in r["PolicyVersions"]["PolicyVersion"]]
    check("ram.policy_versions.rotated", versions == ["v3", "v4", "v5", "v6", "v7"], versions)
    code, status = error_of(lambda: call(ram, ram_models, "create_policy_version", body={
        "PolicyName": "sdk-policy", "PolicyDocument": json.dumps(doc)}))
    check("ram.policy_versions.limit", (code, status) == ("LimitExceeded.Policy.Version", 409), (code, status))
    r = call(ram, ram_models, "get_policy", body={"PolicyName": "sdk-policy", "PolicyType": "Custom"})
    check("ram.get_policy", r["DefaultPolicyVersion"]["VersionId"] == "v7"
          and json.loads(r["DefaultPolicyVersion"]["PolicyDocument"])["Statement"][0]["Action"] == "sfm:Action7", r)

    call(ram, ram_models, "attach_policy_to_user", body={"PolicyType": "Custom", "PolicyName": "sdk-policy", "UserName": "sdk-u2"})
    call(ram, ram_models, "attach_policy_to_group", body={"PolicyType": "System", "PolicyName": "AliyunBailianReadOnlyAccess", "GroupName": "sdk-g"})
    r = call(ram, ram_models, "list_policies_for_user", body={"UserName": "sdk-u2"})
    check("ram.list_policies_for_user", [p["PolicyName"] for p in r["Policies"]["Policy"]] == ["sdk-policy"], r)
    r = call(ram, ram_models, "list_entities_for_policy", body={"PolicyName": "sdk-policy", "PolicyType": "Custom"})
    check("ram.list_entities_for_policy", [u["UserName"] for u in r["Users"]["User"]] == ["sdk-u2"]
          and r["Groups"]["Group"] == [] and r["Roles"]["Role"] == [], r)
    code, status = error_of(lambda: call(ram, ram_models, "delete_policy", body={"PolicyName": "sdk-policy", "CascadingDelete": True}))
    check("ram.delete_policy.attached", (code, status) == ("DeleteConflict.Policy.User", 409), (code, status))
    call(ram, ram_models, "detach_policy_from_user", body={"PolicyType": "Custom", "PolicyName": "sdk-policy", "UserName": "sdk-u2"})
    call(ram, ram_models, "detach_policy_from_group", body={"PolicyType": "System", "PolicyName": "AliyunBailianReadOnlyAccess", "GroupName": "sdk-g"})
    code, status = error_of(lambda: call(ram, ram_models, "delete_policy", body={"PolicyName": "sdk-policy"}))
    check("ram.delete_policy.versions", (code, status) == ("DeleteConflict.Policy.Version", 409), (code, status))
    call(ram, ram_models, "delete_policy", body={"PolicyName": "sdk-policy", "CascadingDelete": True})

    trust = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                            "Principal": {"RAM": ["acs:ram::1378030599924858:root"]}}], "Version": "1"}
    r = call(ram, ram_models, "create_role", body={"RoleName": "sdk-role", "AssumeRolePolicyDocument": json.dumps(trust),
                                                    "Description": "sdk role", "Tag": [{"Key": "env", "Value": "test"}]})
    check("ram.create_role", r["Role"]["Arn"].endswith(":role/sdk-role"), r)
    call(ram, ram_models, "update_role", body={"RoleName": "sdk-role", "NewMaxSessionDuration": 7200})
    r = call(ram, ram_models, "get_role", body={"RoleName": "sdk-role"})
    check("ram.update_role", r["Role"]["MaxSessionDuration"] == 7200
          and json.loads(r["Role"]["AssumeRolePolicyDocument"]) == trust, r)
    call(ram, ram_models, "tag_resources", body={"ResourceType": "role", "ResourceNames": ["sdk-role"],
                                                 "Tag": [{"Key": "team", "Value": "ml"}]})
    r = call(ram, ram_models, "list_tag_resources", body={"ResourceType": "role", "ResourceNames": ["sdk-role"]})
    check("ram.tags", sorted((t["TagKey"], t["TagValue"]) for t in r["TagResources"]) == [("env", "test"), ("team", "ml")], r)
    r = call(ram, ram_models, "list_roles", body={"Tag": [{"Key": "team", "Value": "ml"}]})
    check("ram.list_roles.tag_filter", [x["RoleName"] for x in r["Roles"]["Role"]] == ["sdk-role"], r)
    call(ram, ram_models, "untag_resources", body={"ResourceType": "role", "ResourceNames": ["sdk-role"], "All": True})
    call(ram, ram_models, "delete_role", body={"RoleName": "sdk-role"})
    call(ram, ram_models, "delete_group", body={"GroupName": "sdk-g"})
    for name in ["sdk-u1", "sdk-u2"]:
        call(ram, ram_models, "delete_user", body={"UserName": name})
    code, _ = error_of(lambda: call(ram, ram_models, "get_user", body={"UserName": "sdk-u1"}))
    check("ram.delete_user", code == "EntityNotExist.User", code)


def pai_ops():
    ids = []
    for name in ["sdk_pai_1", "sdk_pai_2", "sdk_pai_3"]:
        r = call(pai, pai_models, "create_workspace", body={"WorkspaceName": name, "Description": "sdk", "EnvTypes": ["prod"]})
        ids.append(r["WorkspaceId"])
    seen, page = [], 1
    while True:
        r = call(pai, pai_models, "list_workspaces", body={"PageNumber": page, "PageSize": 2, "WorkspaceName": "sdk_pai_"})
        seen += [w["WorkspaceId"] for w in r["Workspaces"]]
        if page * 2 >= r["TotalCount"] or page > 10:
            break
        page += 1
    check("pai.list_workspaces.pages", page == 2 and sorted(seen) == sorted(ids), (page, seen))
    facts["pai_workspace_pages"] = page
    ws = ids[0]
    call(pai, pai_models, "update_workspace", ws, body={"DisplayName": "SDK PAI", "Description": "updated"})
    r = call(pai, pai_models, "get_workspace", ws, body={"Verbose": True})
    check("pai.update_workspace", r["DisplayName"] == "SDK PAI" and r["Description"] == "updated" and r["EnvTypes"] == ["prod"], r)

    user = call(ram, ram_models, "get_user", body={"UserName": "sdk-u3"})["User"]
    r = call(pai, pai_models, "create_member", ws, body={"Members": [{"UserId": user["UserId"], "Roles": ["PAI.AlgoDeveloper"]}]})
    member = r["Members"][0]["MemberId"]
    call(pai, pai_models, "add_member_role", ws, member, "PAI.WorkspaceAdmin")
    r = call(pai, pai_models, "list_members", ws, body={"PageNumber": 1, "PageSize": 50})
    check("pai.add_member_role", r["TotalCount"] == 1 and sorted(r["Members"][0]["Roles"]) == ["PAI.AlgoDeveloper", "PAI.WorkspaceAdmin"]
          and r["Members"][0]["UserId"] == user["UserId"], r)
    call(pai, pai_models, "remove_member_role", ws, member, "PAI.AlgoDeveloper")
    r = call(pai, pai_models, "list_members", ws, body={"Roles": "PAI.WorkspaceAdmin"})
    check("pai.remove_member_role", r["Members"][0]["Roles"] == ["PAI.WorkspaceAdmin"], r)
    code, status = error_of(lambda: call(pai, pai_models, "get_workspace", "999999", body={}))
    check("pai.missing_workspace", status == 404, (code, status))
    call(pai, pai_models, "delete_members", ws, body={"MemberIds": member})
    r = call(pai, pai_models, "list_members", ws, body={})
    check("pai.delete_members", r["TotalCount"] == 0, r)
    for w in ids:
        call(pai, pai_models, "delete_workspace", w)
    r = call(pai, pai_models, "list_workspaces", body={"WorkspaceName": "sdk_pai_"})
    check("pai.delete_workspace", r["TotalCount"] == 0, r)
    call(ram, ram_models, "delete_user", body={"UserName": "sdk-u3"})


def wrong_secret():
    bad = Ram(config(secret=SECRET + "-wrong"))
    code, status = error_of(lambda: call(bad, ram_models, "list_users", body={}))
    check("auth.wrong_secret", (code, status) == ("SignatureDoesNotMatch", 400), (code, status))
    facts["wrong_secret_error"] = code
    bad_ms = ModelStudio(config(secret=SECRET + "-wrong"))
    code, _ = error_of(lambda: call(bad_ms, ms_models, "list_workspaces", body={}))
    check("auth.wrong_secret.modelstudio", code == "SignatureDoesNotMatch", code)


def behind_msctls_back():
    """Out-of-band changes in the workspace msctl manages, for `msctl drift` to report."""
    r = call(ms, ms_models, "list_workspaces", body={"workspaceName": MANAGED})
    matches = [w for w in r["workspaces"] if w["workspaceName"] == MANAGED]
    check("drift.managed_workspace_found", len(matches) == 1, r)
    if not matches:
        return
    ws = matches[0]["workspaceId"]
    call(ms, ms_models, "update_model_permissions", body={
        "workspaceId": ws, "models": [{"model": "qwen-max", "inference": True}]})
    call(ms, ms_models, "create_api_key", body={"workspaceId": ws, "description": "sdk-intruder"})
    facts["drift_changes"] = ["model qwen-max granted", "api key sdk-intruder created"]


for step in [model_studio, ram_ops, pai_ops, wrong_secret, behind_msctls_back]:
    try:
        step()
    except Exception as e:  # report and carry on, so one mismatch does not hide the others
        check(f"{step.__name__}.completed", False, f"{type(e).__name__}: {e} {traceback.format_exc(limit=3)}")
    else:
        checks[f"{step.__name__}.completed"] = True

json.dump({"checks": checks, "failures": failures, "facts": facts}, sys.stdout, indent=1, sort_keys=True)
print()
