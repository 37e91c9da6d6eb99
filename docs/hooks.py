"""MkDocs hook: publish the figures under experiments/ with the docs.

The docs pages show plots that the experiment scripts commit under
`experiments/`, outside the docs folder. Copying them into `docs/` would keep
two copies that drift apart, so this hook adds every image under
`experiments/` to the site as `experiments/<path>`. A page links one as
`experiments/<path>`, and `mkdocs build --strict` fails if the file is gone.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg", ".gif"}


def on_files(files: Files, config) -> Files:
    site_dir = config["site_dir"]
    for path in sorted((REPO_ROOT / "experiments").rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            files.append(
                File(
                    path.relative_to(REPO_ROOT).as_posix(),
                    src_dir=str(REPO_ROOT),
                    dest_dir=site_dir,
                    use_directory_urls=config["use_directory_urls"],
                )
            )
    return files
