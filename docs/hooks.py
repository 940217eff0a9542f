"""mkdocs hook: the benchmark results live in benchmarks/ (RESULTS.md and its figures); the site
serves them as benchmarks/RESULTS.md without copying them into docs/."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


def on_files(files: Files, config) -> Files:
    bench = ROOT / "benchmarks"
    for path in [bench / "RESULTS.md", *sorted((bench / "figures").glob("*.png"))]:
        uri = path.relative_to(ROOT).as_posix()
        files.append(
            File(uri, src_dir=str(ROOT), dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"])
        )
    return files
