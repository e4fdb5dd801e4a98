"""Readable ``--help`` for every command.

Typer's rich help shows a parameter's Python type in its own column (``<bool>``,
``<list[str]>``, ``<path>``) and writes required arguments as ``{plan}`` in the usage line;
in its "rich" markup mode it also keeps every single line break of a docstring, so a
sentence wrapped in the source breaks in the middle on screen. :class:`Command` and
:class:`Group` (used by every AetherFlow command) fix this once for all of them:

* an option shows its metavar (``FILE``, ``DIR``, ``N``; a word from its type when none
  was given) and a flag shows none; an argument shows its name in capitals
  (``PLAN``, ``FILE...``), and the usage line says ``PLAN`` / ``[PLAN]``;
* each paragraph of a command's help (blank-line separated) is joined into one line, so
  the terminal wraps it as a paragraph at any width. A paragraph whose lines all start
  with ``Example:`` or ``  `` keeps its lines (examples, one per line).

This module imports nothing but typer, so every command can be registered cheaply.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["Command", "Group", "reflow", "type_metavar"]

_TYPE_WORDS: dict[type, str] = {int: "N", float: "NUMBER", Path: "PATH", str: "TEXT"}


def type_metavar(annotation: Any) -> str:
    """A metavar from a parameter's type: ``N`` for int, ``NUMBER`` for float, ``PATH``,
    ``TEXT`` (the element type for lists and optionals)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args:
        return type_metavar(args[0])
    return _TYPE_WORDS.get(annotation, "VALUE") if isinstance(annotation, type) else "VALUE"


def reflow(text: str | None) -> str | None:
    """``text`` with each paragraph on one line (see the module docstring)."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.splitlines()
        kept = len(lines) > 1 and all(line.startswith(("Example:", "  ")) for line in lines)
        out.append(para if kept else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


class _Option(TyperOption):
    """An option whose help shows its metavar (none for a flag)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        """The metavar column: nothing for a flag, else the metavar or a word for the type."""
        if self.is_flag:
            return None
        return self.metavar or type_metavar(self.type_descriptor.annotation)

    def process_value(self, ctx: Any, value: Any) -> Any:
        """``--help`` not given is False. (Typer otherwise builds a pydantic validator to
        coerce its ``None``, which costs every subcommand ~70 ms of imports for the
        ``--help`` of each group above it.) Only flags that pass no value to the command
        (``--help``) are touched: ``--emulated/--real`` keeps its ``None``."""
        if value is None and self.is_flag and not self.expose_value:
            value = False
        return super().process_value(ctx, value)


class _Argument(TyperArgument):
    """An argument named in capitals, without a type column."""

    def display_type_rich(self, ctx: Any) -> str | None:
        """No type column: the name says it."""
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return name if self.required else f"[{name}]"


def _readable(params: list[Any]) -> None:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
            if param.metavar is None and param.name:
                param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")


class _ReadableHelp:
    """Readable metavars and paragraph help, for a Typer command or group."""

    help: str | None
    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)
        _readable(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        """The ``--help`` option, shown as a flag."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            _readable([option])
        return option


class Command(_ReadableHelp, TyperCommand):
    """A Typer command with readable metavars and paragraph help."""


class Group(_ReadableHelp, TyperGroup):
    """A Typer group with readable metavars and paragraph help."""


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    """A Typer group app whose group and commands use :class:`Group`/:class:`Command`."""
    kwargs.setdefault("cls", Group)
    return typer.Typer(help=help, add_completion=False, pretty_exceptions_enable=False,
                       **kwargs)
