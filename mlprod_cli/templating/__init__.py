"""The template: finding, staging and rendering it, its answers, hooks' logic and provenance.

- `source`:     where the bundled template lives, and staging it with its hooks.
- `answers`:    which answers exist and which values are allowed (shared with the hooks).
- `scaffold`:   gathering answers and rendering a new project, all or nothing.
- `cookiecutter_adapter`: the one call into cookiecutter (its public `cookiecutter()`),
  the template laid out for it without a copy, the hooks' functions called in-process.
- `provenance`: `.mlprod.json`, what made the project.
- `store`:      other releases' templates: the cache, `pip download`.

The hooks' logic stays in `mlprod_cli.hooks`: the hook scripts of every template
release import it by that name, so the name is their interface.
"""
