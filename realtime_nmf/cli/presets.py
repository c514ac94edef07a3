"""``rtnmf preset new``, ``rtnmf presets`` and ``rtnmf info``: make, list and describe presets and dictionaries."""

from __future__ import annotations

import shlex

from .._atomic import check_new_file
from ..processors.separator import SEPARATOR_PARAMETERS
from .common import add_force_flag, add_parameter_flags, given_parameters


def add_parsers(commands) -> None:
    p = commands.add_parser("preset", help="create presets", description="Create presets.")
    preset_commands = p.add_subparsers(dest="preset_command", metavar="SUBCOMMAND")
    preset_commands.required = True
    q = preset_commands.add_parser("new", help="save a preset: a dictionary and the components to keep",
                                   description="Save a preset. Without -o it goes to the user preset folder, with a copy of the dictionary.")
    q.add_argument("name", metavar="NAME", help="preset name (letters, digits, '_', '-', '.')")
    q.add_argument("--dictionary", required=True, metavar="DICT.npz", help="dictionary file")
    q.add_argument("--keep", required=True, metavar="SPEC", help="components to keep: indices, ranges and labels, e.g. 0,3,5 or 0-3 or heart or all")
    q.add_argument("-o", "--output", default=None, metavar="FILE.yaml", help="where to write the preset (default: the user preset folder)")
    q.add_argument("--description", default=None, help="one line describing the preset")
    add_force_flag(q, "a preset of that name")
    add_parameter_flags(q.add_argument_group("separator settings (stored in the preset)"), SEPARATOR_PARAMETERS)
    q.set_defaults(func=command_new)

    p = commands.add_parser("presets", help="list bundled and user presets", description="List the presets found by name.")
    p.set_defaults(func=command_list)

    p = commands.add_parser("info", help="describe a dictionary or a preset", description="Show what is inside a dictionary (.npz) or a preset (name or .yaml).")
    p.add_argument("target", metavar="DICT.npz|PRESET", help="dictionary file, preset name or preset file")
    p.set_defaults(func=command_info)


def command_new(args) -> int:
    from ..presets import new_preset

    if args.output is not None:
        check_new_file(args.output, force=args.force)
    preset = new_preset(args.name, args.dictionary, args.keep, output=args.output, description=args.description or "",
                        settings=given_parameters(args, SEPARATOR_PARAMETERS), force=args.force)
    d = preset.dictionary
    keep = preset.keep_indices
    print(f"wrote preset {preset.path} (keeps {len(keep)} of {d.n_components} components: {', '.join(map(str, keep))})")
    name = shlex.quote(preset.name if args.output is None else str(preset.path))
    print(f"next: rtnmf run --preset {name}   (live: microphone to speakers; with --input FILE --output FILE it separates a file)")
    return 0


def command_list(args) -> int:
    from ..presets import bundled_preset_dir, list_presets, user_preset_dir

    entries = list_presets()
    if not entries:
        print("no presets found")
    width = max((len(e.name) for e in entries), default=4)
    for entry in entries:
        note = " (shadowed by the user preset)" if entry.shadowed else ""
        print(f"{entry.name:<{width}}  {entry.source:<7}  {entry.description or '-'}{note}")
    print(f"\nuser presets:    {user_preset_dir()}  (set RTNMF_PRESET_DIR to use another folder)")
    print(f"bundled presets: {bundled_preset_dir()}")
    return 0


def command_info(args) -> int:
    target = args.target
    if target.endswith(".npz"):
        from ..dictionary import Dictionary

        dictionary = Dictionary.load(target)
        print(f"dictionary     {target}")
        print(dictionary.summary())
    else:
        from ..presets import load_preset

        print(load_preset(target).summary())
    return 0
