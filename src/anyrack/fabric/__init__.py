"""Network fabric planning as pure functions over the site model, and its renderers.

``plan(site) → FabricPlan`` decides cabling, addressing, ASNs, MTU, the lossless class and IB
partitions once; :mod:`anyrack.fabric.render` turns that one plan into switch configs (FRR), host
rail config (systemd-networkd, netplan), Slurm topology, NCCL settings, opensm partitions, a cabling
CSV and an SVG picture, so that none of them can disagree.
"""

from anyrack.fabric.lint import Finding, lint
from anyrack.fabric.load import PlanResult, check_plan, load_plan, write_plan
from anyrack.fabric.plan import FabricPlan, PlanRefused, plan
from anyrack.fabric.render import render

__all__ = ["FabricPlan", "Finding", "PlanRefused", "PlanResult", "check_plan", "lint", "load_plan", "plan", "render",
           "write_plan"]
