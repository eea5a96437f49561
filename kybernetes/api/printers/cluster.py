"""Printers for rbac, storage, scheduling, certificates, coordination, discovery and policy resources."""

from __future__ import annotations

from datetime import datetime, timedelta

from kybernetes.api.printers.common import (
    AGE, NAME, Column, Printer, age, human_duration, int_or_string, meta, name, spec, status,
)

# ------------------------------------------------------------------------------------------------ rbac

RBAC = "io.k8s.api.rbac.v1."


def subjects_strings(subjects: list | None) -> tuple[list[str], list[str], list[str]]:
    users, groups, sas = [], [], []
    for s in subjects or []:
        kind = s.get("kind")
        if kind == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
        elif kind == "User":
            users.append(s.get("name", ""))
        elif kind == "Group":
            groups.append(s.get("name", ""))
    return users, groups, sas


def _binding_cells(o: dict, now: datetime) -> list:
    ref = o.get("roleRef") or {}
    users, groups, sas = subjects_strings(o.get("subjects"))
    return [name(o), f"{ref.get('kind', '')}/{ref.get('name', '')}", age(o, now),
            ", ".join(users), ", ".join(groups), ", ".join(sas)]


def _binding(definition: str, what: str) -> Printer:
    return Printer((
        NAME,
        Column("Role", "string", (RBAC + definition, "roleRef")),
        AGE,
        Column("Users", "string", f"Users in the {what}", priority=1),
        Column("Groups", "string", f"Groups in the {what}", priority=1),
        Column("ServiceAccounts", "string", f"ServiceAccounts in the {what}", priority=1),
    ), _binding_cells)


ROLE_BINDING = _binding("RoleBinding", "roleBinding")
CLUSTER_ROLE_BINDING = _binding("ClusterRoleBinding", "clusterRoleBinding")

# --------------------------------------------------------------------------------------------- storage

STORAGE = "io.k8s.api.storage.v1."
_DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")


def _storage_class_cells(o: dict, now: datetime) -> list:
    annotations = meta(o).get("annotations") or {}
    shown = name(o) + (" (default)" if any(annotations.get(a) == "true" for a in _DEFAULT_CLASS) else "")
    return [shown, o.get("provisioner") or "", o.get("reclaimPolicy") or "Delete",
            o.get("volumeBindingMode") or "Immediate", bool(o.get("allowVolumeExpansion") or False), age(o, now)]


STORAGE_CLASS = Printer((
    NAME,
    Column("Provisioner", "string", (STORAGE + "StorageClass", "provisioner")),
    Column("ReclaimPolicy", "string", (STORAGE + "StorageClass", "reclaimPolicy")),
    Column("VolumeBindingMode", "string", (STORAGE + "StorageClass", "volumeBindingMode")),
    Column("AllowVolumeExpansion", "string", (STORAGE + "StorageClass", "allowVolumeExpansion")),
    AGE,
), _storage_class_cells)

# ------------------------------------------------------------------------------------------ scheduling

PRIORITY_CLASS = Printer((
    NAME,
    Column("Value", "integer", ("io.k8s.api.scheduling.v1.PriorityClass", "value")),
    Column("Global-Default", "boolean", ("io.k8s.api.scheduling.v1.PriorityClass", "globalDefault")),
    AGE,
    Column("PreemptionPolicy", "string", ("io.k8s.api.scheduling.v1.PriorityClass", "preemptionPolicy")),
), lambda o, now: [name(o), int(o.get("value") or 0), bool(o.get("globalDefault") or False), age(o, now),
                   o.get("preemptionPolicy") or ""])

# ---------------------------------------------------------------------------------------- certificates

CSR = "io.k8s.api.certificates.v1."


def csr_condition(o: dict) -> str:
    types = {c.get("type") for c in status(o).get("conditions") or []}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        text += ",Failed"
    if status(o).get("certificate"):
        text += ",Issued"
    return text


def _csr_cells(o: dict, now: datetime) -> list:
    s = spec(o)
    seconds = s.get("expirationSeconds")
    requested = "<none>" if seconds is None else human_duration(timedelta(seconds=int(seconds)))
    return [name(o), age(o, now), s.get("signerName") or "<none>", s.get("username") or "", requested,
            csr_condition(o)]


CERTIFICATE_SIGNING_REQUEST = Printer((
    NAME,
    AGE,
    Column("SignerName", "string", (CSR + "CertificateSigningRequestSpec", "signerName")),
    Column("Requestor", "string", (CSR + "CertificateSigningRequestSpec", "request")),
    Column("RequestedDuration", "string", (CSR + "CertificateSigningRequestSpec", "expirationSeconds")),
    Column("Condition", "string", (CSR + "CertificateSigningRequestStatus", "conditions")),
), _csr_cells)

# ---------------------------------------------------------------------------------------- coordination

LEASE = Printer((
    NAME,
    Column("Holder", "string", ("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")),
    AGE,
), lambda o, now: [name(o), spec(o).get("holderIdentity") or "", age(o, now)])

# ------------------------------------------------------------------------------------------- discovery

DISCOVERY = "io.k8s.api.discovery.v1.EndpointSlice"


def _with_more(items: list[str], count: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def slice_ports(o: dict) -> str:
    ports = o.get("ports") or []
    shown = []
    for p in ports:
        shown.append(str(p["port"]) if p.get("port") is not None else
                     p["name"] if p.get("name") is not None else "*")
    return _with_more(shown, len(ports))


def slice_endpoints(o: dict) -> str:
    addresses = [a for ep in o.get("endpoints") or [] for a in ep.get("addresses") or []]
    return _with_more(addresses, len(addresses))


ENDPOINT_SLICE = Printer((
    NAME,
    Column("AddressType", "string", (DISCOVERY, "addressType")),
    Column("Ports", "string", (DISCOVERY, "ports")),
    Column("Endpoints", "string", (DISCOVERY, "endpoints")),
    AGE,
), lambda o, now: [name(o), o.get("addressType") or "", slice_ports(o), slice_endpoints(o), age(o, now)])

# ---------------------------------------------------------------------------------------------- policy

POD_DISRUPTION_BUDGET = Printer((
    NAME,
    Column("Min Available", "string", "The minimum number of pods that must be available."),
    Column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
), lambda o, now: [name(o),
                   "N/A" if spec(o).get("minAvailable") is None else int_or_string(spec(o)["minAvailable"]),
                   "N/A" if spec(o).get("maxUnavailable") is None else int_or_string(spec(o)["maxUnavailable"]),
                   int(status(o).get("disruptionsAllowed") or 0), age(o, now)])


PRINTERS = {
    ("rbac.authorization.k8s.io", "rolebindings"): ROLE_BINDING,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): CLUSTER_ROLE_BINDING,
    ("storage.k8s.io", "storageclasses"): STORAGE_CLASS,
    ("scheduling.k8s.io", "priorityclasses"): PRIORITY_CLASS,
    ("certificates.k8s.io", "certificatesigningrequests"): CERTIFICATE_SIGNING_REQUEST,
    ("coordination.k8s.io", "leases"): LEASE,
    ("discovery.k8s.io", "endpointslices"): ENDPOINT_SLICE,
    ("policy", "poddisruptionbudgets"): POD_DISRUPTION_BUDGET,
}
