"""Package layout only (metadata is in pyproject.toml).

``tether`` comes from client/, ``tether_server`` from server/, and the top-level migrations/ and
web/ folders ship inside the server package as ``tether_server._migrations`` and
``tether_server._web`` so a non-editable wheel install finds them.
"""

from setuptools import find_packages, setup

packages = (
    find_packages("client", include=["tether", "tether.*"])
    + find_packages("server", include=["tether_server", "tether_server.*"])
    + ["tether_server._migrations", "tether_server._migrations.versions", "tether_server._web"]
)
setup(
    packages=packages,
    package_dir={
        "tether": "client/tether",
        "tether_server": "server/tether_server",
        "tether_server._migrations": "migrations",
        "tether_server._web": "web",
    },
)
