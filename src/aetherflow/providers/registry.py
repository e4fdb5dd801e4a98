"""The provider registry: built-ins and plugins register through one path.

**The plugin contract.** A plugin is a callable ``register(registry)`` that calls
``registry.register_provider(name, factory, spec=None)`` once per provider it adds, where
``factory(settings: ProviderSettings) -> Provider`` (usually the provider class) and
``spec`` an optional :class:`~aetherflow.providers.specs.ProviderSpec` (default URL and
model, key variable, description). It reaches AetherFlow in one of two ways:

* an installed distribution declares an entry point in the group ``aetherflow.providers``
  (``[project.entry-points."aetherflow.providers"]`` ``echo = "my_pkg:register"``) naming
  that callable. AetherFlow's own providers are declared the same way
  (``builtin = "aetherflow.providers.builtin:register"``);
* a Python file given with ``--plugin path/to/module.py`` (:func:`load_plugin_file`) that
  defines ``register(registry)`` (calls of :func:`register_provider` made while the file
  is imported count too).

Entry points are discovered lazily, once, on the first use of the registry (listing,
creating or registering a provider), so importing AetherFlow stays cheap. Built-ins load
first, then third-party entry points sorted by distribution and name, then files: a later
registration of the same name replaces the earlier one, and :meth:`ProviderRegistry.origin`
says which one won. When AetherFlow runs from a source tree whose installed metadata lacks
the built-in entry point, the built-ins are loaded directly (origin still ``built-in``).

A plugin that fails to import or raises while registering is a :class:`ConfigError` with
one line naming it; so is a ``--plugin`` file that is missing, does not compile, or
registers nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aetherflow.errors import ConfigError, UnknownProviderError
from aetherflow.providers.specs import PROVIDER_SPECS, ProviderSpec

if TYPE_CHECKING:
    from aetherflow.providers.base import Provider, ProviderFactory, ProviderSettings

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "BUILTIN_MODULE",
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "PluginRegister",
    "ProviderOrigin",
    "ProviderRegistry",
    "create_provider",
    "load_plugin_file",
    "provider_names",
    "provider_origin",
    "register_provider",
]

#: The entry-point group plugins (and the built-ins) are declared in.
ENTRY_POINT_GROUP = "aetherflow.providers"
#: The module whose ``register`` adds the built-in providers.
BUILTIN_MODULE = "aetherflow.providers.builtin"
#: The distribution whose entry points count as built-in.
BUILTIN_DISTRIBUTION = "aetherflow"

#: A plugin: adds providers to the registry it is given.
PluginRegister = Callable[["ProviderRegistry"], None]

OriginKind = Literal["built-in", "entry point", "file", "code"]


@dataclass(frozen=True)
class ProviderOrigin:
    """Where a registered provider came from.

    ``kind`` is ``built-in``, ``entry point`` (``detail``: distribution, version and entry
    point name), ``file`` (``detail``: the plugin file's path) or ``code`` (a direct
    :func:`register_provider` call; ``detail``: the factory's module).
    """

    kind: OriginKind
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "built-in" or not self.detail:
            return self.kind
        return f"{self.kind} {self.detail}"


BUILTIN_ORIGIN = ProviderOrigin("built-in")


def _canonical(dist_name: str) -> str:
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _entry_point_origin(ep: importlib.metadata.EntryPoint) -> ProviderOrigin:
    dist = ep.dist
    if dist is None:
        return ProviderOrigin("entry point", f"{ep.name} = {ep.value}")
    if _canonical(dist.name) == BUILTIN_DISTRIBUTION:
        return BUILTIN_ORIGIN
    return ProviderOrigin("entry point", f"{dist.name} {dist.version} ({ep.name})")


class ProviderRegistry:
    """Provider factories by name, each with its :class:`ProviderOrigin`.

    ``entry_point_group`` is where plugins are discovered (None: none are);
    ``builtins`` is the module whose ``register`` is run when no installed entry point
    supplies the built-ins (None: no built-ins).
    """

    def __init__(self, *, entry_point_group: str | None = ENTRY_POINT_GROUP,
                 builtins: str | None = BUILTIN_MODULE) -> None:
        self._group = entry_point_group
        self._builtins = builtins
        self._factories: dict[str, ProviderFactory] = {}
        self._origins: dict[str, ProviderOrigin] = {}
        self._files: dict[Path, list[str]] = {}
        self._specs_before: dict[str, ProviderSpec | None] = {}
        self._loading: ProviderOrigin | None = None
        self._captured: list[str] | None = None
        self._loaded = False

    # --- registering ------------------------------------------------------------------
    def register_provider(self, name: str, factory: ProviderFactory, *,
                          spec: ProviderSpec | None = None) -> None:
        """Make ``factory`` available under ``name`` (re-registering replaces it);
        ``spec`` describes it for configuration and ``aetherflow providers``."""
        self.load_plugins()
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a provider name must be a non-empty string, not {name!r}")
        if not callable(factory):
            raise ConfigError(f"provider {name!r}: factory {factory!r} is not callable")
        self._factories[name] = factory
        self._origins[name] = self._loading or ProviderOrigin(
            "code", getattr(factory, "__module__", "") or "")
        if self._captured is not None and name not in self._captured:
            self._captured.append(name)
        if spec is not None:
            self._specs_before.setdefault(name, PROVIDER_SPECS.get(name))
            PROVIDER_SPECS[name] = replace(spec, name=name)

    @contextmanager
    def _registering_as(self, origin: ProviderOrigin) -> Iterator[list[str]]:
        """Attribute registrations made inside the block to ``origin``; yields the list
        of names registered (filled as they are)."""
        outer_origin, outer = self._loading, self._captured
        added: list[str] = []
        self._loading, self._captured = origin, added
        try:
            yield added
        finally:
            self._loading, self._captured = outer_origin, outer
            if outer is not None:  # nested (a file's register): the outer block sees them
                outer.extend(n for n in added if n not in outer)

    def _run_plugin(self, register: object, origin: ProviderOrigin, label: str) -> list[str]:
        if not callable(register):
            raise ConfigError(f"{label}: {register!r} is not a callable register(registry)")
        with self._registering_as(origin) as added:
            try:
                register(self)
            except ConfigError as exc:
                raise ConfigError(f"{label}: {exc}") from exc
            except Exception as exc:
                raise ConfigError(f"{label} failed while registering: "
                                  f"{type(exc).__name__}: {exc}") from exc
        return added

    # --- discovery --------------------------------------------------------------------
    def load_plugins(self) -> None:
        """Discover and run the entry-point plugins (once; later calls return at once).

        Built-ins first (from their entry point, or directly from :data:`BUILTIN_MODULE`
        when no installed metadata declares it), then the other entry points.
        """
        if self._loaded:
            return
        self._loaded = True
        try:
            self._load_all()
        except BaseException:
            self.reset()  # the next use tries again (and fails the same clear way)
            raise

    def _load_all(self) -> None:
        found = self._entry_points()
        if self._builtins is not None and all(o != BUILTIN_ORIGIN for _, o in found):
            module = importlib.import_module(self._builtins)
            self._run_plugin(getattr(module, "register", None), BUILTIN_ORIGIN,
                             f"built-in providers ({self._builtins})")
        for ep, origin in found:
            label = f"provider plugin {ep.name!r} ({ep.value}, {origin})"
            try:
                register = ep.load()
            except Exception as exc:
                raise ConfigError(f"{label} failed to load: "
                                  f"{type(exc).__name__}: {exc}") from exc
            self._run_plugin(register, origin, label)

    def _entry_points(self) -> list[tuple[importlib.metadata.EntryPoint, ProviderOrigin]]:
        if self._group is None:
            return []
        found = [(ep, _entry_point_origin(ep))
                 for ep in importlib.metadata.entry_points(group=self._group)]
        # Built-ins first, then plugins in a stable order: later ones may replace earlier.
        found.sort(key=lambda item: (item[1] != BUILTIN_ORIGIN, str(item[1]), item[0].name))
        return found

    def load_plugin_file(self, path: Path | str) -> list[str]:
        """Import the plugin file ``path`` and run its ``register(registry)``.

        Returns the provider names it registered (a file already loaded is not run again).
        Raises :class:`ConfigError` with one line when the file is missing, is not a
        ``.py`` file, does not compile, fails while importing or registering, or
        registers nothing.
        """
        self.load_plugins()
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"plugin file {path} not found")
        resolved = path.resolve()
        if resolved in self._files:
            return list(self._files[resolved])
        if path.suffix != ".py":
            raise ConfigError(f"plugin file {path} is not a Python file (.py)")
        origin = ProviderOrigin("file", str(resolved))
        with self._registering_as(origin) as added:
            module = _import_file(resolved, path)
            register = getattr(module, "register", None)
            if register is not None:
                self._run_plugin(register, origin, f"plugin file {path}")
        if not added:
            raise ConfigError(f"plugin file {path} registered no provider: define "
                              "register(registry) calling registry.register_provider(name, "
                              "factory)")
        self._files[resolved] = list(added)
        return list(added)

    # --- lookup -----------------------------------------------------------------------
    def names(self) -> list[str]:
        """Registered provider names, sorted."""
        self.load_plugins()
        return sorted(self._factories)

    def origin(self, name: str) -> ProviderOrigin:
        """Where provider ``name`` came from (:class:`UnknownProviderError` if unknown)."""
        self.load_plugins()
        try:
            return self._origins[name]
        except KeyError:
            raise self._unknown(name) from None

    def create(self, settings: ProviderSettings) -> Provider:
        """Build the provider registered under ``settings.name``."""
        self.load_plugins()
        try:
            factory = self._factories[settings.name]
        except KeyError:
            raise self._unknown(settings.name) from None
        return factory(settings)

    def _unknown(self, name: str) -> UnknownProviderError:
        known = ", ".join(sorted(self._factories))
        return UnknownProviderError(f"unknown provider {name!r} (known: {known})")

    def reset(self) -> None:
        """Forget every registration (and the specs plugins added); the next use discovers
        the entry points again (after installing a plugin into a running interpreter, or
        in tests)."""
        for name, spec in self._specs_before.items():
            if spec is None:
                PROVIDER_SPECS.pop(name, None)
            else:
                PROVIDER_SPECS[name] = spec
        self._specs_before.clear()
        self._factories.clear()
        self._origins.clear()
        self._files.clear()
        self._loaded = False


def _module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"_aetherflow_plugin_{stem}_{digest}"


def _import_file(resolved: Path, shown: Path) -> object:
    """Execute ``resolved`` as a fresh module; every failure is one ConfigError line."""
    name = _module_name(resolved)
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ConfigError(f"plugin file {shown} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise ConfigError(f"plugin file {shown}: syntax error at line {exc.lineno}: "
                          f"{exc.msg}") from exc
    except ConfigError as exc:
        del sys.modules[name]
        raise ConfigError(f"plugin file {shown}: {exc}") from exc
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"plugin file {shown} failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    return module


#: The process-wide registry every command uses.
REGISTRY = ProviderRegistry()


def register_provider(name: str, factory: ProviderFactory, *,
                      spec: ProviderSpec | None = None) -> None:
    """Register ``factory`` under ``name`` in :data:`REGISTRY` (see
    :meth:`ProviderRegistry.register_provider`)."""
    REGISTRY.register_provider(name, factory, spec=spec)


def provider_names() -> list[str]:
    """Registered provider names, sorted (loads the plugins on first use)."""
    return REGISTRY.names()


def provider_origin(name: str) -> ProviderOrigin:
    """Where provider ``name`` came from."""
    return REGISTRY.origin(name)


def create_provider(settings: ProviderSettings) -> Provider:
    """Build the provider registered under ``settings.name``."""
    return REGISTRY.create(settings)


def load_plugin_file(path: Path | str) -> list[str]:
    """Load a ``--plugin`` file into :data:`REGISTRY`; returns the names it registered."""
    return REGISTRY.load_plugin_file(path)
