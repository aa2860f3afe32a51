"""CareTwin's own command groups, registered through the ``register_commands`` hook, and the
plugin command groups the root ``caretwin`` group adds to its own.

The root group (:mod:`caretwin.cli.app`) resolves CareTwin's own commands from its static
``COMMANDS`` table without loading any plugin, so a built-in command starts as fast as before;
the same table is what this module registers, so ``caretwin plugins list`` shows them and a
plugin cannot take their names. Plugin commands are looked up when a name is not a built-in one
and when ``caretwin --help`` lists commands: only then are plugins loaded.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from caretwin.plugins import CommandGroup, hookimpl


def _builtin(name: str) -> Any:
    from caretwin.cli.app import COMMANDS, area_group, area_module

    return area_group(area_module(COMMANDS[name][0])).commands[name]


@hookimpl
def register_commands() -> list[CommandGroup]:
    from caretwin.cli.app import COMMANDS

    return [
        CommandGroup(name, help_line, load=partial(_builtin, name))
        for name, (_, help_line) in COMMANDS.items()
    ]


def plugin_commands() -> dict[str, CommandGroup]:
    """Command groups registered by plugins other than CareTwin itself."""
    from caretwin.plugins import registry

    return {n: p.spec for n, p in registry.commands().items() if not p.plugin.builtin}


def to_click(group: CommandGroup) -> Any:
    """The click command of a plugin's command group (its ``load()`` called now)."""
    import typer.main
    from typer.core import TyperCommand, TyperGroup

    loaded: Any = group.load()
    if isinstance(loaded, TyperCommand | TyperGroup):
        return loaded
    cmd: Any
    if isinstance(loaded, typer.Typer):
        cmd = typer.main.get_group(loaded)
    else:
        single = typer.Typer()
        single.command(group.name, help=group.help)(loaded)
        cmd = typer.main.get_command(single)
    cmd.name = group.name
    if not cmd.help:
        cmd.help = group.help
    return cmd
