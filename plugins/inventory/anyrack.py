# Copyright: anyrack contributors
# Apache License 2.0 (see the collection's galaxy.yml)
"""Inventory plugin: an anyrack site file (+ discovered facts) read through the anyrack library."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: anyrack
short_description: Hosts, groups and variables from an anyrack site file and its discovered facts
description:
  - Loads C(site.yaml) (and the facts C(anyrack discover) wrote) with the anyrack Python package and
    yields exactly the groups, host variables and group variables that C(anyrack inventory generate)
    writes to C(generated/), without writing anything.
  - Groups are C(rack_*), C(role_*), C(sku_*), C(gpu_*), C(bmc_*) and C(quarantine) (always present).
  - Needs the anyrack Python package importable by the Python that runs Ansible (the same virtual
    environment).
  - Bad input fails the inventory source with anyrack's one-line error (file, line and key).
options:
  plugin:
    description: The name of this plugin; the inventory file must name it to be read by it.
    required: true
    type: str
    choices: [anyrack.hpc.anyrack]
  site:
    description: The site file, relative to this inventory file's directory unless absolute.
    type: str
    default: site.yaml
  facts:
    description:
      - The directory of discovered facts (one JSON per node), relative to this inventory file's
        directory unless absolute. Without it the inventory is built from the site file alone.
    type: str
requirements:
  - anyrack (the Python package, same version as this collection)
"""

EXAMPLES = r"""
# inventory/dc1/anyrack.yml, beside inventory/dc1/site.yaml:
#   ansible-inventory -i inventory/dc1/anyrack.yml --graph
plugin: anyrack.hpc.anyrack
site: site.yaml
facts: facts
"""

# after the documentation strings, as ansible-test's validate-modules requires
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.module_utils.common.text.converters import to_native  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin  # noqa: E402

try:
    import yaml

    from anyrack.errors import AnyrackError
    from anyrack.inventory import generate_inventory
except ImportError as imp_exc:
    ANYRACK_IMPORT_ERROR = imp_exc
else:
    ANYRACK_IMPORT_ERROR = None


class InventoryModule(BaseInventoryPlugin):
    """Hosts and groups from ``anyrack.inventory.generate_inventory`` (nothing is written)."""

    NAME = "anyrack.hpc.anyrack"
    # The values come from the operator's site file and facts, as trusted as the generated inventory files
    # that Ansible's YAML loader reads for the same data (which it trusts): the two must behave alike.
    trusted_by_default = True

    def verify_file(self, path):
        """Only ``anyrack.yml`` / ``anyrack.yaml`` (or ``*.anyrack.yml``) files are for this plugin."""
        name = os.path.basename(path)
        return super().verify_file(path) and (name in ("anyrack.yml", "anyrack.yaml")
                                              or name.endswith((".anyrack.yml", ".anyrack.yaml")))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        if ANYRACK_IMPORT_ERROR is not None:
            raise AnsibleParserError(f"{path}: the anyrack Python package is not importable by this Ansible's "
                                     f"Python ({to_native(ANYRACK_IMPORT_ERROR)}); install anyrack beside "
                                     "ansible-core")
        here = os.path.dirname(os.path.abspath(path))
        site = os.path.join(here, self.get_option("site"))
        facts = self.get_option("facts")
        facts = os.path.join(here, facts) if facts else None
        try:
            generated = generate_inventory(Path(site), Path(facts) if facts else None, write=False)
        except AnyrackError as err:
            raise AnsibleParserError(to_native(err)) from err
        self._populate(generated.files)

    def _populate(self, files):
        """Groups, hosts and variables from the generated files' text (the same data, never written)."""
        members = yaml.safe_load(files["hosts.yml"])["all"]["children"]
        for group, body in members.items():
            self.inventory.add_group(group)
            for host in (body or {}).get("hosts") or {}:
                self.inventory.add_host(host, group=group)
        for rel, text in sorted(files.items()):
            folder, _slash, name = rel.partition("/")
            if folder not in ("host_vars", "group_vars"):
                continue
            target = name.rsplit(".", 1)[0]
            if folder == "group_vars":
                self.inventory.add_group(target)
            for key, value in (yaml.safe_load(text) or {}).items():
                self.inventory.set_variable(target, key, value)
