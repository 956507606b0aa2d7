"""The GPU role tests' one loader: a role's Ansible module read from its file, able to import the role's
module_utils as Ansible lets it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[3]


def load_module(role: str, name: str) -> ModuleType:
    """roles/<role>/library/<name>.py as a Python module (named ``<name>_module``).

    Ansible ships a module with the ``ansible.module_utils.<x>`` it imports, found in the module_utils/
    of the roles in play; here the role's module_utils/ joins that package's search path instead.
    """
    utils = ROOT / "roles" / role / "module_utils"
    if utils.is_dir() and str(utils) not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(utils))
    spec = importlib.util.spec_from_file_location(f"{name}_module", ROOT / "roles" / role / "library" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
