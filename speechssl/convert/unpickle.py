"""Read fairseq's pickled checkpoints without fairseq and without running code from the file.

A restricted unpickler admits tensors (rebuilt by torch), plain containers and inert stand-ins for the
config classes fairseq pickles (omegaconf ``DictConfig``/``ListConfig``/nodes, argparse ``Namespace``);
every other global is refused with one line.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import importlib
import os
import pickle
import types
from pathlib import Path
from typing import Any

import torch


class _Record:
    """Inert stand-in: keeps the arguments and state the pickle stores; runs no code of the original."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class DictConfigStandIn(_Record):
    """omegaconf ``DictConfig``: ``state["_content"]`` maps keys to nodes."""


class ListConfigStandIn(_Record):
    """omegaconf ``ListConfig``: ``state["_content"]`` is a list of nodes."""


class NodeStandIn(_Record):
    """omegaconf value node (``AnyNode``, ``IntegerNode``...): ``state["_val"]`` is the value."""


class NamespaceStandIn(_Record):
    """argparse ``Namespace`` (legacy fairseq ``args``): the state is its attribute dict."""


class TypeRef:
    """A class or typing construct that config metadata only names (e.g. fairseq's ``HubertConfig``).

    Calling it (an enum member rebuilt by value) gives another TypeRef; nothing is imported.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> "TypeRef":
        return TypeRef(f"{self.name}{args!r}")

    def __repr__(self) -> str:
        return f"TypeRef({self.name})"


def _empty_dict(*_: Any) -> dict:
    """``collections.defaultdict(factory)`` as a plain dict (its items follow in the pickle)."""
    return {}


def _getitem_ref(origin: Any, args: Any) -> TypeRef:
    """``operator.getitem`` as pickled for ``Optional[X]``; only over TypeRefs."""
    if not isinstance(origin, TypeRef):
        raise pickle.UnpicklingError(f"refused operator.getitem on {type(origin).__name__}")
    return TypeRef(f"{origin.name}[...]")


def _getattr_ref(owner: Any, name: str) -> TypeRef:
    """``getattr(EnumClass, NAME)`` as Python 3.12 pickles enum members; only over TypeRefs."""
    if not isinstance(owner, TypeRef) or not isinstance(name, str):
        raise pickle.UnpicklingError(f"refused getattr on {type(owner).__name__}")
    return TypeRef(f"{owner.name}.{name}")


def _type_ref(value: Any) -> Any:
    """``type(None)``, the one use of ``builtins.type`` in a pickle of a config's metadata."""
    if value is not None:
        raise pickle.UnpicklingError("refused builtins.type on a value other than None")
    return type(None)


_OMEGACONF_NODES = ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "EnumNode",
                    "BytesNode", "PathNode", "ValueNode", "UnionNode")  # fmt: skip
_STAND_INS: dict[tuple[str, str], Any] = {
    ("omegaconf.dictconfig", "DictConfig"): DictConfigStandIn,
    ("omegaconf.listconfig", "ListConfig"): ListConfigStandIn,
    ("omegaconf.base", "ContainerMetadata"): _Record,
    ("omegaconf.base", "Metadata"): _Record,
    ("argparse", "Namespace"): NamespaceStandIn,
    ("collections", "defaultdict"): _empty_dict,
    ("operator", "getitem"): _getitem_ref,
    ("builtins", "getattr"): _getattr_ref,
    ("builtins", "type"): _type_ref,
    **{("omegaconf.nodes", name): NodeStandIn for name in _OMEGACONF_NODES},
}
_BUILTIN_TYPES = {
    t.__name__: t for t in (bool, int, float, complex, str, bytes, list, dict, tuple, set, frozenset)
}
_TORCH = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch", "Size"): torch.Size,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 stores bytes (e.g. in numpy scalars)
}
# fairseq's meters may keep numpy scalars in ``extra_state``: data, rebuilt by numpy itself.
_NUMPY = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("scalar", "_reconstruct")
} | {("numpy", "ndarray"), ("numpy", "dtype")}


class RestrictedUnpickler(pickle.Unpickler):
    """``find_class`` returns stand-ins, torch's tensor rebuilders, plain types or TypeRefs; refuses
    the rest."""

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 spells names the Python 2 way (__builtin__.unicode); the allow-list still applies.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _STAND_INS:
            return _STAND_INS[(module, name)]
        if (module, name) in _TORCH:
            return _TORCH[(module, name)]
        if module == "builtins" and name in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[name]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module == "typing" or module == "fairseq" or module.startswith("fairseq."):
            return TypeRef(f"{module}.{name}")  # names of config classes, never imported
        if (module, name) in _NUMPY:
            return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


# What torch.load needs of a pickle module: ``Unpickler`` (its UnpicklerWrapper subclasses it and
# rebuilds storages itself) and ``load`` for the legacy format's header records.
RESTRICTED_PICKLE = types.SimpleNamespace(
    __name__="speechssl.convert.unpickle", Unpickler=RestrictedUnpickler, load=_load
)


def plain(value: Any) -> Any:
    """Stand-ins turned into dicts/lists/values (interpolations stay strings); tensors untouched."""
    if isinstance(value, DictConfigStandIn):
        content = (value.state or {}).get("_content")
        return {key: plain(item) for key, item in content.items()} if isinstance(content, dict) else None
    if isinstance(value, ListConfigStandIn):
        content = (value.state or {}).get("_content")
        return [plain(item) for item in content] if isinstance(content, list) else None
    if isinstance(value, NodeStandIn):
        return plain((value.state or {}).get("_val"))
    if isinstance(value, NamespaceStandIn):
        return {key: plain(item) for key, item in (value.state or {}).items()}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return [plain(item) for item in value]
    return value


def load_restricted(path: str | os.PathLike) -> Any:
    """A torch checkpoint read with :class:`RestrictedUnpickler`, stand-ins converted by :func:`plain`.

    Raises:
        ValueError: one line naming the file and the refused global (nothing from it was run).
    """
    path = Path(path)
    try:
        loaded = torch.load(path, map_location="cpu", pickle_module=RESTRICTED_PICKLE, weights_only=False)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path}: {error}; only tensors and fairseq's omegaconf/argparse configs are read from a "
            "pickled checkpoint, nothing in it is run"
        ) from None
    except (RuntimeError, EOFError, AttributeError, TypeError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: not a readable torch checkpoint ({first})") from None
    return plain(loaded)
