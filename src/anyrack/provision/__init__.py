"""Apply the playbooks to the generated inventory through ansible-runner (``anyrack provision``).

:func:`plan` checks the operator's arguments (nothing is written before it passes); :func:`provision`
runs the playbook, reports progress through a callback and returns the per-host :class:`Outcome`.
ansible-runner is imported only when a run starts.
"""

from anyrack.provision.plan import Plan, plan
from anyrack.provision.report import Failure, HostRecap
from anyrack.provision.runner import Outcome, provision

__all__ = ["Failure", "HostRecap", "Outcome", "Plan", "plan", "provision"]
