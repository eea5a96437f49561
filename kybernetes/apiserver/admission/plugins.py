"""The admission plugin registry: names, upstream's fixed order, the default-on set and the enable/disable flags."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from kybernetes.apiserver.admission.interfaces import PluginContext

# upstream's AllOrderedPlugins, restricted to what is implemented: (name, module, class)
ORDERED_PLUGINS: tuple[tuple[str, str, str], ...] = (
    ("NamespaceLifecycle", "namespacelifecycle", "NamespaceLifecycle"),
    ("LimitRanger", "limitranger", "LimitRanger"),
    ("ServiceAccount", "serviceaccount", "ServiceAccount"),
    ("NodeRestriction", "noderestriction", "NodeRestriction"),
    ("PodSecurity", "podsecurity.admission", "PodSecurity"),
    ("Priority", "priority", "Priority"),
    ("DefaultTolerationSeconds", "defaulttolerationseconds", "DefaultTolerationSeconds"),
    ("CertificateApproval", "certificates", "CertificateApproval"),
    ("CertificateSigning", "certificates", "CertificateSigning"),
    ("CertificateSubjectRestriction", "certificates", "CertificateSubjectRestriction"),
    ("MutatingAdmissionWebhook", "webhook.dispatcher", "MutatingAdmissionWebhook"),
    ("ValidatingAdmissionPolicy", "validatingadmissionpolicy", "ValidatingAdmissionPolicy"),
    ("ValidatingAdmissionWebhook", "webhook.dispatcher", "ValidatingAdmissionWebhook"),
    ("ResourceQuota", "resourcequota", "ResourceQuota"),
)
ALL_PLUGINS: tuple[str, ...] = tuple(name for name, _, _ in ORDERED_PLUGINS)
# upstream's DefaultOffAdmissionPlugins complement: everything here is on by default except these
DEFAULT_OFF: frozenset[str] = frozenset({"NodeRestriction"})


def split_flag(values: Iterable[str] | str | None) -> list[str]:
    """Comma-separated flag values (repeatable) to a list of names."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def enabled_plugins(enable: Iterable[str] | str | None = None, disable: Iterable[str] | str | None = None) -> list[str]:
    """Upstream's --enable-admission-plugins / --disable-admission-plugins: defaults plus enabled minus disabled,
    always in the fixed order. Unknown names raise ValueError."""
    on, off = split_flag(enable), split_flag(disable)
    for name in on + off:
        if name not in ALL_PLUGINS:
            raise ValueError(f"admission-control plugin \"{name}\" not found; known: {', '.join(ALL_PLUGINS)}")
    both = set(on) & set(off)
    if both:
        raise ValueError(f"{', '.join(sorted(both))} in enable-admission-plugins and disable-admission-plugins "
                         "overlapped")
    return [n for n in ALL_PLUGINS if (n not in DEFAULT_OFF or n in on) and n not in off]


def new_plugin(name: str, ctx: PluginContext) -> Any:
    for plugin_name, module, cls in ORDERED_PLUGINS:
        if plugin_name == name:
            mod = importlib.import_module(f"kybernetes.apiserver.admission.{module}")
            return getattr(mod, cls)(ctx)
    raise ValueError(f"admission-control plugin \"{name}\" not found")
