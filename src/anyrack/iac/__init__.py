"""Pulumi layer: components over the site model and dynamic providers over ``anyrack.bmc`` / Ansible.

Imports ``bmc``, ``site``, ``fabric`` and ``inventory``; nothing in the library imports it.
"""

from anyrack.iac.ansible import PlaybookRun, RunResult, content_hash, run_playbook
from anyrack.iac.components import AnsibleRun, Deployment, GpuCluster, GpuNode, Play
from anyrack.iac.files import GeneratedFiles
from anyrack.iac.resources import BiosSettings, BmcTarget, BmcUser, BootOverride, OsDeploy, PowerState, VirtualMedia

__all__ = ["AnsibleRun", "BiosSettings", "BmcTarget", "BmcUser", "BootOverride", "Deployment", "GeneratedFiles",
           "GpuCluster", "GpuNode", "OsDeploy", "Play", "PlaybookRun", "PowerState", "RunResult", "VirtualMedia",
           "content_hash", "run_playbook"]
