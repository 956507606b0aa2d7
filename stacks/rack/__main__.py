"""One rack per stack: the stack's name (or the rack setting) picks the rack of the site file."""

from pathlib import Path

import pulumi

from anyrack.iac.stack import deploy, read_settings

HERE = Path(__file__).resolve().parent
config = pulumi.Config()
rack = config.get("rack") or pulumi.get_stack()
# a rack joins the running cluster: add_node.yml for its compute nodes (the controllers learn them)
settings = read_settings(config, HERE, racks=(rack,), playbooks=("playbooks/add_node.yml",))
cluster = deploy(f"rack-{rack}", settings, HERE.parents[1])
pulumi.export("nodes", cluster.node_names)
pulumi.export("power", cluster.power)
