"""A whole site: read the stack's typed config once, build the GpuCluster (see docs/pulumi.md)."""

from pathlib import Path

import pulumi

from anyrack.iac.stack import deploy, read_settings

HERE = Path(__file__).resolve().parent
cluster = deploy(pulumi.get_stack(), read_settings(pulumi.Config(), HERE), HERE.parents[1])
pulumi.export("nodes", cluster.node_names)
pulumi.export("power", cluster.power)
