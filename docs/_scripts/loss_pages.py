"""mkdocs-gen-files script: one page per registered loss, generated from the registry (``lossreg.describe``).

A new loss, built in or from an installed plugin, gets its page with no change here.
"""

from __future__ import annotations

import mkdocs_gen_files

import lossreg

names = [name for name in lossreg.names() if ":" not in name]
with mkdocs_gen_files.open("losses/index.md", "w") as index:
    index.write("# Losses\n\n| name | source | summary |\n| --- | --- | --- |\n")
    for name in names:
        info = lossreg.describe(name)
        index.write(f"| [`{name}`]({name}.md) | {info.source} | {info.summary} |\n")
        with mkdocs_gen_files.open(f"losses/{name}.md", "w") as page:
            page.write(f"# `{name}`\n\n{info.summary}\n\n```text\n{info}\n```\n")
with mkdocs_gen_files.open("losses/SUMMARY.md", "w") as nav:
    nav.write("* [All losses](index.md)\n")
    nav.writelines(f"* [{name}]({name}.md)\n" for name in names)
