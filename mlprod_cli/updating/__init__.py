"""`mlprod check`, `update` and `diff`: bring template changes into a project.

- `versions`:   the project's template version against the installed mlprod's.
- `render`:     a template release rendered with the project's recorded answers.
- `merge`:      the three-way merge of one file (`git merge-file`).
- `migrations`: template migrations, run in order, keyed by the version they upgrade to.
- `plan`:       what an update does to each file, worked out before anything is written.
- `apply`:      the checks before writing, then every file or none, then `.mlprod.json`.
- `workflow`:   the update from start to end, and the lines that report it.
"""
