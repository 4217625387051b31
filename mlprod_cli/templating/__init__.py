"""The template: finding, staging and rendering it, its answers, hooks' logic and provenance.

- `source`:     where the bundled template lives, and staging it with its hooks.
- `answers`:    which answers exist and which values are allowed (shared with the hooks).
- `scaffold`:   gathering answers and rendering a new project, all or nothing.
- `cookiecutter_adapter`: the one place that calls cookiecutter to render.
- `provenance`: `.mlprod.json`, what made the project.
- `store`:      other releases' templates: the cache, `pip download`.
- `hooks`:      the hooks' logic (the hook scripts import it as `mlprod_cli.hooks`).
"""
