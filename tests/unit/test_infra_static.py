"""Static checks of infra/ (no Azure, no Bicep compiler): the resources issue 9 asks for are declared
with the properties that matter, role assignments give the app's identity the right built-in roles on
the right resources, secrets only travel as @secure() parameters into Key Vault and out as Key Vault
references, modules are called with parameters they declare, and azd's files agree with the template.
"""
from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Mapping
from types import ModuleType

import pytest

from tests.unit.test_settings_consistency import (
    ROOT,
    Decl,
    bicep_app_settings,
    declarations,
    doc_block_rows,
    object_entries,
    object_get,
    read_bicep_files,
    strip_comments,
)

INFRA = ROOT / "infra"
MAIN = "infra/main.bicep"
FUNCTION_APP = "infra/modules/functionapp.bicep"

# Built-in role definition ids (the same in every tenant).
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Communication and Email Service Owner": "09976791-48a7-449e-bb21-39d1a415f350",
}
# role -> the resource type its assignment must be scoped to
ROLE_SCOPES = {
    "Storage Blob Data Owner": "Microsoft.Storage/storageAccounts",
    "Storage Queue Data Contributor": "Microsoft.Storage/storageAccounts",
    "Storage Table Data Contributor": "Microsoft.Storage/storageAccounts",
    "Key Vault Secrets User": "Microsoft.KeyVault/vaults",
    "Monitoring Metrics Publisher": "Microsoft.Insights/components",
    "Communication and Email Service Owner": "Microsoft.Communication/communicationServices",
}
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SECRET_PARAM_NAME = re.compile(r"(secret|password|signingkey|encryptionkey|accesskey)", re.I)
# App settings that Flex Consumption rejects or ignores, or that would need shared keys.
FLEX_FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD", "WEBSITE_NODE_DEFAULT_VERSION", "AzureWebJobsStorage",
}


# ================================================================================ helpers
@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    found = read_bicep_files()
    assert MAIN in found and FUNCTION_APP in found, sorted(found)
    return found


@pytest.fixture(scope="module")
def decls(texts: dict[str, str]) -> dict[str, list[Decl]]:
    return {file: declarations(text) for file, text in texts.items()}


def resources(decls: Mapping[str, list[Decl]], type_: str) -> list[tuple[str, Decl]]:
    return [(f, d) for f, ds in decls.items() for d in ds if d.kind == "resource" and d.resource_type == type_]


def one_resource(decls: Mapping[str, list[Decl]], type_: str) -> tuple[str, Decl]:
    found = [r for r in resources(decls, type_) if "existing" not in r[1].value.split("{", 1)[0]]
    assert len(found) == 1, f"expected one {type_}, found {[d.name for _, d in found]}"
    return found[0]


def by_name(decls: Iterable[Decl], kind: str) -> dict[str, Decl]:
    return {d.name: d for d in decls if d.kind == kind}


def resolve_guids(expr: str, variables: Mapping[str, Decl], seen: frozenset[str] = frozenset()) -> set[str]:
    """GUIDs in ``expr``, following the variables it names (not inside strings' interpolation only)."""
    guids = {g.lower() for g in GUID.findall(expr)}
    for name in set(re.findall(r"\b([A-Za-z_]\w*)\b", expr)) - seen:
        if name in variables:
            guids |= resolve_guids(variables[name].value, variables, seen | {name})
    return guids


def role_assignments(decls: Mapping[str, list[Decl]]) -> list[dict[str, object]]:
    """Every role assignment: file, name, GUIDs of its role, principal expression, scope resource type."""
    found = []
    for file, ds in decls.items():
        variables = by_name(ds, "var")
        local_resources = by_name(ds, "resource")
        for d in ds:
            if d.kind != "resource" or d.resource_type != "Microsoft.Authorization/roleAssignments":
                continue
            role_expr = object_get(d.body, "properties.roleDefinitionId") or ""
            guids = resolve_guids(role_expr, variables)
            loop = re.match(r"^\[\s*for\s+(\w+)\s+in\s+(.*?):", d.value, re.S)
            if loop and re.search(rf"\b{loop.group(1)}\b", role_expr):
                guids |= resolve_guids(loop.group(2), variables)
            scope = (object_get(d.body, "scope") or "").strip()
            scope_type = local_resources[scope].resource_type if scope in local_resources else ""
            found.append({
                "file": file,
                "name": d.name,
                "guids": guids,
                "principal": (object_get(d.body, "properties.principalId") or "").strip(),
                "principal_type": (object_get(d.body, "properties.principalType") or "").strip(),
                "scope_type": scope_type,
            })
    return found


def module_calls(decls: Mapping[str, list[Decl]]) -> list[tuple[str, Decl]]:
    return [(f, d) for f, ds in decls.items() for d in ds if d.kind == "module"]


def string_literals(text: str) -> list[str]:
    """The literal parts of every string in a Bicep text (interpolations cut out)."""
    stripped = strip_comments(text)
    out, i = [], 0
    while i < len(stripped):
        if stripped[i] == "'":
            j = i + 1
            buf = []
            if stripped.startswith("'''", i):
                end = stripped.index("'''", i + 3)
                out.append(stripped[i + 3:end])
                i = end + 3
                continue
            while stripped[j] != "'":
                if stripped[j] == "\\":
                    buf.append(stripped[j:j + 2])
                    j += 2
                    continue
                if stripped.startswith("${", j):
                    depth, j = 0, j + 2
                    while not (stripped[j] == "}" and depth == 0):
                        depth += {"{": 1, "}": -1}.get(stripped[j], 0)
                        j += 1
                    buf.append(" ")
                    j += 1
                    continue
                buf.append(stripped[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
            continue
        i += 1
    return out


def _load_hook(name: str) -> ModuleType:
    path = INFRA / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bookbridge_hook_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ====================================================================== the resources asked for
def test_flex_consumption_plan(decls: dict[str, list[Decl]]) -> None:
    _, plan = one_resource(decls, "Microsoft.Web/serverfarms")
    assert object_get(plan.body, "sku.name") == "'FC1'"
    assert object_get(plan.body, "sku.tier") == "'FlexConsumption'"
    assert object_get(plan.body, "properties.reserved") == "true"  # Linux


def test_function_app_with_function_app_config(decls: dict[str, list[Decl]]) -> None:
    file, site = one_resource(decls, "Microsoft.Web/sites")
    body = site.body
    assert file == FUNCTION_APP
    assert "functionapp" in (object_get(body, "kind") or "") and "linux" in (object_get(body, "kind") or "")
    assert object_get(body, "properties.serverFarmId") == "plan.id"
    assert object_get(body, "properties.httpsOnly") == "true"
    config = object_get(body, "properties.functionAppConfig")
    assert config, "Microsoft.Web/sites has no functionAppConfig"
    assert object_get(config, "runtime.name") == "'python'"
    assert object_get(config, "runtime.version") == "'3.11'"
    assert object_get(config, "deployment.storage.type") == "'blobContainer'"
    assert object_get(config, "deployment.storage.value") == "deploymentContainerUrl"
    assert object_get(config, "deployment.storage.authentication.type") == "'UserAssignedIdentity'"
    identity = object_get(config, "deployment.storage.authentication.userAssignedIdentityResourceId")
    assert identity == "identityResourceId"
    assert object_get(config, "scaleAndConcurrency.maximumInstanceCount") == "maximumInstanceCount"
    assert object_get(config, "scaleAndConcurrency.instanceMemoryMB") == "instanceMemoryMB"
    # one user-assigned identity, also used for Key Vault references
    assert object_get(body, "identity.type") == "'UserAssigned'"
    assert "identityResourceId" in (object_get(body, "identity.userAssignedIdentities") or "")
    assert object_get(body, "properties.keyVaultReferenceIdentity") == "identityResourceId"


def test_deployment_container_is_in_the_storage_account(decls: dict[str, list[Decl]]) -> None:
    file, container = one_resource(decls, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert object_get(container.body, "name") == "deploymentContainerName"
    outputs = by_name(decls[file], "output")
    assert "deploymentContainer.name" in outputs["deploymentContainerUrl"].value
    assert "primaryEndpoints.blob" in outputs["deploymentContainerUrl"].value
    assert "storage.outputs.deploymentContainerUrl" in _module(decls, "functionApp").body


def test_storage_account_without_shared_keys(decls: dict[str, list[Decl]]) -> None:
    _, storage = one_resource(decls, "Microsoft.Storage/storageAccounts")
    assert object_get(storage.body, "properties.allowSharedKeyAccess") == "false"
    assert object_get(storage.body, "properties.allowBlobPublicAccess") == "false"
    assert object_get(storage.body, "properties.minimumTlsVersion") == "'TLS1_2'"


def test_queues_and_tables_match_the_architecture(decls: dict[str, list[Decl]]) -> None:
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = architecture.split("## Storage", 1)[1].split("\n## ", 1)[0]
    tables = {m for m in re.findall(r"^\| `([a-z]+)` \|", section, re.M)}
    queues_section = architecture.split("## Queues", 1)[1].split("\n## ", 1)[0]
    queues = set(re.findall(r"`([a-z]+(?:-poison)?)`", "\n".join(
        line.split("|")[1] for line in queues_section.splitlines() if line.startswith("| `"))))
    variables = by_name(decls[MAIN], "var")
    declared_tables = set(re.findall(r"'([^']+)'", variables["tableNames"].value))
    declared_queues = set(re.findall(r"'([^']+)'", variables["queueNames"].value))
    assert declared_tables == tables
    assert declared_queues == queues
    assert {"meetings", "communications", "meetings-poison", "communications-poison", "backfill"} <= queues
    one_resource(decls, "Microsoft.Storage/storageAccounts")
    assert resources(decls, "Microsoft.Storage/storageAccounts/queueServices/queues")
    assert resources(decls, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert "queueNames: queueNames" in _module(decls, "storage").body
    assert "tableNames: tableNames" in _module(decls, "storage").body


def test_key_vault_uses_rbac(decls: dict[str, list[Decl]]) -> None:
    _, vault = one_resource(decls, "Microsoft.KeyVault/vaults")
    assert object_get(vault.body, "properties.enableRbacAuthorization") == "true"
    assert object_get(vault.body, "properties.accessPolicies") is None
    names = {object_get(d.body, "name") for _, d in resources(decls, "Microsoft.KeyVault/vaults/secrets")}
    assert {"'microsoft-client-secret'", "'token-encryption-keys'", "'link-signing-key'"} <= names


def test_application_insights_on_log_analytics_with_identity_ingestion(decls: dict[str, list[Decl]]) -> None:
    file, insights = one_resource(decls, "Microsoft.Insights/components")
    workspace_file, workspace = one_resource(decls, "Microsoft.OperationalInsights/workspaces")
    assert file == workspace_file
    assert object_get(insights.body, "properties.WorkspaceResourceId") == f"{workspace.name}.id"
    assert object_get(insights.body, "properties.DisableLocalAuth") == "true"
    settings = {s.name: s.value for s in bicep_app_settings(read_bicep_files())[0]}
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "'ClientId=${identityClientId};Authorization=AAD'"


def test_storage_is_reached_with_the_managed_identity(texts: dict[str, str]) -> None:
    found, problems = bicep_app_settings(texts)
    assert problems == []
    settings = {s.name: s.value for s in found}
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert not FLEX_FORBIDDEN_SETTINGS & set(settings), "settings Flex Consumption rejects, or needing shared keys"


def test_optional_communication_services_email(decls: dict[str, list[Decl]], texts: dict[str, str]) -> None:
    params = by_name(decls[MAIN], "param")
    assert params["enableAcsEmail"].type == "bool"
    module = _module(decls, "communication")
    assert re.match(r"^if\s*\(\s*enableAcsEmail\s*\)", module.value), "the ACS module must be conditional"
    _, acs = one_resource(decls, "Microsoft.Communication/communicationServices")
    _, email = one_resource(decls, "Microsoft.Communication/emailServices")
    _, domain = one_resource(decls, "Microsoft.Communication/emailServices/domains")
    assert object_get(domain.body, "properties.domainManagement") == "'AzureManaged'"
    assert object_get(domain.body, "parent") == email.name
    assert f"{domain.name}.id" in (object_get(acs.body, "properties.linkedDomains") or "")
    outputs = by_name(decls["infra/modules/communication.bicep"], "output")
    assert "mailFromSenderDomain" in outputs["senderAddress"].value
    assert "hostName" in outputs["endpoint"].value
    settings = {s.name: s for s in bicep_app_settings(texts)[0]}
    assert settings["MAIL_TRANSPORT"].value == "enableAcsEmail ? 'acs' : 'smtp'"
    assert settings["ACS_EMAIL_ENDPOINT"].value == "acsEndpoint"
    assert "acsSenderAddress" in settings["MAIL_FROM"].value
    app = _module(decls, "functionApp").body
    assert "communication.outputs.endpoint" in app and "communication.outputs.senderAddress" in app


def test_outputs_for_azd(decls: dict[str, list[Decl]]) -> None:
    outputs = by_name(decls[MAIN], "output")
    for name in ("FUNCTION_APP_NAME", "FUNCTION_APP_URL", "STORAGE_ACCOUNT_NAME", "KEY_VAULT_NAME",
                 "AZURE_RESOURCE_GROUP", "MICROSOFT_REDIRECT_URI", "MICROSOFT_ADMIN_CONSENT_REDIRECT_URI"):
        assert name in outputs, f"main.bicep does not output {name}"
    assert outputs["MICROSOFT_REDIRECT_URI"].value.endswith("/api/auth/microsoft/callback'")
    assert outputs["MICROSOFT_ADMIN_CONSENT_REDIRECT_URI"].value.endswith("/api/auth/microsoft/admin-consent/callback'")


# ======================================================================== role assignments
def _module(decls: Mapping[str, list[Decl]], name: str) -> Decl:
    return by_name(decls[MAIN], "module")[name]


@pytest.mark.parametrize("role", sorted(ROLE_IDS))
def test_app_identity_gets_role(decls: dict[str, list[Decl]], role: str) -> None:
    matches = [a for a in role_assignments(decls) if ROLE_IDS[role] in a["guids"]]
    assert matches, f"no role assignment of {role} ({ROLE_IDS[role]})"
    to_app = [a for a in matches if a["principal"] == "appPrincipalId"]
    assert to_app, f"{role} is not assigned to the app's identity (principalId: appPrincipalId)"
    for a in to_app:
        assert a["scope_type"] == ROLE_SCOPES[role], f"{role} scoped to {a['scope_type']!r}"
        assert a["principal_type"] == "'ServicePrincipal'"


def test_app_principal_is_the_function_apps_identity(decls: dict[str, list[Decl]]) -> None:
    """Every module taking appPrincipalId gets the identity the Function App runs as."""
    _, identity = one_resource(decls, "Microsoft.ManagedIdentity/userAssignedIdentities")
    identity_outputs = by_name(decls["infra/modules/identity.bicep"], "output")
    assert identity_outputs["principalId"].value == f"{identity.name}.properties.principalId"
    assert identity_outputs["resourceId"].value == f"{identity.name}.id"
    modules = by_name(decls[MAIN], "module")
    identity_module = next(n for n, m in modules.items() if m.type == "modules/identity.bicep")
    takers = [name for name, m in modules.items() if "appPrincipalId:" in m.body]
    assert set(takers) == {"storage", "keyVault", "monitoring", "communication"}
    for name in takers:
        assert dict(object_entries(object_get(modules[name].body, "params") or "{}"))["appPrincipalId"] == \
            f"{identity_module}.outputs.principalId"
    app_params = dict(object_entries(object_get(modules["functionApp"].body, "params") or "{}"))
    assert app_params["identityResourceId"] == f"{identity_module}.outputs.resourceId"
    assert app_params["identityClientId"] == f"{identity_module}.outputs.clientId"
    # and no other principal gets write access to data
    writers = {ROLE_IDS[r] for r in ROLE_IDS}
    for a in role_assignments(decls):
        if a["principal"] != "appPrincipalId":
            assert not a["guids"] & writers, f"{a['name']} gives a data-writing role to {a['principal']}"


# ============================================================================== secrets
def test_secret_parameters_are_secure_and_have_no_default(decls: dict[str, list[Decl]]) -> None:
    params = by_name(decls[MAIN], "param")
    for name in ("microsoftClientSecret", "tokenEncryptionKeys", "linkSigningKey", "smtpPassword"):
        assert name in params, f"main.bicep lacks param {name}"
    for file, ds in decls.items():
        for p in (d for d in ds if d.kind == "param"):
            looks_secret = (SECRET_PARAM_NAME.search(p.name) and p.type == "string"
                            and not re.search(r"(Uri|Url|Id|Name)$", p.name))
            if looks_secret:
                assert "@secure()" in p.decorators, f"{file}: param {p.name} holds a secret but is not @secure()"
            if "@secure()" in p.decorators:
                assert p.value in ("", "''"), f"{file}: secure param {p.name} has a default value"


def test_secrets_flow_only_into_key_vault(decls: dict[str, list[Decl]]) -> None:
    for file, ds in decls.items():
        secure = {d.name for d in ds if d.kind == "param" and "@secure()" in d.decorators}
        for d in ds:
            if d.kind == "param":
                continue
            used = {n for n in secure if re.search(rf"\b{n}\b", d.value)}
            if not used:
                continue
            if d.kind == "module":
                assert d.type == "modules/keyvault.bicep", f"{file}: {used} passed to module {d.type}"
            elif d.kind == "resource":
                assert d.resource_type == "Microsoft.KeyVault/vaults/secrets", f"{file}: {used} used in {d.name}"
                for n in used:
                    assert object_get(d.body, "properties.value") == n
            else:
                # vars and outputs: only emptiness tests may look at a secret
                for n in used:
                    rest = re.sub(rf"empty\(\s*{n}\s*\)", "", d.value)
                    assert not re.search(rf"\b{n}\b", rest), f"{file}: {d.kind} {d.name} uses {n}"


def test_secret_app_settings_are_key_vault_references(texts: dict[str, str]) -> None:
    settings = {s.name: s.value for s in bicep_app_settings(texts)[0]}
    for name in ("MICROSOFT_CLIENT_SECRET", "TOKEN_ENCRYPTION_KEYS", "LINK_SIGNING_KEY", "SMTP_PASSWORD"):
        assert re.fullmatch(r"'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'", settings[name]), name


_RUN = re.compile(r"[A-Za-z0-9+/_~.-]{20,}={0,2}")
_SUSPICIOUS = [
    re.compile(r"(AccountKey|SharedAccessSignature|InstrumentationKey|AccessKey|password|secret)\s*=", re.I),
    re.compile(r"-----BEGIN"),
    re.compile(r"Q~[A-Za-z0-9_.~-]{20,}"),  # an Entra client secret
]


def _looks_random(run: str) -> bool:
    """A long run mixing digits, upper and lower case: a key, a token, a secret (not a word or a path)."""
    chunks = [c for c in re.split(r"[/.]", run) if c]
    longest = max(chunks, key=len) if chunks else ""
    return (len(longest) >= 20 and any(c.isdigit() for c in longest) and any(c.isupper() for c in longest)
            and any(c.islower() for c in longest))


def literals_that_look_secret(text: str) -> list[str]:
    """String literals of a Bicep text that look like a key, a password or a connection string with one."""
    found = []
    for literal in string_literals(text):
        candidate = GUID.sub("<guid>", literal)
        if any(p.search(candidate) for p in _SUSPICIOUS) or any(_looks_random(r) for r in _RUN.findall(candidate)):
            found.append(literal)
    return found


def test_no_literal_looks_like_a_key(texts: dict[str, str]) -> None:
    for file, text in texts.items():
        assert literals_that_look_secret(text) == [], f"{file}: literals look like secrets"
        assert "listKeys(" not in text and "listSecrets(" not in text, f"{file} reads keys"


@pytest.mark.parametrize("literal", [
    "q1Zr8yB3kTzv0cX9sFj2LmN4pQw7RtY6uIoPaSdFgHk=",                              # a Fernet key
    "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=abc;EndpointSuffix=x",  # a storage key
    "abc8Q~Zr8yB3kTzv0cX9sFj2LmN4pQw7RtY6uIo",                                 # an Entra client secret
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x",
])
def test_literal_scan_catches_an_injected_key(texts: dict[str, str], literal: str) -> None:
    injected = texts[FUNCTION_APP].replace("CORS_ALLOWED_ORIGINS: corsAllowedOrigins",
                                           f"CORS_ALLOWED_ORIGINS: '{literal}'")
    assert literals_that_look_secret(injected) == [literal]


def test_parameters_file_only_maps_azd_variables(decls: dict[str, list[Decl]]) -> None:
    data = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    values = {k: v["value"] for k, v in data["parameters"].items()}
    params = by_name(decls[MAIN], "param")
    for name, value in values.items():
        assert name in params, f"main.parameters.json sets {name}, which main.bicep does not declare"
        assert isinstance(value, str) and re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", value), \
            f"{name}: only ${{AZD_VARIABLE}} references, never literal values ({value!r})"
    for name, p in params.items():
        if not p.value:  # no default: azd must supply it
            assert name in values, f"main.bicep param {name} has no default and no mapping"
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    for name in ("microsoftClientSecret", "tokenEncryptionKeys", "linkSigningKey", "smtpPassword"):
        assert "=" not in values[name], f"{name} must not have a default in main.parameters.json"


# ===================================================================== modules and azd
def test_modules_exist_and_get_the_parameters_they_declare(decls: dict[str, list[Decl]]) -> None:
    for file, module in module_calls(decls):
        path = (ROOT / file).parent / module.type
        assert path.exists(), f"{file}: module {module.type} does not exist"
        target = by_name(declarations(path.read_text(encoding="utf-8")), "param")
        given = dict(object_entries(object_get(module.body, "params") or "{}"))
        unknown = set(given) - set(target)
        missing = {n for n, p in target.items() if not p.value} - set(given)
        assert not unknown, f"{file}: module {module.name} gets undeclared params {sorted(unknown)}"
        assert not missing, f"{file}: module {module.name} misses required params {sorted(missing)}"
        outputs = by_name(declarations(path.read_text(encoding="utf-8")), "output")
        for other_file, other in [(f, d) for f, ds in decls.items() for d in ds]:
            if other_file != file:
                continue
            for out in re.findall(rf"\b{module.name}\.outputs\.(\w+)", other.value):
                assert out in outputs, f"{file}: {other.name} uses {module.name}.outputs.{out}, not declared"


def test_every_param_is_used(decls: dict[str, list[Decl]]) -> None:
    for file, ds in decls.items():
        body = "\n".join(d.value for d in ds if d.kind != "param")
        for p in (d for d in ds if d.kind == "param"):
            assert re.search(rf"\b{p.name}\b", body), f"{file}: param {p.name} is never used"


def test_azure_yaml_deploys_the_tagged_function_app(decls: dict[str, list[Decl]]) -> None:
    text = "\n".join(line for line in (ROOT / "azure.yaml").read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#")) + "\n"
    service = re.search(r"^services:\n  (\w[\w-]*):\n((?:    .*\n)+)", text, re.M)
    assert service, "azure.yaml declares no service"
    name, body = service.group(1), service.group(2)
    assert re.search(r"^    host: function$", body, re.M)
    assert re.search(r"^    language: python$", body, re.M)
    assert re.search(r"^    project: \.$", body, re.M)
    assert re.search(r"^  path: infra$", text, re.M) and re.search(r"^  module: main$", text, re.M)
    _, site = one_resource(decls, "Microsoft.Web/sites")
    assert f"'azd-service-name': '{name}'" in site.body
    for script in re.findall(r"run: python3? (\S+)", text):
        assert (ROOT / script).exists(), f"azure.yaml runs {script}, which does not exist"


def test_azd_secrets_stay_out_of_git_and_the_package() -> None:
    """The azd environment (.azure/<env>/.env) holds the secrets: never commit or deploy it."""
    for name in (".gitignore", ".funcignore"):
        lines = {line.strip().rstrip("/") for line in (ROOT / name).read_text(encoding="utf-8").splitlines()}
        assert ".azure" in lines, f"{name} must list .azure/"
    funcignore = {line.strip().rstrip("/") for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()}
    for folder in ("infra", "tests", "devhost", "docs", "tools", ".venv", "local.settings.json"):
        assert folder in funcignore, f".funcignore must exclude {folder}"


# ================================================================================ host.json
def test_host_json_choices() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    queues = host["extensions"]["queues"]
    assert queues["messageEncoding"] == "base64"  # shared/adapters/queue_store.py sends base64
    assert 1 <= queues["batchSize"] <= 32 and queues["maxDequeueCount"] >= 1
    assert "visibilityTimeout" in queues and "functionTimeout" in host
    excluded = host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")
    assert {"Request", "Exception"} <= set(excluded)
    assert host["extensions"]["http"]["routePrefix"] == "api"
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for key in ("functionTimeout", "batchSize", "newBatchThreshold", "maxPollingInterval", "visibilityTimeout",
                "maxDequeueCount", "messageEncoding", "samplingSettings", "extensionBundle"):
        assert f"`{key}`" in doc or f".{key}`" in doc, f"docs/deploy.md does not explain host.json {key}"
    # the values the doc states are the values in host.json
    for key in ("batchSize", "newBatchThreshold", "maxDequeueCount"):
        assert f"`extensions.queues.{key}` | `{queues[key]}`" in doc, f"docs/deploy.md states another {key}"
    for key in ("visibilityTimeout", "maxPollingInterval"):
        assert f"`extensions.queues.{key}` | `{queues[key]}`" in doc, f"docs/deploy.md states another {key}"
    assert f"`functionTimeout` | `{host['functionTimeout']}`" in doc


# ================================================================================ azd hooks
def test_preprovision_generates_missing_keys_and_requires_the_entra_app() -> None:
    hook = _load_hook("preprovision")
    generate, problems = hook.check_environment({})
    assert set(generate) == {"TOKEN_ENCRYPTION_KEYS", "LINK_SIGNING_KEY"}
    assert [p.split(" ")[0] for p in problems] == ["MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET"]
    from cryptography.fernet import Fernet

    Fernet(generate["TOKEN_ENCRYPTION_KEYS"].encode("ascii"))  # a real Fernet key
    assert len(generate["LINK_SIGNING_KEY"]) >= 16
    assert not generate["LINK_SIGNING_KEY"].startswith("-")


def test_preprovision_accepts_a_ready_environment_and_rotation_lists() -> None:
    hook = _load_hook("preprovision")
    env = {
        "MICROSOFT_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "MICROSOFT_CLIENT_SECRET": "x",
        "TOKEN_ENCRYPTION_KEYS": f"{hook.generate_fernet_key()}, {hook.generate_fernet_key()}",
        "LINK_SIGNING_KEY": hook.generate_signing_key(),
    }
    assert hook.check_environment(env) == ({}, [])


def test_preprovision_rejects_bad_values() -> None:
    hook = _load_hook("preprovision")
    env = {
        "MICROSOFT_CLIENT_ID": "bookbridge",
        "MICROSOFT_CLIENT_SECRET": "x",
        "TOKEN_ENCRYPTION_KEYS": f"{hook.generate_fernet_key()},not-a-key",
        "LINK_SIGNING_KEY": "short",
        "ENABLE_ACS_EMAIL": "false",
    }
    generate, problems = hook.check_environment(env)
    assert generate == {}
    text = "\n".join(problems)
    for needle in ("GUID", "key 2", "LINK_SIGNING_KEY", "SMTP_HOST", "MAIL_FROM"):
        assert needle in text
    assert "not-a-key" not in text  # values are never echoed


def test_postprovision_prints_both_redirect_uris() -> None:
    hook = _load_hook("postprovision")
    text = hook.next_steps({
        "FUNCTION_APP_NAME": "func-x",
        "MICROSOFT_REDIRECT_URI": "https://func-x.azurewebsites.net/api/auth/microsoft/callback",
        "MICROSOFT_ADMIN_CONSENT_REDIRECT_URI": "https://func-x.azurewebsites.net/api/auth/microsoft/admin-consent/callback",
        "MICROSOFT_CLIENT_ID": "id",
    })
    assert "https://func-x.azurewebsites.net/api/auth/microsoft/callback" in text
    assert "https://func-x.azurewebsites.net/api/auth/microsoft/admin-consent/callback" in text


def test_docs_cover_the_steps() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for needle in ("azd up", "/api/auth/microsoft/callback", "/api/auth/microsoft/admin-consent/callback",
                   "OnlineMeetings.ReadWrite", "Calendars.ReadWrite", "User.Read", "offline_access", "openid",
                   "profile", "Publisher verification", "admin consent", "TOKEN_ENCRYPTION_KEYS",
                   "meetings-poison", "communications-poison", "sweepstate", "## Checklist"):
        assert needle in doc, f"docs/deploy.md does not mention {needle}"
    assert doc_block_rows(doc, "infra-unset") and doc_block_rows(doc, "outside-settings")
    section = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/deploy.md" in section and "<!-- settings:start -->" in section
