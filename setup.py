"""Map the architecture's folders to the one `stampede` import package (metadata: pyproject.toml).

The repository is laid out as the data flows (sim -> feed-bridge -> dispatch -> functions ->
gateway), with the shared domain in core/ and operator tooling in tools/. Each folder is one
subpackage of `stampede`, named like its command and its settings prefix (`feed-bridge/` is
`stampede.bridge`: the design card names the folder, the part is "the bridge").
"""

from setuptools import find_packages, setup

FOLDERS = {
    "stampede": "core/stampede",
    "stampede.sim": "sim",
    "stampede.bridge": "feed-bridge",
    "stampede.dispatch": "dispatch",
    "stampede.functions": "functions",
    "stampede.gateway": "gateway",
    "stampede.tools": "tools",
}

packages = []
for package, folder in FOLDERS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=FOLDERS)
