"""The Pod Security Standards' checks (baseline and restricted, latest version), each returning upstream's
forbidden reason and detail for a pod spec that breaks it."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

Obj = dict[str, Any]

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)

BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                          "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
                          "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"})
RESTRICTED_VOLUME_TYPES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                     "persistentVolumeClaim", "projected", "secret"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


class Violation(NamedTuple):
    reason: str
    detail: str


Check = Callable[[Obj, Obj], "Violation | None"]  # (pod metadata, pod spec) -> violation


def containers(spec: Obj) -> list[Obj]:
    return [c for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or [] if isinstance(c, dict)]


def _sc(c: Obj) -> Obj:
    return c.get("securityContext") or {}


def _quote(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _plural(single: str, plural: str, names: list[str]) -> str:
    return f"{single if len(names) == 1 else plural} {_quote(names)}"


# baseline


def host_namespaces(md: Obj, spec: Obj) -> Violation | None:
    set_ = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return Violation("host namespaces", ", ".join(set_)) if set_ else None


def privileged(md: Obj, spec: Obj) -> Violation | None:
    names = [c.get("name", "") for c in containers(spec) if _sc(c).get("privileged")]
    if names:
        return Violation("privileged", f"{_plural('container', 'containers', names)} "
                                       "must not set securityContext.privileged=true")
    return None


def capabilities_baseline(md: Obj, spec: Obj) -> Violation | None:
    bad: dict[str, list[str]] = {}
    for c in containers(spec):
        for cap in (_sc(c).get("capabilities") or {}).get("add") or []:
            if cap not in BASELINE_CAPABILITIES:
                bad.setdefault(c.get("name", ""), []).append(cap)
    if not bad:
        return None
    caps = sorted({cap for v in bad.values() for cap in v})
    return Violation("non-default capabilities",
                     f"{_plural('container', 'containers', list(bad))} must not include {_quote(caps)} "
                     "in securityContext.capabilities.add")


def host_path_volumes(md: Obj, spec: Obj) -> Violation | None:
    names = [v.get("name", "") for v in spec.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
    return Violation("hostPath volumes", _plural("volume", "volumes", names)) if names else None


def host_ports(md: Obj, spec: Obj) -> Violation | None:
    names, ports = [], []
    for c in containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if used:
            names.append(c.get("name", ""))
            ports += used
    if names:
        return Violation("hostPort", f"{_plural('container', 'containers', names)} uses "
                                     f"{'hostPort' if len(ports) == 1 else 'hostPorts'} {', '.join(ports)}")
    return None


def _seccomp_type(sc: Obj) -> str | None:
    return (sc.get("seccompProfile") or {}).get("type")


def seccomp_baseline(md: Obj, spec: Obj) -> Violation | None:
    parts = []
    if _seccomp_type(spec.get("securityContext") or {}) == "Unconfined":
        parts.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    names = [c.get("name", "") for c in containers(spec) if _seccomp_type(_sc(c)) == "Unconfined"]
    if names:
        parts.append(f'{_plural("container", "containers", names)} must not set '
                     'securityContext.seccompProfile.type to "Unconfined"')
    return Violation("seccompProfile", "; ".join(parts)) if parts else None


def proc_mount(md: Obj, spec: Obj) -> Violation | None:
    names = [c.get("name", "") for c in containers(spec) if _sc(c).get("procMount") not in (None, "Default")]
    if names:
        return Violation("procMount", f"{_plural('container', 'containers', names)} must not set "
                                      "securityContext.procMount to \"Unmasked\"")
    return None


def selinux(md: Obj, spec: Obj) -> Violation | None:
    scs = [spec.get("securityContext") or {}] + [_sc(c) for c in containers(spec)]
    for sc in scs:
        opts = sc.get("seLinuxOptions") or {}
        if opts.get("type", "") not in SELINUX_TYPES or opts.get("user") or opts.get("role"):
            return Violation("seLinuxOptions", "forbidden securityContext.seLinuxOptions")
    return None


def sysctls(md: Obj, spec: Obj) -> Violation | None:
    bad = [s.get("name", "") for s in (spec.get("securityContext") or {}).get("sysctls") or []
           if isinstance(s, dict) and s.get("name") not in SAFE_SYSCTLS]
    return Violation("forbidden sysctls", ", ".join(bad)) if bad else None


def app_armor(md: Obj, spec: Obj) -> Violation | None:
    bad = [f"{k}={v}" for k, v in (md.get("annotations") or {}).items()
           if k.startswith("container.apparmor.security.beta.kubernetes.io/")
           and v not in ("runtime/default",) and not str(v).startswith("localhost/")]
    scs = [spec.get("securityContext") or {}] + [_sc(c) for c in containers(spec)]
    if any((sc.get("appArmorProfile") or {}).get("type") == "Unconfined" for sc in scs):
        bad.append('appArmorProfile.type="Unconfined"')
    return Violation("forbidden AppArmor profiles", ", ".join(bad)) if bad else None


# restricted


def volume_types(md: Obj, spec: Obj) -> Violation | None:
    bad = []
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        kinds = [k for k in v if k != "name"]
        if kinds and kinds[0] not in RESTRICTED_VOLUME_TYPES:
            bad.append((v.get("name", ""), kinds[0]))
    if not bad:
        return None
    if len(bad) == 1:
        return Violation("restricted volume types", f'volume "{bad[0][0]}" uses restricted volume type "{bad[0][1]}"')
    return Violation("restricted volume types",
                     f"volumes {_quote([b[0] for b in bad])} use restricted volume types "
                     f"{_quote(sorted({b[1] for b in bad}))}")


def privilege_escalation(md: Obj, spec: Obj) -> Violation | None:
    names = [c.get("name", "") for c in containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if names:
        return Violation("allowPrivilegeEscalation != false",
                         f"{_plural('container', 'containers', names)} must set "
                         "securityContext.allowPrivilegeEscalation=false")
    return None


def run_as_non_root(md: Obj, spec: Obj) -> Violation | None:
    pod_sc = spec.get("securityContext") or {}
    pod_value = pod_sc.get("runAsNonRoot")
    parts = []
    if pod_value is False:
        parts.append("pod must not set securityContext.runAsNonRoot=false")
    explicit_false = [c.get("name", "") for c in containers(spec) if _sc(c).get("runAsNonRoot") is False]
    if explicit_false:
        parts.append(f"{_plural('container', 'containers', explicit_false)} must not set "
                     "securityContext.runAsNonRoot=false")
    if pod_value is not True:
        unset = [c.get("name", "") for c in containers(spec) if _sc(c).get("runAsNonRoot") is None]
        if unset:
            parts.append(f"pod or {_plural('container', 'containers', unset)} must set "
                         "securityContext.runAsNonRoot=true")
    return Violation("runAsNonRoot != true", "; ".join(parts)) if parts else None


def run_as_user(md: Obj, spec: Obj) -> Violation | None:
    parts = []
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        parts.append("pod must not set runAsUser=0")
    names = [c.get("name", "") for c in containers(spec) if _sc(c).get("runAsUser") == 0]
    if names:
        parts.append(f"{_plural('container', 'containers', names)} must not set runAsUser=0")
    return Violation("runAsUser=0", "; ".join(parts)) if parts else None


def seccomp_restricted(md: Obj, spec: Obj) -> Violation | None:
    ok = ("RuntimeDefault", "Localhost")
    pod_type = _seccomp_type(spec.get("securityContext") or {})
    parts = []
    if pod_type is not None and pod_type not in ok:
        parts.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
    bad = [c.get("name", "") for c in containers(spec)
           if _seccomp_type(_sc(c)) is not None and _seccomp_type(_sc(c)) not in ok]
    if bad:
        parts.append(f'{_plural("container", "containers", bad)} must not set securityContext.seccompProfile.type '
                     f'to "{_seccomp_type(_sc(next(c for c in containers(spec) if c.get("name", "") == bad[0])))}"')
    if pod_type is None:
        unset = [c.get("name", "") for c in containers(spec) if _seccomp_type(_sc(c)) is None]
        if unset:
            parts.append(f'pod or {_plural("container", "containers", unset)} must set '
                         'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return Violation("seccompProfile", "; ".join(parts)) if parts else None


def capabilities_restricted(md: Obj, spec: Obj) -> Violation | None:
    no_drop, bad_add, caps = [], [], []
    for c in containers(spec):
        cap = _sc(c).get("capabilities") or {}
        if "ALL" not in (cap.get("drop") or []):
            no_drop.append(c.get("name", ""))
        added = [x for x in cap.get("add") or [] if x != "NET_BIND_SERVICE"]
        if added:
            bad_add.append(c.get("name", ""))
            caps += added
    parts = []
    if no_drop:
        parts.append(f'{_plural("container", "containers", no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if bad_add:
        parts.append(f"{_plural('container', 'containers', bad_add)} must not include "
                     f"{_quote(sorted(set(caps)))} in securityContext.capabilities.add")
    return Violation("unrestricted capabilities", "; ".join(parts)) if parts else None


BASELINE_CHECKS: tuple[Check, ...] = (host_namespaces, privileged, capabilities_baseline, host_path_volumes,
                                      host_ports, app_armor, selinux, proc_mount, seccomp_baseline, sysctls)
RESTRICTED_CHECKS: tuple[Check, ...] = (volume_types, privilege_escalation, run_as_non_root, run_as_user,
                                        seccomp_restricted, capabilities_restricted)


def checks_for(level: str) -> tuple[Check, ...]:
    if level == BASELINE:
        return BASELINE_CHECKS
    if level == RESTRICTED:
        # restricted's own seccomp and capabilities checks replace baseline's
        base = tuple(c for c in BASELINE_CHECKS if c not in (seccomp_baseline, capabilities_baseline))
        return base + RESTRICTED_CHECKS
    return ()


def evaluate(level: str, md: Obj, spec: Obj) -> list[Violation]:
    """The violations of a pod (its metadata and spec) against a level."""
    return [v for check in checks_for(level) if (v := check(md, spec)) is not None]


def describe(violations: list[Violation]) -> str:
    return ", ".join(f"{v.reason} ({v.detail})" if v.detail else v.reason for v in violations)
