"""Map the architecture's folders to import packages (metadata lives in pyproject.toml).

The repository is laid out as the data flows (simulator -> feed-bridge -> dispatch ->
functions -> gateway), and some folder names are not Python identifiers, so each folder
is mapped to one import package here. Subpackages are found automatically.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "stampede": "core/stampede",
    "massive_sim": "simulator",
    "feed_bridge": "feed-bridge",
    "stampede_dispatch": "dispatch",
    "stampede_functions": "functions",
    "stampede_gateway": "gateway",
}

packages = []
for package, folder in FOLDERS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=FOLDERS)
