"""Plugin registry (name -> factory(args, handle)) and building a profile's Framework from the configuration,
expanding multiPoint as upstream does."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from kybernetes.scheduler.config import Profile
from kybernetes.scheduler.framework.interface import Handle
from kybernetes.scheduler.framework.runtime import EXTENSION_POINTS, Framework

log = logging.getLogger(__name__)

PluginFactory = Callable[[dict[str, Any], Handle], Any]
Registry = dict[str, PluginFactory]

# plugins written beside this package's own: name -> module under kybernetes.scheduler.plugins exposing new()
_OUT_OF_CORE = {
    "NodeAffinity": "nodeaffinity", "TaintToleration": "tainttoleration", "InterPodAffinity": "interpodaffinity",
    "PodTopologySpread": "podtopologyspread", "VolumeBinding": "volumebinding",
    "DefaultPreemption": "defaultpreemption",
}


def register_default_plugins() -> Registry:
    """Every in-tree plugin. Modules that cannot be imported yet are left out (logged)."""
    from kybernetes.scheduler.plugins import (defaultbinder, imagelocality, nodename, nodeports, noderesources,
                                              nodeunschedulable, queuesort, schedulinggates)
    reg: Registry = {
        queuesort.NAME: queuesort.new, schedulinggates.NAME: schedulinggates.new, nodename.NAME: nodename.new,
        nodeunschedulable.NAME: nodeunschedulable.new, noderesources.FIT_NAME: noderesources.new,
        noderesources.BALANCED_NAME: noderesources.new_balanced_allocation, nodeports.NAME: nodeports.new,
        imagelocality.NAME: imagelocality.new, defaultbinder.NAME: defaultbinder.new,
    }
    for name, module in _OUT_OF_CORE.items():
        try:
            mod = importlib.import_module(f"kybernetes.scheduler.plugins.{module}")
        except ImportError as e:
            log.warning("scheduler plugin %s unavailable: %s", name, e)
            continue
        reg[name] = mod.new
    return reg


def _implements(plugin: Any, point: str) -> bool:
    return callable(getattr(plugin, EXTENSION_POINTS[point], None))


def new_framework(profile: Profile, registry: Registry, *, percentage_of_nodes_to_score: int = 0,
                  client: Any = None, lister: Callable[[str, str, str], Any] | None = None, nominator: Any = None,
                  recorder: Callable[..., None] | None = None) -> Framework:
    """Instantiate the profile's plugins (once each) and enable them at their extension points.

    Order per point, as upstream: plugins also enabled explicitly there (in that order, with that weight), then
    multiPoint plugins, then plugins enabled only there. Unknown plugin names are errors; missing out-of-core ones
    are skipped with a warning.
    """
    pct = profile.percentage_of_nodes_to_score
    fwk = Framework(profile_name=profile.scheduler_name,
                    percentage_of_nodes_to_score=percentage_of_nodes_to_score if pct is None else pct,
                    client=client, lister=lister, nominator=nominator, recorder=recorder)
    instances: dict[str, Any] = {}

    def instance(name: str) -> Any:
        if name not in instances:
            factory = registry.get(name)
            if factory is None:
                if name in _OUT_OF_CORE:
                    return None
                raise ValueError(f"plugin {name!r} does not exist in the registry")
            instances[name] = factory(profile.plugin_config.get(name, {}), fwk)
        return instances[name]

    multi = profile.plugins["multiPoint"]
    for point in EXTENSION_POINTS:
        pset = profile.plugins[point]
        disabled = {r.name for r in pset.disabled}
        specific = {r.name: r for r in pset.enabled}
        multi_names = [r.name for r in multi.enabled]
        order = [r for r in pset.enabled if r.name in multi_names]
        if "*" not in disabled:
            order += [r for r in multi.enabled if r.name not in disabled and r.name not in specific]
        order += [r for r in pset.enabled if r.name not in multi_names]
        for ref in order:
            plugin = instance(ref.name)
            if plugin is None:
                continue
            if not _implements(plugin, point):
                if ref.name in specific:
                    raise ValueError(f"plugin {ref.name!r} does not extend {point} plugin")
                continue
            fwk.add_plugin(point, plugin, ref.weight)
    if len(fwk.points["queueSort"]) != 1:
        raise ValueError(f"profile {profile.scheduler_name!r}: exactly one queueSort plugin is required")
    if not fwk.points["bind"]:
        raise ValueError(f"profile {profile.scheduler_name!r}: at least one bind plugin is needed")
    return fwk
