"""Settings cannot drift: ``shared.settings.SETTINGS`` is the one list, and this module holds it against

* ``local.settings.sample.json`` (every setting in ``Values``; nothing else but the local-only names that
  docs/deploy.md allow-lists, e.g. ``DEVHOST_*``; no secret values),
* the Bicep app settings (``infra/**/*.bicep``: every required setting set unconditionally, every other
  setting set or listed in docs/deploy.md as deliberately unset; nothing set that is neither a setting
  nor a documented platform setting; secrets only as Key Vault references),
* README.md's settings table (between ``<!-- settings:start -->`` and ``<!-- settings:end -->``, generated
  by ``python -m shared.settings_doc``),
* the code (every ``settings.get/require/get_bool/get_int/get_list("NAME")``, ``%NAME%`` binding
  expression and binding ``connection=`` in ``shared/``, ``functions/`` and ``function_app.py`` names a
  declared setting; nothing reads ``os.environ`` behind ``Settings``' back).

Each check is a function of texts that returns a list of problems, so the tests below first inject a
drift into a copy and see it reported, then apply the same check to the real files.
"""
from __future__ import annotations

import ast
import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from shared import settings_doc
from shared.settings import SETTINGS, Setting

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "local.settings.sample.json"
INFRA = ROOT / "infra"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
README = ROOT / "README.md"
SOURCE_DIRS = ("shared", "functions")
SOURCE_FILES = ("function_app.py",)

# Marker blocks of docs/deploy.md that this module reads (the documentation IS the allow-list).
UNSET_BLOCK = "infra-unset"          # settings of SETTINGS the template deliberately leaves unset
OUTSIDE_BLOCK = "outside-settings"   # names outside SETTINGS: platform settings (azure) and local-only keys

# Required settings that the platform provides on Flex Consumption instead of an app setting, with the
# Bicep text that must be there for it to be true.
PLATFORM_PROVIDED: Mapping[str, re.Pattern[str]] = {
    "FUNCTIONS_WORKER_RUNTIME": re.compile(r"runtime:\s*\{\s*name:\s*'python'", re.S),
}
# Well-known local values that are not secrets even in a secret setting.
NON_SECRET_SAMPLE_VALUES = {"", "UseDevelopmentStorage=true"}
KEY_VAULT_REFERENCE = re.compile(r"^'@Microsoft\.KeyVault\(SecretUri=\$\{[^}]+\}\)'$")


# =============================================================================== Bicep text reader
# Enough of Bicep to read declarations and object literals: strings (with ${} interpolation and
# '''multi-line'''), comments, brackets, statements, decorators. Not a compiler.
class BicepSyntaxError(ValueError):
    """The text is not Bicep this reader understands."""


def _skip_string(text: str, i: int) -> int:
    """Index just after the string literal that starts at ``text[i] == "'"``."""
    if text.startswith("'''", i):
        end = text.find("'''", i + 3)
        if end < 0:
            raise BicepSyntaxError("unterminated ''' string")
        return end + 3
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            return i + 1
        if text.startswith("${", i):
            i = _skip_interpolation(text, i + 2)
            continue
        i += 1
    raise BicepSyntaxError("unterminated string")


def _skip_interpolation(text: str, i: int) -> int:
    """Index just after the ``}`` closing an interpolation whose body starts at ``i``."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _skip_string(text, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        i += 1
    raise BicepSyntaxError("unterminated interpolation")


def strip_comments(text: str) -> str:
    """``text`` with // and /* */ comments blanked (strings untouched, line numbers kept)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            end = _skip_string(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BicepSyntaxError("unterminated block comment")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


_CLOSE = {"{": "}", "[": "]", "(": ")"}


def matching_close(text: str, i: int) -> int:
    """Index just after the bracket that closes ``text[i]`` (one of ``{[(``)."""
    stack = [_CLOSE[text[i]]]
    i += 1
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _skip_string(text, i)
            continue
        if c in _CLOSE:
            stack.append(_CLOSE[c])
        elif c in ")]}":
            if c != stack.pop():
                raise BicepSyntaxError(f"mismatched {c!r}")
            if not stack:
                return i + 1
        i += 1
    raise BicepSyntaxError("unclosed bracket")


def split_top_level(text: str, separators: str = "\n") -> list[str]:
    """Pieces of ``text`` split at ``separators`` outside brackets and strings (stripped, non-empty)."""
    pieces: list[str] = []
    start = i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _skip_string(text, i)
            continue
        if c in _CLOSE:
            i = matching_close(text, i)
            continue
        if c in separators:
            pieces.append(text[start:i])
            start = i + 1
        i += 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


@dataclass(frozen=True)
class Decl:
    """A top-level declaration: ``kind`` (param/var/resource/module/output), ``name``, its decorators,
    ``type`` (resource type, module path or param/output type) and ``value`` (the text after ``=``)."""

    kind: str
    name: str
    type: str
    value: str
    decorators: tuple[str, ...] = ()

    @property
    def resource_type(self) -> str:
        return self.type.split("@", 1)[0]

    @property
    def body(self) -> str:
        """The object literal of a resource or module (inside ``if (...)`` or ``[for ...: ...]``)."""
        return first_object(self.value) or ""


_DECL = {
    "param": re.compile(r"^param\s+(\w+)\s+([^=]+?)\s*(?:=\s*(.*))?$", re.S),
    "var": re.compile(r"^var\s+(\w+)\s*=\s*(.*)$", re.S),
    "resource": re.compile(r"^resource\s+(\w+)\s+'([^']+)'\s*(?:existing\s*)?=\s*(.*)$", re.S),
    "module": re.compile(r"^module\s+(\w+)\s+'([^']+)'\s*=\s*(.*)$", re.S),
    "output": re.compile(r"^output\s+(\w+)\s+(\w+)\s*=\s*(.*)$", re.S),
}


def declarations(text: str) -> list[Decl]:
    """The declarations of a Bicep file, decorators attached."""
    decls: list[Decl] = []
    pending: list[str] = []
    for statement in split_top_level(strip_comments(text)):
        if statement.startswith("@"):
            pending.append(statement)
            continue
        keyword = statement.split(None, 1)[0]
        pattern = _DECL.get(keyword)
        if pattern is None:  # targetScope, metadata, import, ...
            pending = []
            continue
        match = pattern.match(statement)
        if not match:
            raise BicepSyntaxError(f"cannot read {keyword} declaration: {statement[:80]!r}")
        if keyword == "var":
            name, type_, value = match.group(1), "", match.group(2)
        else:
            name, type_, value = match.group(1), match.group(2).strip(), (match.group(3) or "").strip()
        decls.append(Decl(keyword, name, type_, value.strip(), tuple(pending)))
        pending = []
    return decls


def first_object(expr: str) -> str | None:
    """The first ``{...}`` literal in ``expr`` (outside strings), or ``None``."""
    return next(iter(top_level_objects(expr)), None)


def top_level_objects(expr: str) -> Iterator[str]:
    """Every ``{...}`` literal of ``expr`` that is not inside another one (e.g. both ternary branches)."""
    i = 0
    while i < len(expr):
        c = expr[i]
        if c == "'":
            i = _skip_string(expr, i)
            continue
        if c == "{":
            end = matching_close(expr, i)
            yield expr[i:end]
            i = end
            continue
        i += 1


_ENTRY = re.compile(r"^('(?:[^'\\]|\\.)*'|[A-Za-z_][\w]*)\s*:\s*(.*)$", re.S)


def object_entries(obj: str) -> list[tuple[str, str]]:
    """``[(key, value expression)]`` of an object literal ``{...}`` (keys unquoted)."""
    if not obj.startswith("{") or not obj.endswith("}"):
        raise BicepSyntaxError(f"not an object literal: {obj[:40]!r}")
    entries = []
    for piece in split_top_level(obj[1:-1], "\n,"):
        match = _ENTRY.match(piece)
        if not match:
            raise BicepSyntaxError(f"cannot read object entry {piece[:60]!r}")
        key = match.group(1)
        if key.startswith("'"):
            key = key[1:-1]
        entries.append((key, match.group(2).strip()))
    return entries


def object_get(obj: str, path: str) -> str | None:
    """The value expression at the dotted ``path`` of an object literal, or ``None``."""
    current: str | None = obj
    for key in path.split("."):
        if current is None or not current.startswith("{"):
            return None
        current = dict(object_entries(current)).get(key)
    return current


def read_bicep_files(root: Path = INFRA) -> dict[str, str]:
    """``{relative path: text}`` of every .bicep file under ``root``."""
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.bicep"))}


@dataclass(frozen=True)
class AppSetting:
    """One app setting set by the template: where, in which group (variable), and its value expression."""

    name: str
    file: str
    group: str
    value: str

    @property
    def unconditional(self) -> bool:
        return self.group in UNCONDITIONAL_GROUPS


# Groups whose settings are always present (the *AppSettings variables are otherwise conditional).
UNCONDITIONAL_GROUPS = {"baseAppSettings", "<inline>", "<siteConfig>"}


def bicep_app_settings(texts: Mapping[str, str]) -> tuple[list[AppSetting], list[str]]:
    """The app settings the Bicep files set, and problems in how they are wired.

    Settings are the keys of object literals in the ``properties`` of a ``Microsoft.Web/sites/config``
    resource named ``appsettings`` (inline, or through ``*AppSettings`` variables merged with
    ``union()``), plus ``siteConfig.appSettings`` entries of ``Microsoft.Web/sites`` resources.
    """
    found: list[AppSetting] = []
    problems: list[str] = []
    for file, text in texts.items():
        decls = declarations(text)
        variables = {d.name: d for d in decls if d.kind == "var"}
        wired: set[str] = set()
        for d in decls:
            if d.kind != "resource":
                continue
            body = d.body
            if d.resource_type == "Microsoft.Web/sites/config" and object_get(body, "name") == "'appsettings'":
                properties = object_get(body, "properties") or ""
                if properties.startswith("{"):
                    found.extend(AppSetting(k, file, "<inline>", v) for k, v in object_entries(properties))
                for name in re.findall(r"\b(\w+)\b", _without_strings(properties)):
                    if name in variables:
                        wired.add(name)
                        for obj in top_level_objects(variables[name].value):
                            found.extend(AppSetting(k, file, name, v) for k, v in object_entries(obj))
            elif d.resource_type == "Microsoft.Web/sites":
                array = object_get(body, "properties.siteConfig.appSettings")
                for obj in top_level_objects(array or ""):
                    entry = dict(object_entries(obj))
                    name = (entry.get("name") or "").strip("'")
                    found.append(AppSetting(name, file, "<siteConfig>", entry.get("value", "")))
        for name in variables:
            if name.endswith("AppSettings") and name not in wired:
                problems.append(f"{file}: variable {name} is not merged into the appsettings resource")
    return found, problems


def _without_strings(expr: str) -> str:
    out, i = [], 0
    while i < len(expr):
        if expr[i] == "'":
            i = _skip_string(expr, i)
            out.append("''")
            continue
        out.append(expr[i])
        i += 1
    return "".join(out)


# ======================================================================== docs/deploy.md blocks
def doc_block_rows(doc_text: str, block: str) -> dict[str, list[str]]:
    """``{first cell: other cells}`` of the markdown table between ``<!-- block:start/end -->``.

    The first cell's backticks are dropped. A missing block is an empty mapping.
    """
    match = re.search(rf"<!-- {re.escape(block)}:start -->(.*?)<!-- {re.escape(block)}:end -->", doc_text, re.S)
    if not match:
        return {}
    rows: dict[str, list[str]] = {}
    for line in match.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        key = cells[0].strip("`")
        if key.lower() in {"setting", "name"}:
            continue  # header
        rows[key] = cells[1:]
    return rows


def unset_documented(doc_text: str) -> set[str]:
    """Settings docs/deploy.md lists as deliberately not set by the template."""
    return set(doc_block_rows(doc_text, UNSET_BLOCK))


def outside_documented(doc_text: str, where: str) -> set[str]:
    """Names/patterns outside SETTINGS that docs/deploy.md allows, for ``where`` ('azure' or 'local')."""
    return {name for name, cells in doc_block_rows(doc_text, OUTSIDE_BLOCK).items()
            if cells and where in cells[0].lower()}


# ================================================================================= the checks
def check_sample(settings: Sequence[Setting], sample_text: str, local_only: Iterable[str]) -> list[str]:
    """Problems between SETTINGS and a ``local.settings.sample.json`` text."""
    try:
        data = json.loads(sample_text)
    except json.JSONDecodeError as exc:
        return [f"local.settings.sample.json is not JSON: {exc}"]
    values = data.get("Values") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        return ["local.settings.sample.json has no Values object"]
    patterns = list(local_only)
    declared = {s.name: s for s in settings}
    problems = [f"{s.name}: declared in SETTINGS but missing from local.settings.sample.json Values"
                for s in settings if s.name not in values]
    for name, value in values.items():
        spec = declared.get(name)
        if spec is None:
            if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                problems.append(f"{name}: in local.settings.sample.json but not declared in SETTINGS "
                                f"(nor a local-only name listed in docs/deploy.md)")
        elif spec.secret and str(value) not in NON_SECRET_SAMPLE_VALUES:
            problems.append(f"{name}: a secret setting must be empty in local.settings.sample.json")
    return problems


def check_bicep(
    settings: Sequence[Setting],
    bicep_texts: Mapping[str, str],
    unset_doc: Iterable[str],
    platform_doc: Iterable[str],
    platform_provided: Mapping[str, re.Pattern[str]] = PLATFORM_PROVIDED,
) -> list[str]:
    """Problems between SETTINGS, the Bicep app settings and what docs/deploy.md says about them."""
    app_settings, problems = bicep_app_settings(bicep_texts)
    unset, platform = set(unset_doc), set(platform_doc)
    by_name: dict[str, list[AppSetting]] = {}
    for s in app_settings:
        by_name.setdefault(s.name, []).append(s)
    declared = {s.name: s for s in settings}
    all_text = "\n".join(strip_comments(t) for t in bicep_texts.values())

    for spec in settings:
        set_here = by_name.get(spec.name, [])
        if spec.required:
            if any(s.unconditional for s in set_here):
                pass
            elif spec.name in platform_provided:
                if not platform_provided[spec.name].search(all_text):
                    problems.append(f"{spec.name}: required, provided by the platform only if the Bicep "
                                    f"declares it ({platform_provided[spec.name].pattern}), and it does not")
                if spec.name not in unset:
                    problems.append(f"{spec.name}: provided by the platform; list it in docs/deploy.md's "
                                    f"{UNSET_BLOCK} table")
            else:
                problems.append(f"{spec.name}: required, but the Bicep does not set it unconditionally "
                                f"(baseAppSettings)")
        elif not set_here and spec.name not in unset:
            problems.append(f"{spec.name}: neither set by the Bicep app settings nor listed in docs/deploy.md's "
                            f"{UNSET_BLOCK} table")
        if set_here and spec.name in unset:
            problems.append(f"{spec.name}: set by the Bicep but listed as unset in docs/deploy.md")
        if spec.secret:
            for s in set_here:
                if not KEY_VAULT_REFERENCE.match(s.value):
                    problems.append(f"{spec.name}: secret, so the Bicep must set it as a Key Vault reference "
                                    f"'@Microsoft.KeyVault(SecretUri=${{...}})', not {s.value[:60]!r}")
    for name, sets in sorted(by_name.items()):
        if name not in declared and name not in platform:
            problems.append(f"{name}: set by {sets[0].file} but neither declared in SETTINGS nor listed as a "
                            f"platform setting in docs/deploy.md's {OUTSIDE_BLOCK} table")
    for name in sorted(unset):
        if name not in declared:
            problems.append(f"{name}: listed in docs/deploy.md's {UNSET_BLOCK} table but not declared in SETTINGS")
    for name in sorted(platform):
        if name not in by_name:
            problems.append(f"{name}: listed as a platform setting in docs/deploy.md but the Bicep does not set it")
    return problems


def _table_rows(table: str) -> dict[str, str]:
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = line.strip()
    return rows


def check_readme(settings: Sequence[Setting], readme_text: str) -> list[str]:
    """Problems between SETTINGS and README.md's generated settings table."""
    block = settings_doc.extract_block(readme_text)
    fix = "run `python -m shared.settings_doc --write README.md` (or paste `python -m shared.settings_doc`)"
    if block is None:
        return [f"README.md has no settings table between {settings_doc.START_MARKER} and "
                f"{settings_doc.END_MARKER}: {fix}"]
    expected = settings_doc.render_table(settings)
    if block == expected:
        return []
    want, have = _table_rows(expected), _table_rows(block)
    problems = [f"{n}: declared in SETTINGS but missing from README.md's settings table" for n in want if n not in have]
    problems += [f"{n}: in README.md's settings table but not declared in SETTINGS" for n in have if n not in want]
    problems += [f"{n}: README.md's row differs from SETTINGS" for n in want if n in have and want[n] != have[n]]
    if not problems:
        problems.append("README.md's settings table is not in SETTINGS order or its header changed")
    return [f"{p}: {fix}" for p in problems]


SETTINGS_METHODS = {"get", "require", "get_bool", "get_int", "get_list"}
_SETTING_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:__[A-Za-z0-9_]+)?$")
_PLACEHOLDER = re.compile(r"%([A-Za-z_][A-Za-z0-9_.]*)%")
_ENV_ALLOWED_FILES = {"shared/settings.py"}


def _is_settings_receiver(receiver: str) -> bool:
    last = receiver.split(".")[-1].lower()
    return last.endswith("settings") or receiver.startswith("Settings(")


def setting_uses(path: str, source: str) -> Iterator[tuple[int, str, str]]:
    """``(line, how, name)`` for every setting name a Python source uses (see module doc)."""
    tree = ast.parse(source, filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            first = node.args[0] if node.args else None
            literal = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
            if isinstance(func, ast.Attribute) and func.attr in SETTINGS_METHODS and literal is not None:
                receiver = ast.unparse(func.value)
                if _is_settings_receiver(receiver) or (func.attr != "get" and _SETTING_NAME.match(literal)
                                                       and literal.upper() == literal):
                    yield node.lineno, f"{receiver}.{func.attr}", literal
            dotted = ast.unparse(func)
            if dotted in {"os.getenv", "getenv", "os.environ.get", "environ.get"} and path not in _ENV_ALLOWED_FILES:
                yield node.lineno, "os.environ", literal or "<dynamic>"
            for kw in node.keywords:
                if kw.arg == "connection" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    yield node.lineno, "connection", kw.value.value
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"}:
            if path not in _ENV_ALLOWED_FILES:
                key = node.slice
                name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "<dynamic>"
                yield node.lineno, "os.environ", name
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # Binding expressions: %NAME% in the arguments of a function's decorators (the host resolves them).
            for decorator in node.decorator_list:
                if not isinstance(decorator, ast.Call):
                    continue
                for arg in [*decorator.args, *(kw.value for kw in decorator.keywords)]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        for name in _PLACEHOLDER.findall(arg.value):
                            yield decorator.lineno, "%placeholder%", name


def check_source(settings: Sequence[Setting], sources: Mapping[str, str]) -> list[str]:
    """Problems in how Python sources (``{relative path: text}``) read settings."""
    declared = {s.name for s in settings}
    problems = []
    for path, text in sorted(sources.items()):
        for line, how, name in setting_uses(path, text):
            where = f"{path}:{line}"
            if how == "os.environ":
                problems.append(f"{where}: reads the environment ({name}) directly; use shared.settings.Settings")
            elif how == "connection":
                if name not in declared and f"{name}__accountName" not in declared:
                    problems.append(f"{where}: binding connection {name!r} is not a declared setting")
            elif name not in declared:
                problems.append(f"{where}: {how}({name!r}) reads a setting that SETTINGS does not declare")
    return problems


# ============================================================================== real files
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _python_sources() -> dict[str, str]:
    files = [p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    files += [ROOT / f for f in SOURCE_FILES if (ROOT / f).exists()]
    return {p.relative_to(ROOT).as_posix(): _read(p) for p in files}


@pytest.fixture(scope="module")
def deploy_doc() -> str:
    assert DEPLOY_DOC.exists(), "docs/deploy.md is missing"
    return _read(DEPLOY_DOC)


@pytest.fixture(scope="module")
def bicep_texts() -> dict[str, str]:
    texts = read_bicep_files()
    assert texts, "no Bicep files under infra/"
    return texts


NEW = Setting("BRAND_NEW_SETTING", False, None, False, "Added to SETTINGS only.")


# ----------------------------------------------------------------------------- sample json
def test_sample_holds_every_setting_and_nothing_else(deploy_doc: str) -> None:
    assert check_sample(SETTINGS, _read(SAMPLE), outside_documented(deploy_doc, "local")) == []


def test_sample_check_reports_a_setting_removed_from_the_sample(deploy_doc: str) -> None:
    data = json.loads(_read(SAMPLE))
    del data["Values"]["MAIL_FROM"]
    problems = check_sample(SETTINGS, json.dumps(data), outside_documented(deploy_doc, "local"))
    assert len(problems) == 1 and problems[0].startswith("MAIL_FROM:")


def test_sample_check_reports_an_undeclared_key_but_allows_documented_local_only_keys(deploy_doc: str) -> None:
    data = json.loads(_read(SAMPLE))
    data["Values"]["SOMETHING_UNDECLARED"] = "x"
    data["Values"]["DEVHOST_FUNCTION_KEY"] = "local-only"
    problems = check_sample(SETTINGS, json.dumps(data), outside_documented(deploy_doc, "local"))
    assert [p.split(":")[0] for p in problems] == ["SOMETHING_UNDECLARED"]


def test_sample_check_reports_a_secret_value(deploy_doc: str) -> None:
    data = json.loads(_read(SAMPLE))
    data["Values"]["LINK_SIGNING_KEY"] = "a-real-looking-signing-key-0123456789"
    problems = check_sample(SETTINGS, json.dumps(data), outside_documented(deploy_doc, "local"))
    assert [p.split(":")[0] for p in problems] == ["LINK_SIGNING_KEY"]


# ----------------------------------------------------------------------------- Bicep
def _bicep_check(texts: Mapping[str, str], doc: str, settings: Sequence[Setting] = SETTINGS) -> list[str]:
    return check_bicep(settings, texts, unset_documented(doc), outside_documented(doc, "azure"))


def test_bicep_sets_every_setting_or_docs_list_it_as_unset(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    assert _bicep_check(bicep_texts, deploy_doc) == []


def test_bicep_reader_sees_the_app_settings(bicep_texts: dict[str, str]) -> None:
    found, problems = bicep_app_settings(bicep_texts)
    names = {s.name for s in found}
    assert problems == []
    assert {"AzureWebJobsStorage__accountName", "MICROSOFT_CLIENT_SECRET", "TOKEN_ENCRYPTION_KEYS",
            "LINK_SIGNING_KEY", "PUBLIC_BASE_URL", "MAIL_TRANSPORT", "ACS_EMAIL_ENDPOINT"} <= names


def _edit(texts: Mapping[str, str], old: str, new: str) -> dict[str, str]:
    edited = {k: v.replace(old, new) for k, v in texts.items()}
    assert edited != dict(texts), f"{old!r} not found in the Bicep"
    return edited


def test_bicep_check_reports_a_setting_dropped_from_the_template(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    drift = _edit(bicep_texts, "  BACKFILL_SCHEDULE: backfillSchedule\n", "\n")
    problems = _bicep_check(drift, deploy_doc)
    assert len(problems) == 1 and problems[0].startswith("BACKFILL_SCHEDULE:")


def test_bicep_check_reports_a_setting_the_code_does_not_declare(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    drift = _edit(bicep_texts, "  BACKFILL_SCHEDULE: backfillSchedule\n",
                  "  BACKFILL_SCHEDULE: backfillSchedule\n  BACKFILL_BATCH: '50'\n")
    problems = _bicep_check(drift, deploy_doc)
    assert len(problems) == 1 and problems[0].startswith("BACKFILL_BATCH:")


def test_bicep_check_reports_a_secret_set_in_clear(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    drift = _edit(bicep_texts, "LINK_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${linkSigningKeyUri})'",
                  "LINK_SIGNING_KEY: linkSigningKeyUri")
    problems = _bicep_check(drift, deploy_doc)
    assert len(problems) == 1 and problems[0].startswith("LINK_SIGNING_KEY:") and "Key Vault" in problems[0]


def test_bicep_check_reports_a_required_setting_set_only_conditionally(bicep_texts: dict[str, str],
                                                                       deploy_doc: str) -> None:
    required = [replace(s, required=True) if s.name == "ACS_EMAIL_ENDPOINT" else s for s in SETTINGS]
    problems = _bicep_check(bicep_texts, deploy_doc, required)
    assert len(problems) == 1 and problems[0].startswith("ACS_EMAIL_ENDPOINT:") and "unconditionally" in problems[0]


def test_bicep_check_reports_a_settings_group_not_merged(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    drift = _edit(bicep_texts, "union(baseAppSettings, acsAppSettings,", "union(baseAppSettings,")
    problems = _bicep_check(drift, deploy_doc)
    assert any("acsAppSettings is not merged" in p for p in problems)
    assert any(p.startswith("ACS_EMAIL_ENDPOINT:") for p in problems)


def test_bicep_check_reports_stale_or_contradicting_docs(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    problems = check_bicep(SETTINGS, bicep_texts, unset_documented(deploy_doc) | {"GONE_SETTING", "LINK_SIGNING_KEY"},
                           outside_documented(deploy_doc, "azure"))
    assert sorted(p.split(":")[0] for p in problems) == ["GONE_SETTING", "LINK_SIGNING_KEY"]


def test_bicep_check_reports_platform_runtime_missing(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    drift = _edit(bicep_texts, "name: 'python'", "name: 'node'")
    problems = _bicep_check(drift, deploy_doc)
    assert len(problems) == 1 and problems[0].startswith("FUNCTIONS_WORKER_RUNTIME:")


def test_documented_blocks_exist(deploy_doc: str) -> None:
    assert unset_documented(deploy_doc), f"docs/deploy.md lacks the {UNSET_BLOCK} table"
    assert outside_documented(deploy_doc, "azure") and outside_documented(deploy_doc, "local")


# ----------------------------------------------------------------------------- README
def test_readme_check_passes_on_the_generated_block_and_reports_drift() -> None:
    readme = f"# bookbridge\n\n## Settings\n\n{settings_doc.render_block()}\n\nMore text.\n"
    assert check_readme(SETTINGS, readme) == []
    without_row = readme.replace(settings_doc.render_row(SETTINGS[-1]) + "\n", "")
    assert [p.split(":")[0] for p in check_readme(SETTINGS, without_row)] == [SETTINGS[-1].name]
    changed = readme.replace("`0 */5 * * * *`", "`0 */10 * * * *`")
    assert [p.split(":")[0] for p in check_readme(SETTINGS, changed)] == ["BACKFILL_SCHEDULE"]
    assert "no settings table" in check_readme(SETTINGS, "# bookbridge\n")[0]


def test_readme_settings_table_matches_settings() -> None:
    readme = _read(README) if README.exists() else ""
    assert check_readme(SETTINGS, readme) == []


# ------------------------------------------------------------- one place only -> every check fails
def test_a_setting_added_only_to_settings_fails_every_check(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    settings = (*SETTINGS, NEW)
    readme = settings_doc.render_block(SETTINGS)
    for problems in (
        check_sample(settings, _read(SAMPLE), outside_documented(deploy_doc, "local")),
        _bicep_check(bicep_texts, deploy_doc, settings),
        check_readme(settings, readme),
    ):
        assert [p.split(":")[0] for p in problems] == [NEW.name]


def test_a_setting_added_only_to_the_sample_or_bicep_fails(bicep_texts: dict[str, str], deploy_doc: str) -> None:
    data = json.loads(_read(SAMPLE))
    data["Values"][NEW.name] = ""
    assert check_sample(SETTINGS, json.dumps(data), outside_documented(deploy_doc, "local"))
    drift = _edit(bicep_texts, "  BACKFILL_SCHEDULE: backfillSchedule\n",
                  f"  BACKFILL_SCHEDULE: backfillSchedule\n  {NEW.name}: 'x'\n")
    assert _bicep_check(drift, deploy_doc)


# ----------------------------------------------------------------------------- code
def test_every_setting_the_code_reads_is_declared() -> None:
    assert check_source(SETTINGS, _python_sources()) == []


def test_source_check_reports_undeclared_reads() -> None:
    source = (
        "import os\n"
        "import azure.functions as func\n"
        "from shared.settings import Settings\n"
        "bp = func.Blueprint()\n"
        "def f(settings, deps):\n"
        "    settings.get('GRAPH_BASE_URL')\n"
        "    settings.require('UNDECLARED_ONE')\n"
        "    deps.settings.get_int('UNDECLARED_TWO')\n"
        "    Settings().get_list('UNDECLARED_THREE')\n"
        "    {'op': 1}.get('op')\n"
        "    os.environ.get('SNEAKY')\n"
        "    os.environ['SNEAKIER']\n"
        "@bp.timer_trigger(schedule='%UNDECLARED_SCHEDULE%', arg_name='t')\n"
        "def g(t): ...\n"
        "@bp.queue_trigger(arg_name='m', queue_name='meetings', connection='AzureWebJobsStorage')\n"
        "def h(m): ...\n"
        "@bp.queue_trigger(arg_name='m', queue_name='x', connection='OtherStorage')\n"
        "def i(m): ...\n"
    )
    problems = check_source(SETTINGS, {"functions/example.py": source})
    text = "\n".join(problems)
    for name in ("UNDECLARED_ONE", "UNDECLARED_TWO", "UNDECLARED_THREE", "SNEAKY", "SNEAKIER",
                 "UNDECLARED_SCHEDULE", "OtherStorage"):
        assert name in text
    assert "GRAPH_BASE_URL" not in text and "'op'" not in text and "'AzureWebJobsStorage'" not in text
    assert len(problems) == 7


def test_source_check_ignores_percent_signs_outside_binding_decorators() -> None:
    source = "def f(d):\n    return d.strftime('%Y%m%dT%H%M%SZ') + '%NOT_A_SETTING%'\n"
    assert check_source(SETTINGS, {"shared/example.py": source}) == []


# ----------------------------------------------------------------------------- the generator
def test_settings_doc_writes_and_checks_a_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{settings_doc.START_MARKER}\nold\n{settings_doc.END_MARKER}\n", encoding="utf-8")
    assert settings_doc.main(["--check", str(readme)]) == 1
    assert settings_doc.main(["--write", str(readme)]) == 0
    assert settings_doc.main(["--check", str(readme)]) == 0
    assert check_readme(SETTINGS, readme.read_text(encoding="utf-8")) == []
    assert readme.read_text(encoding="utf-8").startswith("# x\n\n<!-- settings:start -->\n| Setting |")


def test_settings_doc_rows_escape_markdown() -> None:
    row = settings_doc.render_row(Setting("X", True, "", True, "a | b <c>"))
    assert row == "| `X` | yes | (empty) | yes | a \\| b &lt;c&gt; |"




def test_readme_lists_the_local_hosts_keys_as_local_only() -> None:
    from devhost.host_config import FUNCTION_KEY_SETTING, MASTER_KEY_SETTING

    rows = _table_rows(settings_doc.extract_block((ROOT / "README.md").read_text(encoding="utf-8")) or "")
    for name in (FUNCTION_KEY_SETTING, MASTER_KEY_SETTING):
        assert name in rows and "local only" in rows[name], name
